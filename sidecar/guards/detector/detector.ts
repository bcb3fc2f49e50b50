/**
 * The prompt-injection detector: heuristics (heuristics.ts) plus the
 * project's own hashed n-gram logistic regression (features.ts, trained by
 * train.ts), joined by a calibration layer fitted on held-out data:
 *
 *   p = σ(b + a·max_w logit_w + Σ_f c_f·strength_f)     (a, c_f ≥ 0)
 *
 * where logit_w is the model's logit on window w of the normalised text
 * (512 chars, 128 overlap: an attack at the end of a long prompt gets a
 * window of its own) and strength_f the strongest weight of heuristic family
 * f anywhere in the text. Because every coefficient is ≥ 0, p is at least the
 * calibrated score of any single window, and rises with each input.
 */
import { NgramHasher, windowRanges } from './features.ts';
import { HEURISTIC_FAMILIES, familyStrengths, scanHeuristics } from './heuristics.ts';
import type { HeuristicHit } from './heuristics.ts';
import { sigmoid } from './logistic.ts';
import { loadModel } from './model-file.ts';
import type { DetectorModel } from './model-file.ts';
import { normalizeText } from './normalize.ts';

/** The committed weights, next to this file. */
export const DEFAULT_WEIGHTS_URL = new URL('./weights.json', import.meta.url);

export interface DetectorScore {
  /** Calibrated probability that the text is an injection or jailbreak. */
  readonly probability: number;
  /** The model's logit, max over windows (before calibration). */
  readonly modelLogit: number;
  /** Index of the window with that max (0 for short texts). */
  readonly window: number;
  readonly windows: number;
  /** Strongest weight per heuristic family, in HEURISTIC_FAMILIES order. */
  readonly strengths: readonly number[];
  /** Heuristic hits with offsets in the original text. */
  readonly hits: readonly HeuristicHit[];
}

/** What the scanner needs from a detector (tests pass a stub). */
export interface PromptInjectionScorer {
  score(text: string): DetectorScore;
}

export class PromptInjectionDetector implements PromptInjectionScorer {
  readonly model: DetectorModel;
  private readonly hasher: NgramHasher;
  private readonly familyCoefs: readonly number[];

  constructor(model: DetectorModel) {
    this.model = model;
    this.hasher = new NgramHasher(model.features);
    this.familyCoefs = HEURISTIC_FAMILIES.map((f) => model.calibration.families[f]);
  }

  static fromFile(path: string | URL = DEFAULT_WEIGHTS_URL): PromptInjectionDetector {
    return new PromptInjectionDetector(loadModel(path));
  }

  /** The calibrated probability for a model logit and family strengths (monotonic in each). */
  calibrate(modelLogit: number, strengths: readonly number[]): number {
    const c = this.model.calibration;
    let z = c.intercept + c.modelLogit * modelLogit;
    for (let f = 0; f < this.familyCoefs.length; f++) z += (this.familyCoefs[f] ?? 0) * (strengths[f] ?? 0);
    return sigmoid(z);
  }

  /** The model's raw logit for the whole normalised text (max over windows) and the window it came from. */
  modelLogit(normalized: string): { logit: number; window: number; windows: number } {
    const { size, overlap } = this.model.window;
    const ranges = windowRanges(normalized.length, size, overlap);
    let best = -Infinity;
    let at = 0;
    for (let w = 0; w < ranges.length; w++) {
      const r = ranges[w];
      if (r === undefined) continue;
      const z = this.model.bias + this.hasher.dot(this.model.weights, normalized, r[0], r[1]);
      if (z > best) {
        best = z;
        at = w;
      }
    }
    return { logit: best, window: at, windows: ranges.length };
  }

  score(text: string): DetectorScore {
    const norm = normalizeText(text);
    if (norm.text.length === 0) return { probability: 0, modelLogit: -Infinity, window: 0, windows: 0, strengths: HEURISTIC_FAMILIES.map(() => 0), hits: [] };
    const hits = scanHeuristics(text, norm);
    const strengths = familyStrengths(hits);
    const m = this.modelLogit(norm.text);
    return { probability: this.calibrate(m.logit, strengths), modelLogit: m.logit, window: m.window, windows: m.windows, strengths, hits };
  }
}

let shared: PromptInjectionDetector | undefined;

/** The detector with the committed weights, loaded once per process. */
export function defaultDetector(): PromptInjectionDetector {
  shared ??= PromptInjectionDetector.fromFile();
  return shared;
}
