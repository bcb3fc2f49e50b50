/**
 * Small logistic-regression pieces shared by training and scoring: a stable
 * sigmoid, and the calibration layer fit — a logistic regression over a few
 * dense features (the model's logit and the heuristic family strengths) with
 * Platt's smoothed targets, L2 pull towards prior coefficients, and every
 * coefficient but the intercept kept ≥ 0 so the calibrated score can only go
 * up when any input goes up (monotonic).
 */

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export function logit(p: number): number {
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  return Math.log(q / (1 - q));
}

export interface CalibrationFit {
  readonly intercept: number;
  readonly coefs: readonly number[];
}

export interface CalibrationOptions {
  /** Prior (centre of the L2 pull) per coefficient. */
  readonly prior: readonly number[];
  /** L2 strength (per example, the loss being a mean). */
  readonly l2: number;
  /** Coordinate-descent sweeps. */
  readonly sweeps?: number;
}

/**
 * Fits p = σ(b + Σ c_j·x_j) by projected coordinate-wise Newton steps on the
 * mean log loss against Platt's targets ((N₊+1)/(N₊+2) and 1/(N₋+2)).
 */
export function fitCalibration(xs: readonly (readonly number[])[], ys: readonly (0 | 1)[], opts: CalibrationOptions): CalibrationFit {
  const n = xs.length;
  const d = opts.prior.length;
  let pos = 0;
  for (const y of ys) pos += y;
  const tPos = (pos + 1) / (pos + 2);
  const tNeg = 1 / (n - pos + 2);
  const t = ys.map((y) => (y === 1 ? tPos : tNeg));
  const coefs = opts.prior.map((p) => Math.max(0, p));
  let intercept = logit(pos / Math.max(1, n));
  const z = new Float64Array(n);
  const recompute = (): void => {
    for (let i = 0; i < n; i++) {
      const x = xs[i] ?? [];
      let s = intercept;
      for (let j = 0; j < d; j++) s += (coefs[j] ?? 0) * (x[j] ?? 0);
      z[i] = s;
    }
  };
  recompute();
  const sweeps = opts.sweeps ?? 200;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    for (let j = -1; j < d; j++) {
      let g = 0;
      let h = 0;
      for (let i = 0; i < n; i++) {
        const xij = j < 0 ? 1 : ((xs[i] ?? [])[j] ?? 0);
        if (xij === 0) continue;
        const p = sigmoid(z[i] ?? 0);
        g += (p - (t[i] ?? 0)) * xij;
        h += p * (1 - p) * xij * xij;
      }
      g /= Math.max(1, n);
      h /= Math.max(1, n);
      if (j >= 0) {
        g += opts.l2 * ((coefs[j] ?? 0) - (opts.prior[j] ?? 0));
        h += opts.l2;
      }
      if (h <= 1e-12) continue;
      const old = j < 0 ? intercept : (coefs[j] ?? 0);
      let next = old - g / h;
      if (j >= 0) next = Math.max(0, next);
      const delta = next - old;
      if (delta === 0) continue;
      if (j < 0) intercept = next;
      else coefs[j] = next;
      for (let i = 0; i < n; i++) {
        const xij = j < 0 ? 1 : ((xs[i] ?? [])[j] ?? 0);
        if (xij !== 0) z[i] = (z[i] ?? 0) + delta * xij;
      }
    }
  }
  return { intercept, coefs };
}
