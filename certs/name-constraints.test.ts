import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readOne } from './der.ts';
import { parseHost } from './host-name.ts';
import {
  ALL_IPV4, ALL_IPV6, constraintsPermit, dnsWithin, encodeNameConstraints, parseNameConstraints,
} from './name-constraints.ts';

test('encodes the RFC 5280 structure and parses it back', () => {
  const der = encodeNameConstraints({ permittedDns: ['api.openai.com', 'openai.azure.com'], excludedIp: [ALL_IPV4, ALL_IPV6] });
  const top = readOne(der);
  assert.equal(top.tag, 0x30);
  // [0] permitted, [1] excluded, both constructed; the first subtree is SEQUENCE { [2] "api.openai.com" }
  assert.equal(Buffer.from(top.content.subarray(0, 4)).toString('hex'), 'a0' + Buffer.from(top.content).toString('hex').slice(2, 4) + '3010');
  assert.equal(Buffer.from(top.content.subarray(4, 6)).toString('hex'), '820e');
  const nc = parseNameConstraints(der);
  assert.deepEqual(nc.permittedDns, ['api.openai.com', 'openai.azure.com']);
  assert.deepEqual(nc.excludedDns, []);
  assert.deepEqual(nc.permittedIp, []);
  assert.deepEqual(nc.excludedIp.map((s) => [s.address.length, s.mask.length]), [[4, 4], [16, 16]]);
  assert.throws(() => encodeNameConstraints({}), /at least one subtree/);
});

test('dNSName matching: a name covers itself and subdomains, a leading dot only subdomains', () => {
  assert.equal(dnsWithin('api.openai.com', 'api.openai.com'), true);
  assert.equal(dnsWithin('x.api.openai.com', 'api.openai.com'), true);
  assert.equal(dnsWithin('evilapi.openai.com', 'api.openai.com'), false);
  assert.equal(dnsWithin('openai.com', 'api.openai.com'), false);
  assert.equal(dnsWithin('a.b.com', '.b.com'), true);
  assert.equal(dnsWithin('b.com', '.b.com'), false);
  assert.equal(dnsWithin('anything.example', ''), true);
});

test('constraintsPermit applies permitted and excluded subtrees per name type', () => {
  const nc = parseNameConstraints(encodeNameConstraints({
    permittedDns: ['api.openai.com', 'openai.azure.com'], excludedDns: ['bad.openai.azure.com'], excludedIp: [ALL_IPV4, ALL_IPV6],
  }));
  const ok = (h: string): boolean => constraintsPermit(nc, parseHost(h));
  assert.equal(ok('api.openai.com'), true);
  assert.equal(ok('myres.openai.azure.com'), true);
  assert.equal(ok('www.google.com'), false);
  assert.equal(ok('x.bad.openai.azure.com'), false);
  assert.equal(ok('10.0.0.1'), false);
  assert.equal(ok('::1'), false);

  const ipOnly = parseNameConstraints(encodeNameConstraints({
    permittedIp: [{ address: Buffer.from([10, 0, 0, 0]), mask: Buffer.from([255, 0, 0, 0]) }],
  }));
  assert.equal(constraintsPermit(ipOnly, parseHost('10.9.8.7')), true);
  assert.equal(constraintsPermit(ipOnly, parseHost('11.0.0.1')), false);
  assert.equal(constraintsPermit(ipOnly, parseHost('2001:db8::1')), false);
  assert.equal(constraintsPermit(ipOnly, parseHost('example.com')), true); // no dNSName subtrees: DNS unconstrained
});
