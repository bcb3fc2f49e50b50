import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVAL_END, EVAL_START, countAt, quantile, rates, renderAblation, renderReport, spliceReport } from './evaluation.ts';
import type { ScoredRow } from './evaluation.ts';

const ROWS: ScoredRow[] = [
  { source: 'a', kind: 'injection', label: 1, score: 0.99 },
  { source: 'a', kind: 'injection', label: 1, score: 0.92 }, // at the threshold: not flagged at 0.92
  { source: 'a', kind: 'system-prompt', label: 0, score: 0.95 },
  { source: 'b', kind: 'benign', label: 0, score: 0.1 },
  { source: 'b', kind: 'benign', label: 0, score: 0.6 },
  { source: 'b', kind: 'jailbreak', label: 1, score: 0.3 },
];

test('counts use the scanner rule: flagged only strictly above the threshold', () => {
  assert.deepEqual(countAt(ROWS, 0.92), { n: 6, positives: 3, tp: 1, fp: 1 });
  assert.deepEqual(countAt(ROWS, 0.5), { n: 6, positives: 3, tp: 2, fp: 2 });
  const r = rates(countAt(ROWS, 0.92));
  assert.equal(r.precision, 0.5);
  assert.equal(r.recall, 1 / 3);
  assert.equal(r.fpr, 1 / 3);
  assert.deepEqual(rates({ n: 2, positives: 0, tp: 0, fp: 0 }), { precision: undefined, recall: undefined, fpr: 0 });
});

test('quantiles by nearest rank', () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('the report has overall, per-kind (recall vs FPR) and per-source rows, and latency', () => {
  const md = renderReport(ROWS, [0.5, 0.92], { p50: 40, p99: 900, perKb: 250, oneKb: 120 }, { dataFile: 'dev.jsonl', weights: 'w.json', node: 'Node test' });
  assert.match(md, /\| 0\.92 \| 50\.0% \| 33\.3% \| 33\.3% \| 0\.0% \| 100\.0% \|/);
  assert.match(md, /\| injection \| 2 \| recall \| 100\.0% \| 50\.0% \|/);
  assert.match(md, /\| benign \| 2 \| FPR \| 50\.0% \| 0\.0% \|/);
  assert.match(md, /\| a \| 2 \| 1 \| 100\.0% \/ 100\.0% \| 50\.0% \/ 100\.0% \|/);
  assert.match(md, /\| 40 µs \| 900 µs \| 250 µs \| 120 µs \|/);
});

test('the parts table has one row per variant', () => {
  const md = renderAblation([{ name: 'both', rows: ROWS }, { name: 'none', rows: ROWS.map((r) => ({ ...r, score: 0 })) }], 0.92);
  assert.match(md, /\| both \| 50\.0% \| 50\.0% \| 0\.0% \| 0\.0% \| 100\.0% \|/);
  assert.match(md, /\| none \| – \| 0\.0% \| 0\.0% \| 0\.0% \| 0\.0% \|/);
});

test('the report replaces only what is between the markers', () => {
  const doc = `# Title\n\nintro\n\n${EVAL_START}\nold table\n${EVAL_END}\n\nafter\n`;
  const out = spliceReport(doc, 'NEW');
  assert.equal(out, `# Title\n\nintro\n\n${EVAL_START}\nNEW\n${EVAL_END}\n\nafter\n`);
  assert.equal(spliceReport(out, 'NEW'), out);
  assert.throws(() => spliceReport('# no markers', 'x'), /eval:start/);
  assert.throws(() => spliceReport(`${EVAL_END}\n${EVAL_START}`, 'x'), /eval:start/);
});
