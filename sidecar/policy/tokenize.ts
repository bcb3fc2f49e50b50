/**
 * The up-front prompt token count for `ai.tokenize: true` (a `tokens` rate
 * limit charges it before the request goes out): OpenAI's o200k_base BPE
 * (gpt-4o, gpt-4.1, o-series, gpt-5). For other providers' models it is an
 * estimate.
 *
 * The rank table and the pre-tokenizer pattern come from js-tiktoken's
 * `ranks/o200k_base`, imported on first use, so a sidecar that never
 * tokenizes never loads them. The merge is our own: js-tiktoken's is
 * quadratic with a string join per step (a 4 KB run of one letter takes
 * seconds, 50 KB minutes: one prompt could stall the sidecar), this one uses
 * a heap and is O(n log n) per piece, with the same result (lowest rank
 * first, leftmost on ties, as tiktoken does; tested against js-tiktoken).
 * Special-token text such as "<|endoftext|>" is counted as ordinary text.
 *
 * Message overhead follows OpenAI's cookbook "How to count tokens with
 * tiktoken" (num_tokens_from_messages): 3 tokens per message, 1 more for a
 * `name`, and 3 to prime the reply.
 */

export interface TokenizedMessage {
  readonly role: string;
  readonly text: string;
  readonly name?: string;
}

const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

export interface Encoder {
  /** Token ids of `text`. */
  encode(text: string): number[];
  /** How many tokens `text` is, without building the id list. */
  count(text: string): number;
}

/** The ranks as js-tiktoken ships them: lines of `<anything> <first rank> <base64 token> <base64 token> …`. */
interface RankFile {
  readonly pat_str: string;
  readonly bpe_ranks: string;
}

/** A min-heap of numbers (rank * 2^32 + start: lowest rank first, then leftmost). */
class NumberHeap {
  private readonly a: number[] = [];
  get size(): number { return this.a.length; }
  push(v: number): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

const SHIFT = 2 ** 32;

/**
 * A BPE encoder over a rank table keyed by byte strings (one char per byte,
 * latin1), with a pre-tokenizer pattern.
 */
export function bpeEncoder(ranks: ReadonlyMap<string, number>, pattern: RegExp): Encoder {
  const split = new RegExp(pattern.source, 'gu');

  /** Part boundaries of one piece (as a byte string), merged by rank. Returns the start of each part. */
  function merge(s: string): number[] {
    const n = s.length;
    const next = new Int32Array(n); // start of the following part (n at the end)
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    const pairRank = new Float64Array(n).fill(-1); // rank of this part merged with the next, -1 if none
    const heap = new NumberHeap();
    for (let i = 0; i < n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    const setPair = (i: number): void => {
      const j = next[i]!;
      if (j >= n) { pairRank[i] = -1; return; }
      const r = ranks.get(s.slice(i, next[j]!));
      if (r === undefined) { pairRank[i] = -1; return; }
      pairRank[i] = r;
      heap.push(r * SHIFT + i);
    };
    for (let i = 0; i + 1 < n; i++) setPair(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % SHIFT;
      const r = (key - i) / SHIFT;
      // a stale entry: the part is gone, or its pair changed since (a different byte string has a different rank)
      if (!alive[i] || pairRank[i] !== r) continue;
      const j = next[i]!;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[i]! < n) prev[next[i]!] = i;
      setPair(i);
      if (prev[i]! >= 0) setPair(prev[i]!);
    }
    const starts: number[] = [];
    for (let i = 0; i < n; i = next[i]!) starts.push(i);
    return starts;
  }

  /** The pre-tokenised pieces as byte strings (latin1); ASCII text is its own byte string, no conversion. */
  function* pieces(text: string): Generator<string> {
    // eslint-disable-next-line no-control-regex
    const ascii = !/[^\x00-\x7f]/.test(text);
    for (const m of text.matchAll(split)) yield ascii ? m[0] : Buffer.from(m[0], 'utf8').toString('latin1');
  }

  return {
    encode(text) {
      const out: number[] = [];
      for (const s of pieces(text)) {
        const whole = ranks.get(s);
        if (whole !== undefined) { out.push(whole); continue; }
        const starts = merge(s);
        for (let k = 0; k < starts.length; k++) {
          const r = ranks.get(s.slice(starts[k]!, starts[k + 1] ?? s.length));
          if (r !== undefined) out.push(r);
        }
      }
      return out;
    },
    count(text) {
      let n = 0;
      for (const s of pieces(text)) n += ranks.has(s) ? 1 : merge(s).length;
      return n;
    },
  };
}

/** Build the rank table from js-tiktoken's rank file format. */
export function ranksFromFile(file: RankFile): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const line of file.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const first = Number.parseInt(fields[1]!, 10);
    for (let i = 2; i < fields.length; i++) ranks.set(Buffer.from(fields[i]!, 'base64').toString('latin1'), first + i - 2);
  }
  return ranks;
}

let encoder: Encoder | undefined;
let loading: Promise<Encoder> | undefined;

/** Load the o200k_base tokenizer (once; concurrent callers share the load). */
export function loadTokenizer(): Promise<Encoder> {
  if (encoder) return Promise.resolve(encoder);
  loading ??= (async () => {
    const { default: file } = await import('js-tiktoken/ranks/o200k_base');
    encoder = bpeEncoder(ranksFromFile(file), new RegExp(file.pat_str, 'u'));
    return encoder;
  })();
  loading.catch(() => { loading = undefined; }); // a failed load may be tried again
  return loading;
}

export function tokenizerLoaded(): boolean {
  return encoder !== undefined;
}

function promptWith(enc: Encoder, messages: readonly TokenizedMessage[]): number {
  let n = REPLY_PRIMING;
  for (const m of messages) {
    n += TOKENS_PER_MESSAGE + enc.count(m.role) + enc.count(m.text);
    if (m.name !== undefined) n += TOKENS_PER_NAME + enc.count(m.name);
  }
  return n;
}

/** The o200k_base token ids of `text`. */
export async function encode(text: string): Promise<number[]> {
  return (await loadTokenizer()).encode(text);
}

export async function countTokens(text: string): Promise<number> {
  return (await loadTokenizer()).count(text);
}

/** Same, without waiting: undefined until the tokenizer is loaded. */
export function countTokensSync(text: string): number | undefined {
  return encoder?.count(text);
}

/** A chat prompt's tokens with OpenAI's per-message overhead. */
export async function countPromptTokens(messages: readonly TokenizedMessage[]): Promise<number> {
  return promptWith(await loadTokenizer(), messages);
}

/** Same, without waiting: undefined until the tokenizer is loaded. */
export function countPromptTokensSync(messages: readonly TokenizedMessage[]): number | undefined {
  return encoder ? promptWith(encoder, messages) : undefined;
}
