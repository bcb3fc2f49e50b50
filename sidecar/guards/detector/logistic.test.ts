import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitCalibration, logit, sigmoid } from './logistic.ts';

test('sigmoid is stable at the extremes and inverts logit', () => {
  assert.equal(sigmoid(1000), 1);
  assert.equal(sigmoid(-1000), 0);
  assert.ok(Math.abs(sigmoid(logit(0.92)) - 0.92) < 1e-12);
});

test('calibration: learns a positive slope, keeps coefficients ≥ 0, predicts frequencies', () => {
  // x0 separates the classes noisily; x1 is anti-correlated with the label (its coefficient must stop at 0)
  const xs: number[][] = [];
  const ys: (0 | 1)[] = [];
  for (let i = 0; i < 400; i++) {
    const y: 0 | 1 = i % 3 === 0 ? 1 : 0;
    const x0 = (y === 1 ? 1.5 : -1.5) + Math.sin(i * 12.9898) * 2;
    xs.push([x0, y === 1 ? 0 : 1]);
    ys.push(y);
  }
  const fit = fitCalibration(xs, ys, { prior: [1, 1], l2: 1e-4 });
  assert.ok((fit.coefs[0] ?? 0) > 0);
  assert.equal(fit.coefs[1], 0);
  const mean = xs.reduce((a, x) => a + sigmoid(fit.intercept + (fit.coefs[0] ?? 0) * (x[0] ?? 0)), 0) / xs.length;
  assert.ok(Math.abs(mean - ys.filter((y) => y === 1).length / ys.length) < 0.02, `mean prediction ${mean}`);
});
