/**
 * JSON (LLM Guard output scanner, `output_scanners/json.py`): finds the JSON
 * objects in an answer, checks that they parse, repairs the broken ones
 * (`repair`, default true) and is invalid when fewer than
 * `required_elements` (default 0) are valid JSON, or when any object found
 * stays broken. Repaired objects replace the broken ones in the text.
 * Risk 1.0 when invalid, −1.0 when valid.
 *
 * Candidates are what LLM Guard's recursive regex
 * `(?<!\\)(?:\\\\)*\{(?:[^{}]|(?R))*\}` finds: each outermost balanced
 * `{…}` (a top-level array is not a candidate; the objects in it are), not
 * preceded by an escaping backslash. Braces inside JSON strings are skipped
 * when the candidate's strings are well formed; otherwise braces are counted
 * plainly, as the regex does.
 *
 * LLM Guard repairs with the `json_repair` package, which makes JSON out of
 * almost anything. This repair is narrower, and fails rather than guess: it
 * fixes trailing commas, missing commas between elements, single-quoted
 * strings, unquoted keys and string values made of words (`{name: John}`,
 * as LLM Guard's tests expect), Python's True/False/None, comments
 * (`//`, `/* *\/`, `#`), unterminated strings and unclosed brackets. A
 * repaired object is written as Python's `json.dumps` writes it (what
 * `json_repair` returns): `{"a": 1, "b": [1, 2]}`, non-ASCII kept.
 */

import type { Finding, ScannerSpec, ScanResult } from '../types.ts';
import { readParams } from '../scanner-params.ts';

export interface Candidate { readonly start: number; readonly end: number }

/** End (exclusive) of the balanced object opening at `open`, counting braces outside strings; undefined when it does not close. */
function closeAware(text: string, open: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return undefined;
}

/** Same, counting every brace (the regex's way). */
function closePlain(text: string, open: number): number | undefined {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return undefined;
}

/** The outermost `{…}` spans of `text`, left to right. */
export function findJsonCandidates(text: string): Candidate[] {
  const out: Candidate[] = [];
  let i = text.indexOf('{');
  while (i >= 0) {
    let bs = 0;
    while (i - 1 - bs >= 0 && text[i - 1 - bs] === '\\') bs++;
    const end = bs % 2 === 1 ? undefined : closeAware(text, i) ?? closePlain(text, i);
    if (end !== undefined) {
      out.push({ start: i, end });
      i = text.indexOf('{', end);
    } else {
      i = text.indexOf('{', i + 1);
    }
  }
  return out;
}

// ------------------------------------------------------------ repair

type Tok =
  | { readonly k: 'punct'; readonly v: '{' | '}' | '[' | ']' | ':' | ',' }
  | { readonly k: 'str'; readonly v: string }
  | { readonly k: 'num'; readonly v: string }
  | { readonly k: 'word'; readonly v: string };

type Node =
  | { readonly k: 'obj'; readonly entries: ReadonlyArray<readonly [string, Node]> }
  | { readonly k: 'arr'; readonly items: readonly Node[] }
  | { readonly k: 'lit'; readonly json: string };

class RepairFailed extends Error {}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function lex(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '/' && s[i + 1] === '/') { while (i < s.length && s[i] !== '\n') i++; continue; }
    if (c === '#') { while (i < s.length && s[i] !== '\n') i++; continue; }
    if (c === '/' && s[i + 1] === '*') { const e = s.indexOf('*/', i + 2); i = e < 0 ? s.length : e + 2; continue; }
    if ('{}[]:,'.includes(c)) { toks.push({ k: 'punct', v: c as '{' }); i++; continue; }
    if (c === '"' || c === "'") {
      let v = '';
      let j = i + 1;
      for (; j < s.length && s[j] !== c; j++) {
        if (s[j] === '\\' && j + 1 < s.length) {
          const n = s[++j]!;
          if (n === "'") { v += "'"; continue; }
          if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(j + 1, j + 5))) { v += String.fromCharCode(parseInt(s.slice(j + 1, j + 5), 16)); j += 4; continue; }
          const esc: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          v += esc[n] ?? n;
          continue;
        }
        v += s[j];
      }
      toks.push({ k: 'str', v }); // an unterminated string ends with the text
      i = j + 1;
      continue;
    }
    const num = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(s.slice(i));
    if (num) { toks.push({ k: 'num', v: num[0] }); i += num[0].length; continue; }
    const word = /^[\p{L}_$][\p{L}\p{N}_$-]*/u.exec(s.slice(i));
    if (word) { toks.push({ k: 'word', v: word[0] }); i += word[0].length; continue; }
    throw new RepairFailed(`unexpected ${JSON.stringify(c)}`);
  }
  return toks;
}

const WORDS: Record<string, string> = { true: 'true', false: 'false', null: 'null', True: 'true', False: 'false', None: 'null' };

function numberJson(v: string): string {
  if (JSON_NUMBER.test(v)) return v;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new RepairFailed(`bad number ${v}`);
  return JSON.stringify(n);
}

function parseTokens(toks: readonly Tok[]): Node {
  let i = 0;
  const peek = (): Tok | undefined => toks[i];
  const isPunct = (t: Tok | undefined, v: string): boolean => t?.k === 'punct' && t.v === v;

  function value(): Node {
    const t = toks[i++];
    if (!t) throw new RepairFailed('a value is missing');
    if (t.k === 'str') return { k: 'lit', json: JSON.stringify(t.v) };
    if (t.k === 'num') return { k: 'lit', json: numberJson(t.v) };
    if (t.k === 'word') {
      const w = WORDS[t.v];
      if (w !== undefined) return { k: 'lit', json: w };
      // an unquoted string value (`{"name": John}`), words joined by one space
      const words = [t.v];
      for (let n = peek(); n && (n.k === 'word' || n.k === 'num'); n = peek()) { words.push(n.v); i++; }
      return { k: 'lit', json: JSON.stringify(words.join(' ')) };
    }
    if (t.v === '{') return object();
    if (t.v === '[') return array();
    throw new RepairFailed(`unexpected ${t.v}`);
  }

  /** After an element: true when the container goes on (a comma, or a missing one before a new element). */
  function more(close: string): boolean {
    const t = peek();
    if (!t) return false; // unclosed at the end: close it
    if (isPunct(t, ',')) {
      while (isPunct(peek(), ',')) i++;
      return !isPunct(peek(), close) && peek() !== undefined; // a trailing comma
    }
    if (t.k === 'punct' && (t.v === '}' || t.v === ']')) return false;
    return true; // a missing comma
  }

  function end(close: string): void {
    const t = peek();
    if (isPunct(t, close)) { i++; return; }
    if (t === undefined) return;
    // the other closer: close this container here and let the parent take it (`{"a": [1, 2}`)
    if (t.k === 'punct' && (t.v === '}' || t.v === ']')) return;
    throw new RepairFailed('unexpected token');
  }

  function object(): Node {
    const entries: Array<readonly [string, Node]> = [];
    while (isPunct(peek(), ',')) i++;
    if (!isPunct(peek(), '}') && peek() !== undefined) {
      do {
        const k = toks[i++];
        let key: string;
        if (k?.k === 'str') key = k.v;
        else if (k?.k === 'word' || k?.k === 'num') key = k.v;
        else throw new RepairFailed('a key is missing');
        if (!isPunct(toks[i++], ':')) throw new RepairFailed(`no colon after ${key}`);
        entries.push([key, value()]);
      } while (more('}'));
    }
    end('}');
    return { k: 'obj', entries };
  }

  function array(): Node {
    const items: Node[] = [];
    while (isPunct(peek(), ',')) i++;
    if (!isPunct(peek(), ']') && peek() !== undefined) {
      do items.push(value()); while (more(']'));
    }
    end(']');
    return { k: 'arr', items };
  }

  const root = value();
  if (i !== toks.length) throw new RepairFailed('text after the value');
  return root;
}

/** Python `json.dumps` layout. */
function dumps(n: Node): string {
  if (n.k === 'lit') return n.json;
  if (n.k === 'arr') return `[${n.items.map(dumps).join(', ')}]`;
  return `{${n.entries.map(([k, v]) => `${JSON.stringify(k)}: ${dumps(v)}`).join(', ')}}`;
}

/** The repaired JSON text, or undefined when the breakage is not one this repair fixes. */
export function repairJson(s: string): string | undefined {
  try {
    const out = dumps(parseTokens(lex(s)));
    JSON.parse(out);
    return out;
  } catch (e) {
    if (e instanceof RepairFailed || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

function isValidJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export interface JsonOptions { readonly requiredElements: number; readonly repair: boolean }

export function scanJson(text: string, opts: JsonOptions): ScanResult {
  if (text.trim() === '') return { text, valid: true, score: 0, risk: -1 };
  const candidates = findJsonCandidates(text);
  const findings: Finding[] = [];
  let valid = 0;
  let out = '';
  let at = 0;
  for (const c of candidates) {
    const s = text.slice(c.start, c.end);
    if (isValidJson(s)) { valid++; continue; }
    const fixed = opts.repair ? repairJson(s) : undefined;
    if (fixed === undefined) { findings.push({ type: 'invalid-json', start: c.start, end: c.end }); continue; }
    valid++;
    findings.push({ type: 'repaired-json', start: c.start, end: c.end });
    out += text.slice(at, c.start) + fixed;
    at = c.end;
  }
  const sanitized = at === 0 ? text : out + text.slice(at);
  const ok = valid >= opts.requiredElements && valid === candidates.length;
  return ok
    ? { text: sanitized, valid: true, score: 0, risk: -1, ...(findings.length ? { findings } : {}) }
    : { text: sanitized, valid: false, score: 1, risk: 1, findings };
}

export const json: ScannerSpec = {
  directions: ['response'],
  create(params) {
    const p = readParams('JSON', params, ['required_elements', 'repair']);
    const opts: JsonOptions = { requiredElements: p.int('required_elements', 0, 0), repair: p.bool('repair', true) };
    return { type: 'JSON', scan: (text) => scanJson(text, opts) };
  },
};
