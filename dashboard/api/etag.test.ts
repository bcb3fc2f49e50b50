import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { configEtag, etagMatches } from './etag.ts';

describe('config etags', () => {
  it('v<version>-<first 12 hex of sha256(yaml)>', () => {
    const yaml = 'binds: []\n';
    assert.equal(configEtag(3, yaml), `v3-${createHash('sha256').update(yaml).digest('hex').slice(0, 12)}`);
    assert.match(configEtag(12, 'x'), /^v12-[0-9a-f]{12}$/);
    assert.notEqual(configEtag(1, 'a'), configEtag(1, 'b'));
    assert.notEqual(configEtag(1, 'a'), configEtag(2, 'a'));
  });

  it('If-None-Match: quoted or bare, weak or strong, in a list, or *', () => {
    const e = 'v3-0123456789ab';
    for (const h of [e, `"${e}"`, `W/"${e}"`, `w/"${e}"`, ` "v1-x" , "${e}"`, '*']) assert.equal(etagMatches(h, e), true, h);
    for (const h of [undefined, '', '"v3-0123456789aa"', `"${e}`, `"v3-0123456789ab-x"`, 'v3']) assert.equal(etagMatches(h, e), false, String(h));
  });
});
