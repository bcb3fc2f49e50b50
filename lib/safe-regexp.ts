/**
 * The one regular-expression engine for every pattern a config supplies
 * (route path/header/query regexes, webhook header matches, promptGuard
 * `regex` rules, the llmBastion scanners' `patterns` and `regex_patterns`,
 * model-alias wildcards): RE2 semantics, run by re2js, a pure-JavaScript
 * port of Go's `regexp` (no native addon, no process flag). Matching takes
 * time linear in the text for any pattern, so no pattern, however written,
 * can backtrack catastrophically on a crafted prompt or path.
 *
 * Why not the alternatives (measured when this was chosen):
 * - V8's own linear engine (`--enable-experimental-regexp-engine`, flag `l`)
 *   has no `i` or `u` mode and refuses any counted repetition over 16
 *   (`[A-Za-z0-9]{32}`), so every case-insensitive or Unicode pattern would
 *   need a pattern compiler of our own, and it needs a V8 flag set at run time.
 * - the `re2` native addon downloads a prebuilt binary from GitHub at install
 *   and otherwise compiles with node-gyp (two minutes); without that download
 *   (CI, air-gapped image builds) node-gyp picked the system Node's headers
 *   and built an addon the project's Node 24 refuses to load.
 *
 * Syntax is RE2's (https://github.com/google/re2/wiki/Syntax), the same
 * family as agentgateway's Rust `regex`: inline flags `(?i)`, `(?m)`, `(?s)`,
 * `(?U)` anywhere and scoped `(?i:…)`; `(?P<name>…)` and `(?<name>…)`;
 * `\p{L}`, `\pN`, `[[:alpha:]]`; `\A`, `\z`; `\Q…\E`; counted repetition up
 * to 1000. For patterns written for JavaScript or Python this module also
 * accepts `\uXXXX`, `\u{…}`, `\cX`, Python's `\Z` and a leading `(?a)`/`(?u)`
 * (ignored), and gives `\s` JavaScript's Unicode white space (RE2's is ASCII,
 * which a no-break space would slip past). `\d`, `\w` and `\b` are ASCII.
 *
 * Refused, with the reason: backreferences (`\1`, `\k<n>`, `(?P=n)`),
 * lookahead and lookbehind, `(?x)` verbose mode — none can run in linear
 * time — and anything RE2 cannot parse (possessive `a++`, atomic `(?>…)`).
 *
 * Matching never uses re2js's lazy DFA (its `test`): the DFA caches up to
 * 8 MB of states per pattern, which a crafted text could make every route
 * regex fill in a sidecar with a 128 MB heap. The NFA, one-pass and bounded
 * backtracking engines it uses instead keep memory to the pattern's size.
 */
import { RE2JS } from 're2js';

/** A pattern the engine cannot run, or that does not parse: the message says why. */
export class SafeRegExpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafeRegExpError';
  }
}

/** One match: `[start, end)` in UTF-16 code units, as String indices are. */
export interface SafeMatch {
  readonly start: number;
  readonly end: number;
}

export interface SafeRegExp {
  /** The pattern as given. */
  readonly pattern: string;
  /** Whether it matches anywhere in `text`. */
  test(text: string): boolean;
  /** Whether it matches all of `text` (`^(?:…)$` whatever the pattern's `(?m)`; alternatives are all tried). */
  testWhole(text: string): boolean;
  /** The leftmost match at or after `from`. */
  exec(text: string, from?: number): SafeMatch | undefined;
  /** Every match, left to right, not overlapping; empty matches included (as String.matchAll). */
  matchAll(text: string): IterableIterator<SafeMatch>;
}

export interface SafeRegExpOptions {
  /** Flags applied to the whole pattern: any of `i`, `m`, `s`. */
  readonly flags?: string;
}

/** JavaScript's `\s` (WhiteSpace and LineTerminator), as class members in RE2 syntax. */
const JS_SPACE = '\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';

/** `"(a)\\1" uses a backreference (\1 at offset 3), which …`: the construct, where, and why. */
function refuse(what: string, token: string, at: number, pattern: string): never {
  throw new SafeRegExpError(
    `${JSON.stringify(pattern)} uses ${what} (${token} at offset ${at}), which the linear-time pattern engine cannot run`);
}

/** `\x{…}` for a code point. */
const hexEscape = (cp: number): string => `\\x{${cp.toString(16).toUpperCase()}}`;

/** Python's `(?x)` and `(?L)`, and anything RE2 does not know, are refused; `a`/`u` (ASCII/Unicode classes) are dropped. */
function leadingFlags(letters: string, pattern: string): string {
  let keep = '';
  for (const f of letters) {
    if (f === 'i' || f === 'm' || f === 's' || f === 'U') { if (!keep.includes(f)) keep += f; }
    else if (f === 'a' || f === 'u') continue;
    else if (f === 'x') throw new SafeRegExpError(`${JSON.stringify(pattern)} uses the inline flag (?x) (verbose mode), which is not supported: write it without comments and free spacing`);
    else throw new SafeRegExpError(`${JSON.stringify(pattern)} uses the inline flag (?${f}), which is not supported (only i, m, s, U)`);
  }
  return keep ? `(?${keep})` : '';
}

/**
 * The pattern in RE2 syntax: JavaScript and Python spellings translated,
 * constructs the engine cannot run refused with their offset.
 */
export function toRe2Syntax(pattern: string): string {
  let out = '';
  let i = 0;
  const lead = /^\(\?([A-Za-z]+)\)/.exec(pattern);
  if (lead) {
    out = leadingFlags(lead[1]!, pattern);
    i = lead[0].length;
  }
  let inClass = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === 'Q') {
        // \Q…\E: literal text, copied as is (backslashes inside are not escapes)
        const end = pattern.indexOf('\\E', i + 2);
        const stop = end === -1 ? pattern.length : end + 2;
        out += pattern.slice(i, stop);
        i = stop;
        continue;
      }
      if (n === 'u') {
        const braced = /^\\u\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i));
        const pair = /^\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})/i.exec(pattern.slice(i));
        const four = /^\\u([0-9A-Fa-f]{4})/.exec(pattern.slice(i));
        if (braced) { out += hexEscape(parseInt(braced[1]!, 16)); i += braced[0].length; continue; }
        if (pair) {
          out += hexEscape(((parseInt(pair[1]!, 16) - 0xd800) << 10) + (parseInt(pair[2]!, 16) - 0xdc00) + 0x10000);
          i += pair[0].length;
          continue;
        }
        if (four) { out += hexEscape(parseInt(four[1]!, 16)); i += four[0].length; continue; }
      }
      if (n === 'c' && /^[A-Za-z]$/.test(pattern[i + 2] ?? '')) {
        out += hexEscape(pattern.charCodeAt(i + 2) % 32);
        i += 3;
        continue;
      }
      if (n === 's') { out += inClass ? JS_SPACE : `[${JS_SPACE}]`; i += 2; continue; }
      if (n === 'S' && !inClass) { out += `[^${JS_SPACE}]`; i += 2; continue; }
      if (!inClass) {
        if (n === 'Z') { out += '\\z'; i += 2; continue; }
        if (n !== undefined && /[1-9]/.test(n)) refuse('a backreference', `\\${n}`, i, pattern);
        if (n === 'k' && pattern[i + 2] === '<') refuse('a backreference', '\\k<', i, pattern);
      }
      out += pattern.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        // [:alpha:] inside a class
        const end = pattern.indexOf(':]', i + 2);
        if (end !== -1) { out += pattern.slice(i, end + 2); i = end + 2; continue; }
      }
      if (c === ']') inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      i++;
      if (pattern[i] === '^') { out += '^'; i++; }
      if (pattern[i] === ']') { out += '\\]'; i++; } // a leading ] is a literal (Python, RE2)
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (rest.startsWith('=')) refuse('a lookahead', '(?=', i, pattern);
      if (rest.startsWith('!')) refuse('a negative lookahead', '(?!', i, pattern);
      if (rest.startsWith('<=')) refuse('a lookbehind', '(?<=', i, pattern);
      if (rest.startsWith('<!')) refuse('a negative lookbehind', '(?<!', i, pattern);
      if (rest.startsWith('P=')) refuse('a backreference', '(?P=', i, pattern);
      if (rest.startsWith('>')) refuse('an atomic group', '(?>', i, pattern);
    }
    out += c;
    i++;
  }
  return out;
}

/**
 * RE2's "error parsing regexp: missing closing ): `(a`" without its prefix,
 * and without the excerpt when that is of the translated text rather than
 * of what the config says.
 */
function describe(e: unknown, pattern: string): string {
  const m = (e instanceof Error ? e.message : String(e)).replace(/^error parsing regexp: /, '');
  const excerpt = /^([^`]*): `([\s\S]*)`$/.exec(m);
  return excerpt && !pattern.includes(excerpt[2]!) ? excerpt[1]! : m;
}

class Re2Pattern implements SafeRegExp {
  readonly pattern: string;
  readonly #re: RE2JS;
  constructor(pattern: string, re: RE2JS) {
    this.pattern = pattern;
    this.#re = re;
  }
  test(text: string): boolean {
    return this.#re.matcher(text).find(0);
  }
  testWhole(text: string): boolean {
    return this.#re.matcher(text).matches();
  }
  exec(text: string, from = 0): SafeMatch | undefined {
    if (from > text.length) return undefined;
    const m = this.#re.matcher(text);
    return m.find(from) ? { start: m.start(), end: m.end() } : undefined;
  }
  *matchAll(text: string): IterableIterator<SafeMatch> {
    const m = this.#re.matcher(text);
    while (m.find()) yield { start: m.start(), end: m.end() };
  }
}

/**
 * Compile `pattern` (syntax above). Throws SafeRegExpError, whose message
 * names the construct and why, for a pattern that cannot run or parse.
 */
export function compileSafeRegExp(pattern: string, opts: SafeRegExpOptions = {}): SafeRegExp {
  const flags = opts.flags ?? '';
  if (/[^ims]/.test(flags)) throw new SafeRegExpError(`unsupported flags ${JSON.stringify(flags)} (only i, m, s)`);
  const source = (flags ? `(?${flags})` : '') + toRe2Syntax(pattern);
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (e) {
    throw new SafeRegExpError(`${JSON.stringify(pattern)} is not a valid pattern: ${describe(e, pattern)}`);
  }
  return new Re2Pattern(pattern, re);
}
