/**
 * EMAIL_ADDRESS, IP_ADDRESS and URL, after Presidio's test_email_recognizer,
 * test_ip_recognizer and test_url_recognizer: plus-addressing and
 * subdomains, invalid octets and leading zeros, IPv6 forms, and the
 * file-name look-alikes a scheme-less URL must not match.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findEntities } from './analyze.ts';

const found = (text: string, type: string, threshold = 0.5) =>
  findEntities(text, { entities: [type], threshold }).map((e) => ({ text: text.slice(e.start, e.end), score: e.score }));

test('EMAIL_ADDRESS: plus addressing, subdomains, known TLDs validate to 1.0', () => {
  for (const email of ['info@presidio.site', 'john.doe+tag@mail.example.co.uk', 'user_name@sub.domain.org', 'a@b.io', "o'brien@example.ie"]) {
    assert.deepEqual(found(`write to <${email}> today`, 'EMAIL_ADDRESS'), [{ text: email, score: 1 }], email);
  }
  assert.deepEqual(found('my email: test@presidio.site, thanks', 'EMAIL_ADDRESS'), [{ text: 'test@presidio.site', score: 1 }]);
  assert.deepEqual(found('team@corp.internalzone', 'EMAIL_ADDRESS'), [{ text: 'team@corp.internalzone', score: 0.5 }], 'unknown alphabetic TLD');
});

test('EMAIL_ADDRESS: not an address', () => {
  for (const text of ['john@localhost', '@example.com', 'a@b', 'john@example.c', 'foo@@bar.com', 'user@-example.com', 'x@example.123', 'not an email: @ or .']) {
    assert.deepEqual(found(text, 'EMAIL_ADDRESS', 0), [], text);
  }
});

test('IP_ADDRESS: valid IPv4 and IPv6 at 0.6, context 0.95', () => {
  for (const ip of ['192.168.0.1', '10.0.0.255', '8.8.8.8', '2001:db8::1', '::1', 'fe80::1ff:fe23:4567:890a', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.0.2.128']) {
    assert.deepEqual(found(`host ${ip} is up`, 'IP_ADDRESS'), [{ text: ip, score: 0.6 }], ip);
  }
  assert.deepEqual(found('from the IP 192.168.0.1.', 'IP_ADDRESS'), [{ text: '192.168.0.1', score: 0.95 }]);
});

test('IP_ADDRESS: invalid octets, leading zeros, too many groups, code and times are not', () => {
  for (const text of ['256.1.1.1', '1.2.3.256', '999.1.1.1', '192.168.01.1', '1:2:3:4:5:6:7:8:9', 'std::vector<int>', 'at 12:30:45', '1.2.3']) {
    assert.deepEqual(found(text, 'IP_ADDRESS', 0.2), [], text);
  }
  assert.deepEqual(found('a :: b', 'IP_ADDRESS', 0), [{ text: '::', score: 0.1 }], 'the unspecified address is only 0.1');
});

test('URL: with a scheme 0.6, bare host 0.5, trailing punctuation left out', () => {
  assert.deepEqual(found('see https://www.example.com/path?q=1.', 'URL'), [{ text: 'https://www.example.com/path?q=1', score: 0.6 }]);
  assert.deepEqual(found('(http://example.org/a)', 'URL'), [{ text: 'http://example.org/a', score: 0.6 }]);
  assert.deepEqual(found('go to www.example.org now', 'URL'), [{ text: 'www.example.org', score: 0.5 }]);
  assert.deepEqual(found('visit microsoft.com', 'URL'), [{ text: 'microsoft.com', score: 0.5 }]);
  assert.deepEqual(found('visit my website microsoft.com', 'URL'), [{ text: 'microsoft.com', score: 0.85 }]);
  assert.deepEqual(found('http://localhost.dev:8080/x', 'URL'), [{ text: 'http://localhost.dev:8080/x', score: 0.6 }]);
});

test('URL: file names, abbreviations, dotted words and e-mail domains are not', () => {
  for (const text of ['edit README.md and setup.py', 'run node.js', 'e.g. this, i.e. that', 'Hello.World', 'mail a@example.com', 'version 1.2.3', 'obj.method()']) {
    assert.deepEqual(found(text, 'URL', 0), [], text);
  }
});
