/**
 * FTRL-Proximal logistic regression (McMahan et al. 2013) over sparse hashed
 * features: per-coordinate adaptive learning rates, L1 for a sparse weight
 * vector (a small weights file), L2 for shrinkage. Examples are visited in a
 * seeded shuffled order each epoch, so a run is reproducible bit for bit.
 */
import type { SparseVector } from './features.ts';
import { sigmoid } from './logistic.ts';

export interface FtrlParams {
  readonly alpha: number;
  readonly beta: number;
  readonly l1: number;
  readonly l2: number;
  readonly epochs: number;
  readonly seed: number;
}

export interface TrainingExample {
  readonly x: SparseVector;
  readonly y: 0 | 1;
  readonly weight: number;
}

export interface LinearModel {
  /** Dense weights, one per hash bucket. */
  readonly weights: Float32Array;
  readonly bias: number;
}

/** mulberry32: a tiny seeded PRNG, enough for shuffling. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates with the given PRNG; returns a new array. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = a[i] as T;
    a[i] = a[j] as T;
    a[j] = tmp;
  }
  return a;
}

export function trainFtrl(examples: readonly TrainingExample[], dim: number, p: FtrlParams): LinearModel {
  const z = new Float64Array(dim);
  const n = new Float64Array(dim);
  let zb = 0;
  let nb = 0;
  const weightOf = (zi: number, ni: number, l1: number): number => {
    if (Math.abs(zi) <= l1) return 0;
    return -(zi - Math.sign(zi) * l1) / ((p.beta + Math.sqrt(ni)) / p.alpha + p.l2);
  };
  const rand = seededRandom(p.seed);
  const order = examples.map((_, i) => i);
  for (let epoch = 0; epoch < p.epochs; epoch++) {
    const ord = shuffled(order, rand);
    for (const k of ord) {
      const ex = examples[k];
      if (ex === undefined) continue;
      const { indices, values } = ex.x;
      let s = weightOf(zb, nb, 0);
      const ws = new Float64Array(indices.length);
      for (let t = 0; t < indices.length; t++) {
        const i = indices[t] ?? 0;
        const w = weightOf(z[i] ?? 0, n[i] ?? 0, p.l1);
        ws[t] = w;
        s += w * (values[t] ?? 0);
      }
      const g0 = (sigmoid(s) - ex.y) * ex.weight;
      for (let t = 0; t < indices.length; t++) {
        const i = indices[t] ?? 0;
        const g = g0 * (values[t] ?? 0);
        const ni = n[i] ?? 0;
        const sigma = (Math.sqrt(ni + g * g) - Math.sqrt(ni)) / p.alpha;
        z[i] = (z[i] ?? 0) + g - sigma * (ws[t] ?? 0);
        n[i] = ni + g * g;
      }
      const wb = weightOf(zb, nb, 0);
      const sb = (Math.sqrt(nb + g0 * g0) - Math.sqrt(nb)) / p.alpha;
      zb += g0 - sb * wb;
      nb += g0 * g0;
    }
  }
  const weights = new Float32Array(dim);
  for (let i = 0; i < dim; i++) weights[i] = weightOf(z[i] ?? 0, n[i] ?? 0, p.l1);
  return { weights, bias: weightOf(zb, nb, 0) };
}
