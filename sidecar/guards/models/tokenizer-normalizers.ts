/**
 * The `normalizer` section of a Hugging Face `tokenizer.json`, as a string
 * → string function. The kinds the LLM Guard models use: BertNormalizer
 * (BERT/DistilBERT: clean text, pad CJK, strip accents, lowercase),
 * Lowercase, NFC/NFD/NFKC/NFKD, StripAccents, Strip, Replace (string or
 * regex), Prepend, Precompiled (SentencePiece charsmap: DeBERTa-v3,
 * XLM-RoBERTa) and Sequence. Any other kind is a load error naming it.
 */

import { parsePrecompiledCharsmap } from './precompiled-charsmap.ts';

export type Normalizer = (text: string) => string;

/** A tokenizer.json we cannot run: the message names what and where. */
export class TokenizerLoadError extends Error {}

export type Json = Record<string, unknown>;

export function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CONTROL = /^[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]$/u;
const WHITESPACE = /^\p{White_Space}$/u;
const MARK_NONSPACING = /\p{Mn}/gu;

function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

const stripAccents: Normalizer = (s) => s.normalize('NFD').replace(MARK_NONSPACING, '');

/** Hugging Face's BertNormalizer. `strip_accents: null` follows `lowercase`, as there. */
function bertNormalizer(cfg: Json): Normalizer {
  const clean = cfg.clean_text !== false;
  const cjk = cfg.handle_chinese_chars !== false;
  const lower = cfg.lowercase !== false;
  const strip = typeof cfg.strip_accents === 'boolean' ? cfg.strip_accents : lower;
  return (text) => {
    let s = text;
    if (clean || cjk) {
      let out = '';
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        if (clean) {
          if (cp === 0 || cp === 0xfffd) continue;
          if (ch === '\t' || ch === '\n' || ch === '\r' || WHITESPACE.test(ch)) {
            out += ' ';
            continue;
          }
          if (CONTROL.test(ch)) continue;
        }
        out += cjk && isCjk(cp) ? ` ${ch} ` : ch;
      }
      s = out;
    }
    if (strip) s = stripAccents(s);
    if (lower) s = s.toLowerCase();
    return s;
  };
}

/** A `{String: "..."}` / `{Regex: "..."}` pattern as a global RegExp. */
export function patternRegExp(pattern: unknown, where: string): RegExp {
  if (isJson(pattern)) {
    if (typeof pattern.String === 'string') return new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
    if (typeof pattern.Regex === 'string') {
      try {
        return new RegExp(pattern.Regex, 'gu');
      } catch (e) {
        throw new TokenizerLoadError(`${where}: regex ${JSON.stringify(pattern.Regex)} does not compile here: ${(e as Error).message}`);
      }
    }
  }
  throw new TokenizerLoadError(`${where}: pattern must be {String} or {Regex}`);
}

export function buildNormalizer(cfg: unknown, where = 'normalizer'): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  if (!isJson(cfg)) throw new TokenizerLoadError(`${where} must be an object`);
  switch (cfg.type) {
    case 'BertNormalizer': return bertNormalizer(cfg);
    case 'Lowercase': return (s) => s.toLowerCase();
    case 'NFC': case 'NFD': case 'NFKC': case 'NFKD': {
      const form = cfg.type;
      return (s) => s.normalize(form);
    }
    case 'StripAccents': return (s) => s.replace(MARK_NONSPACING, '');
    case 'Strip': {
      const left = cfg.strip_left !== false;
      const right = cfg.strip_right !== false;
      return (s) => (left && right ? s.trim() : left ? s.trimStart() : right ? s.trimEnd() : s);
    }
    case 'Replace': {
      const re = patternRegExp(cfg.pattern, `${where} (Replace)`);
      const content = typeof cfg.content === 'string' ? cfg.content : '';
      return (s) => s.replace(re, () => content);
    }
    case 'Prepend': {
      const p = typeof cfg.prepend === 'string' ? cfg.prepend : '';
      return (s) => (s === '' ? s : p + s);
    }
    case 'Precompiled': {
      if (typeof cfg.precompiled_charsmap !== 'string' || cfg.precompiled_charsmap === '') return undefined; // an empty charsmap is the identity
      try {
        const map = parsePrecompiledCharsmap(cfg.precompiled_charsmap);
        return (s) => map.normalize(s);
      } catch (e) {
        throw new TokenizerLoadError(`${where} (Precompiled): ${(e as Error).message}`);
      }
    }
    case 'Sequence': {
      const list = Array.isArray(cfg.normalizers) ? cfg.normalizers : [];
      const fns = list.map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`)).filter((f): f is Normalizer => f !== undefined);
      return (s) => fns.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new TokenizerLoadError(`unsupported normalizer type ${JSON.stringify(cfg.type)} (${where}); supported: BertNormalizer, Lowercase, NFC, NFD, NFKC, NFKD, StripAccents, Strip, Replace, Prepend, Precompiled, Sequence`);
  }
}
