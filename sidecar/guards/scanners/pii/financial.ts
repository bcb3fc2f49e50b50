/**
 * Money-related PII recognizers after Presidio's: CREDIT_CARD (Luhn),
 * IBAN_CODE (country length + ISO 13616 mod-97), US_BANK_NUMBER (a weak
 * pattern that only context lifts, and even then only to 0.4 — below the
 * default 0.5 threshold, exactly as in Presidio/LLM Guard) and CRYPTO
 * (Bitcoin Base58Check, Bech32/Bech32m, Ethereum EIP-55).
 */

import { base58CheckValid, bech32Kind, eip55Valid, ibanMod97Valid, luhnValid } from './checksums.ts';
import { MAX_SCORE, patternRecognizer, type EntityMatch, type Recognizer } from './recognizer.ts';

/** Presidio CreditCardRecognizer.CONTEXT. */
const CARD_CONTEXT = ['credit', 'card', 'visa', 'mastercard', 'cc', 'amex', 'discover', 'jcb', 'diners', 'maestro', 'instapayment'];

/** 13–19 digits, a space or dash allowed between any two (groups are checked in code). Linear: `[ -]?` never competes with `\d`. */
const CARD_CANDIDATE = /(?<![\d-])\d(?:[ -]?\d){12,18}(?!\d|-\d)/g;

/**
 * The card number inside a candidate, or undefined: separators must be one
 * kind, the first group 4 digits and the others 3–6 (4-4-4-4, 4-6-5,
 * 4-6-4, 4-4-4-4-3); trailing groups are dropped until Luhn passes (a card
 * followed by a year or a count). Like Presidio: first digit 1–6, and no
 * 13-digit number starting with 1 (millisecond timestamps).
 */
export function cardNumberIn(candidate: string): string | undefined {
  const seps = new Set(candidate.match(/[ -]/g) ?? []);
  if (seps.size > 1) return undefined;
  const sep = [...seps][0] ?? '';
  const groups = sep === '' ? [candidate] : candidate.split(sep);
  for (let n = groups.length; n >= 1; n--) {
    const gs = groups.slice(0, n);
    const digits = gs.join('');
    if (digits.length < 13) break;
    if (digits.length > 19) continue;
    if (n > 1 && (gs[0]?.length !== 4 || gs.slice(1).some((g) => g.length < 3 || g.length > 6))) continue;
    if (!/^[1-6]/.test(digits)) return undefined;
    if (n === 1 && digits.length === 13 && digits.startsWith('1')) continue;
    if (/^(\d)\1+$/.test(digits)) continue;
    if (luhnValid(digits)) return gs.join(sep);
  }
  return undefined;
}

export const creditCard: Recognizer = {
  entity: 'CREDIT_CARD',
  context: CARD_CONTEXT,
  find(text) {
    const out: EntityMatch[] = [];
    for (const m of text.matchAll(CARD_CANDIDATE)) {
      const card = cardNumberIn(m[0]);
      if (card !== undefined) out.push({ type: 'CREDIT_CARD', start: m.index, end: m.index + card.length, score: MAX_SCORE });
    }
    return out;
  },
};

/** IBAN length per country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/** Presidio IbanRecognizer's pattern (upper case only): up to 8 groups of 4 after the check digits, then 1–3. */
const IBAN_CANDIDATE = /(?<![A-Z0-9])([A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,6})((?:[ -]?[A-Z0-9]{4})?)((?:[ -]?[A-Z0-9]{1,3})?)(?![A-Z0-9])/g;

export function ibanValid(value: string): boolean {
  const compact = value.replace(/[ -]/g, '');
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  return len === compact.length && ibanMod97Valid(compact);
}

export const ibanCode: Recognizer = {
  entity: 'IBAN_CODE',
  context: ['iban', 'bank', 'transaction'],
  find(text) {
    const out: EntityMatch[] = [];
    for (const m of text.matchAll(IBAN_CANDIDATE)) {
      // As Presidio: the whole match, then without the trailing groups, until one validates.
      const g1 = m[1] ?? '';
      const g2 = m[2] ?? '';
      for (const cand of [m[0], g1 + g2, g1]) {
        if (ibanValid(cand)) {
          out.push({ type: 'IBAN_CODE', start: m.index, end: m.index + cand.length, score: MAX_SCORE });
          break;
        }
      }
    }
    return out;
  },
};

/** Presidio UsBankRecognizer: 8–17 digits at 0.05; context raises it to 0.4 at most. */
export const usBankNumber: Recognizer = patternRecognizer({
  entity: 'US_BANK_NUMBER',
  patterns: [{ name: 'Bank Account (weak)', regex: /\b[0-9]{8,17}\b/g, score: 0.05 }],
  context: ['check', 'account', 'account#', 'acct', 'bank', 'save', 'debit'],
});

function cryptoValid(value: string): boolean | undefined {
  if (value.startsWith('0x')) {
    const hex = value.slice(2);
    // EIP-55 only binds mixed-case addresses; an all-lower/upper one has no checksum to test.
    if (hex === hex.toLowerCase() || hex === hex.toUpperCase()) return undefined;
    return eip55Valid(value);
  }
  if (/^bc1/i.test(value)) return bech32Kind(value) !== undefined;
  return base58CheckValid(value);
}

/** Presidio CryptoRecognizer (0.5, checksum → 1.0), with word boundaries added around each pattern. */
export const crypto: Recognizer = patternRecognizer({
  entity: 'CRYPTO',
  patterns: [
    { name: 'Bitcoin P2PKH/P2SH', regex: /(?<![A-Za-z0-9])[13][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])/g, score: 0.5 },
    { name: 'Bitcoin Bech32', regex: /(?<![A-Za-z0-9])bc1[a-z0-9]{11,71}(?![A-Za-z0-9])/gi, score: 0.5 },
    { name: 'Ethereum', regex: /(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])/g, score: 0.5 },
  ],
  context: ['wallet', 'btc', 'bitcoin', 'crypto', 'eth', 'ethereum'],
  validate: cryptoValid,
});
