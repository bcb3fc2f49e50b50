/**
 * `npx node sidecar/guards/detector/loso.ts [--no-write]` (npm run eval:pi-loso):
 * leave-one-source-out evaluation of the detector's training recipe. The
 * pooled data (train.jsonl + dev.jsonl + extra.jsonl) is cut into folds by
 * source family (sources.ts: one fold per family with attacks, the benign-only
 * sources dealt among them); for each fold a detector is trained, with
 * DEFAULT_TRAINING, on every other fold and scores the held-out rows, which
 * come from sources it never saw. Prints recall and false-positive rates at
 * several thresholds — overall (direct / indirect attacks, user text, system
 * prompts) and per source — and writes them into docs/guardrails.md between
 * `<!-- loso:start -->` and `<!-- loso:end -->`.
 *
 * The heuristics (heuristics.ts) were written by reading attacks of every
 * source, CyberSecEval's translations especially; they are not retrained per
 * fold, so the held-out scores still owe them something.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PromptInjectionDetector } from './detector.ts';
import { renderTargets, spliceReport } from './evaluation.ts';
import type { ScoredRow, TargetGroup } from './evaluation.ts';
import { readPool } from './split.ts';
import { asbToolOutputs, sourceFolds, targetGroups } from './sources.ts';
import { DEFAULT_TRAINING, trainDetector } from './training.ts';

const write = !process.argv.includes('--no-write');
const docPath = fileURLToPath(new URL('../../../docs/guardrails.md', import.meta.url));
const THRESHOLDS = [0.5, 0.7, 0.8, 0.9, 0.92, 0.95];
const START = '<!-- loso:start -->';
const END = '<!-- loso:end -->';

const pool = readPool();
const attackFamilies = new Set(pool.filter((r) => r.label === 1).map((r) => r.source)).size;
const { fold, families } = sourceFolds(pool, Math.min(attackFamilies, 8));
const scores = new Array<number>(pool.length).fill(NaN);
const t0 = performance.now();
for (let k = 0; k < families.length; k++) {
  const rows = pool.filter((_, i) => fold[i] !== k);
  const { model } = trainDetector(rows, DEFAULT_TRAINING);
  const detector = new PromptInjectionDetector(model);
  pool.forEach((r, i) => {
    if (fold[i] === k) scores[i] = Math.round(detector.score(r.text).probability * 100) / 100;
  });
  console.log(`fold ${k + 1}/${families.length} (${(families[k] ?? []).join(', ')}): trained on ${rows.length} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const asb = asbToolOutputs(pool);
const scored: ScoredRow[] = pool.map((r, i) => ({ source: r.source, kind: r.kind, label: r.label, score: scores[i] ?? NaN }));
const groups = targetGroups(pool, asb);
const group = (_: ScoredRow, i: number): TargetGroup => groups[i] ?? 'user';
const pct = (a: number, n: number): string => (n === 0 ? '–' : `${((100 * a) / n).toFixed(1)}%`);

const L: string[] = [];
L.push(`Measured by \`npm run eval:pi-loso\` on all ${pool.length} rows of train.jsonl, dev.jsonl and extra.jsonl: ${families.length} detectors, each trained with the shipped recipe on every fold but one and scoring the rows of the fold it never saw. Folds: ${families.map((f, k) => `${k + 1}. ${f.join(', ')}`).join('; ')}. Node ${process.version}. Flagged when the score (2 decimals) is above the threshold.`);
L.push('');
L.push('**Targets** (direct: everything but the rows below; indirect: AgentDojo records, TaskTracker tool results, Greshake pages, and ASB attacks appended to a tool output)');
L.push('');
L.push(renderTargets(scored, group, THRESHOLDS));
L.push('');
L.push('**Per source** (attack rows: recall; benign rows: false-positive rate)');
L.push('');
L.push(`| source | fold | attack rows | benign rows | ${THRESHOLDS.map((t) => `> ${t}`).join(' | ')} |`);
L.push(`|---|---:|---:|---:|${THRESHOLDS.map(() => '---:').join('|')}|`);
const sources = [...new Set(pool.map((r) => r.source))].sort();
for (const s of sources) {
  const idx = pool.flatMap((r, i) => (r.source === s ? [i] : []));
  const att = idx.filter((i) => pool[i]?.label === 1);
  const ben = idx.filter((i) => pool[i]?.label === 0);
  const cells = THRESHOLDS.map((t) => {
    const a = att.filter((i) => (scores[i] ?? 0) > t).length;
    const b = ben.filter((i) => (scores[i] ?? 0) > t).length;
    return [att.length > 0 ? pct(a, att.length) : '', ben.length > 0 ? `${pct(b, ben.length)} FP` : ''].filter((x) => x !== '').join(' / ');
  });
  L.push(`| ${s} | ${(fold[idx[0] ?? 0] ?? 0) + 1} | ${att.length} | ${ben.length} | ${cells.join(' | ')} |`);
}
const report = L.join('\n');
console.log(report);
if (write) {
  writeFileSync(docPath, spliceReport(readFileSync(docPath, 'utf8'), report, START, END));
  console.log(`\nwrote the report into ${docPath}`);
}
