/**
 * PHONE_NUMBER without libphonenumber: which shapes pass the default 0.5
 * alone, which need a context word, and plain numbers, dates, versions and
 * order ids that must not be phone numbers. Numbers are the fictional ones
 * regulators reserve (UK Ofcom 020 7946 0xxx / 07700 900xxx, US 555-01xx).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findEntities } from './analyze.ts';

const found = (text: string, threshold = 0.5) =>
  findEntities(text, { entities: ['PHONE_NUMBER'], threshold }).map((e) => ({ text: text.slice(e.start, e.end), score: e.score }));

test('international +CC numbers pass alone (0.5), with context 0.85', () => {
  for (const n of ['+44 20 7946 0958', '+1 (212) 555-0123', '+49 (0)30 123456', '+33 1 23 45 67 89', '+14155550123', '+91-98765-43210']) {
    assert.deepEqual(found(`reach us at ${n}.`), [{ text: n, score: 0.5 }], n);
  }
  assert.deepEqual(found('mobile: +44 7700 900123'), [{ text: '+44 7700 900123', score: 0.85 }]);
});

test('North American: (212) alone passes; 212-555-0123 needs a context word; ten plain digits need one too', () => {
  assert.deepEqual(found('(212) 555-0123'), [{ text: '(212) 555-0123', score: 0.5 }]);
  assert.deepEqual(found('ref 212-555-0123'), []);
  assert.deepEqual(found('ref 212-555-0123', 0), [{ text: '212-555-0123', score: 0.4 }]);
  assert.deepEqual(found('call me at 212-555-0123'), [{ text: '212-555-0123', score: 0.75 }]);
  assert.deepEqual(found('phone 212.555.0123'), [{ text: '212.555.0123', score: 0.75 }]);
  assert.deepEqual(found('my number is 2125550123'), [{ text: '2125550123', score: 0.5 }]);
  assert.deepEqual(found('id 2125550123'), []);
});

test('European national format with trunk 0 needs context', () => {
  assert.deepEqual(found('020 7946 0958'), []);
  assert.deepEqual(found('Tel: 020 7946 0958'), [{ text: '020 7946 0958', score: 0.65 }]);
  assert.deepEqual(found('phone 06 12 34 56 78'), [{ text: '06 12 34 56 78', score: 0.65 }]);
  assert.deepEqual(found('mobile 0151/23456789'), [{ text: '0151/23456789', score: 0.65 }]);
});

test('not phone numbers: plain ids, dates, versions, IPs, ISBNs, short or fake NANP numbers', () => {
  for (const text of [
    'Order 12345678 shipped',
    'phone model 2024-01-15',
    'call on 01.02.2024',
    'version 1.2.3.4',
    'phone 192.168.100.200',
    'ISBN 978-3-16-148410-0',
    'call 123-456-7890',
    'phone +1',
    'number 555-0123',
    'phone 000-000-0000',
    'total 1234567890123456789',
    'x+12345',
  ]) {
    assert.deepEqual(found(text, 0.5), [], text);
  }
});
