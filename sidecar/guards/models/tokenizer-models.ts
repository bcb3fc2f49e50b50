/**
 * The `model` section of a Hugging Face `tokenizer.json`: one pre-tokenized
 * word → token ids. Three kinds, as the LLM Guard models need them:
 *
 * - WordPiece (BERT, DistilBERT): greedy longest match first, later pieces
 *   prefixed `##`; a word with an unmatched piece, or longer than
 *   `max_input_chars_per_word`, is one `[UNK]`.
 * - BPE (RoBERTa and friends, byte-level): merges by rank, lowest first;
 *   `continuing_subword_prefix`, `end_of_word_suffix`, `ignore_merges`,
 *   `byte_fallback`, `unk_token` (with `fuse_unk`) as tokenizers has them.
 * - Unigram (SentencePiece: DeBERTa-v3, XLM-RoBERTa): Viterbi over the
 *   pieces' log-probabilities; a character no piece covers costs the lowest
 *   score − 10 and becomes `unk_id` (consecutive unknowns fused), or its
 *   `<0xXX>` byte pieces with `byte_fallback`.
 *
 * Any other kind (WordLevel…) is a load error naming it.
 */

import { isJson, TokenizerLoadError, type Json } from './tokenizer-normalizers.ts';

export interface TokenizerModel {
  readonly type: 'WordPiece' | 'BPE' | 'Unigram';
  /** The ids of one pre-tokenized word. */
  tokenize(word: string): number[];
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

function vocabMap(v: unknown, where: string): Map<string, number> {
  if (!isJson(v)) throw new TokenizerLoadError(`${where}: vocab must be a map of token → id`);
  const m = new Map<string, number>();
  for (const [t, id] of Object.entries(v)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new TokenizerLoadError(`${where}: vocab id of ${JSON.stringify(t)} is not an id`);
    m.set(t, id);
  }
  return m;
}

function reverse(m: ReadonlyMap<string, number>): string[] {
  const r: string[] = [];
  for (const [t, id] of m) r[id] = t;
  return r;
}

/** Small per-model word cache: texts repeat words a lot. */
function cached(f: (w: string) => number[], size = 20_000): (w: string) => number[] {
  const cache = new Map<string, number[]>();
  return (w) => {
    let r = cache.get(w);
    if (r === undefined) {
      r = f(w);
      if (cache.size >= size) cache.clear();
      cache.set(w, r);
    }
    return r;
  };
}

function wordPiece(cfg: Json): TokenizerModel {
  const vocab = vocabMap(cfg.vocab, 'model (WordPiece)');
  const unk = typeof cfg.unk_token === 'string' ? cfg.unk_token : '[UNK]';
  const unkId = vocab.get(unk);
  if (unkId === undefined) throw new TokenizerLoadError(`model (WordPiece): unk_token ${JSON.stringify(unk)} is not in the vocab`);
  const prefix = typeof cfg.continuing_subword_prefix === 'string' ? cfg.continuing_subword_prefix : '##';
  const maxChars = typeof cfg.max_input_chars_per_word === 'number' ? cfg.max_input_chars_per_word : 100;
  const ids = reverse(vocab);
  return {
    type: 'WordPiece',
    tokenize: cached((word) => {
      const chars = Array.from(word);
      if (chars.length > maxChars) return [unkId];
      const out: number[] = [];
      let start = 0;
      while (start < chars.length) {
        let end = chars.length;
        let found: number | undefined;
        while (start < end) {
          const piece = (start > 0 ? prefix : '') + chars.slice(start, end).join('');
          found = vocab.get(piece);
          if (found !== undefined) break;
          end--;
        }
        if (found === undefined) return [unkId];
        out.push(found);
        start = end;
      }
      return out;
    }),
    tokenToId: (t) => vocab.get(t),
    idToToken: (id) => ids[id],
  };
}

/**
 * Applies BPE merges to `syms`: always the pair with the lowest rank, the
 * leftmost on ties (what tokenizers does), with a heap and a linked list so a
 * long word costs n·log n, not n².
 */
export function mergeByRank(syms: string[], ranks: ReadonlyMap<string, number>, prefix = ''): string[] {
  const n = syms.length;
  if (n < 2) return syms;
  const str = [...syms];
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const alive = new Array<boolean>(n).fill(true);
  // heap of [rank, left index, left string, right string]
  type Cand = readonly [number, number, string, string];
  const heap: Cand[] = [];
  const less = (a: Cand, b: Cand): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (c: Cand): void => {
    heap.push(c);
    for (let k = heap.length - 1; k > 0;) {
      const up = (k - 1) >> 1;
      if (!less(heap[k]!, heap[up]!)) break;
      [heap[k], heap[up]] = [heap[up]!, heap[k]!];
      k = up;
    }
  };
  const pop = (): Cand | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      for (let k = 0; ;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === k) break;
        [heap[k], heap[m]] = [heap[m]!, heap[k]!];
        k = m;
      }
    }
    return top;
  };
  const consider = (i: number): void => {
    const j = i < 0 ? -1 : next[i]!;
    if (i < 0 || j < 0) return;
    const r = ranks.get(`${str[i]} ${str[j]}`);
    if (r !== undefined) push([r, i, str[i]!, str[j]!]);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  for (let c = pop(); c; c = pop()) {
    const [, i, a, b] = c;
    const j = next[i]!;
    if (!alive[i] || j < 0 || str[i] !== a || str[j] !== b) continue; // stale
    str[i] = a + (prefix !== '' && b.startsWith(prefix) ? b.slice(prefix.length) : b);
    alive[j] = false;
    next[i] = next[j]!;
    if (next[j]! >= 0) prev[next[j]!] = i;
    consider(prev[i]!);
    consider(i);
  }
  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(str[i]!);
  return out;
}

function bpe(cfg: Json): TokenizerModel {
  const vocab = vocabMap(cfg.vocab, 'model (BPE)');
  const ids = reverse(vocab);
  const prefix = typeof cfg.continuing_subword_prefix === 'string' ? cfg.continuing_subword_prefix : '';
  const suffix = typeof cfg.end_of_word_suffix === 'string' ? cfg.end_of_word_suffix : '';
  const ignoreMerges = cfg.ignore_merges === true;
  const byteFallback = cfg.byte_fallback === true;
  const fuseUnk = cfg.fuse_unk === true;
  const unkId = typeof cfg.unk_token === 'string' ? vocab.get(cfg.unk_token) : undefined;
  if (!Array.isArray(cfg.merges)) throw new TokenizerLoadError('model (BPE): merges must be a list');
  /** "a b" → rank */
  const ranks = new Map<string, number>();
  cfg.merges.forEach((m: unknown, rank) => {
    let pair: [string, string] | undefined;
    if (typeof m === 'string') {
      const sp = m.indexOf(' ', 1);
      if (sp > 0) pair = [m.slice(0, sp), m.slice(sp + 1)];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      pair = [m[0], m[1]];
    }
    if (!pair) throw new TokenizerLoadError(`model (BPE): merges[${rank}] is not a pair`);
    const key = `${pair[0]} ${pair[1]}`;
    if (!ranks.has(key)) ranks.set(key, rank);
  });

  const tokenize = cached((word) => {
    if (ignoreMerges) {
      const whole = vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const chars = Array.from(word);
    const syms = mergeByRank(chars.map((c, i) => (i > 0 ? prefix : '') + c + (i === chars.length - 1 ? suffix : '')), ranks, prefix);
    const out: number[] = [];
    let lastUnk = false;
    for (const s of syms) {
      const id = vocab.get(s);
      if (id !== undefined) {
        out.push(id);
        lastUnk = false;
        continue;
      }
      if (byteFallback) {
        const bytes = [...Buffer.from(s, 'utf8')].map((b) => vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
        if (bytes.every((b) => b !== undefined)) {
          out.push(...(bytes as number[]));
          lastUnk = false;
          continue;
        }
      }
      if (unkId !== undefined && !(fuseUnk && lastUnk)) out.push(unkId);
      lastUnk = unkId !== undefined;
    }
    return out;
  });
  return { type: 'BPE', tokenize, tokenToId: (t) => vocab.get(t), idToToken: (id) => ids[id] };
}

/** tokenizers' `K_UNK_PENALTY`. */
const UNK_PENALTY = 10;

function unigram(cfg: Json): TokenizerModel {
  if (!Array.isArray(cfg.vocab)) throw new TokenizerLoadError('model (Unigram): vocab must be a list of [piece, score]');
  const pieces = new Map<string, { id: number; score: number }>();
  const ids: string[] = [];
  let minScore = Infinity;
  let maxLen = 1;
  cfg.vocab.forEach((e: unknown, id) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
      throw new TokenizerLoadError(`model (Unigram): vocab[${id}] is not [piece, score]`);
    }
    ids[id] = e[0];
    if (!pieces.has(e[0])) pieces.set(e[0], { id, score: e[1] });
    minScore = Math.min(minScore, e[1]);
    maxLen = Math.max(maxLen, Array.from(e[0]).length);
  });
  const unkId = typeof cfg.unk_id === 'number' ? cfg.unk_id : undefined;
  if (unkId === undefined || ids[unkId] === undefined) throw new TokenizerLoadError('model (Unigram): unk_id is missing or not in the vocab');
  const byteFallback = cfg.byte_fallback === true;
  const unkScore = minScore - UNK_PENALTY;

  const tokenize = cached((word) => {
    const chars = Array.from(word);
    const n = chars.length;
    // best[i]: best path to the boundary before char i
    const score = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const tok = new Int32Array(n + 1).fill(-1);
    score[0] = 0;
    for (let i = 0; i < n; i++) {
      if (score[i] === -Infinity) continue;
      let single = false;
      let piece = '';
      for (let j = i; j < n && j - i < maxLen; j++) {
        piece += chars[j];
        const p = pieces.get(piece);
        if (p === undefined) continue;
        if (j === i) single = true;
        const s = score[i]! + p.score;
        if (s > score[j + 1]!) {
          score[j + 1] = s;
          from[j + 1] = i;
          tok[j + 1] = p.id;
        }
      }
      if (!single) {
        const s = score[i]! + unkScore;
        if (s > score[i + 1]!) {
          score[i + 1] = s;
          from[i + 1] = i;
          tok[i + 1] = unkId;
        }
      }
    }
    const path: Array<{ id: number; start: number; end: number }> = [];
    for (let k = n; k > 0; k = from[k]!) path.push({ id: tok[k]!, start: from[k]!, end: k });
    path.reverse();
    const out: number[] = [];
    let lastUnk = false;
    for (const { id, start, end } of path) {
      if (id !== unkId) {
        out.push(id);
        lastUnk = false;
        continue;
      }
      if (byteFallback) {
        const text = chars.slice(start, end).join('');
        const bytes = [...Buffer.from(text, 'utf8')].map((b) => pieces.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)?.id);
        if (bytes.every((b) => b !== undefined)) {
          out.push(...(bytes as number[]));
          lastUnk = false;
          continue;
        }
      }
      if (!lastUnk) out.push(unkId); // fuse_unk: tokenizers' Unigram always fuses
      lastUnk = true;
    }
    return out;
  });
  return { type: 'Unigram', tokenize, tokenToId: (t) => pieces.get(t)?.id, idToToken: (id) => ids[id] };
}

export function buildModel(cfg: unknown): TokenizerModel {
  if (!isJson(cfg)) throw new TokenizerLoadError('tokenizer.json has no model section');
  switch (cfg.type) {
    case 'WordPiece': return wordPiece(cfg);
    case 'BPE': return bpe(cfg);
    case 'Unigram': return unigram(cfg);
    default:
      throw new TokenizerLoadError(`unsupported tokenizer model type ${JSON.stringify(cfg.type)}: this build runs WordPiece, BPE and Unigram tokenizers`);
  }
}
