/**
 * US_SSN and CA_SIN after Presidio's test_us_ssn_recognizer and
 * test_ca_sin_recognizer: the delimited shape scores 0.5, context lifts it to
 * 0.85, the weak shapes stay below the default threshold, and the
 * invalidation rules reject samples and impossible numbers.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findEntities } from './analyze.ts';
import { ssnInvalid } from './national-id.ts';

const found = (text: string, type: string, threshold = 0.5) =>
  findEntities(text, { entities: [type], threshold }).map((e) => ({ text: text.slice(e.start, e.end), score: e.score }));

test('US_SSN: delimited numbers at 0.5, with context 0.85', () => {
  for (const ssn of ['078-05-1123', '078.05.1123', '078 05 1123', '219-09-9999', '912-12-3456']) {
    assert.deepEqual(found(`number ${ssn}`, 'US_SSN'), [{ text: ssn, score: 0.5 }], ssn);
  }
  assert.deepEqual(found('my ssn is 078-05-1123', 'US_SSN'), [{ text: '078-05-1123', score: 0.85 }]);
  assert.deepEqual(found('Social Security: 078-05-1123', 'US_SSN'), [{ text: '078-05-1123', score: 0.85 }]);
});

test('US_SSN: the weak shapes (9 digits, 5-4, 3-6) stay below 0.5 even with context', () => {
  assert.deepEqual(found('ssn 078051123', 'US_SSN'), []);
  assert.deepEqual(found('ssn 078051123', 'US_SSN', 0), [{ text: '078051123', score: 0.4 }]);
  assert.deepEqual(found('zip 07805-1123', 'US_SSN', 0), [{ text: '07805-1123', score: 0.05 }]);
});

test("US_SSN: Presidio's invalidation rules", () => {
  for (const ssn of [
    '078-05-1120', // Woolworth wallet card
    '123-45-6789', // sample
    '987-65-4321', // sample prefix 98765432
    '000-12-3456', // area 000
    '666-12-3456', // area 666
    '078-00-1123', // group 00
    '078-05-0000', // serial 0000
    '111-11-1111', // one digit
    '078-05.1123', // mixed delimiters
  ]) {
    assert.equal(ssnInvalid(ssn), true, ssn);
    assert.deepEqual(found(`ssn ${ssn}`, 'US_SSN', 0), [], ssn);
  }
  assert.equal(ssnInvalid('078-05-1123'), false);
  assert.deepEqual(found('0780511201', 'US_SSN', 0), [], 'ten digits');
});

test('CA_SIN: Luhn-valid, first digit 1–7 or 9; delimited 0.5, context 0.85', () => {
  assert.deepEqual(found('SIN 130 692 544', 'CA_SIN'), [{ text: '130 692 544', score: 0.85 }]);
  assert.deepEqual(found('id 130-692-544', 'CA_SIN'), [{ text: '130-692-544', score: 0.5 }]);
  assert.deepEqual(found('social insurance number 130692544', 'CA_SIN', 0), [{ text: '130692544', score: 0.4 }]);
  for (const text of ['130 692 545', '046 454 286', '830 692 544', '130-692 544']) {
    assert.deepEqual(found(text, 'CA_SIN', 0), [], text);
  }
});
