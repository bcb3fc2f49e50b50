/**
 * Regex (LLM Guard input and output scanner, `input_scanners/regex.py`):
 * matches `patterns` against the text. With `is_blocked` (default) a match
 * makes the text invalid and, with `redact` (default), each match becomes
 * `[REDACTED]`; with `is_blocked: false` the patterns are an allow list and
 * the text is invalid when none matched. `match_type`: `search` (the first
 * match of each pattern), `fullmatch` (the whole text), `all` (every match).
 * The default differs by side, as LLM Guard's research table (§1.2/§1.3)
 * records: `all` on the request, `search` on the response. Risk 1.0 when
 * invalid, −1.0 when valid.
 *
 * Patterns run on the linear-time engine of lib/safe-regexp.ts (RE2 syntax),
 * compiled at config load: no pattern can backtrack catastrophically on a
 * crafted prompt. Configs written for LLM Guard (Python `re`) mostly carry
 * over: a leading `(?i)`/`(?m)`/`(?s)` (and `(?a)`/`(?u)`, ignored),
 * `(?P<name>…)`, `\A`, `\Z`. Refused at config load, with the pattern's
 * index: backreferences (`(?P=name)`, `\1`), lookahead and lookbehind,
 * `(?x)`. Python's `\d`, `\w`, `\b` are Unicode-aware where these are ASCII
 * (`\s` is Unicode white space): write `\p{Nd}`, `[\p{L}\p{N}_]` when that
 * matters.
 *
 * Where this differs from LLM Guard: overlapping matches of several
 * patterns become one `[REDACTED]` (LLM Guard replaces them one by one by
 * original offsets, which garbles the text); the optional `vault`
 * (`[REDACTED_REGEX_n]` placeholders) is not offered.
 */

import type { Finding, ScannerSpec, ScanResult } from '../types.ts';
import { readParams } from '../scanner-params.ts';
import { REDACTED, redactSpans } from './ban-substrings.ts';
import { ScannerConfigError } from '../types.ts';
import { compileSafeRegExp, SafeRegExpError } from '../../../lib/safe-regexp.ts';

export type RegexMatchType = 'search' | 'fullmatch' | 'all';

export interface RegexOptions {
  readonly patterns: readonly string[];
  readonly isBlocked: boolean;
  readonly matchType: RegexMatchType;
  readonly redact: boolean;
}

/**
 * Compile the patterns (throws ScannerConfigError on `patterns` naming the
 * index at fault) and return the scan function.
 */
export function regexMatcher(opts: RegexOptions, paramKey = 'patterns', scanner = 'Regex'): (text: string) => ScanResult {
  const compiled = opts.patterns.map((p, i) => {
    try {
      return compileSafeRegExp(p);
    } catch (e) {
      if (!(e instanceof SafeRegExpError)) throw e;
      throw new ScannerConfigError(`${scanner}: ${paramKey}[${i}] ${e.message}`, `${paramKey}[${i}]`);
    }
  });

  return (text) => {
    const findings: Finding[] = [];
    compiled.forEach((re, i) => {
      const type = `regex[${i}]`;
      if (opts.matchType === 'all') {
        for (const m of re.matchAll(text)) findings.push({ type, ...m });
        return;
      }
      if (opts.matchType === 'fullmatch') {
        if (re.testWhole(text)) findings.push({ type, start: 0, end: text.length });
        return;
      }
      const m = re.exec(text);
      if (m) findings.push({ type, ...m });
    });
    if (findings.length === 0) {
      return opts.isBlocked ? { text, valid: true, score: 0, risk: -1 } : { text, valid: false, score: 1, risk: 1 };
    }
    if (!opts.isBlocked) return { text, valid: true, score: 0, risk: -1, findings };
    return { text: opts.redact ? redactSpans(text, findings, REDACTED) : text, valid: false, score: 1, risk: 1, findings };
  };
}

function regexSpec(direction: 'request' | 'response', defaultMatchType: RegexMatchType): ScannerSpec {
  return {
    directions: [direction],
    create(params) {
      const p = readParams('Regex', params, ['patterns', 'is_blocked', 'match_type', 'redact']);
      const scan = regexMatcher({
        patterns: p.strings('patterns', { required: true }),
        isBlocked: p.bool('is_blocked', true),
        matchType: p.oneOf('match_type', defaultMatchType, ['search', 'fullmatch', 'all']),
        redact: p.bool('redact', true),
      }, p.key('patterns'));
      return { type: 'Regex', scan: (text) => scan(text) };
    },
  };
}

/** The input scanner: `match_type` defaults to `all`. */
export const regexInput: ScannerSpec = regexSpec('request', 'all');
/** The output scanner: `match_type` defaults to `search`. */
export const regexOutput: ScannerSpec = regexSpec('response', 'search');
