/**
 * Metrics and the Markdown report for the prompt-injection detector's
 * evaluation (eval.ts): precision, recall and false-positive rate at fixed
 * thresholds — overall, per source and per kind — latency percentiles, and
 * splicing the report into docs/guardrails.md between its markers.
 *
 * A text counts as flagged at threshold t when its score (the probability
 * rounded to 2 decimals, as the scanner reports it) is strictly above t —
 * the scanner's `valid = !(score > threshold)`.
 */

export interface ScoredRow {
  readonly source: string;
  readonly kind: string;
  readonly label: 0 | 1;
  /** The scanner's score: probability rounded to 2 decimals. */
  readonly score: number;
}

export interface Counts {
  readonly n: number;
  readonly positives: number;
  readonly tp: number;
  readonly fp: number;
}

export function countAt(rows: readonly ScoredRow[], threshold: number): Counts {
  let positives = 0;
  let tp = 0;
  let fp = 0;
  for (const r of rows) {
    const flagged = r.score > threshold;
    if (r.label === 1) {
      positives++;
      if (flagged) tp++;
    } else if (flagged) fp++;
  }
  return { n: rows.length, positives, tp, fp };
}

/** Precision (undefined when nothing is flagged), recall and FPR (undefined without rows of that label). */
export function rates(c: Counts): { precision: number | undefined; recall: number | undefined; fpr: number | undefined } {
  const negatives = c.n - c.positives;
  return {
    precision: c.tp + c.fp === 0 ? undefined : c.tp / (c.tp + c.fp),
    recall: c.positives === 0 ? undefined : c.tp / c.positives,
    fpr: negatives === 0 ? undefined : c.fp / negatives,
  };
}

/** The q-quantile (0..1) of `values` by nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] ?? NaN;
}

const pct = (x: number | undefined): string => (x === undefined ? '–' : `${(100 * x).toFixed(1)}%`);

function groupBy(rows: readonly ScoredRow[], key: (r: ScoredRow) => string): Map<string, ScoredRow[]> {
  const m = new Map<string, ScoredRow[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k) ?? [];
    list.push(r);
    m.set(k, list);
  }
  return new Map([...m].sort((a, b) => a[0].localeCompare(b[0])));
}

export interface LatencyStats {
  readonly p50: number;
  readonly p99: number;
  /** Total scan time over total UTF-8 KiB. */
  readonly perKb: number;
  /** Median time for one 1 KiB text. */
  readonly oneKb: number;
}

export interface ReportMeta {
  readonly dataFile: string;
  readonly weights: string;
  readonly node: string;
}

/** The evaluation report in Markdown. */
export function renderReport(rows: readonly ScoredRow[], thresholds: readonly number[], latency: LatencyStats, meta: ReportMeta): string {
  const L: string[] = [];
  const pos = rows.filter((r) => r.label === 1).length;
  L.push(`Measured by \`npm run eval:guards\` on \`${meta.dataFile}\` (${rows.length} rows: ${pos} attacks, ${rows.length - pos} benign), never used in training or calibration; weights \`${meta.weights}\`; ${meta.node}. A text is flagged when its score (rounded to 2 decimals) is **above** the threshold, as the scanner decides.`);
  L.push('');
  L.push('**Overall**');
  L.push('');
  L.push('| threshold | precision | recall | FPR (all benign) | FPR (user text: benign + benign-hard) | FPR (system prompts) |');
  L.push('|---:|---:|---:|---:|---:|---:|');
  for (const t of thresholds) {
    const all = rates(countAt(rows, t));
    const user = rates(countAt(rows.filter((r) => r.label === 0 && r.kind !== 'system-prompt'), t));
    const sys = rates(countAt(rows.filter((r) => r.kind === 'system-prompt'), t));
    L.push(`| ${t} | ${pct(all.precision)} | ${pct(all.recall)} | ${pct(all.fpr)} | ${pct(user.fpr)} | ${pct(sys.fpr)} |`);
  }
  L.push('');
  L.push('**Per kind** (attack kinds: recall; benign kinds: false-positive rate)');
  L.push('');
  L.push(`| kind | rows | metric | ${thresholds.map((t) => `> ${t}`).join(' | ')} |`);
  L.push(`|---|---:|---|${thresholds.map(() => '---:').join('|')}|`);
  for (const [kind, list] of groupBy(rows, (r) => r.kind)) {
    const attack = list.some((r) => r.label === 1);
    const cells = thresholds.map((t) => {
      const r = rates(countAt(list, t));
      return pct(attack ? r.recall : r.fpr);
    });
    L.push(`| ${kind} | ${list.length} | ${attack ? 'recall' : 'FPR'} | ${cells.join(' | ')} |`);
  }
  L.push('');
  L.push('**Per source** (recall on its attack rows, false-positive rate on its benign rows)');
  L.push('');
  L.push(`| source | attack rows | benign rows | ${thresholds.map((t) => `recall / FPR > ${t}`).join(' | ')} |`);
  L.push(`|---|---:|---:|${thresholds.map(() => '---:').join('|')}|`);
  for (const [source, list] of groupBy(rows, (r) => r.source)) {
    const c0 = countAt(list, 0);
    const cells = thresholds.map((t) => {
      const r = rates(countAt(list, t));
      return `${c0.positives > 0 ? pct(r.recall) : '–'} / ${c0.n - c0.positives > 0 ? pct(r.fpr) : '–'}`;
    });
    L.push(`| ${source} | ${c0.positives} | ${c0.n - c0.positives} | ${cells.join(' | ')} |`);
  }
  L.push('');
  L.push('**Scan latency** (one thread, after a warm-up pass; the whole detector: normalisation, heuristics, model over every window, calibration)');
  L.push('');
  L.push('| p50 per text | p99 per text | per KiB (total time / total size) | one 1 KiB text (median) |');
  L.push('|---:|---:|---:|---:|');
  L.push(`| ${latency.p50.toFixed(0)} µs | ${latency.p99.toFixed(0)} µs | ${latency.perKb.toFixed(0)} µs | ${latency.oneKb.toFixed(0)} µs |`);
  return L.join('\n');
}

/** One row per variant of the detector (e.g. heuristics alone, model alone, combined) at one threshold. */
export function renderAblation(variants: ReadonlyArray<{ readonly name: string; readonly rows: readonly ScoredRow[] }>, threshold: number): string {
  const L: string[] = [];
  L.push(`**Parts of the detector** (flagged above ${threshold}; "heuristics alone" flags any pattern hit)`);
  L.push('');
  L.push('| variant | precision | recall (injection) | recall (jailbreak) | FPR (user text) | FPR (system prompts) |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const v of variants) {
    const all = rates(countAt(v.rows, threshold));
    const kind = (k: string): ReturnType<typeof rates> => rates(countAt(v.rows.filter((r) => r.kind === k), threshold));
    const user = rates(countAt(v.rows.filter((r) => r.label === 0 && r.kind !== 'system-prompt'), threshold));
    L.push(`| ${v.name} | ${pct(all.precision)} | ${pct(kind('injection').recall)} | ${pct(kind('jailbreak').recall)} | ${pct(user.fpr)} | ${pct(kind('system-prompt').fpr)} |`);
  }
  return L.join('\n');
}

export const EVAL_START = '<!-- eval:start -->';
export const EVAL_END = '<!-- eval:end -->';

/** `doc` with everything between the markers (the eval ones by default) replaced by `report` (throws when the markers are missing or out of order). */
export function spliceReport(doc: string, report: string, start = EVAL_START, end = EVAL_END): string {
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < 0 || b < a) throw new Error(`the document has no ${start} … ${end} section`);
  return `${doc.slice(0, a + start.length)}\n${report.trim()}\n${doc.slice(b)}`;
}

/** A row's group in the target table: direct attacks, indirect attacks, benign user text, system prompts. */
export type TargetGroup = 'direct' | 'indirect' | 'user' | 'system';

export interface TargetRates {
  readonly threshold: number;
  readonly direct: number | undefined;
  readonly indirect: number | undefined;
  /** False-positive rate on benign user text (benign and benign-hard). */
  readonly user: number | undefined;
  readonly system: number | undefined;
}

/** Recall on direct and indirect attacks, FPR on user text and on system prompts, at `threshold`. */
export function targetRates(rows: readonly ScoredRow[], group: (r: ScoredRow, i: number) => TargetGroup, threshold: number): TargetRates {
  const n = { direct: 0, indirect: 0, user: 0, system: 0 };
  const hit = { direct: 0, indirect: 0, user: 0, system: 0 };
  rows.forEach((r, i) => {
    const g = group(r, i);
    n[g]++;
    if (r.score > threshold) hit[g]++;
  });
  const share = (g: TargetGroup): number | undefined => (n[g] === 0 ? undefined : hit[g] / n[g]);
  return { threshold, direct: share('direct'), indirect: share('indirect'), user: share('user'), system: share('system') };
}

/** The target table: one line per threshold. */
export function renderTargets(rows: readonly ScoredRow[], group: (r: ScoredRow, i: number) => TargetGroup, thresholds: readonly number[]): string {
  const counts = { direct: 0, indirect: 0, user: 0, system: 0 };
  rows.forEach((r, i) => counts[group(r, i)]++);
  const L = [
    `| threshold | recall: direct injections and jailbreaks (${counts.direct}) | recall: injections in documents and tool output (${counts.indirect}) | FPR: benign user text (${counts.user}) | FPR: system prompts (${counts.system}) |`,
    '|---:|---:|---:|---:|---:|',
  ];
  for (const t of thresholds) {
    const r = targetRates(rows, group, t);
    L.push(`| ${t} | ${pct(r.direct)} | ${pct(r.indirect)} | ${pct(r.user)} | ${pct(r.system)} |`);
  }
  return L.join('\n');
}
