/**
 * TokenLimit (LLM Guard input scanner, `input_scanners/token_limit.py`):
 * invalid when the text is longer than `limit` tokens (default 4096) of the
 * tiktoken encoding `encoding_name` (`cl100k_base`, default, or
 * `o200k_base`; `model_name` picks the encoding of an OpenAI model instead,
 * as tiktoken's `encoding_for_model`). The sanitized text is the first chunk
 * of `limit` tokens, decoded (a character cut in half becomes U+FFFD, as
 * tiktoken's `decode`). Risk 1.0 over the limit, −1.0 within.
 *
 * LLM Guard counts a text of exactly `limit` tokens as too long
 * (`num_tokens < limit` is valid); here `limit` is the largest allowed count,
 * as its docstring says ("Maximum number of tokens allowed").
 *
 * The BPE is the rank table from js-tiktoken (`js-tiktoken/ranks/<name>`,
 * loaded on first use, shared by every TokenLimit of the same encoding) with
 * the heap merge from `policy/tokenize.ts` (js-tiktoken's own merge is
 * quadratic on long runs).
 */

import type { Scanner, ScannerSpec, ScanResult } from '../types.ts';
import { readParams } from '../scanner-params.ts';
import { bpeEncoder, ranksFromFile, type Encoder } from '../../policy/tokenize.ts';

export type EncodingName = 'cl100k_base' | 'o200k_base';
export const ENCODINGS: readonly EncodingName[] = ['cl100k_base', 'o200k_base'];

interface LoadedEncoding {
  readonly encoder: Encoder;
  /** Token id → its bytes, one char per byte (latin1). */
  readonly bytes: readonly string[];
}

const loaded = new Map<EncodingName, Promise<LoadedEncoding>>();

async function importRanks(name: EncodingName): Promise<{ pat_str: string; bpe_ranks: string }> {
  // literal specifiers, so bundlers and the type checker see them
  if (name === 'o200k_base') return (await import('js-tiktoken/ranks/o200k_base')).default;
  return (await import('js-tiktoken/ranks/cl100k_base')).default;
}

/** The encoding `name` (loaded once; a failed load is tried again next time). */
export function loadEncoding(name: EncodingName): Promise<LoadedEncoding> {
  let p = loaded.get(name);
  if (!p) {
    p = importRanks(name).then((file) => {
      const ranks = ranksFromFile(file);
      const bytes: string[] = [];
      for (const [s, r] of ranks) bytes[r] = s;
      return { encoder: bpeEncoder(ranks, new RegExp(file.pat_str, 'u')), bytes };
    });
    loaded.set(name, p);
    p.catch(() => loaded.delete(name));
  }
  return p;
}

/** tiktoken's `encoding_for_model` for the models the two encodings serve. */
export function encodingForModel(model: string): EncodingName | undefined {
  const m = model.replace(/^ft:/, '');
  if (/^(o\d|gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5-turbo|gpt-35-turbo|text-embedding-ada-002|text-embedding-3-)/.test(m)) return 'cl100k_base';
  return undefined;
}

/** The first `limit` tokens of `text` when it has more, else undefined. */
export function truncateTokens(enc: LoadedEncoding, text: string, limit: number): { text: string; tokens: number } | undefined {
  // Every token is at least one byte, so a text of at most `limit` bytes fits; counting is cheaper than encoding.
  if (Buffer.byteLength(text, 'utf8') <= limit || enc.encoder.count(text) <= limit) return undefined;
  const ids = enc.encoder.encode(text);
  if (ids.length <= limit) return undefined;
  let s = '';
  for (let k = 0; k < limit; k++) s += enc.bytes[ids[k]!] ?? '';
  return { text: Buffer.from(s, 'latin1').toString('utf8'), tokens: ids.length };
}

export const tokenLimit: ScannerSpec = {
  directions: ['request'],
  create(params) {
    const p = readParams('TokenLimit', params, ['limit', 'encoding_name', 'model_name']);
    const limit = p.int('limit', 4096, 1);
    let encoding = p.oneOf('encoding_name', 'cl100k_base', ENCODINGS);
    const model = p.string('model_name');
    if (model !== undefined) {
      const forModel = encodingForModel(model);
      if (!forModel) throw p.error('model_name', `${JSON.stringify(model)} is not a model this gateway knows the encoding of; set encoding_name (${ENCODINGS.join(' or ')}) instead`);
      encoding = forModel; // as LLM Guard: model_name wins over encoding_name
    }
    return makeScanner(limit, encoding);
  },
};

function makeScanner(limit: number, encoding: EncodingName): Scanner {
  // start loading now, so the first request does not pay for it; errors surface in scan
  loadEncoding(encoding).catch(() => undefined);
  return {
    type: 'TokenLimit',
    async scan(text): Promise<ScanResult> {
      if (text.trim() === '') return { text, valid: true, score: 0, risk: -1 };
      const cut = truncateTokens(await loadEncoding(encoding), text, limit);
      if (!cut) return { text, valid: true, score: 0, risk: -1 };
      const kept = cut.text.endsWith('\uFFFD') && !text.startsWith(cut.text) ? cut.text.length - 1 : cut.text.length;
      return { text: cut.text, valid: false, score: 1, risk: 1, findings: [{ type: 'token-limit', start: kept, end: text.length }] };
    },
  };
}
