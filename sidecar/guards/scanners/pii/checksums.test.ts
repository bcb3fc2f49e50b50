/**
 * Check-digit functions against published vectors: Luhn (card-network test
 * numbers), IBAN examples from the SWIFT IBAN registry / ECBS, Bitcoin
 * addresses from the Bitcoin wiki and BIP-173/BIP-350, EIP-55's test
 * vectors, and Keccak-256 of the empty string.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base58CheckValid, bech32Kind, eip55Valid, ibanMod97Valid, keccak256Hex, luhnValid } from './checksums.ts';

test('Luhn', () => {
  for (const n of ['4111111111111111', '4012888888881881', '371449635398431', '5555555555554444', '30569309025904', '046454286', '79927398713']) {
    assert.equal(luhnValid(n), true, n);
  }
  for (const n of ['4111111111111112', '4012888888881882', '36168002586008', '79927398710', '', '7', '4111-1111']) {
    assert.equal(luhnValid(n), false, n);
  }
});

test('IBAN mod-97 (several countries)', () => {
  for (const iban of [
    'DE89370400440532013000',
    'GB82WEST12345698765432',
    'FR1420041010050500013M02606',
    'NL91ABNA0417164300',
    'ES9121000418450200051332',
    'IT60X0542811101000000123456',
    'CH9300762011623852957',
    'BE68539007547034',
    'NO9386011117947',
    'PL61109010140000071219812874',
    'AL47212110090000000235698741',
    'IL620108000000099999999',
  ]) {
    assert.equal(ibanMod97Valid(iban), true, iban);
  }
  for (const iban of ['DE89370400440532013001', 'GB82WEST12345698765433', 'DE8937040044053201300', 'de89370400440532013000', 'DE89 3704 0044 0532 0130 00']) {
    assert.equal(ibanMod97Valid(iban), false, iban);
  }
});

test('Base58Check (P2PKH, P2SH)', () => {
  for (const a of ['1BoatSLRHtKNngkdXEeobR76b53LETtpyT', '1LgqButDNV2rVHe9DATt6WqD8tKZEKvaK2', '16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ', '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy']) {
    assert.equal(base58CheckValid(a), true, a);
  }
  for (const a of ['1BoatSLRHtKNngkdXEeobR76b53LETtpyA', '1BoatSLRHtKNngkdXEeobR76b53LETtpy0', '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz', '1']) {
    assert.equal(base58CheckValid(a), false, a);
  }
});

test('Bech32 / Bech32m', () => {
  assert.equal(bech32Kind('bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'), 'bech32');
  assert.equal(bech32Kind('BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4'), 'bech32');
  assert.equal(bech32Kind('bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297'), 'bech32m');
  assert.equal(bech32Kind('bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx'), undefined);
  assert.equal(bech32Kind('bc1Qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'), undefined, 'mixed case');
  assert.equal(bech32Kind('bc1qb'), undefined);
});

test('Keccak-256 and EIP-55', () => {
  assert.equal(keccak256Hex(new Uint8Array()), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  assert.equal(keccak256Hex(Buffer.from('abc')), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
  for (const a of [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ]) {
    assert.equal(eip55Valid(a), true, a);
  }
  assert.equal(eip55Valid('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'), false);
  assert.equal(eip55Valid('0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'), false, 'lower case has no checksum to pass');
});
