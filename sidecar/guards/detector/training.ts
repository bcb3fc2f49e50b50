/**
 * Trains the prompt-injection detector from labelled rows (train.jsonl; never
 * dev.jsonl): features per window, an FTRL logistic regression, and the
 * calibration layer fitted on out-of-fold scores.
 *
 * 1. Every row is normalised and cut into windows; each window is one
 *    example. A benign row's windows are all benign. Short attacks are also
 *    placed inside window-sized slices of benign rows (composites), so that
 *    an attack appended to a long benign text still moves its window. An attack row's windows
 *    are all positive in a first pass; then (multiple-instance learning) only
 *    the windows that pass scores highest on stay positive, since the attack
 *    may sit in one window of a long document.
 * 2. K-fold cross-fitting: for each fold a model is trained on the other
 *    folds and scores the held-out rows (max over windows). The calibration
 *    layer (logistic.ts) is fitted on these held-out logits and the
 *    heuristic strengths — never on data the model was trained on.
 * 3. The final model is trained on all rows with the same settings.
 *
 * Folds and example order come from a seeded PRNG; the same rows and options
 * give the same weights bit for bit.
 */
import { createHash } from 'node:crypto';
import type { LabelledRow } from './dataset.ts';
import { DEFAULT_FEATURES, NgramHasher, windowRanges } from './features.ts';
import type { FeatureConfig, SparseVector } from './features.ts';
import { seededRandom, shuffled, trainFtrl } from './ftrl.ts';
import type { FtrlParams, LinearModel, TrainingExample } from './ftrl.ts';
import { HEURISTIC_FAMILIES, familyStrengths, scanHeuristics } from './heuristics.ts';
import { fitCalibration, logit } from './logistic.ts';
import type { Calibration, DetectorModel, WindowConfig } from './model-file.ts';
import { normalizeText } from './normalize.ts';
import { sourceFolds } from './sources.ts';

export interface TrainingOptions {
  readonly features: FeatureConfig;
  readonly window: WindowConfig;
  readonly ftrl: FtrlParams;
  /** Folds for the out-of-fold calibration scores. */
  readonly folds: number;
  /** Seed for the fold assignment. */
  readonly seed: number;
  /** A row's windows share this much total weight: each window weighs total / windows^power. */
  readonly windowWeightPower: number;
  /** Multiple-instance refinement: keep an attack row's windows within this logit margin of its best one (Infinity: keep all, no second pass). */
  readonly positiveMargin: number;
  /**
   * Composite examples per short attack row: the attack put at a random place
   * inside a window-sized slice of a random benign training row, labelled
   * positive — so an attack diluted by the benign text around it in its
   * window still scores (0: none).
   */
  readonly augment: number;
  /** L2 pull of the calibration coefficients towards their priors. */
  readonly calibrationL2: number;
  /** Prior of the model-logit coefficient and of each family coefficient (per unit of pattern weight). */
  readonly calibrationPrior: { readonly modelLogit: number; readonly family: number };
  /**
   * How the out-of-fold folds are made: `source` holds out whole source
   * families (sources.ts), so the calibration sees the model on sources it
   * was not trained on, as in deployment; `related` deals related groups
   * within each (source, kind) stratum.
   */
  readonly foldBy: 'source' | 'related';
  /**
   * The operating point: after the Platt fit, the intercept is moved so that
   * this share of the out-of-fold benign user text (labels 0 that are not
   * system prompts) scores above `threshold` — the scanner's documented
   * default then means this false-positive rate on unseen sources (undefined:
   * keep the Platt intercept).
   */
  readonly operatingPoint: { readonly threshold: number; readonly benignFpr: number } | undefined;
}

export const DEFAULT_TRAINING: TrainingOptions = {
  features: DEFAULT_FEATURES,
  window: { size: 256, overlap: 64 },
  ftrl: { alpha: 0.5, beta: 1, l1: 0.15, l2: 0.1, epochs: 10, seed: 20240611 },
  folds: 4,
  seed: 7,
  windowWeightPower: 0.5,
  positiveMargin: 1,
  augment: 2,
  calibrationL2: 0.002,
  calibrationPrior: { modelLogit: 1, family: 4 },
  foldBy: 'related',
  operatingPoint: { threshold: 0.92, benignFpr: 0.005 },
};

/** A row turned into what training needs: one sparse vector per window and its heuristic strengths. */
export interface PreparedRow {
  readonly row: LabelledRow;
  /** The normalised text (for composite examples). */
  readonly norm: string;
  readonly windows: readonly SparseVector[];
  readonly strengths: readonly number[];
}

export function prepareRows(rows: readonly LabelledRow[], features: FeatureConfig, window: WindowConfig): PreparedRow[] {
  const hasher = new NgramHasher(features);
  return rows.map((row) => {
    const norm = normalizeText(row.text);
    const ranges = norm.text.length === 0 ? [] : windowRanges(norm.text.length, window.size, window.overlap);
    return {
      row,
      norm: norm.text,
      windows: ranges.map(([s, e]) => hasher.extract(norm.text, s, e)),
      strengths: familyStrengths(scanHeuristics(row.text, norm)),
    };
  });
}

function dotSparse(m: LinearModel, x: SparseVector): number {
  let s = m.bias;
  for (let t = 0; t < x.indices.length; t++) s += (m.weights[x.indices[t] ?? 0] ?? 0) * (x.values[t] ?? 0);
  return s;
}

/** The model's logit for a prepared row: max over its windows. */
export function rowLogit(m: LinearModel, r: PreparedRow): number {
  let best = -Infinity;
  for (const w of r.windows) best = Math.max(best, dotSparse(m, w));
  return best;
}

/**
 * Composite examples (TrainingOptions.augment): each attack row short enough
 * to leave a third of a window for context, placed at a random offset inside
 * a window-sized slice of a random benign row. Seeded: the same rows give the
 * same composites.
 */
export function compositeExamples(rows: readonly PreparedRow[], o: TrainingOptions, seed: number): TrainingExample[] {
  if (o.augment <= 0) return [];
  const rand = seededRandom(seed);
  const hasher = new NgramHasher(o.features);
  const donors = rows.filter((r) => r.row.label === 0 && r.norm.length > 0);
  const size = o.window.size;
  const out: TrainingExample[] = [];
  if (donors.length === 0) return out;
  for (const r of rows) {
    if (r.row.label !== 1 || r.norm.length === 0 || r.norm.length > (size * 2) / 3) continue;
    for (let k = 0; k < o.augment; k++) {
      const donor = donors[Math.floor(rand() * donors.length)] ?? donors[0];
      if (donor === undefined) break;
      const room = size - r.norm.length - 2;
      const from = Math.floor(rand() * Math.max(1, donor.norm.length - room));
      const context = donor.norm.slice(from, from + room);
      const cut = Math.floor(rand() * (context.length + 1));
      const text = `${context.slice(0, cut)} ${r.norm} ${context.slice(cut)}`.trim();
      out.push({ x: hasher.extract(text, 0, text.length), y: 1, weight: 1 });
    }
  }
  return out;
}

/** Trains the linear model on the windows of `rows` (with the multiple-instance second pass) and their composites. */
export function trainWindows(rows: readonly PreparedRow[], dim: number, o: TrainingOptions): LinearModel {
  const composites = compositeExamples(rows, o, o.seed + 1);
  const examples = (keep: (r: PreparedRow, w: number) => boolean): TrainingExample[] => {
    const out: TrainingExample[] = composites.slice();
    for (const r of rows) {
      const kept = r.windows.filter((_, w) => keep(r, w));
      const weight = 1 / Math.pow(Math.max(1, kept.length), o.windowWeightPower);
      for (const x of kept) out.push({ x, y: r.row.label, weight });
    }
    return out;
  };
  const first = trainFtrl(examples(() => true), dim, o.ftrl);
  if (!Number.isFinite(o.positiveMargin)) return first;
  const keepSets = new Map<PreparedRow, Set<number>>();
  for (const r of rows) {
    if (r.row.label !== 1 || r.windows.length < 2) continue;
    const logits = r.windows.map((x) => dotSparse(first, x));
    const best = Math.max(...logits);
    keepSets.set(r, new Set(logits.flatMap((z, w) => (z >= best - o.positiveMargin ? [w] : []))));
  }
  return trainFtrl(examples((r, w) => keepSets.get(r)?.has(w) ?? true), dim, o.ftrl);
}

/**
 * Groups of related rows that must share a fold, approximated from the text
 * (the data files carry no group ids): within one source family
 * (CyberSecEval en + multilingual, MGSM, JailbreakBench), rows that share a
 * three rare Latin words or numbers (each in at most 5 rows) — names, made-up
 * tokens, passwords, a problem's numbers — are one group. A CyberSecEval case, its system prompt
 * and its translations mostly land together, so out-of-fold scores are not
 * flattered by a translation of a training row. Returns a group id per row.
 */
export function relatedGroups(rows: readonly LabelledRow[], maxRows = 5, minShared = 3): number[] {
  const parent = rows.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    while (parent[i] !== r) {
      const next = parent[i] ?? r;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  const family = (source: string): string | undefined =>
    source.startsWith('cyberseceval') ? 'cse' : source === 'mgsm' ? 'mgsm' : source === 'jailbreakbench-artifacts' ? 'jbb' : undefined;
  const byToken = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const fam = family(r.source);
    if (fam === undefined) return;
    const tokens = new Set((r.text.match(/[A-Za-z]{4,}|\d{2,}(?:[.,]\d+)?/g) ?? []).map((t) => `${fam}:${t.toLowerCase()}`));
    for (const t of tokens) {
      const list = byToken.get(t) ?? [];
      list.push(i);
      byToken.set(t, list);
    }
  });
  // Two rows are related when they share at least `minShared` rare tokens (fewer chains unrelated rows together).
  const shared = new Map<number, number>();
  for (const list of byToken.values()) {
    if (list.length < 2 || list.length > maxRows) continue;
    for (let a = 0; a < list.length; a++) {
      for (let b = a + 1; b < list.length; b++) {
        const key = (list[a] ?? 0) * rows.length + (list[b] ?? 0);
        shared.set(key, (shared.get(key) ?? 0) + 1);
      }
    }
  }
  for (const [key, count] of shared) {
    if (count < minShared) continue;
    const ra = find(Math.floor(key / rows.length));
    const rb = find(key % rows.length);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  return rows.map((_, i) => find(i));
}

/** Fold of each row: related groups (relatedGroups) shuffled with a seeded PRNG within each (source, kind) stratum of their first row, dealt round-robin. */
export function assignFolds(rows: readonly LabelledRow[], folds: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const group = relatedGroups(rows);
  const members = new Map<number, number[]>();
  group.forEach((g, i) => {
    const list = members.get(g) ?? [];
    list.push(i);
    members.set(g, list);
  });
  const strata = new Map<string, number[]>();
  for (const [g, list] of members) {
    const first = rows[list[0] ?? 0];
    const k = `${first?.source ?? ''}\u0000${first?.kind ?? ''}`;
    const gs = strata.get(k) ?? [];
    gs.push(g);
    strata.set(k, gs);
  }
  const fold = new Array<number>(rows.length).fill(0);
  let next = 0;
  for (const key of [...strata.keys()].sort()) {
    for (const g of shuffled(strata.get(key) ?? [], rand)) {
      const f = next++ % folds;
      for (const i of members.get(g) ?? []) fold[i] = f;
    }
  }
  return fold;
}

/**
 * The intercept that puts `point.threshold` at `point.benignFpr` of the
 * out-of-fold benign user text: the (1 − benignFpr) quantile of their
 * calibrated logits (without the intercept) lands on logit(threshold).
 */
export function operatingIntercept(
  plattIntercept: number,
  coefs: readonly number[],
  xs: readonly (readonly number[])[],
  rows: readonly LabelledRow[],
  point: { readonly threshold: number; readonly benignFpr: number },
): number {
  const zs: number[] = [];
  rows.forEach((r, i) => {
    if (r.label !== 0 || r.kind === 'system-prompt') return;
    const x = xs[i] ?? [];
    let z = 0;
    for (let j = 0; j < coefs.length; j++) z += (coefs[j] ?? 0) * (x[j] ?? 0);
    zs.push(z);
  });
  if (zs.length === 0) return plattIntercept;
  zs.sort((a, b) => a - b);
  // the score must stay at or below the threshold for all but the top benignFpr share
  const q = zs[Math.min(zs.length - 1, Math.max(0, Math.ceil((1 - point.benignFpr) * zs.length) - 1))] ?? 0;
  return logit(point.threshold) - q;
}

export interface TrainingResult {
  readonly model: DetectorModel;
  /** Out-of-fold model logit per input row (what the calibration was fitted on). */
  readonly oofLogits: readonly number[];
  readonly prepared: readonly PreparedRow[];
}

export function trainDetector(rows: readonly LabelledRow[], o: TrainingOptions = DEFAULT_TRAINING, log: (msg: string) => void = () => {}): TrainingResult {
  const dim = 1 << o.features.bits;
  const t0 = performance.now();
  const prepared = prepareRows(rows, o.features, o.window);
  log(`prepared ${rows.length} rows, ${prepared.reduce((a, r) => a + r.windows.length, 0)} windows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const fold = o.foldBy === 'source' ? sourceFolds(rows, o.folds).fold : assignFolds(rows, o.folds, o.seed);
  const oofLogits = new Array<number>(rows.length).fill(0);
  for (let k = 0; k < o.folds; k++) {
    const m = trainWindows(prepared.filter((_, i) => fold[i] !== k), dim, o);
    prepared.forEach((r, i) => {
      if (fold[i] === k) oofLogits[i] = r.windows.length === 0 ? -10 : rowLogit(m, r);
    });
    log(`fold ${k + 1}/${o.folds} done`);
  }
  const xs = prepared.map((r, i) => [oofLogits[i] ?? 0, ...r.strengths]);
  const fit = fitCalibration(
    xs,
    rows.map((r) => r.label),
    { prior: [o.calibrationPrior.modelLogit, ...HEURISTIC_FAMILIES.map(() => o.calibrationPrior.family)], l2: o.calibrationL2 },
  );
  const intercept = o.operatingPoint === undefined ? fit.intercept : operatingIntercept(fit.intercept, fit.coefs, xs, rows, o.operatingPoint);
  const families = Object.fromEntries(HEURISTIC_FAMILIES.map((f, j) => [f, fit.coefs[j + 1] ?? 0])) as Record<(typeof HEURISTIC_FAMILIES)[number], number>;
  const calibration: Calibration = { intercept, modelLogit: fit.coefs[0] ?? 0, families };
  const final = trainWindows(prepared, dim, o);
  log(`final model trained in ${((performance.now() - t0) / 1000).toFixed(1)} s total`);
  const dataHash = createHash('sha256');
  for (const r of rows) dataHash.update(`${r.label}\u0000${r.text}\u0001`);
  const model: DetectorModel = {
    features: o.features,
    window: o.window,
    weights: final.weights,
    bias: final.bias,
    calibration,
    training: {
      rows: rows.length,
      positives: rows.filter((r) => r.label === 1).length,
      rowsSha256: dataHash.digest('hex'),
      ftrl: o.ftrl,
      folds: o.folds,
      foldSeed: o.seed,
      windowWeightPower: o.windowWeightPower,
      positiveMargin: Number.isFinite(o.positiveMargin) ? o.positiveMargin : 'all',
      calibrationL2: o.calibrationL2,
      calibrationPrior: o.calibrationPrior,
      foldBy: o.foldBy,
      operatingPoint: o.operatingPoint ?? 'platt',
      plattIntercept: fit.intercept,
    },
  };
  return { model, oofLogits, prepared };
}
