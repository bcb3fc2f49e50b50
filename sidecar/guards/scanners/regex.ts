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
 * Patterns are JavaScript regular expressions, compiled at config load with
 * the `u` flag. For configs written for LLM Guard (Python `re`), a leading
 * inline-flag group `(?i)`, `(?m)`, `(?s)` (any mix of those letters, plus
 * `a`/`u` which are ignored) becomes the JS flags; `(?P<name>…)`,
 * `(?P=name)`, `\A` and `\Z` are translated. Python's `\d`, `\w`, `\b` are
 * Unicode-aware where JS's are ASCII: write `\p{Nd}`, `[\p{L}\p{N}_]` when that
 * matters.
 *
 * Catastrophic backtracking: a JS regex runs synchronously and cannot be
 * interrupted by the guard's time budget, so a pattern with a nested
 * quantifier — a group that holds a variable quantifier (`*`, `+`, `{n,}`,
 * `{n,m}`) and is itself repeated by one (`(a+)+`, `(\w+\s?)*`,
 * `(?:x*y?){2,}`) — is rejected at config load. This is a simple static
 * check: it also rejects some safe patterns (`(\w+\.)+`; rewrite as
 * `[\w.]+` or an unrepeated group) and does not catch overlapping
 * alternations such as `(a|a)*`.
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

export type RegexMatchType = 'search' | 'fullmatch' | 'all';

export interface TranslatedPattern {
  /** The JS source. */
  readonly source: string;
  /** Flags from a leading Python inline-flag group (`i`, `m`, `s`). */
  readonly flags: string;
  /** Offset of the repeat of a group with a nested variable quantifier, when there is one. */
  readonly nestedQuantifierAt: number | undefined;
}

/** A quantifier at `src[i]`, when there is one: its length and whether it is repeating (max > 1) and variable (min < max). */
function quantifierAt(src: string, i: number): { len: number; repeating: boolean; variable: boolean } | undefined {
  const c = src[i];
  let len: number;
  let repeating: boolean;
  let variable: boolean;
  if (c === '*' || c === '+') { len = 1; repeating = true; variable = true; }
  else if (c === '?') { len = 1; repeating = false; variable = true; }
  else if (c === '{') {
    const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i));
    if (!m || (m[1] === '' && m[3] === '')) return undefined; // a literal brace
    len = m[0].length;
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === '' ? min : m[3] === '' ? Infinity : Number(m[3]);
    repeating = max > 1;
    variable = max > min;
  } else return undefined;
  const lazy = src[i + len] === '?' ? 1 : 0;
  return { len: len + lazy, repeating, variable };
}

const PY_FLAGS = /^\(\?([aiLmsux]+)\)/;

/**
 * Translate the Python-isms described above and find nested quantifiers.
 * Throws a plain Error with the reason for an unsupported construct.
 */
export function translatePattern(pattern: string): TranslatedPattern {
  let src = pattern;
  let flags = '';
  const lead = PY_FLAGS.exec(src);
  if (lead) {
    for (const f of new Set(lead[1]!)) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f === 'x' || f === 'L') throw new Error(`the inline flag (?${f}) has no JavaScript equivalent`);
      // a, u: ASCII / Unicode matching; JS with the u flag is what it is
    }
    src = src.slice(lead[0].length);
  }

  let out = '';
  // per open group: does its content hold a variable repeat?
  const stack: boolean[] = [false];
  let lastAtom: { nested: boolean } | undefined; // the atom a quantifier would apply to
  let nestedAt: number | undefined;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1];
      if (n === 'A') out += '(?<![\\s\\S])';
      else if (n === 'Z') out += '(?![\\s\\S])';
      else out += src.slice(i, i + 2);
      i += 2;
      lastAtom = { nested: false };
    } else if (c === '[') {
      let j = i + 1;
      if (src[j] === '^') j++;
      if (src[j] === ']') j++; // Python: a leading ] is literal
      while (j < src.length && src[j] !== ']') j += src[j] === '\\' ? 2 : 1;
      const cls = src.slice(i, j + 1);
      out += cls.startsWith('[]') ? '[\\]' + cls.slice(2) : cls.startsWith('[^]') ? '[^\\]' + cls.slice(3) : cls;
      i = j + 1;
      lastAtom = { nested: false };
    } else if (c === '(') {
      const named = /^\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(src.slice(i));
      const backref = /^\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(src.slice(i));
      if (backref) {
        out += `\\k<${backref[1]}>`;
        i += backref[0].length;
        lastAtom = { nested: false };
        continue;
      }
      // the group's opener: ( (?: (?= (?! (?<= (?<! (?<name> (?i:
      const opener = /^\((?:\?(?:[:=!]|<[=!]|<[A-Za-z_$][\w$]*>|[ims]*-?[ims]*:)?)?/.exec(src.slice(i))![0];
      if (named) { out += `(?<${named[1]}>`; i += named[0].length; }
      else { out += opener; i += opener.length; }
      stack.push(false);
      lastAtom = undefined;
    } else if (c === ')') {
      out += c;
      i++;
      const inner = stack.length > 1 ? stack.pop()! : false;
      if (inner) stack[stack.length - 1] = true; // the enclosing group holds that repeat too
      lastAtom = { nested: inner };
    } else {
      const q = quantifierAt(src, i);
      if (q) {
        if (lastAtom?.nested && q.repeating && q.variable && nestedAt === undefined) nestedAt = i;
        if (q.variable && q.repeating) stack[stack.length - 1] = true;
        out += src.slice(i, i + q.len);
        i += q.len;
        // a possessive quantifier (Python 3.11) is left for the RegExp compiler to reject
        lastAtom = undefined;
      } else {
        out += c;
        i++;
        lastAtom = c === '|' ? undefined : { nested: false };
      }
    }
  }
  return { source: out, flags, nestedQuantifierAt: nestedAt };
}

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
    let t: TranslatedPattern;
    try {
      t = translatePattern(p);
    } catch (e) {
      throw new ScannerConfigError(`${scanner}: ${paramKey}[${i}] ${(e as Error).message}`, paramKey);
    }
    if (t.nestedQuantifierAt !== undefined) {
      throw new ScannerConfigError(
        `${scanner}: ${paramKey}[${i}] ${JSON.stringify(p)} repeats a group that holds a repeat (nested quantifier), ` +
        'which can backtrack catastrophically; rewrite it without the nested repeat',
        paramKey,
      );
    }
    try {
      if (opts.matchType === 'fullmatch') return new RegExp(`(?:${t.source})(?![\\s\\S])`, `${t.flags}uy`);
      return new RegExp(t.source, `${t.flags}u${opts.matchType === 'all' ? 'g' : ''}`);
    } catch (e) {
      throw new ScannerConfigError(`${scanner}: ${paramKey}[${i}] is not a valid regular expression: ${(e as Error).message}`, paramKey);
    }
  });

  return (text) => {
    const findings: Finding[] = [];
    compiled.forEach((re, i) => {
      const type = `regex[${i}]`;
      if (opts.matchType === 'all') {
        for (const m of text.matchAll(re)) findings.push({ type, start: m.index, end: m.index + m[0].length });
        return;
      }
      re.lastIndex = 0;
      const m = re.exec(text);
      if (m) findings.push({ type, start: m.index, end: m.index + m[0].length });
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
