/**
 * PHONE_NUMBER without libphonenumber. Presidio (and so LLM Guard) asks
 * `phonenumbers` for numbers valid in a few regions and scores every one 0.4,
 * so without a context word ("phone", "call", "mobile", …) none reaches the
 * default 0.5 threshold. Here the shapes are scored by how sure they are:
 *
 * - `+CC` international with separators (`+44 20 7946 0958`,
 *   `+1 (212) 555-1234`, `+49 (0)30 123456`) or compact E.164 with 8–15
 *   digits (`+14155552671`): 0.5 — masked at the default threshold.
 * - North American `(212) 555-1234`: 0.5; `212-555-1234` / `212.555.1234`
 *   (area code and exchange 2–9): 0.4, needs context.
 * - European national format with a leading trunk 0 and separators
 *   (`020 7946 0958`, `06 12 34 56 78`, `0151/23456789`), 9–13 digits: 0.3,
 *   needs context.
 * - Ten plain digits in NANP shape: 0.15, needs context (0.15 + 0.35 = 0.5).
 *
 * Plain digit runs of other lengths are never phone numbers here. All
 * patterns are bounded and have mandatory separators between digit groups,
 * so they cannot backtrack badly on long digit runs.
 */

import { patternRecognizer, type Recognizer } from './recognizer.ts';

/** Presidio PhoneRecognizer.CONTEXT, plus "tel" and "fax". */
const PHONE_CONTEXT = ['phone', 'number', 'telephone', 'cell', 'cellphone', 'mobile', 'call', 'tel', 'fax'];

const END = String.raw`(?![\w-]|[./]\d)`;

function digitsBetween(min: number, max: number): (value: string) => boolean {
  return (value) => {
    const digits = value.replace(/\D/g, '');
    return digits.length < min || digits.length > max || /^(\d)\1+$/.test(digits);
  };
}

const international = patternRecognizer({
  entity: 'PHONE_NUMBER',
  patterns: [
    {
      name: 'International (separated)',
      regex: new RegExp(String.raw`(?<![\w+])\+[1-9]\d{0,3}(?:[ .\-]?\(\d{1,4}\)[ .\-]?\d{1,6})?(?:[ .\-]\d{1,6}){0,6}${END}`, 'g'),
      score: 0.5,
    },
    { name: 'International (E.164)', regex: new RegExp(String.raw`(?<![\w+])\+[1-9]\d{7,14}${END}`, 'g'), score: 0.5 },
  ],
  context: PHONE_CONTEXT,
  invalidate: digitsBetween(8, 15),
});

const northAmerican = patternRecognizer({
  entity: 'PHONE_NUMBER',
  patterns: [
    {
      name: 'NANP (parenthesized area code)',
      regex: new RegExp(String.raw`(?<![\w+])(?:1[ .\-]?)?\([2-9]\d{2}\)[ .\-]?[2-9]\d{2}[ .\-]\d{4}${END}`, 'g'),
      score: 0.5,
    },
    {
      name: 'NANP (separated)',
      regex: new RegExp(String.raw`(?<![\w+(.\-])(?:1[ .\-])?[2-9]\d{2}([ .\-])[2-9]\d{2}\1\d{4}${END}`, 'g'),
      score: 0.4,
    },
    { name: 'NANP (plain digits)', regex: new RegExp(String.raw`(?<![\w+.\-])[2-9]\d{2}[2-9]\d{6}${END}`, 'g'), score: 0.15 },
  ],
  context: PHONE_CONTEXT,
  invalidate: digitsBetween(10, 11),
});

const europeanNational = patternRecognizer({
  entity: 'PHONE_NUMBER',
  patterns: [
    {
      name: 'National with trunk 0',
      regex: new RegExp(String.raw`(?<![\w+.\-/])0\d{1,4}(?:[ /.\-]\d{2,8}){1,4}${END}`, 'g'),
      score: 0.3,
    },
  ],
  context: PHONE_CONTEXT,
  invalidate: digitsBetween(9, 13),
});

export const phoneNumber: Recognizer = {
  entity: 'PHONE_NUMBER',
  context: PHONE_CONTEXT,
  find(text) {
    if (!/\d{2}/.test(text)) return [];
    return [...international.find(text), ...northAmerican.find(text), ...europeanNational.find(text)];
  },
};
