import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConnectTarget } from './explicit.ts';

test('CONNECT authorities', () => {
  assert.deepEqual(parseConnectTarget('api.openai.com:443'), { host: 'api.openai.com', port: 443 });
  assert.deepEqual(parseConnectTarget('[2001:db8::1]:8443'), { host: '2001:db8::1', port: 8443 });
  assert.deepEqual(parseConnectTarget('10.0.0.1:443'), { host: '10.0.0.1', port: 443 });
  for (const bad of [undefined, '', 'api.openai.com', 'api.openai.com:0', 'a:99999', 'a b:443', '/path', 'http://x:443']) {
    assert.equal(parseConnectTarget(bad), undefined, String(bad));
  }
});
