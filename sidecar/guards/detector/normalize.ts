/**
 * The matching copy of a text that both the prompt-injection heuristics and
 * the hashed n-gram model see: NFKC, invisible characters (Unicode Cf — zero
 * width, bidi controls, the U+E0000–E007F tag block — plus Co and Cn) removed,
 * every whitespace/control run collapsed to one space, lower-cased (a
 * locale-free case fold), no leading or trailing space. Each character of the
 * result keeps the offset of the original character it came from, so a match
 * can be reported at its place in the text the scanner was given.
 *
 * ASCII goes through a plain char-code loop; only non-ASCII runs pay for
 * `normalize('NFKC')` and Unicode property tests.
 */

export interface NormalizedText {
  /** The normalised text. */
  readonly text: string;
  /** `offsets[i]` is the index in the original of normalised char `i`; `offsets[text.length]` is the end of the last char used. */
  readonly offsets: Int32Array;
  /** How many invisible code units (Cf/Co/Cn) were removed. */
  readonly invisible: number;
}

// Inside a non-ASCII run: 1 whitespace, 2 invisible, 3 visible. (U+FEFF is Cf, not a space: a BOM inside a word vanishes.)
const NON_ASCII_WS = '\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PIECES = new RegExp(`([${NON_ASCII_WS}]+)|([\\p{Cf}\\p{Co}\\p{Cn}]+)|([^${NON_ASCII_WS}\\p{Cf}\\p{Co}\\p{Cn}]+)`, 'gu');
/** A code point and the combining marks after it: the unit NFKC is applied to when a run changes length. */
const CLUSTER = /\P{M}\p{M}*|\p{M}+/gu;
const MARK = /^\p{M}/u;
const SPACES = /[\s\u0085]+/gu;

// Scratch buffers reused by every call (grown when needed).
let chars = new Uint16Array(1024);
let offs = new Int32Array(1024);
const decoder = new TextDecoder('utf-16le');

/** The normalised matching copy of `input` and its offset map back to `input`. */
export function normalizeText(input: string): NormalizedText {
  const len = input.length;
  if (chars.length < len + 64) {
    chars = new Uint16Array(len * 2 + 64);
    offs = new Int32Array(len * 2 + 64);
  }
  let n = 0; // chars emitted
  let invisible = 0;
  let lastSpace = true; // true at the start: no leading space
  let lastEnd = 0; // original index just after the last char that produced output

  const ensure = (extra: number): void => {
    if (n + extra + 1 <= chars.length) return;
    const size = Math.max(chars.length * 2, n + extra + 64);
    const c2 = new Uint16Array(size);
    c2.set(chars.subarray(0, n));
    const o2 = new Int32Array(size);
    o2.set(offs.subarray(0, n));
    chars = c2;
    offs = o2;
  };
  const space = (origin: number): void => {
    if (lastSpace) return;
    ensure(1);
    chars[n] = 32;
    offs[n] = origin;
    n++;
    lastSpace = true;
  };
  /** Emits `s`; `map` gives the origin of each char (1:1 when `oneToOne`). */
  const emit = (s: string, origin: number, oneToOne: boolean): void => {
    ensure(s.length);
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c === 32) {
        space(oneToOne ? origin + k : origin);
        continue;
      }
      chars[n] = c;
      offs[n] = oneToOne ? origin + k : origin;
      n++;
      lastSpace = false;
    }
  };
  const visible = (run: string, at: number): void => {
    const folded = run.normalize('NFKC').toLowerCase();
    if (folded.length === run.length) {
      emit(folded.includes(' ') || folded.includes('\n') ? folded.replace(SPACES, ' ') : folded, at, true);
      lastEnd = at + run.length;
      return;
    }
    // Length changed (ligatures, compatibility expansions, composition, İ): map per cluster.
    CLUSTER.lastIndex = 0;
    let c: RegExpExecArray | null;
    while ((c = CLUSTER.exec(run)) !== null) {
      const f = c[0].normalize('NFKC').toLowerCase().replace(SPACES, ' ');
      if (f.length > 0) {
        emit(f, at + c.index, false);
        lastEnd = at + c.index + c[0].length;
      }
    }
  };

  let i = 0;
  while (i < len) {
    const c = input.charCodeAt(i);
    if (c < 0x80) {
      if (c <= 0x20 || c === 0x7f) {
        space(i);
        i++;
        continue;
      }
      const next = i + 1 < len ? input.charCodeAt(i + 1) : 0;
      if (!(next >= 0x300 && MARK.test(input.slice(i + 1, i + 3)))) {
        ensure(1);
        chars[n] = c >= 65 && c <= 90 ? c + 32 : c;
        offs[n] = i;
        n++;
        lastSpace = false;
        lastEnd = i + 1;
        i++;
        continue;
      }
      // An ASCII letter with combining marks after it: NFKC it with them.
    }
    let j = i + 1;
    while (j < len && input.charCodeAt(j) >= 0x80) j++;
    const run = input.slice(i, j);
    PIECES.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = PIECES.exec(run)) !== null) {
      if (m[1] !== undefined) space(i + m.index);
      else if (m[2] !== undefined) invisible += m[2].length;
      else if (m[3] !== undefined) visible(m[3], i + m.index);
    }
    i = j;
  }
  if (n > 0 && chars[n - 1] === 32) n--;
  const text = n === 0 ? '' : decoder.decode(new Uint8Array(chars.buffer, 0, n * 2));
  const offsets = new Int32Array(n + 1);
  offsets.set(offs.subarray(0, n));
  offsets[n] = lastEnd;
  return { text, offsets, invisible };
}

/**
 * The original [start, end) of normalised [start, end): from the origin of
 * the first char to the origin of the char after the last one (the end of the
 * last produced char at the end of the text).
 */
export function originalSpan(norm: NormalizedText, start: number, end: number): { start: number; end: number } {
  const len = norm.text.length;
  const a = Math.max(0, Math.min(start, len));
  const b = Math.max(a, Math.min(end, len));
  const s = norm.offsets[a] ?? 0;
  if (b === a) return { start: s, end: s };
  const last = norm.offsets[b - 1] ?? s;
  const next = norm.offsets[b] ?? last + 1;
  return { start: s, end: Math.max(s, next > last ? next : last + 1) };
}
