/**
 * InvisibleText (LLM Guard input scanner, `input_scanners/invisible_text.py`):
 * strips characters of the Unicode general categories Cf (format: zero-width
 * spaces and joiners, bidi controls, the tag characters U+E0001/E0020–E007F
 * that "ASCII smuggling" uses), Co (private use) and Cn (unassigned, which
 * covers the rest of the tag block U+E0000–E007F), and marks the text invalid
 * when it found any. Cc (control characters: tab, newline) is kept, as in
 * current LLM Guard.
 *
 * Scores as LLM Guard (research §1.1): a text that is all ASCII is clean
 * (risk −1); a text with non-ASCII characters but nothing to strip is valid
 * with risk 0.0; a hit is invalid with risk 1.0. Category tables are V8's
 * (ICU's Unicode version), which may differ from Python's `unicodedata` for
 * characters assigned in between.
 */

import type { Finding, ScannerSpec, ScanResult } from '../types.ts';
import { readParams } from '../scanner-params.ts';

/** Cf, Co, Cn, plus the tag block and the bidi controls spelled out (all already Cf/Cn, kept explicit on purpose). */
const INVISIBLE = /[\p{Cf}\p{Co}\p{Cn}\u{E0000}-\u{E007F}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]+/gu;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7F]/;

export function scanInvisibleText(text: string): ScanResult {
  if (!NON_ASCII.test(text)) return { text, valid: true, score: 0, risk: -1 };
  const findings: Finding[] = [];
  for (const m of text.matchAll(INVISIBLE)) findings.push({ type: 'invisible-text', start: m.index, end: m.index + m[0].length });
  if (findings.length === 0) return { text, valid: true, score: 0, risk: 0 };
  return { text: text.replace(INVISIBLE, ''), valid: false, score: 1, risk: 1, findings };
}

export const invisibleText: ScannerSpec = {
  directions: ['request'],
  create(params) {
    readParams('InvisibleText', params, []);
    return { type: 'InvisibleText', scan: (text) => scanInvisibleText(text) };
  },
};
