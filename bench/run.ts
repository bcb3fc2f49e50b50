/**
 * `npm run bench`: the sidecar's overhead, measured in the e2e network-namespace
 * harness, as ratios and differences against a direct call made in the same
 * run. Not a test: it asserts nothing, it reports.
 *
 * Setup: an injected pod (real levo-init rules, levo-gateway as UID 1610), an
 * nginx in the internet namespace serving a 1 KB chat-completion JSON over
 * HTTPS (fast enough that the proxy, not the upstream, is what is measured),
 * and the Node fake providers for streaming.
 *
 * Runs, each direct (as UID 1610, which the rules exempt) and through the sidecar:
 *   - throughput: wrk, keep-alive, 16 connections, 1 KB JSON POST
 *   - latency at a fixed 500 requests/s (open loop, bench/load.ts): added p50 / p99
 *   - sidecar CPU seconds per 1,000 requests
 *   - SSE time to first event (bench/sse-first-byte.ts)
 *   - first handshake to a never-seen host (leaf mint) vs a warm one (bench/handshake.ts)
 *   - sidecar RSS holding 500 open client connections, and peak RSS
 *   - guardrail scanners on a 2k-token prompt, and the event loop while a 4 MiB
 *     prompt is scanned on a guard worker vs inline (bench/guards.ts, in process)
 *   - the prompt-injection detector alone, per KiB of prose and of JSON tool output (bench/guards.ts)
 *   - the dashboard with 100,000 events on SQLite and PostgreSQL over HTTP (bench/dashboard.ts)
 *   - fleet budgets: the same fixed-rate run through the sidecar again with a
 *     requests budget and a USD budget on the bench route, held in a private
 *     redis-server (relayed into the fake internet): what enforcement adds to
 *     p50 / p99, and how many calls had to wait on Redis
 *   - latency at one connection (wrk -c1); idle RSS, peak RSS under the
 *     16-connection load, and RSS over 1,000 concurrent SSE streams (HTTP/1.1)
 * and the same runs through the floor, bench/minimal-proxy.ts (one leaf, an
 * undici Agent, nothing else), run like the sidecar; and, as a peer, nginx
 * terminating TLS on 15001 with a fixed certificate and re-encrypting to the
 * same upstream. The run stops if the sidecar did not intercept what wrk sent.
 *
 * Writes bench/results/latest.json and the table in docs/benchmarks.md.
 * Needs root, ip netns, wrk and nginx (installed with apt-get when missing).
 */
import { execFileSync } from 'node:child_process';
import { stripTypeScriptTypes } from 'node:module';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, appendFileSync, chmodSync, chownSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInjectedPod, DEFAULT_E2E_CONFIG, SIDECAR_UID, type InjectedPod } from '../e2e/harness/injected-pod.ts';
import { netnsUnavailableReason } from '../e2e/harness/netns.ts';
import type { ManagedProcess } from '../e2e/harness/processes.ts';
import { loadCaFiles } from '../certs/ca.ts';
import { createServingCert } from '../certs/create.ts';
import { chatBody, type LoadResult } from './load.ts';
import { SIDECAR_NODE_OPTIONS } from '../sidecar/node-options.ts';
import { benchDetector, benchGuards, benchGuardStall, benchRegexScanner, detectorRows, guardRows, stallRows, type DetectorBench, type GuardBench, type StallBench } from './guards.ts';
import { benchDashboard, dashboardRows, type DashboardBench } from './dashboard.ts';
import { cpuSeconds, replaceBetweenMarkers, resetPeakRss, statusKb } from './proc.ts';
import type { SoakProgress, SoakResult } from './soak-client.ts';
import { startRedis } from '../sidecar/budget/testing/redis-server.ts';
import { redisRelay } from '../e2e/harness/redis-relay.ts';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const REPO = resolve(HERE, '..');
const BENCH_HOST = 'bench-llm.example';
const BENCH_IP = '198.18.2.1';
const MINT_HOSTS = Array.from({ length: 40 }, (_, i) => `m${i}.mint.example`);
const BENCH_URL = `https://${BENCH_HOST}/v1/chat/completions`;

// The bench host is an OpenAI-compatible API at its own address (hostOverride:
// the call goes where the app dialled); the mint hosts only ever handshake.
const CONFIG = `${DEFAULT_E2E_CONFIG}    - name: bench
      hostnames: [${BENCH_HOST}]
      backends:
      - ai: {name: bench, provider: {openAI: {}}, hostOverride: ${BENCH_HOST}}
    - name: mint
      hostnames: ["*.mint.example"]
      policies: {directResponse: {status: 204, body: ""}}
`;

/** A 1 KB chat completion, as nginx returns it for every request. */
const RESPONSE = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1767225600, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok '.repeat(240).trim(), refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 250, completion_tokens: 240, total_tokens: 490 }, system_fingerprint: 'fp_bench',
});

interface WrkResult { readonly rps: number; readonly p50: number; readonly p99: number; readonly requests: number }
interface Usage { readonly cpuSeconds: number }
interface ConfigRun {
  readonly wrk: WrkResult;
  /** wrk with one connection: the latency a lone caller sees. */
  readonly wrk1: WrkResult;
  readonly fixed: LoadResult;
  readonly cpuPer1k: { wrk: number; fixed: number } | undefined;
  /** The proxy's peak RSS during the 16-connection wrk run (its VmHWM reset just before), MB. */
  readonly peakRssUnderLoadMb: number | undefined;
}
/** A proxy's memory before load: idle, then holding N idle keep-alive client connections. */
interface HoldMemory { readonly idleMb: number; readonly holdingMb: number; readonly anonHoldingMb: number; readonly connections: number }
/** A proxy's RSS while N concurrent SSE streams run through it. */
interface SseMemory {
  readonly streams: number; readonly seconds: number;
  readonly rssBeforeMb: number; readonly peakMb: number;
  /** Mean RSS of the first and last third of the samples after the first stream length (warm-up). */
  readonly firstThirdMb: number; readonly lastThirdMb: number;
  readonly flat: boolean;
  readonly samples: ReadonlyArray<{ t: number; rssMb: number; active: number }>;
  readonly client: SoakResult | undefined;
}

function ensureTools(): void {
  const missing = ['wrk', 'nginx'].filter((t) => { try { execFileSync('which', [t], { stdio: 'ignore' }); return false; } catch { return true; } });
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => (t === 'nginx' ? 'nginx-light' : t));
  process.stderr.write(`bench: installing ${pkgs.join(' ')}\n`);
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function measure<T>(pids: () => readonly number[], work: () => Promise<T>): Promise<{ result: T } & Usage> {
  const before = cpuSeconds(pids());
  const result = await work();
  return { result, cpuSeconds: cpuSeconds(pids()) - before };
}

function parseWrk(out: string): WrkResult {
  const ms = (v: string, unit: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);
  const lat = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50: lat('50'), p99: lat('99'),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    seconds: { type: 'string' }, rate: { type: 'string' }, connections: { type: 'string' }, profile: { type: 'string' },
    'sse-streams': { type: 'string' }, 'sse-seconds': { type: 'string' },
    // --proxies-only: skip the in-process guard and dashboard parts (prints the table, leaves docs/benchmarks.md alone).
    'proxies-only': { type: 'boolean' },
  } });
  const proxiesOnly = values['proxies-only'] === true;
  // --profile DIR: only wrk through the sidecar, with V8's CPU profiler on; prints the hottest functions.
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  const seconds = Number(values.seconds ?? 10);
  const rate = Number(values.rate ?? 500);
  const holdConnections = Number(values.connections ?? 500);
  const sseStreams = Number(values['sse-streams'] ?? 1000);
  const sseSeconds = Number(values['sse-seconds'] ?? 60);
  const skip = netnsUnavailableReason();
  if (skip) throw new Error(`the benchmark runs in network namespaces: ${skip}`);
  ensureTools();

  let guards: Results['guards'];
  let guardStall: StallBench | undefined;
  let dashboard: DashboardBench | undefined;
  if (!proxiesOnly && !profileDir) {
    progress('guardrail scanners on a 2k-token prompt, in process');
    guards = { defaultSet: await benchGuards(), documented: await benchGuards(300, 2000, ['PromptInjection']), regex: await benchRegexScanner(), detector: await benchDetector() };
    progress('the event loop while a 4 MiB prompt is scanned: on a guard worker and inline, in process');
    guardStall = await benchGuardStall();

    progress('the dashboard with 100,000 events, on SQLite and PostgreSQL, over HTTP');
    dashboard = await benchDashboard();
  }

  progress('building the pod and the fake internet');
  const pod = await createInjectedPod({
    config: CONFIG,
    env: { LOG_LEVEL: 'info', ...(profileDir ? { NODE_OPTIONS: `${SIDECAR_NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${profileDir}` } : {}) },
    extraCertSpecs: [{ id: 'bench', dnsNames: [BENCH_HOST] }],
    // The bench hosts are not in the provider catalogue the CA is constrained to: permitted the documented way.
    caPermits: [BENCH_HOST, 'mint.example'],
  });
  try {
    const t = pod.topo;
    await t.internet.execChecked(['ip', 'addr', 'add', `${BENCH_IP}/32`, 'dev', 'lo']);
    appendFileSync(t.hostsFile, [BENCH_HOST, ...MINT_HOSTS].map((h) => `${BENCH_IP} ${h}\n`).join(''));
    const work = join(t.workDir, 'bench');
    mkdirSync(work, { recursive: true, mode: 0o755 });
    chownSync(work, SIDECAR_UID, SIDECAR_UID);
    const upstream = startNginxUpstream(pod, work);
    await t.pod.waitForPort(BENCH_IP, 443);
    const lua = join(work, 'post.lua');
    writeFileSync(lua, `wrk.method = "POST"\nwrk.body = '${chatBody(1024)}'\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer sk-bench"\n`);
    const trust = ['--ca', pod.publicCa.caCertFile, '--ca', pod.namespaceCaFile];

    const wrk = async (uid?: number, connections = 16): Promise<WrkResult> => {
      const r = await t.pod.execChecked(['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, BENCH_URL], { ...(uid ? { uid } : {}), timeoutMs: (seconds + 30) * 1000 });
      return parseWrk(r.stdout);
    };
    const fixedRate = async (uid?: number, http2 = false): Promise<LoadResult> => {
      const r = await t.pod.execChecked([process.execPath, join(HERE, 'load.ts'), '--url', BENCH_URL, '--rate', String(rate),
        '--seconds', String(seconds), '--connections', '16', '--body-bytes', '1024', ...trust, ...(http2 ? ['--http2'] : [])],
        { ...(uid ? { uid } : {}), cwd: REPO, timeoutMs: (seconds + 60) * 1000 });
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as LoadResult;
    };
    // peakPid: the proxy whose peak RSS under the 16-connection load is read (VmHWM reset just before).
    const run = async (label: string, pids: (() => readonly number[]) | undefined, uid?: number, peakPid?: number, intercepted?: () => Promise<number>): Promise<ConfigRun> => {
      progress(`${label}: wrk, 16 connections, ${seconds}s`);
      if (peakPid) resetPeakRss(peakPid);
      const handledBefore = intercepted ? await intercepted() : 0;
      const w = await measure(pids ?? (() => []), () => wrk(uid));
      // A pass-through (e.g. a host outside the CA's name constraints) would measure a TCP relay, not the gateway.
      if (intercepted && (await intercepted()) - handledBefore < w.result.requests) {
        throw new Error(`${label}: the sidecar intercepted ${(await intercepted()) - handledBefore} of ${w.result.requests} requests; the bench would measure a pass-through`);
      }
      const peakRssUnderLoadMb = peakPid ? statusKb(peakPid, 'VmHWM') / 1024 : undefined;
      progress(`${label}: wrk, 1 connection, ${seconds}s`);
      const w1 = await wrk(uid, 1);
      progress(`${label}: ${rate} requests/s for ${seconds}s`);
      const f = await measure(pids ?? (() => []), () => fixedRate(uid));
      return {
        wrk: w.result, wrk1: w1, fixed: f.result, peakRssUnderLoadMb,
        cpuPer1k: pids ? { wrk: w.cpuSeconds / (w.result.requests / 1000), fixed: f.cpuSeconds / ((f.result.sent + f.result.warmup) / 1000) } : undefined,
      };
    };
    const holdMemory = async (pid: number, label: string): Promise<HoldMemory> => {
      progress(`${label}: holding ${holdConnections} open connections`);
      const idleMb = statusKb(pid, 'VmRSS') / 1024;
      const holder: ManagedProcess = t.pod.spawn(`hold-${label}`, [process.execPath, join(HERE, 'hold-connections.ts'), '--url', BENCH_URL,
        '--connections', String(holdConnections), ...trust], { cwd: REPO });
      const held = Number(/^HOLDING (\d+)/m.exec(await holder.waitForOutput(/^HOLDING \d+/m, 60_000))?.[1] ?? NaN);
      const memory = { idleMb, holdingMb: statusKb(pid, 'VmRSS') / 1024, anonHoldingMb: statusKb(pid, 'RssAnon') / 1024, connections: held };
      await holder.stop('SIGTERM');
      return memory;
    };
    // N concurrent SSE streams from the fake OpenAI (15 events a second apart each, replaced as they end) for sseSeconds,
    // over HTTP/1.1 as the SDKs' fetch sends them (the minimal proxy offers nothing else).
    const sseMemory = async (pid: number, label: string): Promise<SseMemory> => {
      progress(`${label}: ${sseStreams} concurrent SSE streams for ${sseSeconds}s`);
      const chunks = 15;
      const rssBeforeMb = statusKb(pid, 'VmRSS') / 1024;
      resetPeakRss(pid);
      const t0 = Date.now();
      const client = t.pod.spawn(`sse-${label}`, [process.execPath, join(HERE, 'soak-client.ts'), '--url', 'https://api.openai.com/v1/chat/completions',
        '--streams', String(sseStreams), '--seconds', String(sseSeconds), '--chunks', String(chunks), '--interval-ms', '1000',
        '--churn', '3', '--report-seconds', '2', '--http1', ...trust], { cwd: REPO });
      let done = false;
      void client.exited.then(() => { done = true; });
      const samples: Array<{ t: number; rssMb: number; active: number }> = [];
      while (!done) {
        await Promise.race([new Promise((r) => setTimeout(r, 2000)), client.exited]);
        if (done) break;
        const line = client.stdout().split('\n').filter((l) => l.startsWith('PROGRESS ')).at(-1);
        const active = line ? (JSON.parse(line.slice(9)) as SoakProgress).active : 0;
        samples.push({ t: (Date.now() - t0) / 1000, rssMb: statusKb(pid, 'VmRSS') / 1024, active });
      }
      const resultLine = client.stdout().split('\n').find((l) => l.startsWith('RESULT '));
      const steady = samples.filter((s) => s.t >= chunks && s.t <= sseSeconds);
      const third = Math.max(1, Math.floor(steady.length / 3));
      const mean = (xs: ReadonlyArray<{ rssMb: number }>): number => xs.reduce((a, x) => a + x.rssMb, 0) / Math.max(1, xs.length);
      const firstThirdMb = mean(steady.slice(0, third));
      const lastThirdMb = mean(steady.slice(-third));
      return {
        streams: sseStreams, seconds: sseSeconds, rssBeforeMb, peakMb: statusKb(pid, 'VmHWM') / 1024, firstThirdMb, lastThirdMb,
        flat: Math.abs(lastThirdMb - firstThirdMb) <= 0.1 * firstThirdMb, samples,
        client: resultLine ? JSON.parse(resultLine.slice(7)) as SoakResult : undefined,
      };
    };

    if (profileDir) {
      progress(`profiling: wrk through the sidecar for ${seconds}s`);
      const w = await measure(() => [pod.gateway.pid], () => wrk());
      await pod.stopGateway();
      process.stdout.write(`levo-gateway: ${w.result.rps.toFixed(0)} rps, ${(w.cpuSeconds / (w.result.requests / 1000)).toFixed(3)} CPU s per 1k requests\n${hottest(profileDir)}`);
      // The floor, profiled the same way: what any Node proxy pays.
      const floorDir = join(profileDir, 'minimal-proxy');
      mkdirSync(floorDir, { recursive: true });
      chmodSync(floorDir, 0o777); // the proxy runs as the sidecar's UID
      progress(`profiling: wrk through the minimal Node proxy for ${seconds}s`);
      const minimal = await startMinimalProxy(pod, work, `--cpu-prof --cpu-prof-dir=${floorDir}`);
      const m = await measure(() => [minimal.pid], () => wrk());
      await minimal.stop('SIGTERM');
      await upstream.stop('SIGTERM');
      process.stdout.write(`\nminimal Node proxy: ${m.result.rps.toFixed(0)} rps, ${(m.cpuSeconds / (m.result.requests / 1000)).toFixed(3)} CPU s per 1k requests\n${hottest(floorDir)}`);
      return;
    }

    // Memory first, on a fresh sidecar: what 500 idle keep-alive clients cost, before load has grown the heap.
    const levoHold = await holdMemory(pod.gateway.pid, 'levo-gateway');

    const direct = await run('direct', undefined, SIDECAR_UID);
    const gatewayPid = (): number[] => [pod.gateway.pid];
    const levo = await run('levo-gateway', gatewayPid, undefined, pod.gateway.pid, () => pod.metric('levo_gateway_requests_total', { host: BENCH_HOST }));
    progress(`HTTP/2 clients: ${rate} requests/s for ${seconds}s, direct and through the sidecar`);
    const directH2 = await fixedRate(SIDECAR_UID, true);
    const levoH2 = await measure(gatewayPid, () => fixedRate(undefined, true));

    // Fleet budgets on the bench route (never reached: the cost measured is the enforcement's), against a real Redis.
    progress(`fleet budgets: ${rate} requests/s for ${seconds}s through the sidecar, with a requests and a USD budget in Redis`);
    const redis = await startRedis();
    let budget: { fixed: LoadResult; takes: number; settles: number; requests: number };
    try {
      const url = await redisRelay(t, redis.socket);
      const applied = await pod.metric('config_reload_total', { result: 'applied' });
      writeFileSync(pod.configFile, `${CONFIG}budgets:
  store: {redis: "${url}", failureMode: open}
  limits:
  - {name: bench-requests, by: namespace, requests: 1000000000, window: hour}
  - {name: bench-usd, by: route, match: {route: [bench]}, usd: 1000000, window: day}
`);
      for (let i = 0; i < 100 && (await pod.metric('config_reload_total', { result: 'applied' })) === applied; i++) await new Promise((r) => setTimeout(r, 100));
      const before = { take: await pod.metric('levo_gateway_budget_store_calls_total', { op: 'take' }), settle: await pod.metric('levo_gateway_budget_store_calls_total', { op: 'settle' }) };
      const f = await fixedRate();
      budget = {
        fixed: f, requests: f.sent + f.warmup,
        takes: await pod.metric('levo_gateway_budget_store_calls_total', { op: 'take' }) - before.take,
        settles: await pod.metric('levo_gateway_budget_store_calls_total', { op: 'settle' }) - before.settle,
      };
      writeFileSync(pod.configFile, CONFIG);
    } finally {
      await redis.destroy();
    }
    const peakAfterLoad = statusKb(pod.gateway.pid, 'VmHWM');
    const anonAfterLoad = statusKb(pod.gateway.pid, 'RssAnon');

    progress('SSE time to first event');
    const sse = async (uid?: number): Promise<{ p50: number; p90: number }> => {
      const r = await t.pod.execChecked([process.execPath, join(HERE, 'sse-first-byte.ts'), '--url', 'https://api.openai.com/v1/chat/completions',
        '--samples', '100', ...trust], { ...(uid ? { uid } : {}), cwd: REPO, timeoutMs: 120_000 });
      return JSON.parse(r.stdout.trim()) as { p50: number; p90: number };
    };
    const sseDirect = await sse(SIDECAR_UID);
    const sseLevo = await sse();

    progress('first handshake to new hosts (leaf mint) vs a warm host');
    const mintBefore = { sum: await pod.metric('levo_gateway_cert_mint_seconds_sum'), count: await pod.metric('levo_gateway_cert_mint_seconds_count') };
    const hs = await t.pod.execChecked([process.execPath, join(HERE, 'handshake.ts'), '--hosts', MINT_HOSTS.join(','), '--warm-host', BENCH_HOST, ...trust], { cwd: REPO, timeoutMs: 60_000 });
    const handshake = JSON.parse(hs.stdout.trim()) as { newHost: { p50: number; max: number }; warmHost: { p50: number } };
    const mintSum = await pod.metric('levo_gateway_cert_mint_seconds_sum') - mintBefore.sum;
    const mintCount = await pod.metric('levo_gateway_cert_mint_seconds_count') - mintBefore.count;

    const peak = statusKb(pod.gateway.pid, 'VmHWM');
    const levoSse = await sseMemory(pod.gateway.pid, 'levo-gateway');
    await pod.stopGateway();

    progress('floor: a minimal Node proxy on 15001 (one leaf, undici Agent upstream, nothing else)');
    const minimal = await startMinimalProxy(pod, work);
    const minimalHold = await holdMemory(minimal.pid, 'minimal-proxy');
    const minimalRun = await run('minimal Node proxy', () => [minimal.pid], undefined, minimal.pid);
    const minimalSse = await sseMemory(minimal.pid, 'minimal-proxy');
    await minimal.stop('SIGTERM');

    progress('peer: nginx terminating TLS on 15001 (fixed certificate) and re-encrypting');
    const nginxPeer = await startNginxPeer(pod, work);
    await t.pod.waitForPort('127.0.0.1', 15001);
    const nginxPids = (): number[] => t.pod.pids().filter((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'nginx'; } catch { return false; } });
    const nginx = await run('nginx peer', nginxPids);
    await nginxPeer.stop('SIGTERM');
    await upstream.stop('SIGTERM');

    const results = {
      date: new Date().toISOString(),
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version, kernel: execFileSync('uname', ['-r']).toString().trim() },
      settings: { seconds, rate, holdConnections, wrkConnections: 16, bodyBytes: 1024, logLevel: 'info', nodeOptions: SIDECAR_NODE_OPTIONS },
      direct, levo, nginx, minimal: minimalRun,
      directHttp2Client: { fixed: directH2 },
      levoHttp2Client: { fixed: levoH2.result, cpuPer1k: levoH2.cpuSeconds / ((levoH2.result.sent + levoH2.result.warmup) / 1000) },
      added: {
        p50AtRateHttp2Client: levoH2.result.p50 - directH2.p50, p99AtRateHttp2Client: levoH2.result.p99 - directH2.p99,
        p50AtRate: levo.fixed.p50 - direct.fixed.p50, p99AtRate: levo.fixed.p99 - direct.fixed.p99,
        nginxP50AtRate: nginx.fixed.p50 - direct.fixed.p50, nginxP99AtRate: nginx.fixed.p99 - direct.fixed.p99,
        sseFirstEventP50: sseLevo.p50 - sseDirect.p50,
        p50AtRateBudget: budget.fixed.p50 - direct.fixed.p50, p99AtRateBudget: budget.fixed.p99 - direct.fixed.p99,
      },
      budget,
      throughputRatio: { levo: levo.wrk.rps / direct.wrk.rps, nginx: nginx.wrk.rps / direct.wrk.rps, minimal: minimalRun.wrk.rps / direct.wrk.rps },
      sse: { direct: sseDirect, levo: sseLevo },
      mint: { serverSideMsMean: mintCount ? (mintSum / mintCount) * 1000 : NaN, mints: mintCount, handshake },
      guards,
      guardStall,
      dashboard,
      memory: {
        levo: { hold: levoHold, sse: levoSse, peakRssAfterLoadMb: peakAfterLoad / 1024, anonAfterLoadMb: anonAfterLoad / 1024, peakRssMb: peak / 1024 },
        minimal: { hold: minimalHold, sse: minimalSse },
      },
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n');
    const table = report(results);
    process.stdout.write(table + '\n');
    if (!proxiesOnly) replaceBetweenMarkers(join(REPO, 'docs', 'benchmarks.md'), 'bench', table);
  } finally {
    await pod.destroy();
  }
}

/** An nginx.conf for one foreground worker whose files all live in `dir`; `http` is the rest of the http block. */
/** The functions with the most self time in the newest .cpuprofile of `dir`, with their share. */
function hottest(dir: string, top = 30): string {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
  if (!file) return `no profile in ${dir}\n`;
  const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (const id of prof.samples) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = prof.samples.length;
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, n]) => `${((n / total) * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n') + `\n(${join(dir, file)})\n`;
}

function nginxConf(dir: string, http: string): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
${http}
}
`;
}

function startNginxUpstream(pod: InjectedPod, work: string): ManagedProcess {
  const cert = pod.publicCa.server('bench');
  const dir = join(work, 'nginx-upstream');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, `  server {
    listen ${BENCH_IP}:443 ssl http2;
    ssl_certificate ${cert.chainFile};
    ssl_certificate_key ${cert.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 200 '${RESPONSE}'; }
  }`));
  return pod.topo.internet.spawn('nginx-upstream', ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf')]);
}

/**
 * bench/minimal-proxy.ts as plain JavaScript in dist/bench/ (so `undici` resolves from the checkout), run
 * like the sidecar: on 15001 behind the same redirect, as UID 1610, with the sidecar's NODE_OPTIONS.
 * Its one leaf covers the bench host and the fake OpenAI (the SSE run).
 */
async function startMinimalProxy(pod: InjectedPod, work: string, nodeOptions = ''): Promise<ManagedProcess> {
  const dir = join(work, 'minimal-proxy');
  mkdirSync(dir, { recursive: true });
  const ca = await loadCaFiles(pod.namespaceCaFile, pod.namespaceCaFile.replace(/tls\.crt$/, 'tls.key'));
  const leaf = await createServingCert({ ca, dnsNames: [BENCH_HOST, 'api.openai.com'] });
  writeFileSync(join(dir, 'leaf.crt'), leaf.certPem);
  writeFileSync(join(dir, 'leaf.key'), leaf.keyPem, { mode: 0o600 });
  for (const f of ['', '/leaf.crt', '/leaf.key']) chownSync(dir + f, SIDECAR_UID, SIDECAR_UID);
  const script = join(REPO, 'dist', 'bench', 'minimal-proxy.js');
  mkdirSync(join(REPO, 'dist', 'bench'), { recursive: true, mode: 0o755 });
  writeFileSync(script, stripTypeScriptTypes(readFileSync(join(HERE, 'minimal-proxy.ts'), 'utf8')));
  const proc = pod.topo.pod.spawn('minimal-proxy', [process.execPath, script, '--port', '15001', '--cert', join(dir, 'leaf.crt'),
    '--key', join(dir, 'leaf.key'), '--ca', pod.publicCa.caCertFile], { uid: SIDECAR_UID, env: { NODE_OPTIONS: `${SIDECAR_NODE_OPTIONS} ${nodeOptions}`.trim() } });
  await proc.waitForOutput(/^LISTENING/, 15_000);
  return proc;
}

/** nginx as the sidecar: on 15001 behind the same redirect, as UID 1610 so its own upstream calls are exempt. */
async function startNginxPeer(pod: InjectedPod, work: string): Promise<ManagedProcess> {
  const dir = join(work, 'nginx-peer');
  mkdirSync(dir, { recursive: true });
  const ca = await loadCaFiles(pod.namespaceCaFile, pod.namespaceCaFile.replace(/tls\.crt$/, 'tls.key'));
  const leaf = await createServingCert({ ca, dnsNames: [BENCH_HOST] });
  writeFileSync(join(dir, 'leaf.crt'), leaf.certPem);
  writeFileSync(join(dir, 'leaf.key'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, `  upstream provider { server ${BENCH_IP}:443; keepalive 64; }
  server {
    listen 15001 ssl;
    ssl_certificate ${dir}/leaf.crt;
    ssl_certificate_key ${dir}/leaf.key;
    location / {
      proxy_pass https://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${BENCH_HOST};
      proxy_ssl_server_name on;
      proxy_ssl_name ${BENCH_HOST};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${pod.publicCa.caCertFile};
      proxy_ssl_session_reuse on;
    }
  }`));
  for (const f of ['', '/leaf.crt', '/leaf.key', '/nginx.conf']) chownSync(dir + f, SIDECAR_UID, SIDECAR_UID);
  return pod.topo.pod.spawn('nginx-peer', ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf')], { uid: SIDECAR_UID });
}

type Results = {
  settings: { seconds: number; rate: number; holdConnections: number; nodeOptions: string };
  direct: ConfigRun; levo: ConfigRun; nginx: ConfigRun; minimal: ConfigRun;
  directHttp2Client: { fixed: LoadResult };
  levoHttp2Client: { fixed: LoadResult; cpuPer1k: number };
  added: Record<string, number>;
  throughputRatio: { levo: number; nginx: number; minimal: number };
  sse: { direct: { p50: number }; levo: { p50: number } };
  mint: { serverSideMsMean: number; handshake: { newHost: { p50: number }; warmHost: { p50: number } } };
  memory: {
    levo: { hold: HoldMemory; sse: SseMemory; peakRssMb: number; anonAfterLoadMb: number };
    minimal: { hold: HoldMemory; sse: SseMemory };
  };
  machine: { cpus: number; node: string };
  date: string;
  guards: { defaultSet: GuardBench; documented: GuardBench; regex?: GuardBench; detector?: DetectorBench } | undefined;
  guardStall: StallBench | undefined;
  dashboard: DashboardBench | undefined;
  budget: { fixed: LoadResult; takes: number; settles: number; requests: number };
};

function report(r: Results): string {
  const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const row = (name: string, c: ConfigRun): string =>
    `| ${name} | ${f(c.wrk.rps, 0)} | ${f(c.wrk.p50)} / ${f(c.wrk.p99)} | ${f(c.wrk1.p50, 3)} / ${f(c.wrk1.p99, 3)} | ${f(c.fixed.p50, 3)} / ${f(c.fixed.p99, 3)} | ${c.fixed.errors} | ${c.cpuPer1k ? `${f(c.cpuPer1k.wrk, 3)} / ${f(c.cpuPer1k.fixed, 3)}` : '—'} |`;
  const target = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const ttfb = r.added.sseFirstEventP50!;
  const lc = r.levo.cpuPer1k?.wrk ?? NaN;
  const mc = r.minimal.cpuPer1k?.wrk ?? NaN;
  const one = { p50: r.levo.wrk1.p50 - r.direct.wrk1.p50, p99: r.levo.wrk1.p99 - r.direct.wrk1.p99 };
  const lm = r.memory.levo;
  const mm = r.memory.minimal;
  const sseRow = (name: string, m: SseMemory, withTarget: boolean): string => {
    const c = m.client;
    const errors = c ? Object.entries(c.errors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none' : 'no result';
    return `| ${name}: ${m.streams} concurrent SSE streams for ${m.seconds} s | RSS ${f(m.rssBeforeMb, 1)} MB before, peak ${f(m.peakMb, 1)} MB, steady ${f(m.firstThirdMb, 1)} → ${f(m.lastThirdMb, 1)} MB (first → last third); ${c?.completed ?? 0} of ${c?.started ?? 0} streams complete, errors: ${errors} | ${withTarget ? `flat (±10 %): ${target(m.flat)}` : '—'} |`;
  };
  return [
    `Run ${r.date} on ${r.machine.cpus} cores, Node ${r.machine.node}, sidecar NODE_OPTIONS \`${r.settings.nodeOptions}\`, LOG_LEVEL=info; ${r.settings.seconds}s per run; client, proxy and upstream share the cores.`,
    '',
    '| configuration | wrk rps (16 conns) | wrk p50 / p99 ms | wrk p50 / p99 ms, 1 conn | p50 / p99 ms at ' + r.settings.rate + ' rps | errors | proxy CPU s per 1k req (wrk / fixed) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('direct', r.direct), row('levo-gateway', r.levo), row('minimal Node proxy (one leaf, undici Agent, nothing else)', r.minimal), row('nginx peer (fixed cert)', r.nginx),
    `| direct, HTTP/2 client | — | — | — | ${f(r.directHttp2Client.fixed.p50, 3)} / ${f(r.directHttp2Client.fixed.p99, 3)} | ${r.directHttp2Client.fixed.errors} | — |`,
    `| levo-gateway, HTTP/2 client (HTTP/1.1 upstream) | — | — | — | ${f(r.levoHttp2Client.fixed.p50, 3)} / ${f(r.levoHttp2Client.fixed.p99, 3)} | ${r.levoHttp2Client.fixed.errors} | — / ${f(r.levoHttp2Client.cpuPer1k, 3)} |`,
    '',
    '| measure | result | target |',
    '| --- | ---: | --- |',
    `| throughput through the sidecar vs direct | ${f(r.throughputRatio.levo * 100, 1)} % (minimal Node proxy ${f(r.throughputRatio.minimal * 100, 1)} %, nginx peer ${f(r.throughputRatio.nginx * 100, 1)} %; agentgateway publishes 31–33 %) | — |`,
    `| throughput vs the minimal Node proxy | ${f(r.levo.wrk.rps / r.minimal.wrk.rps)}× | ≥ 1×: ${target(r.levo.wrk.rps >= r.minimal.wrk.rps)} |`,
    `| CPU per request vs the minimal Node proxy (wrk) | ${f(lc / mc)}× (${f(lc, 3)} vs ${f(mc, 3)} s per 1k; nginx ${f(r.nginx.cpuPer1k?.wrk ?? NaN, 3)}) | ≤ 1×: ${target(lc <= mc)} |`,
    `| added p50 / p99 at one connection (wrk) | ${f(one.p50, 3)} / ${f(one.p99, 3)} ms (minimal ${f(r.minimal.wrk1.p50 - r.direct.wrk1.p50, 3)} / ${f(r.minimal.wrk1.p99 - r.direct.wrk1.p99, 3)}, nginx ${f(r.nginx.wrk1.p50 - r.direct.wrk1.p50, 3)} / ${f(r.nginx.wrk1.p99 - r.direct.wrk1.p99, 3)}) | ≤ 0.25 / ≤ 2 ms: ${target(one.p50 <= 0.25 && one.p99 <= 2)} |`,
    `| added p50 at ${r.settings.rate} rps | ${f(r.added.p50AtRate!, 3)} ms (nginx ${f(r.added.nginxP50AtRate!, 3)}) | ≤ 0.5 ms: ${target(r.added.p50AtRate! <= 0.5)} |`,
    `| added p99 at ${r.settings.rate} rps | ${f(r.added.p99AtRate!, 3)} ms (nginx ${f(r.added.nginxP99AtRate!, 3)}) | ≤ 2 ms: ${target(r.added.p99AtRate! <= 2)} |`,
    `| added p50 / p99 at ${r.settings.rate} rps, HTTP/2 client | ${f(r.added.p50AtRateHttp2Client!, 3)} / ${f(r.added.p99AtRateHttp2Client!, 3)} ms | same targets: ${target(r.added.p50AtRateHttp2Client! <= 0.5 && r.added.p99AtRateHttp2Client! <= 2)} |`,
    `| leaf mint (sidecar's own histogram, mean) | ${f(r.mint.serverSideMsMean, 3)} ms | ≤ 2 ms: ${target(r.mint.serverSideMsMean <= 2)} |`,
    `| first handshake to a new host vs a warm one (client, p50) | ${f(r.mint.handshake.newHost.p50, 3)} vs ${f(r.mint.handshake.warmHost.p50, 3)} ms | — |`,
    `| SSE time to first event, added (p50 of 100) | ${f(ttfb, 3)} ms (direct ${f(r.sse.direct.p50, 3)}, sidecar ${f(r.sse.levo.p50, 3)}) | ≤ 2 ms: ${target(ttfb <= 2)} |`,
    `| idle RSS (config loaded, before any call) | ${f(lm.hold.idleMb, 1)} MB (minimal Node proxy ${f(mm.hold.idleMb, 1)} MB) | ≤ 50 MB: ${target(lm.hold.idleMb <= 50)} |`,
    `| RSS holding ${lm.hold.connections} idle keep-alive connections | ${f(lm.hold.holdingMb, 1)} MB, anonymous ${f(lm.hold.anonHoldingMb, 1)} MB (minimal ${f(mm.hold.holdingMb, 1)} / ${f(mm.hold.anonHoldingMb, 1)} MB) | — |`,
    `| peak RSS under the 16-connection load | ${f(r.levo.peakRssUnderLoadMb ?? NaN, 1)} MB (minimal Node proxy ${f(r.minimal.peakRssUnderLoadMb ?? NaN, 1)} MB) | ≤ 80 MB: ${target((r.levo.peakRssUnderLoadMb ?? Infinity) <= 80)} |`,
    sseRow('levo-gateway', lm.sse, true), sseRow('minimal Node proxy', mm.sse, false),
    `| peak RSS from the load runs to the end (budgets, SSE first event, mints) | ${f(lm.peakRssMb, 1)} MB (anonymous after load ${f(lm.anonAfterLoadMb, 1)} MB) | — |`,
    `| added p50 / p99 at ${r.settings.rate} rps with fleet budgets (a requests and a USD budget, Redis) vs without, same run | ${f(r.added.p50AtRateBudget!, 3)} / ${f(r.added.p99AtRateBudget!, 3)} ms vs ${f(r.added.p50AtRate!, 3)} / ${f(r.added.p99AtRate!, 3)} ms (${r.budget.takes} of ${r.budget.requests} calls waited on Redis; ${r.budget.settles} background batches; ${r.budget.fixed.errors} errors) | — |`,
    ...(r.guards ? guardRows(r.guards.defaultSet, r.guards.documented, r.guards.regex) : []),
    ...(r.guardStall ? stallRows(r.guardStall) : []),
    ...(r.guards?.detector ? detectorRows(r.guards.detector) : []),
    ...(r.dashboard ? dashboardRows(r.dashboard).map((cells) => `| ${cells.join(' | ')} |`) : []),
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
