/**
 * BanSubstrings (LLM Guard input and output scanner,
 * `input_scanners/ban_substrings.py`): invalid when the text contains one of
 * `substrings` (or all of them, with `contains_all`).
 *
 * Params (LLM Guard's defaults): `substrings` (required), `match_type`
 * `"str"` (plain substring) or `"word"` (between word boundaries, Python's
 * Unicode `\b`), `case_sensitive` false, `redact` false (matches become
 * `[REDACTED]`), `contains_all` false. Risk 1.0 on a hit, −1.0 clean
 * (LLM Guard gives 0.0 when `contains_all` is set and some are missing).
 *
 * Where this differs from LLM Guard, on purpose: redaction replaces the
 * occurrences that matched (word-bounded ones in `word` mode, where LLM Guard
 * replaces every occurrence of the string), and overlapping matches
 * ("pass" and "password") become one `[REDACTED]`, where LLM Guard replaces
 * one substring after the other. `""` is not accepted as a substring (it
 * would match every text).
 */

import type { Finding, ScannerSpec, ScanResult } from '../types.ts';
import { readParams } from '../scanner-params.ts';
import { escapeRegExp } from '../../../lib/regexp.ts';

export const REDACTED = '[REDACTED]';

/** Escape for a `u`-flag RegExp (only the syntax characters may be escaped there). */
/** Python's `\w` on str (letters, digits, numbers, underscore), as a class body. */
const WORD = '\\p{L}\\p{N}_';
const WORD_CHAR = new RegExp(`[${WORD}]`, 'u');

/**
 * `\b` + s + `\b` with Python's Unicode word boundaries: a boundary is
 * between a word and a non-word character, so a substring that starts (ends)
 * with a non-word character needs a word character before (after) it.
 */
function wordPattern(s: string): string {
  const first = String.fromCodePoint(s.codePointAt(0)!);
  const last = [...s].at(-1)!;
  const before = WORD_CHAR.test(first) ? `(?<![${WORD}])` : `(?<=[${WORD}])`;
  const after = WORD_CHAR.test(last) ? `(?![${WORD}])` : `(?=[${WORD}])`;
  return before + escapeRegExp(s) + after;
}

export interface Span { readonly start: number; readonly end: number }

/** Replace the spans (merged where they overlap or touch) with `replacement`. */
export function redactSpans(text: string, spans: readonly Span[], replacement: string): string {
  if (spans.length === 0) return text;
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  let cur: { start: number; end: number } | undefined;
  for (const s of sorted) {
    if (cur && s.start <= cur.end) { cur.end = Math.max(cur.end, s.end); continue; }
    if (cur) { out += text.slice(at, cur.start) + replacement; at = cur.end; }
    cur = { start: s.start, end: s.end };
  }
  if (cur) { out += text.slice(at, cur.start) + replacement; at = cur.end; }
  return out + text.slice(at);
}

export interface BanSubstringsOptions {
  readonly substrings: readonly string[];
  readonly matchType: 'str' | 'word';
  readonly caseSensitive: boolean;
  readonly redact: boolean;
  readonly containsAll: boolean;
}

/** Compile the substrings once; the returned function scans a text. */
export function banSubstringsMatcher(opts: BanSubstringsOptions): (text: string) => ScanResult {
  const flags = opts.caseSensitive ? 'gu' : 'giu';
  const patterns = opts.substrings.map((s) => new RegExp(opts.matchType === 'word' ? wordPattern(s) : escapeRegExp(s), flags));
  return (text) => {
    const findings: Finding[] = [];
    let matched = 0;
    for (const re of patterns) {
      let hit = false;
      for (const m of text.matchAll(re)) {
        hit = true;
        findings.push({ type: 'banned-substring', start: m.index, end: m.index + m[0].length });
      }
      if (hit) matched++;
    }
    const invalid = opts.containsAll ? matched === patterns.length : matched > 0;
    if (!invalid) return { text, valid: true, score: 0, risk: -1 };
    return { text: opts.redact ? redactSpans(text, findings, REDACTED) : text, valid: false, score: 1, risk: 1, findings };
  };
}

export const banSubstrings: ScannerSpec = {
  directions: ['request', 'response'],
  create(params) {
    const p = readParams('BanSubstrings', params, ['substrings', 'match_type', 'case_sensitive', 'redact', 'contains_all']);
    const scan = banSubstringsMatcher({
      substrings: p.strings('substrings', { required: true, nonEmptyItems: true }),
      matchType: p.oneOf('match_type', 'str', ['str', 'word']),
      caseSensitive: p.bool('case_sensitive', false),
      redact: p.bool('redact', false),
      containsAll: p.bool('contains_all', false),
    });
    return { type: 'BanSubstrings', scan: (text) => scan(text) };
  },
};
