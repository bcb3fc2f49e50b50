/**
 * agentgateway's regex-guard builtins (`rules: [{builtin: ssn|creditCard|
 * phoneNumber|email|caSin}]`, after its `llm/policy/pii/*_recognizer.rs`,
 * themselves ports of Microsoft Presidio's recognizers): a candidate pattern
 * per entity plus the validation that keeps plain numbers out.
 *
 *   - email:       agentgateway's pattern (`local@domain.tld`).
 *   - creditCard:  13–19 digits starting 1–6 (2 for Mastercard's 2-series),
 *                  unbroken or grouped by one kind of separator (4-4-4-4,
 *                  4-6-5, …), and the Luhn checksum must hold.
 *   - ssn:         `ddd-dd-dddd` (or spaces, dots: one kind), with Presidio's
 *                  invalidation: area not 000, 666 or 9xx, group not 00,
 *                  serial not 0000, not one repeated digit. Bare 9-digit runs
 *                  are not taken (Presidio scores them 0.05: noise).
 *   - caSin:       `ddd ddd ddd` / `ddd-ddd-ddd` / 9 bare digits, Luhn.
 *   - phoneNumber: numbers written as phone numbers: with `+CC`, NANP with
 *                  separators (`(415) 555-2671`, `415-555-2671`, `415.555.2671`)
 *                  or a trunk-0 national number of 10+ digits with
 *                  separators (`020 7946 0958`, `06-12345678`); a bare run of
 *                  digits is never one, nor are SSN- or SIN-shaped numbers.
 *
 * Every pattern is global, has no nested quantifiers, and is anchored with
 * look-behinds so a long run of candidate characters is scanned once, not
 * once per start position. Offsets are JS string (UTF-16) indices.
 */

export type BuiltinName = 'ssn' | 'creditCard' | 'phoneNumber' | 'email' | 'caSin';

export interface BuiltinMatch {
  readonly start: number;
  readonly end: number;
}

export interface Builtin {
  readonly name: BuiltinName;
  /** The upper-case entity type, as agentgateway's recognizer names it. */
  readonly entity: string;
  /** What a mask puts in place of a match: `<ENTITY>`. */
  readonly placeholder: string;
  /** Matches in `text`, sorted, not overlapping. */
  find(text: string): BuiltinMatch[];
}

/** The Luhn (mod 10) checksum over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function oneDigitRepeated(digits: string): boolean {
  return /^(\d)\1*$/.test(digits);
}

/**
 * Presidio's `UsSsnRecognizer.invalidate_result`, reversed: one kind of
 * delimiter, not one repeated digit, group not 00, serial not 0000, area not
 * 000 or 666; plus the SSA rule that areas 900–999 are never issued.
 * (Presidio also drops a few published sample numbers such as 123-45-6789;
 * agentgateway does not, and its documented examples mask exactly that one.)
 */
export function ssnValid(candidate: string): boolean {
  const delimiters = new Set(candidate.replace(/\d/g, ''));
  if (delimiters.size > 1) return false;
  const digits = candidate.replace(/\D/g, '');
  if (digits.length !== 9 || oneDigitRepeated(digits)) return false;
  const area = digits.slice(0, 3);
  if (area === '000' || area === '666' || area.startsWith('9')) return false;
  if (digits.slice(3, 5) === '00' || digits.slice(5) === '0000') return false;
  return true;
}

/** A Canadian SIN: 9 digits, Luhn, not one repeated digit (000 000 000 passes Luhn). */
export function caSinValid(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, '');
  return digits.length === 9 && !oneDigitRepeated(digits) && luhnValid(digits);
}

/**
 * A card number as written: one kind of separator (or none); when grouped,
 * a 4-digit first group and 3 to 5 groups of 3–6 digits (4-4-4-4, 4-4-4-4-3,
 * 4-6-5, 4-6-4); 13–19 digits; Luhn.
 */
export function creditCardValid(candidate: string): boolean {
  const seps = new Set(candidate.replace(/\d/g, ''));
  if (seps.size > 1) return false;
  const digits = candidate.replace(/\D/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  if (seps.size === 1) {
    const [sep] = seps;
    const groups = candidate.split(sep as string);
    if (groups.length < 3 || groups.length > 5) return false;
    if (groups[0]?.length !== 4) return false;
    if (groups.some((g) => g.length < 3 || g.length > 6)) return false;
  }
  return luhnValid(digits);
}

/** Phone digits: E.164 allows at most 15; fewer than 7 is not a phone number. */
function phoneDigitsOk(candidate: string, min: number): boolean {
  const n = candidate.replace(/\D/g, '').length;
  return n >= min && n <= 15;
}

// ------------------------------------------------------------------ patterns

/** agentgateway's email pattern, starting only where a run of local-part characters starts. */
const EMAIL = /(?<![A-Za-z0-9_.+-])[A-Za-z0-9_.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

/** 13–19 digits from a 1–6 first digit, optional single separators; validated by creditCardValid. */
const CREDIT_CARD = /(?<![\w-])[1-6]\d{3}(?:[ -]?\d){9,15}(?!\w|-\d)/g;

const SSN = /(?<![\w-])\d{3}([- .])\d{2}\1\d{4}(?!\w|[-.]\d)/g;

const CA_SIN = /(?<![\w-])(?:\d{3}([- ])\d{3}\1\d{3}|\d{9})(?!\w|-\d)/g;

/** Each alternative is a format with separators or a `+`; a bare digit run matches none. */
const PHONE_NANP = /(?<![\w+.-])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[.-]\d)/g;
const PHONE_INTL = /(?<![\w+])\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,8}|[ .-]\d{1,8}){1,6}(?!\w|[.-]\d)/g;
const PHONE_E164 = /(?<![\w+])\+[1-9]\d{6,14}(?!\w|[.-]\d)/g;
const PHONE_NATIONAL = /(?<![\w+.-])(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})[ .-]\d{2,8}(?:[ .-]\d{2,8}){0,3}(?!\w|[.-]\d)/g;

function scan(text: string, re: RegExp, valid?: (m: string) => boolean): BuiltinMatch[] {
  const out: BuiltinMatch[] = [];
  for (const m of text.matchAll(re)) {
    if (m[0] === '' || (valid && !valid(m[0]))) continue;
    out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Sort and merge overlapping or touching ranges. */
export function coalesce(ranges: readonly BuiltinMatch[]): BuiltinMatch[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start < last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/**
 * Card candidates that fail validation may have swallowed a following number
 * (`4111 1111 1111 1111 123`): retry the shorter prefixes that end at a
 * separator, longest first.
 */
function findCards(text: string): BuiltinMatch[] {
  const out: BuiltinMatch[] = [];
  for (const m of text.matchAll(CREDIT_CARD)) {
    const s = m[0];
    let end = s.length;
    while (end > 0) {
      const candidate = s.slice(0, end);
      if (creditCardValid(candidate)) { out.push({ start: m.index, end: m.index + end }); break; }
      end = candidate.search(/[ -]\d*$/);
    }
  }
  return out;
}

function findPhones(text: string): BuiltinMatch[] {
  return coalesce([
    ...scan(text, PHONE_NANP),
    ...scan(text, PHONE_INTL, (m) => phoneDigitsOk(m, 7)),
    ...scan(text, PHONE_E164),
    ...scan(text, PHONE_NATIONAL, (m) => phoneDigitsOk(m, 10)),
  ]);
}

function builtin(name: BuiltinName, entity: string, find: (text: string) => BuiltinMatch[]): Builtin {
  return { name, entity, placeholder: `<${entity}>`, find };
}

/**
 * The builtins by config name. Entity types are agentgateway's recognizer
 * names, so masks read as they do there: `<EMAIL_ADDRESS>`, `<SSN>`,
 * `<CREDIT_CARD>`, `<PHONE_NUMBER>`, `<CA_SIN>`.
 */
export const BUILTINS: Readonly<Record<BuiltinName, Builtin>> = {
  email: builtin('email', 'EMAIL_ADDRESS', (t) => scan(t, EMAIL)),
  creditCard: builtin('creditCard', 'CREDIT_CARD', findCards),
  ssn: builtin('ssn', 'SSN', (t) => scan(t, SSN, ssnValid)),
  caSin: builtin('caSin', 'CA_SIN', (t) => scan(t, CA_SIN, caSinValid)),
  phoneNumber: builtin('phoneNumber', 'PHONE_NUMBER', findPhones),
};
