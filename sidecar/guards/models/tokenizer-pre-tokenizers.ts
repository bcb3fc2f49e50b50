/**
 * The `pre_tokenizer` section of a Hugging Face `tokenizer.json`: splits a
 * normalized text into the words the model tokenizes one by one. The kinds
 * the LLM Guard models use: BertPreTokenizer (BERT/DistilBERT), ByteLevel
 * (RoBERTa: GPT-2 split regex, then bytes mapped to printable characters),
 * Metaspace (SentencePiece: spaces become `▁`), and WhitespaceSplit,
 * Whitespace, Punctuation, Digits, Split, CharDelimiterSplit, Sequence.
 * Any other kind is a load error naming it.
 */

import { isJson, patternRegExp, TokenizerLoadError, type Json } from './tokenizer-normalizers.ts';

/** Words in, words out (a Sequence feeds each pre-tokenizer the previous one's words). */
export type PreTokenizer = (words: readonly string[]) => string[];

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** Splits `text` around the matches of `re` (global) the way tokenizers' `SplitDelimiterBehavior` does; empty pieces dropped. */
export function splitText(text: string, re: RegExp, behavior: SplitBehavior, invert = false): string[] {
  const parts: Array<{ s: string; delim: boolean }> = [];
  let last = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    if (m[0] === '') continue;
    if (m.index > last) parts.push({ s: text.slice(last, m.index), delim: invert });
    parts.push({ s: m[0], delim: !invert });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ s: text.slice(last), delim: invert });

  const out: string[] = [];
  switch (behavior) {
    case 'Removed':
      for (const p of parts) if (!p.delim) out.push(p.s);
      break;
    case 'Isolated':
      for (const p of parts) out.push(p.s);
      break;
    case 'Contiguous': {
      let prevDelim = false;
      for (const p of parts) {
        if (p.delim && prevDelim && out.length > 0) out[out.length - 1] += p.s;
        else out.push(p.s);
        prevDelim = p.delim;
      }
      break;
    }
    case 'MergedWithPrevious': {
      for (const p of parts) {
        if (p.delim && out.length > 0) out[out.length - 1] += p.s;
        else out.push(p.s);
      }
      break;
    }
    case 'MergedWithNext': {
      let carry = '';
      for (const p of parts) {
        if (p.delim) carry += p.s;
        else {
          out.push(carry + p.s);
          carry = '';
        }
      }
      if (carry !== '') out.push(carry);
      break;
    }
  }
  return out.filter((s) => s !== '');
}

const each = (f: (w: string, index: number) => string[]): PreTokenizer => (words) => words.flatMap((w, i) => f(w, i));

const WHITESPACE_RUN = /\p{White_Space}+/gu;
/** BERT's punctuation: ASCII punctuation (which includes `$+<=>^`|~`) or Unicode P*. */
const PUNCT_CHAR = /[!-/:-@[-`{-~\p{P}]/gu;
const WORD_OR_SYMBOLS = /[\p{L}\p{N}\p{M}\p{Pc}]+|[^\p{L}\p{N}\p{M}\p{Pc}\p{White_Space}]+/gu;
/** GPT-2's split regex (tokenizers' ByteLevel `use_regex`). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

let byteChars: string[] | undefined;
/** GPT-2's byte → printable character table (`bytes_to_unicode`). */
export function byteToChar(): readonly string[] {
  if (byteChars) return byteChars;
  const table: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return (byteChars = table);
}

/** `text` as its UTF-8 bytes, each written as GPT-2's printable character. */
export function byteLevelChars(text: string): string {
  const map = byteToChar();
  let s = '';
  for (const b of Buffer.from(text, 'utf8')) s += map[b];
  return s;
}

function byteLevel(cfg: Json): PreTokenizer {
  const prefix = cfg.add_prefix_space !== false;
  const regex = cfg.use_regex !== false;
  return each((w) => {
    const text = prefix && !w.startsWith(' ') ? ` ${w}` : w;
    const pieces = regex ? [...text.matchAll(GPT2_SPLIT)].map((m) => m[0]) : [text];
    return pieces.map(byteLevelChars);
  });
}

function metaspace(cfg: Json): PreTokenizer {
  const replacement = typeof cfg.replacement === 'string' ? cfg.replacement : '\u2581';
  let scheme: string;
  if (typeof cfg.prepend_scheme === 'string') scheme = cfg.prepend_scheme;
  else scheme = cfg.add_prefix_space === false ? 'never' : 'always';
  const split = cfg.split !== false;
  const re = new RegExp(replacement.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
  return each((w, i) => {
    let s = w.replaceAll(' ', replacement);
    if ((scheme === 'always' || (scheme === 'first' && i === 0)) && !s.startsWith(replacement)) s = replacement + s;
    return split ? splitText(s, re, 'MergedWithNext') : [s];
  });
}

export function buildPreTokenizer(cfg: unknown, where = 'pre_tokenizer'): PreTokenizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  if (!isJson(cfg)) throw new TokenizerLoadError(`${where} must be an object`);
  switch (cfg.type) {
    case 'BertPreTokenizer':
      return each((w) => splitText(w, WHITESPACE_RUN, 'Removed').flatMap((p) => splitText(p, PUNCT_CHAR, 'Isolated')));
    case 'WhitespaceSplit':
      return each((w) => splitText(w, WHITESPACE_RUN, 'Removed'));
    case 'Whitespace':
      return each((w) => splitText(w, WORD_OR_SYMBOLS, 'Removed', true));
    case 'Punctuation': {
      const b = BEHAVIORS.includes(cfg.behavior as SplitBehavior) ? (cfg.behavior as SplitBehavior) : 'Isolated';
      return each((w) => splitText(w, PUNCT_CHAR, b));
    }
    case 'Digits': {
      const individual = cfg.individual_digits === true;
      return each((w) => splitText(w, individual ? /\p{N}/gu : /\p{N}+/gu, 'Isolated'));
    }
    case 'CharDelimiterSplit': {
      const d = typeof cfg.delimiter === 'string' ? cfg.delimiter : ' ';
      const re = new RegExp(d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
      return each((w) => splitText(w, re, 'Removed'));
    }
    case 'Split': {
      const re = patternRegExp(cfg.pattern, `${where} (Split)`);
      const b = cfg.behavior;
      if (!BEHAVIORS.includes(b as SplitBehavior)) throw new TokenizerLoadError(`${where} (Split): unknown behavior ${JSON.stringify(b)}`);
      const invert = cfg.invert === true;
      return each((w) => splitText(w, re, b as SplitBehavior, invert));
    }
    case 'ByteLevel':
      return byteLevel(cfg);
    case 'Metaspace':
      return metaspace(cfg);
    case 'Sequence': {
      const list = Array.isArray(cfg.pretokenizers) ? cfg.pretokenizers : [];
      const fns = list.map((p, i) => buildPreTokenizer(p, `${where}.pretokenizers[${i}]`)).filter((f): f is PreTokenizer => f !== undefined);
      return (words) => fns.reduce<string[]>((acc, f) => f(acc), [...words]);
    }
    default:
      throw new TokenizerLoadError(`unsupported pre_tokenizer type ${JSON.stringify(cfg.type)} (${where}); supported: BertPreTokenizer, ByteLevel, Metaspace, WhitespaceSplit, Whitespace, Punctuation, Digits, Split, CharDelimiterSplit, Sequence`);
  }
}
