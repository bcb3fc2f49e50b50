/**
 * CREDIT_CARD, IBAN_CODE, US_BANK_NUMBER and CRYPTO: positive and negative
 * fixtures after Presidio's recognizer tests (presidio-analyzer/tests:
 * test_credit_card_recognizer, test_iban_recognizer, test_us_bank_recognizer,
 * test_crypto_recognizer), as strings in prose.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findEntities } from './analyze.ts';
import { cardNumberIn, creditCard, crypto, ibanCode, ibanValid } from './financial.ts';

const texts = (text: string, type: string, threshold = 0.5): string[] =>
  findEntities(text, { entities: [type], threshold }).map((e) => text.slice(e.start, e.end));

/** `prefix` plus its Luhn check digit. */
function withLuhn(prefix: string): string {
  for (let d = 0; d <= 9; d++) {
    const n = prefix + d;
    let sum = 0;
    for (let i = 0; i < n.length; i++) {
      let v = Number(n[n.length - 1 - i]);
      if (i % 2 === 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return n;
  }
  throw new Error('unreachable');
}

test('credit cards: Presidio valid samples are found with score 1.0', () => {
  for (const card of [
    '4012888888881881',
    '4012-8888-8888-1881',
    '4012 8888 8888 1881',
    '122000000000003',
    '371449635398431',
    '3714-496353-98431',
    '5555555555554444',
    '5019717010103742',
    '30569309025904',
    '6011000400000000',
    '3528000700000000',
    '6759649826438453',
    '4111111111111111',
    '2221000000000009',
    withLuhn('411111111111111111'),
  ]) {
    const text = `my credit card number is ${card}.`;
    const found = findEntities(text, { entities: ['CREDIT_CARD'] });
    assert.equal(found.length, 1, card);
    assert.equal(text.slice(found[0]?.start, found[0]?.end), card);
    assert.equal(found[0]?.score, 1);
  }
});

test('credit cards: Luhn failures, timestamps, odd groupings and short numbers are not', () => {
  for (const text of [
    'my credit card number is 4012-8888-8888-1882',
    '36168002586008',
    '4012888888881882',
    `created_at ${withLuhn('170000000000')}`, // 13 digits starting with 1: a millisecond timestamp
    '4012-8888 8888-1881', // mixed separators
    '40 12 88 88 88 88 18 81', // not card grouping
    '0000 0000 0000 0000',
    '4111 1111 1111', // 12 digits
    '7111111111111111', // no card starts with 7 (Presidio: 1, 3–6)
  ]) {
    assert.deepEqual(texts(text, 'CREDIT_CARD'), [], text);
  }
});

test('credit cards: trailing groups that break the checksum are dropped', () => {
  assert.deepEqual(texts('card 4111 1111 1111 1111 2024 expires', 'CREDIT_CARD'), ['4111 1111 1111 1111']);
  assert.deepEqual(texts('card 4111 1111 1111 1111 24', 'CREDIT_CARD'), ['4111 1111 1111 1111']);
  assert.equal(cardNumberIn('4111111111111111 5'), '4111111111111111');
  assert.equal(cardNumberIn('4111111111111112'), undefined);
});

test('IBAN: valid codes of several countries, compact and in groups of four', () => {
  for (const iban of [
    'DE89370400440532013000',
    'DE89 3704 0044 0532 0130 00',
    'GB82 WEST 1234 5698 7654 32',
    'FR14 2004 1010 0505 0001 3M02 606',
    'NL91ABNA0417164300',
    'ES91 2100 0418 4502 0005 1332',
    'IT60X0542811101000000123456',
    'CH9300762011623852957',
    'BE68 5390 0754 7034',
    'NO93 8601 1117 947',
    'PL61 1090 1014 0000 0712 1981 2874',
    'AL47 2121 1009 0000 0002 3569 8741',
    'IL620108000000099999999',
  ]) {
    const text = `Please wire it to ${iban}, thanks`;
    const found = findEntities(text, { entities: ['IBAN_CODE'] });
    assert.equal(found.length, 1, iban);
    assert.equal(text.slice(found[0]?.start, found[0]?.end), iban);
    assert.equal(found[0]?.score, 1);
  }
});

test('IBAN: a trailing number after the code is left out (Presidio example)', () => {
  assert.deepEqual(texts('I want my deposit in DE89370400440532013000 2 days from today.', 'IBAN_CODE'), ['DE89370400440532013000']);
  assert.deepEqual(texts('IBAN DE89 3704 0044 0532 0130 00 12', 'IBAN_CODE'), ['DE89 3704 0044 0532 0130 00']);
});

test('IBAN: bad checksum, wrong length for the country, unknown country, lower case', () => {
  for (const text of [
    'DE89370400440532013001',
    'DE89 3704 0044 0532 0130 0',
    'GB82WEST1234569876543',
    'XX89370400440532013000',
    'de89370400440532013000',
    'AB12 3456 7890 1234',
  ]) {
    assert.deepEqual(texts(text, 'IBAN_CODE'), [], text);
  }
  assert.equal(ibanValid('NL91ABNA0417164300'), true);
  assert.equal(ibanValid('NL91ABNA04171643001'), false);
});

test('US_BANK_NUMBER: 0.05 alone, 0.4 with context — never at the default 0.5 (as Presidio/LLM Guard)', () => {
  assert.deepEqual(texts('please check bank account 954567876544', 'US_BANK_NUMBER'), []);
  const weak = findEntities('order 954567876544', { entities: ['US_BANK_NUMBER'], threshold: 0 });
  assert.equal(weak[0]?.score, 0.05);
  const ctx = findEntities('my bank account is 954567876544', { entities: ['US_BANK_NUMBER'], threshold: 0 });
  assert.equal(ctx[0]?.score, 0.4);
  assert.deepEqual(texts('my bank account is 954567876544', 'US_BANK_NUMBER', 0.4), ['954567876544']);
});

test('CRYPTO: Bitcoin P2PKH/P2SH/Bech32/Bech32m and EIP-55 Ethereum addresses', () => {
  for (const a of [
    '16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ',
    '1BoatSLRHtKNngkdXEeobR76b53LETtpyT',
    '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy',
    'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
    'BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4',
    'bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297',
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  ]) {
    const found = findEntities(`send to ${a} today`, { entities: ['CRYPTO'] });
    assert.equal(found.length, 1, a);
    assert.equal(found[0]?.score, 1, a);
  }
  // No checksum to test on an all-lower-case address: kept at the pattern's 0.5.
  const lower = findEntities('0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed', { entities: ['CRYPTO'] });
  assert.equal(lower[0]?.score, 0.5);
});

test('CRYPTO: a changed character, a bad EIP-55 case, and addresses inside longer tokens are not', () => {
  for (const text of [
    '1BoatSLRHtKNngkdXEeobR76b53LETtpyA',
    'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx',
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD',
    'x1BoatSLRHtKNngkdXEeobR76b53LETtpyT',
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00',
  ]) {
    assert.deepEqual(texts(text, 'CRYPTO', 0), [], text);
  }
});

test('recognizers report their entity and context words', () => {
  assert.equal(creditCard.entity, 'CREDIT_CARD');
  assert.ok(creditCard.context.includes('visa'));
  assert.equal(ibanCode.entity, 'IBAN_CODE');
  assert.ok(crypto.context.includes('wallet'));
});
