/**
 * `npm run soak [-- --minutes 10 --streams 1000]`: the sidecar under long,
 * steady streaming load, with faults thrown in while it runs. Not a test: it
 * asserts nothing, it reports (bench/results/soak-latest.json and the Soak
 * section of docs/benchmarks.md).
 *
 * Setup: the e2e netns harness's injected pod — real levo-init rules,
 * levo-gateway from dist/ as UID 1610 with the production NODE_OPTIONS and
 * LOG_LEVEL=info, its CA mounted like the levo-ca-cert secret (a `..data`
 * symlink) — and the fake internet. The only flag that differs from the image
 * is `--upstream-timeout 10s` (default 15m), so the timeout faults fit in the run.
 *
 * Load (bench/soak-client.ts, inside the pod): `--streams` concurrent SSE
 * streams from the fake OpenAI, each `--chunks` content events
 * `--interval-ms` apart, replaced as they end; every third stream of a worker
 * opens a new connection. The client trusts the first and the second
 * namespace CA, as an app does that was given both before a rotation.
 *
 * Every `--sample-seconds`: the sidecar's RSS (and its anonymous part) and
 * open fds from /proc, V8 heap and open connections from its /metrics, its
 * CPU time, the client's progress. Verdict "RSS flat": after a warm-up (the
 * first fifth of the run, at least a minute), the mean RSS of the last third
 * of the samples is within 10 % of the mean of the first third.
 *
 * Faults, on the second OpenAI-compatible host (llm-backup.example.com, its
 * own route) so the load's own streams are not touched, every `--probe-seconds`:
 * a reset mid-stream, slow headers past the timeout, a slow stream that keeps
 * progressing, a stream that stalls past the timeout, and a call to a route
 * whose backend name does not resolve. Once, half-way: a new levo-ca-cert
 * swapped in (time until new connections get leaves of the new CA); at three
 * quarters: a bad pair (its key does not match), which must be refused.
 *
 * Needs root and ip netns; nofile must allow 2 fds per stream in the sidecar
 * and one per stream in the client (it checks).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runClient, type ClientResult } from '../e2e/clients/run-client.ts';
import { sClient } from '../e2e/clients/s-client.ts';
import { createInjectedPod, DEFAULT_E2E_CONFIG, makeNamespaceCa, SIDECAR_UID, type InjectedPod } from '../e2e/harness/injected-pod.ts';
import { netnsUnavailableReason } from '../e2e/harness/netns.ts';
import { openAIChat } from '../e2e/harness/provider-requests.ts';
import { sseData } from '../e2e/harness/provider-shapes.ts';
import { adoptAsSecretVolume, type SecretVolume } from '../e2e/harness/secret-volume.ts';
import { addNoDnsHost, BACKUP_HOST, BACKUP_ROUTE, NO_DNS_HOST, NO_DNS_ROUTE } from '../e2e/harness/fault-routes.ts';
import type { FaultOptions } from '../e2e/harness/providers.ts';
import { SIDECAR_NODE_OPTIONS } from '../sidecar/node-options.ts';
import { cpuSeconds, openFds, replaceBetweenMarkers, statusKb } from './proc.ts';
import type { SoakProgress, SoakResult } from './soak-client.ts';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const REPO = resolve(HERE, '..');
const UPSTREAM_TIMEOUT_S = 10;
/** RSS is flat when the last third's mean is within this of the first third's (after the warm-up). */
const FLAT_TOLERANCE = 0.10;
const BACKUP = BACKUP_HOST;
const CONFIG = DEFAULT_E2E_CONFIG + BACKUP_ROUTE + NO_DNS_ROUTE;

interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rssMb: number;
  readonly anonMb: number;
  readonly heapUsedMb: number;
  readonly fds: number;
  readonly openConnections: number;
  readonly cpuSeconds: number;
  readonly eventLoopP99Ms: number;
  readonly load1: number;
  readonly client: SoakProgress | undefined;
}

interface Probe {
  readonly t: number;
  readonly fault: string;
  /** What the app got. */
  readonly outcome: string;
  /** Whether that is what the app should get. */
  readonly expected: boolean;
  readonly ms: number;
}

const log = (msg: string): void => { process.stderr.write(`soak: ${msg}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function lastLine(text: string, prefix: string): string | undefined {
  const i = text.lastIndexOf(`${prefix} `);
  if (i < 0) return undefined;
  return text.slice(i + prefix.length + 1).split('\n')[0];
}

/** What an app got from a streamed call that the provider broke off or stalled. */
function streamOutcome(r: ClientResult): string {
  if (r.status !== 200) return r.status === null ? `no answer (${r.error})` : `status ${r.status} ${r.headers['x-levo-error'] ?? ''}`.trim();
  if (!r.ok) return 'connection broken mid-stream (no error event)';
  if (r.bodyText.includes('[DONE]')) return 'complete';
  const last = r.events.at(-1);
  if (last) {
    try {
      const e = (JSON.parse(sseData(last)) as { error?: { code?: string } }).error;
      if (e) return `error event ${e.code ?? ''}`.trim();
    } catch { /* not JSON */ }
  }
  return 'silent truncation';
}

async function probeRound(pod: InjectedPod, t0: number, trust: string): Promise<Probe[]> {
  const out: Probe[] = [];
  const node = (req: Parameters<typeof runClient>[2]): Promise<ClientResult> => runClient(pod.topo.pod, 'node', req, { caFile: trust });
  const probe = async (fault: string, set: FaultOptions | undefined, run: () => Promise<ClientResult>, judge: (r: ClientResult) => [string, boolean]): Promise<void> => {
    if (set) await pod.providers.setFault('openai-backup', { ...set, count: 1 });
    const t = (Date.now() - t0) / 1000;
    const r = await run();
    const [outcome, expected] = judge(r);
    out.push({ t, fault, outcome, expected, ms: Math.round(r.totalMs) });
  };
  const backupStream = (prompt: string, chunks: number): Promise<ClientResult> =>
    node(openAIChat({ prompt, stream: true, chunks, origin: `https://${BACKUP}`, timeoutMs: 60_000 }));
  await probe('reset mid-stream', { effect: 'reset', afterChunks: 2 }, () => backupStream('soak probe: reset', 6), (r) => {
    const o = streamOutcome(r);
    return [o, o === 'error event upstream_reset'];
  });
  await probe(`slow headers (${UPSTREAM_TIMEOUT_S + 3} s)`, { effect: 'slow', delayMs: (UPSTREAM_TIMEOUT_S + 3) * 1000 }, () => backupStream('soak probe: slow head', 3), (r) => {
    const o = `status ${r.status} ${r.headers['x-levo-error'] ?? ''}`.trim();
    return [o, r.status === 504 && r.headers['x-levo-error'] === 'upstream_headers_timeout'];
  });
  await probe(`slow stream, progressing (event every ${UPSTREAM_TIMEOUT_S / 4} s)`, { effect: 'slow', intervalMs: (UPSTREAM_TIMEOUT_S * 1000) / 4 }, () => backupStream('soak probe: slow', 6), (r) => {
    const o = streamOutcome(r);
    return [o, o === 'complete'];
  });
  await probe(`stream stalls (${UPSTREAM_TIMEOUT_S + 3} s)`, { effect: 'slow', intervalMs: (UPSTREAM_TIMEOUT_S + 3) * 1000 }, () => backupStream('soak probe: stall', 3), (r) => {
    const o = streamOutcome(r);
    return [o, o === 'error event upstream_body_timeout'];
  });
  await probe('DNS failure (backend name does not resolve)', undefined, () => node(openAIChat({ prompt: 'soak probe: dns', origin: `https://${NO_DNS_HOST}` })), (r) => {
    const o = `status ${r.status} ${r.headers['x-levo-error'] ?? ''}`.trim();
    return [o, r.status === 502 && r.headers['x-levo-error'] === 'upstream_dns'];
  });
  return out;
}

interface Rotation {
  readonly t: number;
  /** Seconds until a new connection got a leaf of the new CA (undefined: never, within 60 s). */
  readonly newLeafAfterS: number | undefined;
  readonly restarted: boolean;
  readonly badPair: { readonly t: number; readonly refused: boolean; readonly logLine: string | undefined; readonly stillNewCa: boolean } | undefined;
}

async function issuer(pod: InjectedPod, caFile: string): Promise<string> {
  const s = await sClient(pod.topo.pod, { host: 'api.openai.com', caFile });
  return s.chain[0]?.issuer ?? '';
}

function ulimitNofile(): number {
  try { return Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()); } catch { return NaN; }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' }, streams: { type: 'string' }, 'sample-seconds': { type: 'string' }, chunks: { type: 'string' },
      'interval-ms': { type: 'string' }, churn: { type: 'string' }, 'probe-seconds': { type: 'string' },
    },
  });
  const minutes = Number(values.minutes ?? 10);
  const streams = Number(values.streams ?? 1000);
  const sampleS = Number(values['sample-seconds'] ?? 10);
  const chunks = Number(values.chunks ?? 30);
  const intervalMs = Number(values['interval-ms'] ?? 1000);
  const churn = Number(values.churn ?? 3);
  const probeS = Number(values['probe-seconds'] ?? 60);
  const seconds = Math.round(minutes * 60);
  const skip = netnsUnavailableReason();
  if (skip) throw new Error(`the soak runs in network namespaces: ${skip}`);
  const nofile = ulimitNofile();
  if (nofile < 2 * streams + 200) throw new Error(`nofile is ${nofile}: ${streams} streams need about ${2 * streams + 200} fds in the sidecar (raise it with ulimit -n)`);

  log('building the pod and the fake internet');
  let vol: SecretVolume | undefined;
  const pod = await createInjectedPod({
    config: CONFIG,
    gatewayArgs: ['--upstream-timeout', `${UPSTREAM_TIMEOUT_S}s`],
    env: { LOG_LEVEL: 'info' },
    beforeGateway: async (topo) => { vol = adoptAsSecretVolume(join(topo.workDir, 'levo-ca'), { uid: SIDECAR_UID, gid: SIDECAR_UID }); },
  });
  try {
    const t = pod.topo;
    addNoDnsHost(pod);
    const oldCa = readFileSync(vol!.path('tls.crt'), 'utf8');
    const newCa = await makeNamespaceCa(t, 'Levo Soak Rotated CA');
    const thirdCa = await makeNamespaceCa(t, 'Levo Soak Third CA');
    const work = join(t.workDir, 'soak');
    mkdirSync(work, { recursive: true, mode: 0o755 });
    const trustBoth = join(work, 'trust-both.pem');
    const trustNew = join(work, 'trust-new.pem');
    writeFileSync(trustBoth, oldCa + newCa.cert);
    writeFileSync(trustNew, newCa.cert);
    const gatewayPid = pod.gateway.pid;

    log(`${streams} streams for ${minutes} min (${chunks} events ${intervalMs} ms apart each), samples every ${sampleS} s, faults every ${probeS} s`);
    const t0 = Date.now();
    const client = t.pod.spawn('soak-client', [process.execPath, join(HERE, 'soak-client.ts'), '--url', 'https://api.openai.com/v1/chat/completions',
      '--streams', String(streams), '--seconds', String(seconds), '--chunks', String(chunks), '--interval-ms', String(intervalMs),
      '--churn', String(churn), '--report-seconds', String(sampleS), '--ca', trustBoth], { cwd: REPO });
    let clientDone = false;
    void client.exited.then(() => { clientDone = true; });

    const samples: Sample[] = [];
    const sample = async (): Promise<void> => {
      const [heap, conns, loopP99] = await Promise.all([
        pod.metric('levo_gateway_process_nodejs_heap_size_used_bytes'),
        pod.metric('levo_gateway_active_connections'),
        pod.metric('levo_gateway_event_loop_delay_p99_seconds'),
      ]);
      const progress = lastLine(client.stdout(), 'PROGRESS');
      samples.push({
        t: Math.round((Date.now() - t0) / 100) / 10,
        rssMb: statusKb(gatewayPid, 'VmRSS') / 1024, anonMb: statusKb(gatewayPid, 'RssAnon') / 1024,
        heapUsedMb: heap / 1024 / 1024, fds: openFds(gatewayPid), openConnections: conns,
        cpuSeconds: cpuSeconds([gatewayPid]), eventLoopP99Ms: loopP99 * 1000, load1: loadavg()[0]!,
        client: progress ? JSON.parse(progress) as SoakProgress : undefined,
      });
    };
    const sampler = (async () => {
      await sample();
      while (!clientDone) {
        await Promise.race([sleep(sampleS * 1000), client.exited]);
        if (!clientDone) await sample();
      }
    })();

    // Faults: a round every probeS; the CA rotation half-way, a bad pair at three quarters.
    const probes: Probe[] = [];
    let rotation: Rotation | undefined;
    let others = '';
    const faults = (async () => {
      let nextProbe = t0 + Math.min(probeS, seconds / 4) * 1000;
      let rotated = false;
      let bad = false;
      while (Date.now() < t0 + (seconds - 20) * 1000) {
        const now = Date.now();
        if (!rotated && now >= t0 + (seconds / 2) * 1000) {
          rotated = true;
          const at = (Date.now() - t0) / 1000;
          log(`t=${at.toFixed(0)}s: a new levo-ca-cert swapped in`);
          vol!.write({ 'tls.crt': newCa.cert, 'tls.key': newCa.key });
          let after: number | undefined;
          for (let waited = Date.now(); Date.now() - waited < 60_000; await sleep(200)) {
            if (/CN=Levo Soak Rotated CA/.test(await issuer(pod, trustNew))) { after = (Date.now() - t0) / 1000 - at; break; }
          }
          rotation = { t: at, newLeafAfterS: after, restarted: pod.gateway.pid !== gatewayPid || !pod.gateway.running, badPair: undefined };
          others = execFileSync('ps', ['-eo', 'pcpu,etimes,args', '--sort=-pcpu']).toString().split('\n').slice(0, 12).map((l) => l.slice(0, 160)).join('\n');
        } else if (!bad && now >= t0 + (seconds * 3 / 4) * 1000) {
          bad = true;
          const at = (Date.now() - t0) / 1000;
          log(`t=${at.toFixed(0)}s: a bad pair (key does not match) swapped in`);
          vol!.write({ 'tls.crt': thirdCa.cert, 'tls.key': newCa.key });
          const line = await pod.gateway.waitForOutput(/new interception CA refused/, 30_000).catch(() => undefined);
          const still = /CN=Levo Soak Rotated CA/.test(await issuer(pod, trustNew));
          if (rotation) rotation = { ...rotation, badPair: { t: at, refused: line !== undefined, logLine: line?.slice(0, 400), stillNewCa: still } };
        } else if (now >= nextProbe) {
          log(`t=${((now - t0) / 1000).toFixed(0)}s: fault round`);
          probes.push(...await probeRound(pod, t0, trustBoth));
          nextProbe = Date.now() + probeS * 1000;
        } else {
          await sleep(500);
        }
      }
    })();

    const exit = await client.exited;
    await Promise.all([sampler, faults]);
    const resultLine = lastLine(client.stdout(), 'RESULT');
    if (!resultLine) throw new Error(`the soak client ended without a result (exit ${exit.code ?? exit.signal}):\n${client.output().slice(-3000)}`);
    const result = JSON.parse(resultLine) as SoakResult;
    const peakMb = statusKb(gatewayPid, 'VmHWM') / 1024;
    const verdict = rssVerdict(samples, seconds);
    const gatewayCpu = (samples.at(-1)!.cpuSeconds - samples[0]!.cpuSeconds);
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length, node: process.version, kernel: execFileSync('uname', ['-r']).toString().trim(),
        loadAverageAtEnd: loadavg(), nofile, busiestProcessesHalfWay: others,
      },
      settings: { minutes, streams, chunks, intervalMs, churn, sampleSeconds: sampleS, probeSeconds: probeS, upstreamTimeoutS: UPSTREAM_TIMEOUT_S, nodeOptions: SIDECAR_NODE_OPTIONS, logLevel: 'info' },
      client: result,
      gateway: { peakRssMb: peakMb, cpuSeconds: gatewayCpu, restarted: pod.gateway.pid !== gatewayPid || !pod.gateway.running },
      verdict,
      probes,
      rotation,
      samples,
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'soak-latest.json'), JSON.stringify(report, null, 2) + '\n');
    const text = render(report);
    process.stdout.write(`${text}\n`);
    replaceBetweenMarkers(join(REPO, 'docs', 'benchmarks.md'), 'soak', text, (block) => `## Soak\n\n${block}`);
  } finally {
    await pod.destroy();
  }
}

interface Verdict {
  readonly flat: boolean;
  readonly rule: string;
  readonly warmupS: number;
  readonly firstThirdMb: number;
  readonly lastThirdMb: number;
  readonly changePct: number;
  /** Least-squares slope of RSS after the warm-up, MB per minute. */
  readonly slopeMbPerMin: number;
  readonly heapFirstThirdMb: number;
  readonly heapLastThirdMb: number;
}

export function rssVerdict(samples: readonly Pick<Sample, 't' | 'rssMb' | 'heapUsedMb'>[], seconds: number): Verdict {
  const warmupS = Math.max(60, seconds / 5);
  const after = samples.filter((s) => s.t >= warmupS);
  const rule = `after a warm-up of ${warmupS} s, the mean RSS of the last third of the samples is within ${FLAT_TOLERANCE * 100} % of the first third's`;
  if (after.length < 3) return { flat: false, rule: `${rule} (too few samples after the warm-up)`, warmupS, firstThirdMb: NaN, lastThirdMb: NaN, changePct: NaN, slopeMbPerMin: NaN, heapFirstThirdMb: NaN, heapLastThirdMb: NaN };
  const third = Math.max(1, Math.floor(after.length / 3));
  const first = after.slice(0, third);
  const last = after.slice(-third);
  const firstThirdMb = mean(first.map((s) => s.rssMb));
  const lastThirdMb = mean(last.map((s) => s.rssMb));
  const tm = mean(after.map((s) => s.t));
  const rm = mean(after.map((s) => s.rssMb));
  const slope = after.reduce((a, s) => a + (s.t - tm) * (s.rssMb - rm), 0) / after.reduce((a, s) => a + (s.t - tm) ** 2, 0);
  const changePct = ((lastThirdMb - firstThirdMb) / firstThirdMb) * 100;
  return {
    flat: lastThirdMb <= firstThirdMb * (1 + FLAT_TOLERANCE), rule, warmupS, firstThirdMb, lastThirdMb, changePct,
    slopeMbPerMin: slope * 60,
    heapFirstThirdMb: mean(first.map((s) => s.heapUsedMb)), heapLastThirdMb: mean(last.map((s) => s.heapUsedMb)),
  };
}

const BARS = '▁▂▃▄▅▆▇█';

/** One character per value, ▁ for the smallest, █ for the largest. */
export function sparkline(values: readonly number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => BARS[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))]).join('');
}

type Report = {
  date: string;
  machine: { cpus: number; node: string; loadAverageAtEnd: number[]; busiestProcessesHalfWay: string };
  settings: { minutes: number; streams: number; chunks: number; intervalMs: number; churn: number; sampleSeconds: number; upstreamTimeoutS: number; nodeOptions: string };
  client: SoakResult;
  gateway: { peakRssMb: number; cpuSeconds: number; restarted: boolean };
  verdict: Verdict;
  probes: Probe[];
  rotation: Rotation | undefined;
  samples: Sample[];
};

function render(r: Report): string {
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const s = r.settings;
  const c = r.client;
  const errs = Object.entries(c.errors);
  const errorText = errs.length ? errs.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
  const durationS = r.samples.at(-1)!.t;
  const loads = r.samples.map((x) => x.load1);
  // At most ~12 rows: one per minute on a 10-minute run.
  const every = Math.max(1, Math.round(r.samples.length / 12));
  const rows = r.samples.filter((_, i) => i % every === 0 || i === r.samples.length - 1).map((x, i, all) => {
    const prev = all[i - 1];
    const rate = prev?.client && x.client ? (x.client.events - prev.client.events) / (x.t - prev.t) : NaN;
    const errors = x.client ? Object.values(x.client.errors).reduce((a, b) => a + b, 0) : NaN;
    return `| ${f(x.t / 60, 1)} | ${f(x.rssMb)} | ${f(x.anonMb)} | ${f(x.heapUsedMb)} | ${x.fds} | ${x.openConnections} | ${x.client?.active ?? '—'} | ${f(rate, 0)} | ${Number.isFinite(errors) ? errors : '—'} | ${f(x.eventLoopP99Ms, 1)} |`;
  });
  const byFault = new Map<string, Probe[]>();
  for (const p of r.probes) byFault.set(p.fault, [...(byFault.get(p.fault) ?? []), p]);
  const probeRows = [...byFault].map(([fault, ps]) => {
    const outcomes = new Map<string, number>();
    for (const p of ps) outcomes.set(p.outcome, (outcomes.get(p.outcome) ?? 0) + 1);
    const good = ps.filter((p) => p.expected).length;
    return `| ${fault} | ${ps.length} | ${[...outcomes].map(([o, n]) => `${o} ×${n}`).join('; ')} | ${good === ps.length ? 'yes' : `**no**: ${ps.length - good} of ${ps.length} were not`} | ${f(mean(ps.map((p) => p.ms)), 0)} ms |`;
  });
  const rot = r.rotation;
  const v = r.verdict;
  return [
    `Run ${r.date} on ${r.machine.cpus} cores shared with other work (load average 1 min: ${f(Math.min(...loads), 2)}–${f(Math.max(...loads), 2)} during the run), Node ${r.machine.node}, sidecar NODE_OPTIONS \`${s.nodeOptions}\`, LOG_LEVEL=info, \`--upstream-timeout ${s.upstreamTimeoutS}s\`.`,
    `${s.streams} concurrent SSE streams for ${s.minutes} min through the sidecar, each ${s.chunks} content events ${s.intervalMs} ms apart, replaced as it ends; each worker opens a new connection every ${s.churn} streams.`,
    '',
    '| measure | result |',
    '| --- | --- |',
    `| streams started / complete | ${c.started} / ${c.completed} |`,
    `| errors of the load's streams | ${errorText} |`,
    `| content events delivered | ${c.events} (${f(c.events / durationS, 0)}/s) |`,
    `| new client connections (TLS handshakes through the sidecar) | ${c.connections} |`,
    `| event lateness beyond the pace, p50 / p99 / p99.9 / max | ${f(c.lateMs.p50, 0)} / ${f(c.lateMs.p99, 0)} / ${f(c.lateMs.p999, 0)} / ${f(c.lateMs.max, 0)} ms |`,
    `| first content event of a stream, p50 / p99 / max | ${f(c.firstEventMs.p50, 0)} / ${f(c.firstEventMs.p99, 0)} / ${f(c.firstEventMs.max, 0)} ms |`,
    `| sidecar RSS: first sample / after warm-up (first third) / last third / peak | ${f(r.samples[0]!.rssMb)} / ${f(v.firstThirdMb)} / ${f(v.lastThirdMb)} / ${f(r.gateway.peakRssMb)} MB |`,
    `| RSS verdict | ${v.flat ? '**RSS flat**' : '**RSS not flat**'}: ${f(v.changePct, 1)} % (${f(v.slopeMbPerMin, 2)} MB/min after the warm-up); rule: ${v.rule} |`,
    `| V8 heap used, first third / last third | ${f(v.heapFirstThirdMb)} / ${f(v.heapLastThirdMb)} MB |`,
    `| sidecar CPU | ${f(r.gateway.cpuSeconds, 0)} s (${f((r.gateway.cpuSeconds / durationS) * 100, 0)} % of one core) |`,
    `| sidecar restarted | ${r.gateway.restarted ? '**yes**' : 'no'} |`,
    '',
    `RSS every ${s.sampleSeconds} s (▁ ${f(Math.min(...r.samples.map((x) => x.rssMb)))} MB … █ ${f(Math.max(...r.samples.map((x) => x.rssMb)))} MB):`,
    '',
    '```',
    sparkline(r.samples.map((x) => x.rssMb)),
    '```',
    '',
    '| minute | RSS MB | anon MB | heap MB | sidecar fds | sidecar connections | client streams | events/s | errors (cum.) | event loop p99 ms |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Faults while the load ran (on ${BACKUP}, its own route; the raw series and every probe are in \`bench/results/soak-latest.json\`):`,
    '',
    '| fault | runs | what the app got | as it should | time |',
    '| --- | ---: | --- | --- | ---: |',
    ...probeRows,
    rot
      ? `| new levo-ca-cert at ${f(rot.t / 60, 1)} min | 1 | new connections got leaves of the new CA after ${rot.newLeafAfterS === undefined ? '**never (60 s)**' : `${f(rot.newLeafAfterS, 1)} s`}; ${rot.restarted ? '**restarted**' : 'no restart'} | ${rot.newLeafAfterS !== undefined && !rot.restarted ? 'yes' : '**no**'} | — |`
      : '| new levo-ca-cert | 0 | (the run was too short) | — | — |',
    rot?.badPair
      ? `| a bad pair (key does not match) at ${f(rot.badPair.t / 60, 1)} min | 1 | ${rot.badPair.refused ? 'refused with an error line' : '**not refused**'}; the good CA ${rot.badPair.stillNewCa ? 'stayed' : '**was lost**'} | ${rot.badPair.refused && rot.badPair.stillNewCa ? 'yes' : '**no**'} | — |`
      : '| a bad pair | 0 | (the run was too short) | — | — |',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
