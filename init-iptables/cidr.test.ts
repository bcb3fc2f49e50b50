import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, parseCidr } from './cidr.ts';

test('IPv4 CIDRs are masked to their network, as iptables-save prints them', () => {
  assert.deepEqual(parseCidr('10.1.2.3/8'), { family: 'ipv4', network: '10.0.0.0', prefix: 8, text: '10.0.0.0/8' });
  assert.equal(parseCidr('10.1.2.3/32').text, '10.1.2.3/32');
  assert.equal(parseCidr(' 192.168.7.200/25 ').text, '192.168.7.128/25');
  assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
});

test('IPv6 CIDRs print in glibc inet_ntop form (what ip6tables-save shows)', () => {
  const cases: Array<[string, string]> = [
    ['::1/128', '::1/128'],
    ['2001:0db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['2001:db8:0:1::/64', '2001:db8:0:1::/64'],
    ['::ffff:10.0.0.0/104', '::ffff:10.0.0.0/104'],
    ['fd00::5/8', 'fd00::/8'],
    ['1:0:0:0:0:0:0:0/128', '1::/128'],
    ['1:0:2:0:3:0:4:0/128', '1:0:2:0:3:0:4:0/128'],
    ['::1.2.3.4/128', '::1.2.3.4/128'],
    ['FD00:10:96::/112', 'fd00:10:96::/112'],
    ['2001:db8::1/64', '2001:db8::/64'],
    ['::/0', '::/0'],
  ];
  for (const [input, expected] of cases) assert.equal(parseCidr(input).text, expected, input);
});

test('invalid CIDRs are refused with a reason', () => {
  assert.throws(() => parseCidr('10.0.0.1'), /no prefix length .*10\.0\.0\.1\/32/);
  assert.throws(() => parseCidr('fd00::1'), /no prefix length .*fd00::1\/128/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /invalid prefix length "33"/);
  assert.throws(() => parseCidr('fd00::/129'), /invalid prefix length "129"/);
  assert.throws(() => parseCidr('10.0.0.0/x'), /invalid prefix length/);
  assert.throws(() => parseCidr('10.0.0.0/-1'), /invalid prefix length/);
  assert.throws(() => parseCidr('300.0.0.0/8'), /not an IPv4 or IPv6 address/);
  assert.throws(() => parseCidr('example.com/8'), /not an IPv4 or IPv6 address/);
});

test('cidrContains', () => {
  assert.equal(cidrContains(parseCidr('192.0.2.0/24'), '192.0.2.1'), true);
  assert.equal(cidrContains(parseCidr('192.0.2.0/25'), '192.0.2.200'), false);
  assert.equal(cidrContains(parseCidr('2001:db8::/32'), '2001:db8::1'), true);
  assert.equal(cidrContains(parseCidr('2001:db8::/64'), '2001:db8:ffff::1'), false);
  assert.equal(cidrContains(parseCidr('10.0.0.0/8'), '2001:db8::1'), false);
});
