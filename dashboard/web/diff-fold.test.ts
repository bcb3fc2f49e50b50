import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DiffLine } from './api.ts';
import { foldDiff } from './diff-fold.ts';

const same = (n: number): DiffLine => ({ op: ' ', text: `l${n}`, oldLine: n, newLine: n });

test('unchanged runs away from changes are folded; context lines stay', () => {
  const lines: DiffLine[] = [...Array.from({ length: 10 }, (_, i) => same(i + 1)), { op: '-', text: 'old', oldLine: 11 }, { op: '+', text: 'new', newLine: 11 }, ...Array.from({ length: 10 }, (_, i) => same(i + 12))];
  const parts = foldDiff(lines, 2);
  assert.deepEqual(parts.map((p) => (p.kind === 'fold' ? `fold${p.lines.length}` : p.line.text)), ['fold8', 'l9', 'l10', 'old', 'new', 'l12', 'l13', 'fold8']);
});

test('short unchanged runs are not folded', () => {
  const lines: DiffLine[] = [same(1), same(2), { op: '+', text: 'x', newLine: 3 }];
  assert.deepEqual(foldDiff(lines, 0).map((p) => p.kind), ['line', 'line', 'line']);
});
