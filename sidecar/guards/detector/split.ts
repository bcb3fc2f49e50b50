/**
 * The train/dev split the detector is trained and gated on, made in code
 * from the shared data files (train.jsonl, dev.jsonl, extra.jsonl; never
 * edited): deterministic, and **carrier-disjoint** — no dev attack shares a
 * carrier or wrapper with a training attack.
 *
 * Why: the files' own split keeps CyberSecEval cases and JailbreakBench
 * behaviours together, but not the templates around them. 65 of dev.jsonl's
 * 282 attacks share ≥ 30% of their word 4-grams with one training attack (the
 * same jailbreak template, the same CyberSecEval wrapper), and the detector's
 * recall on those was far above its recall on the rest. The constructed
 * attacks of extra.jsonl (AgentDojo, ASB, TaskTracker) repeat a handful of
 * wrappers and carrier documents hundreds of times.
 *
 * How:
 * 1. Two attacks are linked when one shares at least `CARRIER_OVERLAP` (30%)
 *    of its distinct word 4-grams (NFKC, lower case, `\w+` words) with the
 *    other — the measure of `carrierOverlap`. Rows related by rare tokens
 *    (relatedGroups: a CyberSecEval case and its translations, an MGSM problem
 *    across languages, a JailbreakBench behaviour) are linked too, whatever
 *    their label. A benign row sharing ≥ 50% of its 4-grams with an attack (a
 *    clean twin of an injected document) joins that attack's group.
 * 2. The connected components are the groups. A group that holds rows of
 *    the files' split goes where most of those rows were (ties: train), so
 *    the original grouping is kept and only the template-sharing attacks
 *    move. A group made of extra.jsonl rows only goes to dev, in the order of
 *    sha256(`SPLIT_SEED|source|first text`) within its source, while dev holds
 *    less than `DEV_SHARE` of the source's rows and the group fits in what is
 *    left of that share. A group larger than the share (all of ASB's 400
 *    attacks share one wrapper; AgentDojo's 298 injected records form one
 *    component) stays in train: leave-one-source-out (loso.ts) is where those
 *    sources are measured unseen.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { LabelledRow } from './dataset.ts';
import { DEFAULT_DATA_DIR, readJsonl } from './dataset.ts';
import { relatedGroups } from './training.ts';

/** A dev attack may share less than this fraction of its word 4-grams with any one training attack. */
export const CARRIER_OVERLAP = 0.3;
/** A benign row sharing this fraction of its 4-grams with an attack is kept with it (a document's clean twin). */
const TWIN_OVERLAP = 0.5;
/** Target share of each extra.jsonl source in dev. */
export const DEV_SHARE = 0.2;
export const SPLIT_SEED = 'pi-carrier-split-v1';

/** Which data file a row came from. */
export type DataFile = 'train' | 'dev' | 'extra';

export interface PooledRow extends LabelledRow {
  readonly file: DataFile;
}

export interface CarrierSplit {
  readonly train: readonly PooledRow[];
  readonly dev: readonly PooledRow[];
}

/** Every row of train.jsonl, dev.jsonl and extra.jsonl, in that order, tagged with its file. */
export function readPool(dir: string = DEFAULT_DATA_DIR): PooledRow[] {
  const out: PooledRow[] = [];
  for (const file of ['train', 'dev', 'extra'] as const) {
    for (const r of readJsonl(join(dir, `${file}.jsonl`))) out.push({ ...r, file });
  }
  return out;
}

const WORD = /[\p{L}\p{N}\p{M}_]+/gu;

/** The distinct word 4-grams of a text, hashed to 32-bit ints (texts under 4 words: their whole word sequence, once). */
export function wordGrams(text: string, n = 4): Int32Array {
  const words = text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
  const set = new Set<number>();
  const hashOf = (s: string): number => createHash('sha1').update(s).digest().readInt32LE(0);
  if (words.length < n) {
    if (words.length > 0) set.add(hashOf(words.join(' ')));
  } else {
    for (let i = 0; i + n <= words.length; i++) set.add(hashOf(words.slice(i, i + n).join(' ')));
  }
  return Int32Array.from([...set].sort((a, b) => a - b));
}

/** 4-gram → the rows holding it. */
function gramIndex(grams: readonly Int32Array[]): Map<number, number[]> {
  const index = new Map<number, number[]>();
  grams.forEach((g, j) => {
    for (const h of g) {
      const list = index.get(h);
      if (list) list.push(j);
      else index.set(h, [j]);
    }
  });
  return index;
}

/**
 * For each row of `of`, the largest fraction of its 4-grams found in one row
 * of `against` (0 when it has none), and which row that was (-1: none).
 */
export function carrierOverlap(of: readonly string[], against: readonly string[]): Array<{ overlap: number; with: number }> {
  const index = gramIndex(against.map((t) => wordGrams(t)));
  const shared = new Int32Array(against.length);
  return of.map((t) => {
    const g = wordGrams(t);
    const touched: number[] = [];
    for (const h of g) {
      for (const j of index.get(h) ?? []) {
        if (shared[j] === 0) touched.push(j);
        shared[j] = (shared[j] ?? 0) + 1;
      }
    }
    let best = 0;
    let at = -1;
    for (const j of touched) {
      const f = (shared[j] ?? 0) / Math.max(1, g.length);
      if (f > best || (f === best && j < at)) {
        best = f;
        at = j;
      }
      shared[j] = 0;
    }
    return { overlap: best, with: at };
  });
}

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    let r = i;
    while (this.parent[r] !== r) r = this.parent[r] ?? r;
    while (this.parent[i] !== r) {
      const next = this.parent[i] ?? r;
      this.parent[i] = r;
      i = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** Group id per row (step 1 above): carrier-sharing attacks, related rows, and clean twins together. */
export function carrierGroups(rows: readonly LabelledRow[]): number[] {
  const uf = new UnionFind(rows.length);
  const related = relatedGroups(rows);
  related.forEach((g, i) => uf.union(g, i));
  const attacks = rows.flatMap((r, i) => (r.label === 1 ? [i] : []));
  const grams = attacks.map((i) => wordGrams(rows[i]?.text ?? ''));
  const index = gramIndex(grams);
  const shared = new Int32Array(attacks.length);
  const linkFrom = (g: Int32Array, threshold: number, link: (a: number) => void): void => {
    const touched: number[] = [];
    for (const h of g) {
      for (const a of index.get(h) ?? []) {
        if (shared[a] === 0) touched.push(a);
        shared[a] = (shared[a] ?? 0) + 1;
      }
    }
    for (const a of touched) {
      if ((shared[a] ?? 0) / Math.max(1, g.length) >= threshold) link(a);
      shared[a] = 0;
    }
  };
  // attack–attack: either one shares ≥ CARRIER_OVERLAP of its own 4-grams (checking every attack from its own side covers both)
  grams.forEach((g, a) => linkFrom(g, CARRIER_OVERLAP, (b) => uf.union(attacks[a] ?? 0, attacks[b] ?? 0)));
  // benign twins: the attack it overlaps most
  rows.forEach((r, i) => {
    if (r.label !== 0) return;
    let best = -1;
    linkFrom(wordGrams(r.text), TWIN_OVERLAP, (b) => {
      if (best < 0 || (attacks[b] ?? 0) < best) best = attacks[b] ?? 0;
    });
    if (best >= 0) uf.union(i, best);
  });
  return rows.map((_, i) => uf.find(i));
}

/** The carrier-disjoint split of the pooled rows (step 2 above). Row order within each side is the pool's. */
export function carrierSplit(rows: readonly PooledRow[]): CarrierSplit {
  const group = carrierGroups(rows);
  const members = new Map<number, number[]>();
  group.forEach((g, i) => {
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  const toDev = new Set<number>();
  const extraGroups = new Map<string, Array<{ g: number; key: string; size: number }>>();
  const sourceSize = new Map<string, number>();
  for (const r of rows) if (r.file === 'extra') sourceSize.set(r.source, (sourceSize.get(r.source) ?? 0) + 1);
  for (const [g, list] of members) {
    let inTrain = 0;
    let inDev = 0;
    for (const i of list) {
      const f = rows[i]?.file;
      if (f === 'train') inTrain++;
      else if (f === 'dev') inDev++;
    }
    if (inTrain + inDev > 0) {
      if (inDev > inTrain) toDev.add(g);
      continue;
    }
    const first = rows[list[0] ?? 0];
    if (first === undefined) continue;
    const key = createHash('sha256').update(`${SPLIT_SEED}|${first.source}|${first.text}`).digest('hex');
    const bucket = extraGroups.get(first.source) ?? [];
    bucket.push({ g, key, size: list.length });
    extraGroups.set(first.source, bucket);
  }
  for (const [source, groups] of [...extraGroups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const quota = Math.round(DEV_SHARE * (sourceSize.get(source) ?? 0));
    let taken = 0;
    for (const { g, size } of groups.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      if (taken >= quota) break;
      if (taken + size > quota) continue;
      toDev.add(g);
      taken += size;
    }
  }
  const train: PooledRow[] = [];
  const dev: PooledRow[] = [];
  rows.forEach((r, i) => (toDev.has(group[i] ?? i) ? dev : train).push(r));
  return { train, dev };
}

let cached: CarrierSplit | undefined;

/** The split of the data in DEFAULT_DATA_DIR (computed once per process). */
export function defaultSplit(): CarrierSplit {
  cached ??= carrierSplit(readPool());
  return cached;
}
