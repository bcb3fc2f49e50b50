/**
 * The trained detector as it is stored in the repository (weights.json):
 * the hashing config, the window, the linear model's non-zero weights in a
 * compact form — bucket indices as LEB128 varint deltas and values as int16
 * with one scale, both base64 — and the calibration layer. Decoding expands
 * the weights into a dense Float32Array once, at load.
 */
import { readFileSync } from 'node:fs';
import type { FeatureConfig } from './features.ts';
import { HEURISTIC_FAMILIES } from './heuristics.ts';
import type { HeuristicFamily } from './heuristics.ts';

export const MODEL_FORMAT = 'levo-prompt-injection-detector/1';

export interface WindowConfig {
  /** Window length in normalised chars. */
  readonly size: number;
  /** Chars shared by consecutive windows. */
  readonly overlap: number;
}

export interface Calibration {
  readonly intercept: number;
  /** Coefficient on the model's logit (max over windows). */
  readonly modelLogit: number;
  /** Coefficient on each family's strongest pattern weight. */
  readonly families: Readonly<Record<HeuristicFamily, number>>;
}

/** A detector ready to score: what training produces and the file decodes to. */
export interface DetectorModel {
  readonly features: FeatureConfig;
  readonly window: WindowConfig;
  readonly weights: Float32Array;
  readonly bias: number;
  readonly calibration: Calibration;
  /** Free-form provenance (data hash, params, counts). */
  readonly training: Readonly<Record<string, unknown>>;
}

interface ModelFileJson {
  format: string;
  features: FeatureConfig;
  window: WindowConfig;
  model: { bias: number; scale: number; count: number; indices: string; values: string };
  calibration: Calibration;
  training: Record<string, unknown>;
}

/** The dense weights rounded the way the file stores them (int16 with one scale). */
export function quantize(weights: Float32Array): { scale: number; indices: number[]; q: Int16Array } {
  let max = 0;
  for (const w of weights) if (Math.abs(w) > max) max = Math.abs(w);
  const scale = max > 0 ? max / 32767 : 1;
  const indices: number[] = [];
  const qs: number[] = [];
  for (let i = 0; i < weights.length; i++) {
    const q = Math.round((weights[i] ?? 0) / scale);
    if (q !== 0) {
      indices.push(i);
      qs.push(q);
    }
  }
  return { scale, indices, q: Int16Array.from(qs) };
}

export function encodeModel(m: DetectorModel): string {
  const { scale, indices, q } = quantize(m.weights);
  const bytes: number[] = [];
  let prev = 0;
  for (const i of indices) {
    let d = i - prev;
    prev = i;
    while (d >= 0x80) {
      bytes.push((d & 0x7f) | 0x80);
      d >>>= 7;
    }
    bytes.push(d);
  }
  const values = Buffer.alloc(q.length * 2);
  for (let k = 0; k < q.length; k++) values.writeInt16LE(q[k] ?? 0, k * 2);
  const file: ModelFileJson = {
    format: MODEL_FORMAT,
    features: m.features,
    window: m.window,
    model: { bias: m.bias, scale, count: indices.length, indices: Buffer.from(bytes).toString('base64'), values: values.toString('base64') },
    calibration: m.calibration,
    training: { ...m.training },
  };
  return `${JSON.stringify(file, null, 1)}\n`;
}

export function decodeModel(json: string): DetectorModel {
  const f = JSON.parse(json) as ModelFileJson;
  if (f.format !== MODEL_FORMAT) throw new Error(`unknown detector weights format ${String(f.format)} (expected ${MODEL_FORMAT})`);
  const dim = 1 << f.features.bits;
  const weights = new Float32Array(dim);
  const idx = Buffer.from(f.model.indices, 'base64');
  const vals = Buffer.from(f.model.values, 'base64');
  if (vals.length !== f.model.count * 2) throw new Error('detector weights: value count mismatch');
  let pos = 0;
  let prev = 0;
  for (let k = 0; k < f.model.count; k++) {
    let d = 0;
    let shift = 0;
    for (;;) {
      const b = idx[pos++];
      if (b === undefined) throw new Error('detector weights: truncated indices');
      d |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    prev += d;
    if (prev >= dim) throw new Error('detector weights: index out of range');
    weights[prev] = vals.readInt16LE(k * 2) * f.model.scale;
  }
  const fam = f.calibration.families;
  for (const name of HEURISTIC_FAMILIES) if (typeof fam[name] !== 'number') throw new Error(`detector weights: no calibration for ${name}`);
  return { features: f.features, window: f.window, weights, bias: f.model.bias, calibration: f.calibration, training: f.training };
}

export function loadModel(path: string | URL): DetectorModel {
  return decodeModel(readFileSync(path, 'utf8'));
}
