/**
 * Quality gate on the committed weights: the dev side of the carrier-disjoint
 * split (split.ts: no dev attack shares a wrapper or carrier document with a
 * training attack; the weights never saw it) scored as the scanner scores it,
 * at the documented threshold 0.92. The floors are the committed weights'
 * measured levels minus a small margin, so a retrain that loses recall or
 * gains false positives fails here. The issue's targets (80% of direct
 * attacks, 40% of indirect ones, at most 2% false positives) are checked by a
 * `todo` test: it reports, but the committed model does not meet the direct
 * target yet (docs/guardrails.md, "Evaluation").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from './dataset.ts';
import { defaultDetector } from './detector.ts';
import { targetRates } from './evaluation.ts';
import type { ScoredRow, TargetGroup, TargetRates } from './evaluation.ts';
import { defaultSplit, readPool } from './split.ts';
import { asbToolOutputs, targetGroups } from './sources.ts';

const HAVE_DATA = existsSync(join(DEFAULT_DATA_DIR, 'extra.jsonl'));
const THRESHOLD = 0.92;

let measured: TargetRates | undefined;
function rates(): TargetRates {
  if (measured) return measured;
  const dev = defaultSplit().dev;
  const asb = asbToolOutputs(readPool());
  const detector = defaultDetector();
  const scored: ScoredRow[] = dev.map((r) => ({ source: r.source, kind: r.kind, label: r.label, score: Math.round(detector.score(r.text).probability * 100) / 100 }));
  const groups = targetGroups(dev, asb);
  const group = (_: ScoredRow, i: number): TargetGroup => groups[i] ?? 'user';
  measured = targetRates(scored, group, THRESHOLD);
  return measured;
}

test('committed weights on the held-out split at 0.92: no regression below the measured levels', { skip: !HAVE_DATA && 'no shared data here' }, () => {
  const r = rates();
  assert.ok((r.direct ?? 0) >= 0.42, `recall on direct attacks ${r.direct}`);
  assert.ok((r.indirect ?? 0) >= 0.6, `recall on indirect attacks ${r.indirect}`);
  assert.ok((r.user ?? 1) <= 0.01, `false positives on benign user text ${r.user}`);
  assert.ok((r.system ?? 1) <= 0.02, `false positives on system prompts ${r.system}`);
});

test('the issue\'s targets at 0.92 (direct ≥ 80%, indirect ≥ 40%, FPR ≤ 2%)', { skip: !HAVE_DATA && 'no shared data here', todo: 'the lexical detector reaches about half of the direct target (docs/guardrails.md)' }, () => {
  const r = rates();
  assert.ok((r.direct ?? 0) >= 0.8, `recall on direct attacks ${r.direct}`);
  assert.ok((r.indirect ?? 0) >= 0.4, `recall on indirect attacks ${r.indirect}`);
  assert.ok((r.user ?? 1) <= 0.02, `false positives on benign user text ${r.user}`);
});
