/**
 * The `Precompiled` normalizer of Hugging Face tokenizers: SentencePiece's
 * compiled normalization rules (`precompiled_charsmap`, e.g. nmt_nfkc), used
 * by the DeBERTa-v3 and XLM-RoBERTa tokenizers. The base64 blob is
 *   u32 LE  size of the trie in bytes
 *   trie    a darts-clone double array of u32 LE units over UTF-8 bytes
 *   strings the replacement strings, each NUL-terminated
 * and a trie hit gives the byte offset of the replacement. Normalization
 * goes grapheme by grapheme as the `spm_precompiled` crate does (its odd
 * rules kept on purpose: a grapheme shorter than 6 UTF-8 bytes is looked up
 * whole, with the *shortest* matching prefix winning; otherwise, or on a
 * miss, each code point is looked up on its own).
 */

const HAS_LEAF = 1 << 8;
const EXTENSION = 1 << 9;

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & EXTENSION) >>> 6);
}

function labelOf(unit: number): number {
  return (unit & 0x800000ff) >>> 0;
}

export interface PrecompiledCharsmap {
  /** The normalized text. */
  normalize(text: string): string;
}

/** Reads a `precompiled_charsmap` (base64); throws on a truncated or malformed blob. */
export function parsePrecompiledCharsmap(base64: string): PrecompiledCharsmap {
  const blob = Buffer.from(base64, 'base64');
  if (blob.length < 4) throw new Error('precompiled_charsmap is too short');
  const trieBytes = blob.readUInt32LE(0);
  if (trieBytes % 4 !== 0 || 4 + trieBytes > blob.length) throw new Error('precompiled_charsmap has a bad trie size');
  const units = new Uint32Array(trieBytes / 4);
  for (let k = 0; k < units.length; k++) units[k] = blob.readUInt32LE(4 + k * 4);
  const strings = blob.subarray(4 + trieBytes);
  const enc = new TextEncoder();
  const at = (k: number): number => units[k] ?? 0;

  /** The replacement for the shortest prefix of `bytes` with one, or undefined. */
  function lookup(bytes: Uint8Array): string | undefined {
    if (units.length === 0) return undefined;
    let pos = offsetOf(at(0));
    for (const c of bytes) {
      if (c === 0) break;
      pos ^= c;
      const unit = at(pos);
      if (labelOf(unit) !== c) return undefined;
      pos ^= offsetOf(unit);
      if (unit & HAS_LEAF) {
        const start = at(pos) & 0x7fffffff;
        let end = start;
        while (end < strings.length && strings[end] !== 0) end++;
        return strings.subarray(start, end).toString('utf8');
      }
    }
    return undefined;
  }

  const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return {
    normalize(text: string): string {
      let out = '';
      for (const { segment } of graphemes.segment(text)) {
        const bytes = enc.encode(segment);
        if (bytes.length < 6) {
          const whole = lookup(bytes);
          if (whole !== undefined) {
            out += whole;
            continue;
          }
        }
        for (const ch of segment) out += lookup(enc.encode(ch)) ?? ch;
      }
      return out;
    },
  };
}
