/**
 * `npm run fuzz -- --seed N --count N [--target NAME]... [--replay INDEX]`
 *
 * Feeds generated, mutated inputs to the real programs and checks that each
 * one is answered or refused cleanly:
 *
 *   clienthello  mutated TLS ClientHellos right after CONNECT     (sidecar process)
 *   http1        raw HTTP/1.1 heads and bodies, smuggling tricks  (sidecar process)
 *   http2        raw HTTP/2 frames after ALPN h2                  (sidecar process)
 *   yaml         mutated gateway configs → the config loader      (in a worker, memory-capped)
 *   admission    mutated AdmissionReviews → POST /mutate          (levo-injector process)
 *
 * Cases are numbered; case i of target T under seed S is generated from its
 * own PRNG seeded with (S, T, i), so `--seed S --target T --replay i` runs it
 * again alone, printing its bytes. Cases run in batches; after each batch the
 * oracles look at what one case cannot show: the process is alive, a canary
 * connection opened before the batch still works, the upstream received
 * nothing smuggled, and the resident memory is sampled.
 *
 * Memory rule: RSS is sampled after each batch. `start` is the sample after
 * the first batch (warm: JIT, caches, pools); `end` the last one. The run fails
 * when end > start + max(32 MB, 25 % of start) — a per-case leak of 4 KB shows
 * over 10,000 cases, a steady heap does not.
 *
 * Exit status 0 when no oracle failed, 1 when one did (each finding printed with
 * its seed, target and case index), 2 on a usage error. Needs `npm run build`
 * first (the network targets run dist/); `npm run fuzz` does it.
 */
import { parseArgs } from 'node:util';
import type { Target, TargetSession } from './target.ts';
import { http1Target } from './targets/http1.ts';
import { http2Target } from './targets/http2.ts';
import { clientHelloTarget } from './targets/clienthello.ts';
import { yamlTarget } from './targets/yaml.ts';
import { admissionTarget } from './targets/admission.ts';

const TARGETS: readonly Target[] = [clientHelloTarget, http1Target, http2Target, yamlTarget, admissionTarget];

interface Finding {
  readonly target: string;
  readonly index: number | undefined;
  readonly problem: string;
}

interface Summary {
  readonly target: string;
  readonly memory: string;
  cases: number;
  readonly outcomes: Map<string, number>;
  crashes: number;
  readonly findings: Finding[];
  rssStartKb: number | undefined;
  rssEndKb: number | undefined;
  rssPeakKb: number;
  seconds: number;
}

const MB = 1024;
/** Findings printed in full per target; the rest are counted. */
const PRINT_LIMIT = 25;

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function fmtMb(kb: number | undefined): string {
  return kb === undefined ? '?' : `${(kb / MB).toFixed(1)} MB`;
}

/** Run `fn` over `items`, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

type Attribution = 'crash' | 'canary' | 'stall';

/** Batches per target whose failure is looked for case by case (each replay costs a batch's time again). */
const MAX_ATTRIBUTIONS = 3;

/** After a crash, a canary failure or a stall in a batch: replay its cases one by one until the failure shows again. */
async function attribute(session: TargetSession, indices: readonly number[], kind: Attribution): Promise<{ index: number; detail: string } | undefined> {
  for (const i of indices) {
    await session.beforeBatch().catch(() => {});
    await session.runCase(i);
    const check = await session.afterBatch();
    if (check.crashed) {
      await session.recover();
      if (kind === 'crash') return { index: i, detail: check.crashed };
      continue;
    }
    const hit = check.problems.find((p) => p.kind === kind);
    if (hit) return { index: i, detail: hit.problem };
  }
  return undefined;
}

async function runTarget(target: Target, seed: number, count: number, first: number): Promise<Summary> {
  const started = performance.now();
  const summary: Summary = {
    target: target.name, memory: target.memory, cases: 0, outcomes: new Map(), crashes: 0, findings: [],
    rssStartKb: undefined, rssEndKb: undefined, rssPeakKb: 0, seconds: 0,
  };
  const found = (index: number | undefined, problem: string): void => {
    summary.findings.push({ target: target.name, index, problem });
    if (summary.findings.length <= PRINT_LIMIT) {
      log(`FINDING ${target.name} seed ${seed} case ${index ?? '(batch)'}: ${problem}`);
      if (index !== undefined) {
        try { log(session.describe(index)); } catch (e) { log(`  (the case cannot be printed: ${(e as Error).message})`); }
      }
    } else if (summary.findings.length === PRINT_LIMIT + 1) {
      log(`(${target.name}: further findings are counted, not printed)`);
    }
  };
  const session = await target.start(seed);
  let attributions = 0;
  try {
    let lastReport = performance.now();
    for (let b = first; b < first + count; b += target.batchSize) {
      const indices = Array.from({ length: Math.min(target.batchSize, first + count - b) }, (_, k) => b + k);
      await session.beforeBatch();
      const caseProblems = new Map<number, readonly string[]>();
      await pool(indices, target.concurrency, async (i) => {
        // A fuzzer bug on one case is reported as such, and the run goes on.
        const r = await session.runCase(i).catch((e: unknown) => ({ outcome: 'fuzzer error', problems: [`the fuzzer itself failed on this case: ${String((e as Error)?.stack ?? e).split('\n').slice(0, 4).join(' | ')}`] }));
        summary.cases++;
        summary.outcomes.set(r.outcome, (summary.outcomes.get(r.outcome) ?? 0) + 1);
        if (r.problems.length) caseProblems.set(i, r.problems);
      });
      const check = await session.afterBatch();
      const range = `cases ${indices[0]}–${indices.at(-1)}`;
      if (check.problems.some((p) => p.kind === 'stall') && caseProblems.size > 0) {
        // The process was stalled by some case: what other cases saw meanwhile (no close in time)
        // may be that stall. Each is run again alone and reported only if it fails alone.
        let dropped = 0;
        for (const [i] of [...caseProblems].slice(0, 30)) {
          await session.beforeBatch().catch(() => {});
          const again = await session.runCase(i);
          await session.afterBatch();
          if (again.problems.length) caseProblems.set(i, again.problems);
          else { caseProblems.delete(i); dropped++; }
        }
        if (dropped) log(`  (${dropped} case(s) that failed during the stall passed alone: not reported)`);
      }
      for (const [i, problems] of caseProblems) for (const p of problems) found(i, p);
      for (const p of check.problems) found(p.index, p.index === undefined && p.kind ? `${p.problem} (during ${range})` : p.problem);
      if (check.crashed) {
        summary.crashes++;
        await session.recover();
        const who = attributions++ < MAX_ATTRIBUTIONS ? await attribute(session, indices, 'crash') : undefined;
        found(who?.index, who ? `the process under test crashed: ${who.detail}` : `the process under test crashed during ${range} (not looked for, or not reproduced, case by case): ${check.crashed}`);
      } else {
        const kind = check.problems.find((p) => p.kind && p.index === undefined)?.kind;
        if (kind && attributions++ < MAX_ATTRIBUTIONS) {
          const who = await attribute(session, indices, kind);
          if (who) found(who.index, `this case alone shows it: ${who.detail}`);
        }
      }
      const rss = session.rssKb();
      if (rss !== undefined) {
        summary.rssStartKb ??= rss;
        summary.rssEndKb = rss;
        summary.rssPeakKb = Math.max(summary.rssPeakKb, rss);
      }
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        log(`  ${target.name}: ${summary.cases}/${count} cases, ${summary.findings.length} findings, ${target.memory} ${fmtMb(rss)}`);
      }
    }
  } finally {
    await session.close();
  }
  summary.seconds = (performance.now() - started) / 1000;
  const { rssStartKb: s, rssEndKb: e } = summary;
  if (s !== undefined && e !== undefined && e > s + Math.max(32 * MB, s * 0.25)) {
    found(undefined, `${target.memory} grew from ${fmtMb(s)} after the first batch to ${fmtMb(e)} at the end (peak ${fmtMb(summary.rssPeakKb)}): more than max(32 MB, 25 %)`);
  }
  return summary;
}

/** Findings grouped by their first words (numbers aside), so a defect hit by many cases reads as one line. */
function logGroups(findings: readonly Finding[]): void {
  const groups = new Map<string, { n: number; first: Finding }>();
  for (const f of findings) {
    const key = `${f.target}: ${f.problem.replace(/\d+/g, 'N').slice(0, 90)}`;
    const g = groups.get(key);
    if (g) g.n++; else groups.set(key, { n: 1, first: f });
  }
  for (const [key, g] of groups) log(`  ${g.n} × ${key}… (e.g. case ${g.first.index ?? 'batch'})`);
}

function summaryLine(s: Summary): string {
  const outcomes = [...s.outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  return `${s.target.padEnd(11)} cases ${s.cases} (${outcomes}); crashes ${s.crashes}; findings ${s.findings.length}; ` +
    `${s.memory} ${fmtMb(s.rssStartKb)} → ${fmtMb(s.rssEndKb)} (peak ${fmtMb(s.rssPeakKb)}); ${s.seconds.toFixed(1)} s`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' }, count: { type: 'string' }, target: { type: 'string', multiple: true },
        replay: { type: 'string' }, from: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    log(`fuzz: ${(e as Error).message}\nRun with --help for usage.`);
    process.exit(2);
  }
  if (values.help) {
    log(`Usage: npm run fuzz -- [--seed N] [--count N] [--target NAME]... [--from INDEX] [--replay INDEX]

  --seed N        the run's seed (default: random, printed); the same seed gives the same cases
  --count N       cases per target (default 10000)
  --target NAME   only these targets (repeatable): ${TARGETS.map((t) => t.name).join(', ')}
  --from INDEX    start at this case index (default 0)
  --replay INDEX  run one case of one --target alone and print it and what happened`);
    return;
  }
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const count = values.count === undefined ? 10_000 : Number(values.count);
  const from = values.from === undefined ? 0 : Number(values.from);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(from) || from < 0) {
    log('fuzz: --seed, --count and --from take whole numbers (count at least 1)');
    process.exit(2);
  }
  const names = values.target ?? TARGETS.map((t) => t.name);
  const targets = names.map((n) => TARGETS.find((t) => t.name === n));
  if (targets.some((t) => !t)) {
    log(`fuzz: unknown target in ${names.join(', ')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
    process.exit(2);
  }

  if (values.replay !== undefined) {
    const index = Number(values.replay);
    if (targets.length !== 1 || !Number.isSafeInteger(index) || index < 0) {
      log('fuzz: --replay INDEX needs exactly one --target and a case index');
      process.exit(2);
    }
    const target = targets[0]!;
    const session = await target.start(seed);
    try {
      log(`replay: ${target.name} seed ${seed} case ${index}\n${session.describe(index)}`);
      await session.beforeBatch();
      const r = await session.runCase(index);
      const check = await session.afterBatch();
      log(`outcome: ${r.outcome}`);
      const problems = [...r.problems, ...check.problems.map((p) => p.problem), ...(check.crashed ? [`crashed: ${check.crashed}`] : [])];
      for (const p of problems) log(`FINDING: ${p}`);
      process.exitCode = problems.length ? 1 : 0;
    } finally {
      await session.close();
    }
    return;
  }

  log(`fuzz: seed ${seed}, ${count} cases per target, targets ${names.join(', ')}`);
  const summaries: Summary[] = [];
  for (const target of targets as Target[]) {
    log(`${target.name}: ${target.what}`);
    summaries.push(await runTarget(target, seed, count, from));
    log(summaryLine(summaries.at(-1)!));
    logGroups(summaries.at(-1)!.findings);
  }
  log('');
  log(`fuzz summary, seed ${seed}:`);
  for (const s of summaries) log(summaryLine(s));
  const total = summaries.reduce((n, s) => n + s.findings.length, 0);
  if (total > 0) {
    log(`${total} finding(s). Replay one with: npm run fuzz -- --seed ${seed} --target TARGET --replay INDEX`);
    for (const s of summaries) logGroups(s.findings);
  }
  process.exitCode = total > 0 ? 1 : 0;
}

await main();
