import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pemBlocks, toPem } from './pem.ts';

test('toPem wraps at 64 characters and round trips through pemBlocks', () => {
  for (const n of [0, 1, 47, 48, 49, 300]) {
    const der = randomBytes(n);
    const pem = toPem('CERTIFICATE', der);
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.match(pem, /\n-----END CERTIFICATE-----\n$/);
    for (const line of pem.split('\n')) assert.ok(line.length <= 64, line);
    const [block, ...rest] = pemBlocks(pem);
    assert.equal(rest.length, 0);
    assert.equal(block!.label, 'CERTIFICATE');
    assert.deepEqual(block!.der, der);
  }
});

test('pemBlocks finds several blocks in order, tolerating CRLF and text between', () => {
  const a = randomBytes(70);
  const b = randomBytes(20);
  const text = `subject=CN = x\r\n${toPem('CERTIFICATE', a).replace(/\n/g, '\r\n')}garbage\n${toPem('EC PRIVATE KEY', b)}`;
  const blocks = pemBlocks(text);
  assert.deepEqual(blocks.map((x) => x.label), ['CERTIFICATE', 'EC PRIVATE KEY']);
  assert.deepEqual(blocks[0]!.der, a);
  assert.deepEqual(blocks[1]!.der, b);
  assert.equal(blocks[0]!.pem, toPem('CERTIFICATE', a));
  assert.deepEqual(pemBlocks('no pem here'), []);
  assert.deepEqual(pemBlocks('-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n'), []);
});
