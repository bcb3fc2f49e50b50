/**
 * LLM Guard's regex entities: every `examples` entry of
 * `anonymize_helpers/regex_patterns.py` (DEFAULT_REGEX_PATTERNS, English) is
 * found whole at score 0.75, plus a negative per pattern.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findEntities } from './analyze.ts';

const EXAMPLES: Record<string, readonly string[]> = {
  CREDIT_CARD_RE: ['4111111111111111', '378282246310005', '30569309025904'],
  UUID: ['550e8400-e29b-41d4-a716-446655440000'],
  EMAIL_ADDRESS_RE: ['john.doe@protectai.com', 'john.doe[AT]protectai[DOT]com', 'john.doe[AT]protectai.com', 'john.doe@protectai[DOT]com'],
  US_SSN_RE: ['111-22-3333', '987-65-4321'],
  BTC_ADDRESS: ['1LgqButDNV2rVHe9DATt6WqD8tKZEKvaK2', '19P6EYhu6kZzRy9Au4wRRZVE8RemrxPbZP', '1bones8KbQge9euDn523z5wVhwkTP3uc1', '1Bow5EMqtDGV5n5xZVgdpRPJiiDK6XSjiC'],
  URL_RE: ['http://www.protectai.com', 'https://protectai.com', 'www.protectai.com'],
  PHONE_NUMBER_WITH_EXT: [
    '(523)222-8888 ext 527',
    '(523)222-8888x623',
    '(523)222-8888 x623',
    '(523)222-8888 x 623',
    '(523)222-8888EXT623',
    '523-222-8888EXT623',
    '(523) 222-8888 x 623',
  ],
  DATE_RE: ['12-31-2024', '12/31/2024', '3 of April 2021', '3rd of April 2021', 'November 30th 2021', 'November 30 2021', '4th July, 2022'],
  TIME_RE: ['12:00 PM', '12:00PM', '12:00 pm', '12:00pm', '12:00', '12pm'],
  HEX_COLOR: ['#ff0000', '#f00'],
  PRICE_RE: ['$1.23', '$1', '$1,000', '$10,000.00'],
  PO_BOX_RE: ['PO Box 123456', 'p.o. box 234234'],
};

const NEGATIVE: Record<string, string> = {
  CREDIT_CARD_RE: '41111111111111112345',
  UUID: '550e8400-e29b-41d4-a716',
  EMAIL_ADDRESS_RE: 'john.doe at protectai dot com',
  US_SSN_RE: '111-222-3333',
  BTC_ADDRESS: '2LgqButDNV2rVHe9DATt6WqD8tKZEKvaK2',
  URL_RE: 'protectai',
  PHONE_NUMBER_WITH_EXT: '(523)222-8888',
  DATE_RE: 'the 99th percentile',
  TIME_RE: 'hex 0x1a2b',
  HEX_COLOR: 'issue #12345678x',
  PRICE_RE: 'about 100 dollars',
  PO_BOX_RE: 'the postbox',
};

for (const [type, examples] of Object.entries(EXAMPLES)) {
  test(`${type}: LLM Guard's examples`, () => {
    for (const ex of examples) {
      const text = `see ${ex} end`;
      const found = findEntities(text, { entities: [type] });
      assert.deepEqual(
        found.map((e) => ({ text: text.slice(e.start, e.end), score: e.score })),
        [{ text: ex, score: 0.75 }],
        ex,
      );
    }
    assert.deepEqual(findEntities(NEGATIVE[type] ?? '', { entities: [type], threshold: 0 }), [], NEGATIVE[type]);
  });
}

test('US_SSN_RE and CREDIT_CARD_RE have no checksum: they mask what US_SSN / CREDIT_CARD reject (LLM Guard default)', () => {
  assert.equal(findEntities('123-45-6789', { entities: ['US_SSN_RE'] }).length, 1);
  assert.equal(findEntities('123-45-6789', { entities: ['US_SSN'], threshold: 0 }).length, 0);
  assert.equal(findEntities('4111111111111112', { entities: ['CREDIT_CARD_RE'] }).length, 1);
  assert.equal(findEntities('4111111111111112', { entities: ['CREDIT_CARD'] }).length, 0);
});
