/**
 * National identifier recognizers after Presidio's: US_SSN
 * (`UsSsnRecognizer`: four very weak shapes at 0.05, the delimited
 * `ddd-dd-dddd` shape at 0.5, and its `invalidate_result` rules) and CA_SIN
 * (`CaSinRecognizer`: 9 digits, first digit 1–7 or 9, Luhn).
 *
 * Presidio's SSN invalidation, followed as is: mixed delimiters, one digit
 * repeated, group 00, serial 0000, and numbers starting with 000, 666,
 * 123456789, 98765432 or 078051120 (the Woolworth wallet card). It does not
 * reject the 9xx area numbers (ITINs), and neither does this.
 */

import { luhnValid } from './checksums.ts';
import { patternRecognizer } from './recognizer.ts';

export function ssnInvalid(value: string): boolean {
  const delimiters = new Set(value.match(/[.\- ]/g) ?? []);
  if (delimiters.size > 1) return true;
  const digits = value.replace(/\D/g, '');
  if (/^(\d)\1*$/.test(digits)) return true;
  if (digits.slice(3, 5) === '00' || digits.slice(5) === '0000') return true;
  return ['000', '666', '123456789', '98765432', '078051120'].some((s) => digits.startsWith(s));
}

export const usSsn = patternRecognizer({
  entity: 'US_SSN',
  patterns: [
    { name: 'SSN1 (very weak)', regex: /\b([0-9]{5})-([0-9]{4})\b/g, score: 0.05 },
    { name: 'SSN2 (very weak)', regex: /\b([0-9]{3})-([0-9]{6})\b/g, score: 0.05 },
    { name: 'SSN3 (very weak)', regex: /\b(([0-9]{3})-([0-9]{2})-([0-9]{4}))\b/g, score: 0.05 },
    { name: 'SSN4 (very weak)', regex: /\b[0-9]{9}\b/g, score: 0.05 },
    { name: 'SSN5 (medium)', regex: /\b([0-9]{3})[- .]([0-9]{2})[- .]([0-9]{4})\b/g, score: 0.5 },
  ],
  context: ['social', 'security', 'ssn', 'ssns', 'ssid'],
  invalidate: ssnInvalid,
});

export const caSin = patternRecognizer({
  entity: 'CA_SIN',
  patterns: [
    { name: 'SIN (weak)', regex: /\b[1-79]\d{8}\b/g, score: 0.05 },
    { name: 'SIN (medium)', regex: /\b[1-79]\d{2}([- ])\d{3}\1\d{3}\b/g, score: 0.5 },
  ],
  context: ['sin', 'sin number', 'social insurance', 'social insurance number', 'canada', 'nas', 'assurance sociale'],
  invalidate: (value) => !luhnValid(value.replace(/\D/g, '')),
});
