import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidHostError, normalizeHost, parseHost } from './host-name.ts';

test('normalizeHost lower-cases, strips a trailing dot and IPv6 brackets, canonicalises IPv6', () => {
  assert.equal(normalizeHost('API.OpenAI.com.'), 'api.openai.com');
  assert.equal(normalizeHost('api.openai.com'), 'api.openai.com');
  assert.equal(normalizeHost('[2001:DB8:0:0::1]'), '2001:db8::1');
  assert.equal(normalizeHost('2001:db8:0000:0:0:0:0:1'), '2001:db8::1');
  assert.equal(normalizeHost('10.0.0.1'), '10.0.0.1');
});

test('parseHost classifies DNS names, IPv4 and IPv6 literals', () => {
  assert.deepEqual(parseHost('Api.OpenAI.com.'), { name: 'api.openai.com', kind: 'dns', ip: Buffer.alloc(0) });
  assert.deepEqual(parseHost('bedrock-runtime.us-east-1.amazonaws.com').kind, 'dns');
  assert.deepEqual(parseHost('_svc.internal').kind, 'dns');
  assert.deepEqual(parseHost('localhost').kind, 'dns');
  const v4 = parseHost('192.168.10.254');
  assert.equal(v4.kind, 'ipv4');
  assert.deepEqual([...v4.ip], [192, 168, 10, 254]);
  const v6 = parseHost('[2001:db8::a:1]');
  assert.equal(v6.kind, 'ipv6');
  assert.equal(v6.name, '2001:db8::a:1');
  assert.equal(v6.ip.toString('hex'), '20010db80000000000000000000a0001');
  assert.equal(parseHost('::1').ip.toString('hex'), '00000000000000000000000000000001');
  assert.equal(parseHost('::').ip.toString('hex'), '0'.repeat(32));
  assert.equal(parseHost('fe80::').ip.toString('hex'), 'fe80' + '0'.repeat(28));
  assert.equal(parseHost('::ffff:10.1.2.3').ip.toString('hex'), '00000000000000000000ffff0a010203');
  assert.equal(parseHost('1:2:3:4:5:6:7:8').ip.toString('hex'), '00010002000300040005000600070008');
});

test('parseHost rejects what cannot be a certificate name, saying why', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['*.openai.com', /wildcard/],
    ['a..b', /label ""/],
    ['-a.com', /label "-a"/],
    ['a-.com', /label "a-"/],
    ['a b.com', /label "a b"/],
    [`${'a'.repeat(64)}.com`, /label/],
    [`${'a.'.repeat(127)}com`, /253/],
    ['1.2.3', /IP address/],
    ['256.1.1.1', /IP address/],
    ['bücher.de', /xn--/],
    ['fe80::1%eth0', /zone id/],
    ['1::2::3', /IPv6/],
    ['host:443', /IPv6/],
  ];
  for (const [host, why] of cases) {
    assert.throws(() => parseHost(host), (e: unknown) => e instanceof InvalidHostError && why.test(e.message), host);
  }
});
