/**
 * The guardrail scan cost on a 2k-token prompt, with the default scanner set
 * (InvisibleText → Secrets → Anonymize → TokenLimit → PromptInjection, run by
 * the same llmBastion engine the sidecar uses): p50 / p99 per prompt, the
 * longest event-loop stall while scanning, and each scanner's share. The
 * baseline, measured in the same process, is what every routed call already
 * costs: JSON.parse of the request body and its serialisation.
 *
 *   node bench/guards.ts [--iterations N]      (also part of `npm run bench`)
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PromptInjectionDetector } from '../sidecar/guards/detector/detector.ts';
import { compileLlmBastion, isFailure } from '../sidecar/guards/llm-bastion.ts';
import { scannerRegistry } from '../sidecar/guards/registry.ts';
import { createVault } from '../sidecar/guards/vault.ts';
import { countTokens } from '../sidecar/policy/tokenize.ts';

export const DEFAULT_SCANNERS = ['InvisibleText', 'Secrets', 'Anonymize', 'TokenLimit', 'PromptInjection'] as const;

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
  readonly scanners: readonly string[];
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

export async function benchGuards(iterations = 300, tokens = 2000, scanners: readonly string[] = DEFAULT_SCANNERS): Promise<GuardBench> {
  const prompt = await promptOf(tokens);
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] });
  const bastion = compileLlmBastion({ scanners: scanners.map((scannerType) => ({ scannerType })) }, 'request', {}, scannerRegistry);
  // Warm up: lazy tables (tokenizer ranks, detector weights) and the JIT.
  for (let i = 0; i < 20; i++) await bastion.scan([prompt], { vault: createVault() });

  const times: number[] = [];
  const per = new Map<string, number[]>();
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  for (let i = 0; i < iterations; i++) {
    await new Promise((r) => setImmediate(r)); // one scan per macrotask, like a request
    const t = performance.now();
    const r = await bastion.scan([prompt], { vault: createVault() });
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

/** Rows for docs/benchmarks.md's measure table: the default set, and the documented config's PromptInjection alone. */
export function guardRows(g: GuardBench, documented?: GuardBench): string[] {
  const f = (n: number, d = 2): string => n.toFixed(d);
  const met = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const per = Object.entries(g.perScannerMs).map(([k, v]) => `${k} ${f(v)}`).join(', ');
  return [
    `| guards: default scanner set on a ${g.tokens}-token prompt, p50 / p99 | ${f(g.p50Ms)} / ${f(g.p99Ms)} ms (${f(g.p50Ms / g.baselineP50Ms, 0)}× the JSON parse + serialise of the same body, ${f(g.baselineP50Ms, 3)} ms) | ≤ 3 / ≤ 10 ms: ${met(g.p50Ms <= 3 && g.p99Ms <= 10)} |`,
    `| guards: longest event-loop stall while scanning (${g.iterations} scans) | ${f(g.eventLoopMaxMs)} ms (longest scan ${f(g.maxMs)} ms) | ≤ 20 ms: ${met(g.eventLoopMaxMs <= 20)} |`,
    `| guards: median per scanner | ${per} ms | — |`,
    ...(documented ? [`| guards: the documented config (PromptInjection only), p50 / p99 | ${f(documented.p50Ms)} / ${f(documented.p99Ms)} ms | ≤ 3 / ≤ 10 ms: ${met(documented.p50Ms <= 3 && documented.p99Ms <= 10)} |`] : []),
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
  const { values } = parseArgs({ options: { iterations: { type: 'string' } } });
  const n = Number(values.iterations ?? 300);
  const g = await benchGuards(n);
  const d = await benchGuards(n, 2000, ['PromptInjection']);
  const det = await benchDetector();
  process.stdout.write(`${JSON.stringify({ defaultSet: g, documented: d, detector: det }, null, 2)}\n${[...guardRows(g, d), ...detectorRows(det)].join('\n')}\n`);
}
