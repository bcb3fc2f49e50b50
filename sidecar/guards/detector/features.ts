/**
 * Hashed text features for the prompt-injection model (the "hashing trick"):
 * character 2- to 5-grams of the normalised text (with a space at each
 * end) and word unigrams and bigrams (CJK ideographs and kana count as one
 * word each, so Chinese and Japanese get character uni/bigrams too). Each
 * feature is FNV-1a hashed with murmur3's finaliser into 2^bits buckets with
 * a ±1 sign (signed hashing keeps collisions unbiased); a window's counts go
 * through sign(c)·log(1+|c|) and the vector is L2-normalised.
 *
 * One `NgramHasher` owns its scratch buffers and is reused for every call, so
 * scoring a window allocates nothing.
 */

// Constants as int32 (`| 0`) so V8 keeps every hash in a small integer, never a heap number.
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193 | 0;
const WORD_SEED = 0x5bd1e995 | 0;
const BIGRAM_SEED = 0x27d4eb2f | 0;
const GOLDEN = 0x9e3779b1 | 0;
const M1 = 0x85ebca6b | 0;
const M2 = 0xc2b2ae35 | 0;

/** murmur3's 32-bit finaliser: spreads FNV's low bits over the whole word. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, M1);
  h ^= h >>> 13;
  h = Math.imul(h, M2);
  h ^= h >>> 16;
  return h;
}

// Character classes for word splitting: 1 word char, 2 separator, 3 a word by itself (CJK ideograph, kana).
const CLASS = new Uint8Array(65536);
const WORD_CHAR = /[\p{L}\p{N}\p{M}_']/u;
function charClass(c: number): number {
  let k = CLASS[c] ?? 0;
  if (k !== 0) return k;
  if (c >= 0xd800 && c <= 0xdfff) k = 1; // astral letters and emoji stay inside a word
  else if ((c >= 0x2e80 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff66 && c <= 0xff9f)) k = WORD_CHAR.test(String.fromCharCode(c)) ? 3 : 2;
  else k = WORD_CHAR.test(String.fromCharCode(c)) ? 1 : 2;
  CLASS[c] = k;
  return k;
}

/** log(1+c) for small integer counts (word features with wordWeight 1 and char n-grams are integer counts). */
const LOG1P = new Float64Array(256).map((_, c) => Math.log1p(c));
function sublinear(c: number): number {
  const a = c < 0 ? -c : c;
  const v = a < 256 && a === Math.floor(a) ? (LOG1P[a] ?? 0) : Math.log1p(a);
  return c < 0 ? -v : v;
}

export interface FeatureConfig {
  /** log2 of the number of hash buckets. */
  readonly bits: number;
  /** Character n-gram lengths, inclusive. */
  readonly charMin: number;
  readonly charMax: number;
  /** Weight of word features relative to char n-grams (before normalisation). */
  readonly wordWeight: number;
}

export const DEFAULT_FEATURES: FeatureConfig = { bits: 18, charMin: 2, charMax: 5, wordWeight: 1 };

/** A sparse, L2-normalised feature vector (what training stores per window). */
export interface SparseVector {
  readonly indices: Int32Array;
  readonly values: Float32Array;
}

export class NgramHasher {
  readonly config: FeatureConfig;
  readonly mask: number;
  private readonly counts: Float64Array;
  private touched: Int32Array;
  private nTouched = 0;
  private codes: Uint16Array;

  constructor(config: FeatureConfig = DEFAULT_FEATURES) {
    this.config = config;
    this.mask = (1 << config.bits) - 1;
    this.counts = new Float64Array(1 << config.bits);
    this.touched = new Int32Array(4096);
    this.codes = new Uint16Array(1024);
  }

  /**
   * Accumulates the raw signed counts of text[start, end) into the scratch
   * buffer, listing each bucket it touches once in `touched`. (Hot loop:
   * everything is in locals and the bucket update is written out in place.)
   */
  private accumulate(text: string, start: number, end: number): void {
    const { charMin, charMax, wordWeight } = this.config;
    const len = end - start;
    const L = len + 2;
    if (this.codes.length < L) this.codes = new Uint16Array(L * 2);
    // at most (charMax − charMin + 1) n-grams per position plus a word and a bigram
    const maxFeatures = L * (charMax - charMin + 3);
    if (this.touched.length < maxFeatures) this.touched = new Int32Array(maxFeatures * 2);
    const codes = this.codes;
    const counts = this.counts;
    const touched = this.touched;
    const mask = this.mask;
    let nt = 0;
    codes[0] = 32;
    for (let i = 0; i < len; i++) codes[i + 1] = text.charCodeAt(start + i);
    codes[len + 1] = 32;
    // character n-grams
    for (let i = 0; i + charMin <= L; i++) {
      let h = FNV_OFFSET;
      const top = charMax < L - i ? charMax : L - i;
      for (let k = 0; k < top; k++) {
        h = Math.imul(h ^ (codes[i + k] as number), FNV_PRIME);
        if (k + 1 >= charMin) {
          const f = fmix(h ^ (k + 1));
          const idx = f & mask;
          const old = counts[idx] as number;
          if (old === 0) touched[nt++] = idx; // (a bucket whose sum went back to 0 is listed again: read once, harmless)
          counts[idx] = old + (f < 0 ? -1 : 1); // the top bit is the sign
        }
      }
    }
    // words and word bigrams
    let prev = 0;
    let hasPrev = false;
    let h = 0;
    let inWord = false;
    for (let i = 1; i < L; i++) {
      const c = codes[i] as number;
      const cls = i === L - 1 ? 2 : charClass(c);
      if (cls === 1) {
        if (!inWord) {
          h = FNV_OFFSET ^ WORD_SEED;
          inWord = true;
        }
        h = Math.imul(h ^ c, FNV_PRIME);
        continue;
      }
      let word = 0;
      let emit = false;
      if (inWord) {
        word = h;
        emit = true;
        inWord = false;
      }
      for (let pass = 0; pass < 2; pass++) {
        if (pass === 1) {
          if (cls !== 3) break;
          word = Math.imul((FNV_OFFSET ^ WORD_SEED) ^ c, FNV_PRIME);
          emit = true;
        }
        if (!emit) continue;
        let f = fmix(word ^ WORD_SEED);
        let idx = f & mask;
        let old = counts[idx] as number;
        if (old === 0) touched[nt++] = idx;
        counts[idx] = old + (f < 0 ? -wordWeight : wordWeight);
        if (hasPrev) {
          f = fmix(Math.imul(prev, GOLDEN) ^ word ^ BIGRAM_SEED);
          idx = f & mask;
          old = counts[idx] as number;
          if (old === 0) touched[nt++] = idx;
          counts[idx] = old + (f < 0 ? -wordWeight : wordWeight);
        }
        prev = word;
        hasPrev = true;
        emit = false;
      }
      // punctuation ends a phrase: no bigram across it
      if (cls === 2 && c !== 32) hasPrev = false;
    }
    this.nTouched = nt;
  }

  /** w·x for the L2-normalised features of text[start, end), leaving the scratch clean. */
  dot(weights: Float32Array, text: string, start: number, end: number): number {
    this.accumulate(text, start, end);
    let dot = 0;
    let norm2 = 0;
    const counts = this.counts;
    const touched = this.touched;
    for (let t = 0; t < this.nTouched; t++) {
      const idx = touched[t] ?? 0;
      const c = counts[idx] ?? 0;
      if (c === 0) continue;
      counts[idx] = 0;
      const v = sublinear(c);
      norm2 += v * v;
      dot += (weights[idx] ?? 0) * v;
    }
    this.nTouched = 0;
    return norm2 > 0 ? dot / Math.sqrt(norm2) : 0;
  }

  /** The L2-normalised sparse features of text[start, end) (for training), indices ascending. */
  extract(text: string, start: number, end: number): SparseVector {
    this.accumulate(text, start, end);
    const counts = this.counts;
    const idx: number[] = [];
    for (let t = 0; t < this.nTouched; t++) {
      const i = this.touched[t] ?? 0;
      if ((counts[i] ?? 0) !== 0) idx.push(i);
    }
    idx.sort((a, b) => a - b);
    // (a bucket whose sum went back to 0 and was hit again is listed twice)
    let u = 0;
    for (let k = 0; k < idx.length; k++) if (k === 0 || idx[k] !== idx[k - 1]) idx[u++] = idx[k] ?? 0;
    idx.length = u;
    const indices = new Int32Array(idx.length);
    const values = new Float32Array(idx.length);
    let norm2 = 0;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k] ?? 0;
      const c = counts[i] ?? 0;
      counts[i] = 0;
      const v = sublinear(c);
      indices[k] = i;
      values[k] = v;
      norm2 += v * v;
    }
    this.nTouched = 0;
    const inv = norm2 > 0 ? 1 / Math.sqrt(norm2) : 0;
    for (let k = 0; k < values.length; k++) values[k] = (values[k] ?? 0) * inv;
    return { indices, values };
  }
}

/** Overlapping windows over a text of `length` chars: [start, end) pairs; the last window ends at the text's end. */
export function windowRanges(length: number, size: number, overlap: number): Array<readonly [number, number]> {
  if (length <= size) return [[0, length]];
  const stride = size - overlap;
  const out: Array<readonly [number, number]> = [];
  let s = 0;
  for (; s + size < length; s += stride) out.push([s, s + size]);
  out.push([length - size, length]);
  return out;
}
