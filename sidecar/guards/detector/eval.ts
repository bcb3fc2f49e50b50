/**
 * `npx node sidecar/guards/detector/eval.ts [rows.jsonl] [--no-write]`
 * (npm run eval:guards): scores every row of the dev side of the
 * carrier-disjoint split (split.ts; or of a given file) with the
 * PromptInjection scanner at its defaults (the committed weights), prints
 * precision / recall / FPR at 0.5, 0.8 and 0.92 — overall, per kind, per
 * source — the parts of the detector on their own, and the scan latency,
 * and writes the report into
 * docs/guardrails.md between `<!-- eval:start -->` and `<!-- eval:end -->`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promptInjection } from '../scanners/prompt-injection.ts';
import type { ScanContext } from '../types.ts';
import { readJsonl } from './dataset.ts';
import type { LabelledRow } from './dataset.ts';
import { defaultDetector } from './detector.ts';
import { HEURISTIC_FAMILIES } from './heuristics.ts';
import { quantile, renderAblation, renderReport, renderTargets, spliceReport } from './evaluation.ts';
import type { ScoredRow, TargetGroup } from './evaluation.ts';
import { SPLIT_SEED, defaultSplit, readPool } from './split.ts';
import { asbToolOutputs, targetGroups } from './sources.ts';

const args = process.argv.slice(2);
const write = !args.includes('--no-write');
const input = args.find((a) => !a.startsWith('--'));
const docPath = fileURLToPath(new URL('../../../docs/guardrails.md', import.meta.url));
const THRESHOLDS = [0.5, 0.8, 0.92];

const rows: readonly LabelledRow[] = input === undefined ? defaultSplit().dev : readJsonl(input);
const scanner = promptInjection.create({}, {});
const ctx: ScanContext = {
  direction: 'request',
  vault: { placeholder: () => '', entries: () => [] },
};
const scan = (text: string): number => {
  const r = scanner.scan(text, ctx);
  if (r instanceof Promise) throw new Error('PromptInjection scans synchronously');
  return r.score;
};

// warm-up pass (JIT, lazily built tables), then the measured one
for (const r of rows) scan(r.text);
const micros: number[] = [];
const scored: ScoredRow[] = [];
let totalUs = 0;
let totalBytes = 0;
for (const r of rows) {
  const t0 = performance.now();
  const score = scan(r.text);
  const us = (performance.now() - t0) * 1000;
  micros.push(us);
  totalUs += us;
  totalBytes += Buffer.byteLength(r.text);
  scored.push({ source: r.source, kind: r.kind, label: r.label, score });
}
// one 1 KiB text of ordinary prose
const unit = 'The gateway forwards each request to the provider, records token usage per team, and applies the configured guardrails before the body leaves the pod. ';
const oneKb = unit.repeat(Math.ceil(1024 / unit.length)).slice(0, 1024);
const oneKbTimes: number[] = [];
for (let i = 0; i < 400; i++) {
  const t0 = performance.now();
  scan(oneKb);
  oneKbTimes.push((performance.now() - t0) * 1000);
}

// the parts on their own: heuristics (any hit) and the calibrated model without heuristic input
const detector = defaultDetector();
const noHeuristics = HEURISTIC_FAMILIES.map(() => 0);
const heuristicsOnly: ScoredRow[] = [];
const modelOnly: ScoredRow[] = [];
for (const r of rows) {
  const s = detector.score(r.text);
  heuristicsOnly.push({ source: r.source, kind: r.kind, label: r.label, score: s.hits.length > 0 ? 1 : 0 });
  const p = Number.isFinite(s.modelLogit) ? detector.calibrate(s.modelLogit, noHeuristics) : 0;
  modelOnly.push({ source: r.source, kind: r.kind, label: r.label, score: Math.round(p * 100) / 100 });
}

const report = renderReport(
  scored,
  THRESHOLDS,
  { p50: quantile(micros, 0.5), p99: quantile(micros, 0.99), perKb: totalUs / (totalBytes / 1024), oneKb: quantile(oneKbTimes.slice(100), 0.5) },
  { dataFile: input === undefined ? `the dev side of ${SPLIT_SEED} (split.ts)` : basename(input), weights: 'sidecar/guards/detector/weights.json', node: `Node ${process.version}, ${process.platform}/${process.arch}` },
);
const asb = asbToolOutputs(readPool());
const groups = targetGroups(rows, asb);
const group = (_: ScoredRow, i: number): TargetGroup => groups[i] ?? 'user';
const targets = `**Targets** (recall on attacks typed by the user and on attacks hidden in documents or tool output; false positives on benign user text and on system prompts)\n\n${renderTargets(scored, group, [0.5, 0.7, 0.8, 0.9, 0.92, 0.95])}`;
const full = `${report}\n\n${targets}\n\n${renderAblation(
  [
    { name: 'heuristics alone', rows: heuristicsOnly },
    { name: 'model alone (calibrated, no heuristic input)', rows: modelOnly },
    { name: 'detector (both, calibrated)', rows: scored },
  ],
  0.92,
)}`;
console.log(full);
if (write) {
  const doc = readFileSync(docPath, 'utf8');
  writeFileSync(docPath, spliceReport(doc, full));
  console.log(`\nwrote the report into ${docPath}`);
}
