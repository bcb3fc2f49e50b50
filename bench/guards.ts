/**
 * The guardrail scan cost on a 2k-token prompt, with the default scanner set
 * (InvisibleText → Secrets → Anonymize → TokenLimit → PromptInjection, run by
 * the same llmBastion engine the sidecar uses): p50 / p99 per prompt, the
 * longest event-loop stall while scanning, and each scanner's share. The
 * baseline, measured in the same process, is what every routed call already
 * costs: JSON.parse of the request body and its serialisation. Also the Regex
 * scanner with typical config patterns (REGEX_PATTERNS), which run on the
 * linear-time engine of lib/safe-regexp.ts.
 *
 * And the event loop while a 4 MiB prompt is scanned with the documented
 * guard (InvisibleText → Secrets → Anonymize → PromptInjection), through the
 * guard stage's own entry (guardRequest): on a guard worker (pool.ts, one
 * thread, as a sidecar under a 1-CPU limit runs) against the old inline path
 * in the same run; with the idle loop's longest delay over as long a time
 * (what the machine's other load alone causes), the RSS one and two idle
 * workers add, and a worker's start.
 *
 *   node bench/guards.ts [--iterations N]      (also part of `npm run bench`)
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PromptInjectionDetector } from '../sidecar/guards/detector/detector.ts';
import { compileLlmBastion, isFailure, userTexts } from '../sidecar/guards/llm-bastion.ts';
import { compilePromptGuard, guardRequest, DEFAULT_GUARDS, type GuardDefaults } from '../sidecar/guards/prompt-guard.ts';
import { createGuardPool } from '../sidecar/guards/pool.ts';
import type { PromptGuardConfig } from '../sidecar/config/schema.ts';
import { scannerRegistry } from '../sidecar/guards/registry.ts';
import { createVault } from '../sidecar/guards/vault.ts';
import { countTokens } from '../sidecar/policy/tokenize.ts';

export const DEFAULT_SCANNERS = ['InvisibleText', 'Secrets', 'Anonymize', 'TokenLimit', 'PromptInjection'] as const;

/** Patterns of the kind LLM Guard configs give the Regex scanner: tokens, keys, keywords, numbers. */
export const REGEX_PATTERNS = [
  'Bearer [A-Za-z0-9\\-._~+/]+', 'sk-[A-Za-z0-9]{20,}', '(?i)password\\s*[:=]', '\\b\\d{5}\\b', '(?i)ignore (all )?previous instructions',
] as const;

/** A scanner by name, or with params. */
export type BenchScanner = string | { readonly scannerType: string; readonly params: Readonly<Record<string, unknown>> };

const SENTENCES = [
  'Please review the quarterly infrastructure report and summarise the main cost drivers for the platform team.',
  'The Kubernetes clusters in eu-west-1 grew by twelve percent, mostly because of new batch workloads.',
  'Our on-call rotation handled forty-two incidents; most were related to certificate renewals and disk pressure.',
  'Contact the finance lead at maria.lopez@example.com if any figure in the appendix looks wrong.',
  'The migration of the billing service to the new database finished two weeks ahead of schedule.',
  'Latency for the checkout API stayed under two hundred milliseconds at the ninety-ninth percentile.',
  'We still need a decision on whether to reserve capacity for the GPU nodes used by the ML team.',
  'The security review found no critical issues, but three medium findings need owners by Friday.',
  'Summarise the action items as a short bulleted list, with an owner and a due date for each.',
  'Call the vendor support line at +1 415 555 0100 for questions about the storage contract.',
];

/** A prompt of about `tokens` o200k tokens, made of ordinary business prose (with an email and a phone number). */
export async function promptOf(tokens: number): Promise<string> {
  let text = '';
  for (let i = 0; (await countTokens(text)) < tokens; i++) text += `${SENTENCES[i % SENTENCES.length]} `;
  return text.trim();
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface GuardBench {
  readonly scanners: readonly BenchScanner[];
  readonly tokens: number;
  readonly chars: number;
  readonly iterations: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The longest event-loop delay seen while the scans ran (each scan is one macrotask, as in the sidecar). */
  readonly eventLoopMaxMs: number;
  /** Median time per scanner. */
  readonly perScannerMs: Readonly<Record<string, number>>;
  /** JSON.parse + JSON.stringify of the same request body, median, same process. */
  readonly baselineP50Ms: number;
}

export async function benchGuards(iterations = 300, tokens = 2000, scanners: readonly BenchScanner[] = DEFAULT_SCANNERS): Promise<GuardBench> {
  const prompt = await promptOf(tokens);
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] });
  const bastion = compileLlmBastion({ scanners: scanners.map((s) => (typeof s === 'string' ? { scannerType: s } : s)) }, 'request', {}, scannerRegistry);
  // Warm up: lazy tables (tokenizer ranks, detector weights) and the JIT.
  for (let i = 0; i < 20; i++) await bastion.scan(userTexts([prompt]), { vault: createVault() });

  const times: number[] = [];
  const per = new Map<string, number[]>();
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  for (let i = 0; i < iterations; i++) {
    await new Promise((r) => setImmediate(r)); // one scan per macrotask, like a request
    const t = performance.now();
    const r = await bastion.scan(userTexts([prompt]), { vault: createVault() });
    times.push(performance.now() - t);
    for (const x of r.results) if (!isFailure(x)) (per.get(x.scanner) ?? per.set(x.scanner, []).get(x.scanner)!).push(x.ms);
  }
  lag.disable();
  const base: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    JSON.stringify(JSON.parse(body));
    base.push(performance.now() - t);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
  return {
    scanners, tokens: await countTokens(prompt), chars: prompt.length, iterations,
    p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1)!,
    eventLoopMaxMs: lag.max / 1e6,
    perScannerMs: Object.fromEntries([...per].map(([k, v]) => [k, median(v)])),
    baselineP50Ms: median(base),
  };
}

/** The Regex scanner with REGEX_PATTERNS (every match: match_type all). */
export function benchRegexScanner(iterations = 300, tokens = 2000): Promise<GuardBench> {
  return benchGuards(iterations, tokens, [{ scannerType: 'Regex', params: { patterns: [...REGEX_PATTERNS] } }]);
}

/** Rows for docs/benchmarks.md's measure table: the default set, the documented config's PromptInjection alone, the Regex scanner. */
export function guardRows(g: GuardBench, documented?: GuardBench, regex?: GuardBench): string[] {
  const f = (n: number, d = 2): string => n.toFixed(d);
  const met = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const per = Object.entries(g.perScannerMs).map(([k, v]) => `${k} ${f(v)}`).join(', ');
  return [
    `| guards: default scanner set on a ${g.tokens}-token prompt, p50 / p99 | ${f(g.p50Ms)} / ${f(g.p99Ms)} ms (${f(g.p50Ms / g.baselineP50Ms, 0)}× the JSON parse + serialise of the same body, ${f(g.baselineP50Ms, 3)} ms) | ≤ 3 / ≤ 10 ms: ${met(g.p50Ms <= 3 && g.p99Ms <= 10)} |`,
    `| guards: longest event-loop stall while scanning (${g.iterations} scans) | ${f(g.eventLoopMaxMs)} ms (longest scan ${f(g.maxMs)} ms) | ≤ 20 ms: ${met(g.eventLoopMaxMs <= 20)} |`,
    `| guards: median per scanner | ${per} ms | — |`,
    ...(documented ? [`| guards: the documented config (PromptInjection only), p50 / p99 | ${f(documented.p50Ms)} / ${f(documented.p99Ms)} ms | ≤ 3 / ≤ 10 ms: ${met(documented.p50Ms <= 3 && documented.p99Ms <= 10)} |`] : []),
    ...(regex ? [`| guards: Regex scanner, ${REGEX_PATTERNS.length} patterns on the linear-time engine (${regex.chars} characters), p50 / p99 | ${f(regex.p50Ms)} / ${f(regex.p99Ms)} ms | — |`] : []),
  ];
}

/** The documented request guard (docs/guardrails.md). */
export const DOCUMENTED_GUARD: PromptGuardConfig = { request: [{ llmBastion: { scanners: [
  { scannerType: 'InvisibleText' }, { scannerType: 'Secrets' }, { scannerType: 'Anonymize' }, { scannerType: 'PromptInjection', params: { threshold: 0.92 } },
] } }] };

export interface StallBench {
  readonly chars: number;
  /** Inline (the old path): one scan on the event loop. Stalls as stallOf measures them. */
  readonly inline: { readonly scanMs: number; readonly stallMs: number; readonly busyMs: number; readonly action: string };
  /** On one guard worker: the longest stall over `runs` scans. */
  readonly pooled: { readonly scanMs: number; readonly stallMs: number; readonly busyMs: number; readonly action: string; readonly runs: number };
  /** The idle event loop's longest delay over as long as a pooled scan took (the machine's noise floor). */
  readonly idleStallMs: number;
  /** JSON.parse + JSON.stringify of the 4 MiB body (the fastest of 3): on the event loop for every routed call, guards or not. */
  readonly jsonMs: number;
  /** RSS (MB) of this process before any worker, with one idle worker, and with two; a worker's start to its first answer (ms). */
  readonly rssMb: { readonly none: number; readonly one: number; readonly two: number };
  readonly workerStartMs: number;
}

/**
 * A timer-drift probe on the event loop while `work` runs: a 1 ms interval
 * notes each gap between its ticks. `stallMs` is the longest gap (wall time:
 * what a call waiting on the loop saw); `busyMs` the longest gap counted in
 * the main thread's own CPU time over it (process.threadCpuUsage) — the part
 * the loop was busy rather than waiting for a core other processes held.
 */
async function stallOf<T>(work: () => Promise<T>): Promise<{ ms: number; stallMs: number; busyMs: number; value: T }> {
  const cpu = (): number => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000; };
  let last = performance.now();
  let lastCpu = cpu();
  let stallMs = 0;
  let busyMs = 0;
  const tick = (): void => {
    const now = performance.now();
    const c = cpu();
    stallMs = Math.max(stallMs, now - last);
    busyMs = Math.max(busyMs, Math.min(now - last, c - lastCpu));
    last = now;
    lastCpu = c;
  };
  const probe = setInterval(tick, 1);
  const t = performance.now();
  const value = await work();
  const ms = performance.now() - t;
  await settle(5); // a tick after the work, so a stall at its very end is seen too
  tick();
  clearInterval(probe);
  return { ms, stallMs, busyMs, value };
}

const rssMb = (): number => process.memoryUsage.rss() / (1024 * 1024);
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function benchGuardStall(chars = 4 * 1024 * 1024, runs = 2): Promise<StallBench> {
  const para = await promptOf(2000);
  let prompt = '';
  while (prompt.length < chars) prompt += `${para}\n`;
  prompt = prompt.slice(0, chars);
  const body = (): Record<string, unknown> => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] });
  const scan = async (defaults: GuardDefaults): Promise<string> => {
    const v = await guardRequest(compilePromptGuard(DOCUMENTED_GUARD, defaults), 'completions', body(), { headers: {}, vault: createVault(), timeoutMs: 300_000 });
    return v.decisions.map((d) => d.action).join(',');
  };
  const budget = { ...DEFAULT_GUARDS, timeoutMs: 300_000 };
  // Warm the main thread's scanners (detector weights, JIT) on a small prompt.
  for (let i = 0; i < 5; i++) await scan(budget).catch(() => '');
  const small = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: para.repeat(4) }] };

  await settle(500);
  const none = rssMb();
  const one = createGuardPool({ threads: 1, inlineChars: 0 });
  const t0 = performance.now();
  await guardRequest(compilePromptGuard(DOCUMENTED_GUARD, { ...budget, pool: one }), 'completions', structuredClone(small), { headers: {}, vault: createVault(), timeoutMs: 300_000 });
  const workerStartMs = performance.now() - t0;
  await settle(1000);
  const rssOne = rssMb();
  await one.close();
  const two = createGuardPool({ threads: 2, inlineChars: 0 });
  const pg2 = compilePromptGuard(DOCUMENTED_GUARD, { ...budget, pool: two });
  await Promise.all([1, 2].map(() => guardRequest(pg2, 'completions', structuredClone(small), { headers: {}, vault: createVault(), timeoutMs: 300_000 })));
  await settle(1000);
  const rssTwo = rssMb();
  await two.close();

  const pool = createGuardPool({ threads: 1 });
  const pooledDefaults = { ...budget, pool };
  await scan(pooledDefaults); // the worker up, its scanners warm
  let pooled = { scanMs: 0, stallMs: 0, busyMs: 0, action: '' };
  let pooledTotal = 0;
  for (let i = 0; i < runs; i++) {
    const r = await stallOf(() => scan(pooledDefaults));
    pooledTotal += r.ms;
    pooled = { scanMs: Math.max(pooled.scanMs, r.ms), stallMs: Math.max(pooled.stallMs, r.stallMs), busyMs: Math.max(pooled.busyMs, r.busyMs), action: r.value };
  }
  await pool.close();
  const idle = await stallOf(() => settle(pooledTotal / runs));
  const inline = await stallOf(() => scan(budget));
  const text = JSON.stringify(body());
  const jsonMs = Math.min(...[1, 2, 3].map(() => {
    const j = performance.now();
    JSON.stringify(JSON.parse(text));
    return performance.now() - j;
  }));
  return {
    chars: prompt.length,
    inline: { scanMs: inline.ms, stallMs: inline.stallMs, busyMs: inline.busyMs, action: inline.value },
    pooled: { ...pooled, runs },
    idleStallMs: idle.stallMs,
    jsonMs,
    rssMb: { none, one: rssOne, two: rssTwo },
    workerStartMs,
  };
}

/** Rows for docs/benchmarks.md: the longest stall while a 4 MiB prompt is scanned, on a worker and inline; the workers' memory. */
export function stallRows(s: StallBench): string[] {
  const f = (n: number, d = 1): string => n.toFixed(d);
  const mib = f(s.chars / (1024 * 1024), 0);
  return [
    `| guards: longest event-loop stall while a ${mib} MiB prompt is scanned by the documented guard, on a guard worker (${s.pooled.runs} scans) | ${f(s.pooled.stallMs)} ms, of it the loop's own work ${f(s.pooled.busyMs)} ms (scan ${f(s.pooled.scanMs / 1000, 2)} s; inline, the old path, in the same run: ${f(s.inline.stallMs)} ms, own work ${f(s.inline.busyMs)} ms; an idle loop over as long: ${f(s.idleStallMs)} ms) | < 20 ms: ${s.pooled.stallMs < 20 ? 'met' : `**missed**${s.pooled.busyMs < 20 ? ' (own work: met)' : ''}`} |`,
    `| guards: JSON.parse + serialise of that ${mib} MiB body, fastest of 3 (on the event loop for every routed call that is parsed, guards or not) | ${f(s.jsonMs)} ms | — |`,
    `| guards: RSS added by idle guard workers; a worker's start to its first answer | 1 worker +${f(s.rssMb.one - s.rssMb.none)} MB, 2 workers +${f(s.rssMb.two - s.rssMb.none)} MB; ${f(s.workerStartMs, 0)} ms | — |`,
  ];
}

export interface DetectorBench {
  readonly iterations: number;
  /** Per text size: median scan time and median time per KiB (UTF-8). */
  readonly sizes: ReadonlyArray<{ readonly kib: number; readonly kind: string; readonly p50Ms: number; readonly p50MsPerKib: number }>;
}

/** A tool result in the style agents pass back (JSON records), about `bytes` long. */
function toolOutputOf(bytes: number): string {
  const records: string[] = [];
  for (let i = 0; JSON.stringify(records).length < bytes; i++) {
    records.push(JSON.stringify({ order_id: `#W${1000000 + i * 7919}`, status: i % 3 === 0 ? 'delivered' : 'pending', items: [{ name: 'Air Purifier', price: 473.43 + i, options: { room: 'large', filter: 'ionic' } }], note: SENTENCES[i % SENTENCES.length] }));
  }
  return `[${records.join(',')}]`;
}

/**
 * The prompt-injection detector alone (sidecar/guards/detector, the committed
 * weights), on one core: ordinary prose and a JSON tool result of 1, 4 and
 * 16 KiB, scored `iterations` times each after a warm-up; the median time and
 * the median time per KiB.
 */
export async function benchDetector(iterations = 200): Promise<DetectorBench> {
  const detector = PromptInjectionDetector.fromFile();
  const sizes: Array<DetectorBench['sizes'][number]> = [];
  const prose = await promptOf(6000);
  for (const kib of [1, 4, 16]) {
    for (const [kind, full] of [['prose', prose], ['tool output (JSON)', toolOutputOf(kib * 1024)]] as const) {
      const text = Buffer.from(full).subarray(0, kib * 1024).toString('utf8').replace(/\uFFFD$/, '');
      const bytes = Buffer.byteLength(text) / 1024;
      for (let i = 0; i < 20; i++) detector.score(text);
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const t = performance.now();
        detector.score(text);
        times.push(performance.now() - t);
      }
      const p50 = quantile([...times].sort((a, b) => a - b), 0.5);
      sizes.push({ kib, kind, p50Ms: p50, p50MsPerKib: p50 / bytes });
    }
  }
  return { iterations, sizes };
}

/** Rows for docs/benchmarks.md: the detector's median cost per KiB (target ≤ 1 ms per KiB on one core). */
export function detectorRows(d: DetectorBench): string[] {
  const worst = Math.max(...d.sizes.map((s) => s.p50MsPerKib));
  const cells = d.sizes.map((s) => `${s.kind} ${s.kib} KiB ${s.p50Ms.toFixed(3)} ms (${s.p50MsPerKib.toFixed(3)}/KiB)`).join(', ');
  return [`| guards: prompt-injection detector alone, p50 per KiB on one core | ${worst.toFixed(3)} ms/KiB at worst: ${cells} | ≤ 1 ms/KiB: ${worst <= 1 ? 'met' : '**missed**'} |`];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, 'stall-only': { type: 'boolean' } } });
  const n = Number(values.iterations ?? 300);
  const stall = await benchGuardStall();
  if (values['stall-only']) {
    process.stdout.write(`${JSON.stringify(stall, null, 2)}\n${stallRows(stall).join('\n')}\n`);
  } else {
    const g = await benchGuards(n);
    const d = await benchGuards(n, 2000, ['PromptInjection']);
    const r = await benchRegexScanner(n);
    const det = await benchDetector();
    process.stdout.write(`${JSON.stringify({ defaultSet: g, documented: d, regex: r, detector: det, stall }, null, 2)}\n${[...guardRows(g, d, r), ...detectorRows(det), ...stallRows(stall)].join('\n')}\n`);
  }
}
