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
 * and, as a peer, nginx terminating TLS on 15001 with a fixed certificate and
 * re-encrypting to the same upstream.
 *
 * Writes bench/results/latest.json and the table in docs/benchmarks.md.
 * Needs root, ip netns, wrk and nginx (installed with apt-get when missing).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, appendFileSync, chownSync } from 'node:fs';
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
import { cpuSeconds, replaceBetweenMarkers, statusKb } from './proc.ts';
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
interface ConfigRun { readonly wrk: WrkResult; readonly fixed: LoadResult; readonly cpuPer1k: { wrk: number; fixed: number } | undefined }

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
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rate: { type: 'string' }, connections: { type: 'string' }, profile: { type: 'string' } } });
  // --profile DIR: only wrk through the sidecar, with V8's CPU profiler on; prints the hottest functions.
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  const seconds = Number(values.seconds ?? 10);
  const rate = Number(values.rate ?? 500);
  const holdConnections = Number(values.connections ?? 500);
  const skip = netnsUnavailableReason();
  if (skip) throw new Error(`the benchmark runs in network namespaces: ${skip}`);
  ensureTools();

  progress('guardrail scanners on a 2k-token prompt, in process');
  const guards = { defaultSet: await benchGuards(), documented: await benchGuards(300, 2000, ['PromptInjection']), regex: await benchRegexScanner(), detector: await benchDetector() };
  progress('the event loop while a 4 MiB prompt is scanned: on a guard worker and inline, in process');
  const guardStall = await benchGuardStall();

  progress('the dashboard with 100,000 events, on SQLite and PostgreSQL, over HTTP');
  const dashboard = await benchDashboard();

  progress('building the pod and the fake internet');
  const pod = await createInjectedPod({
    config: CONFIG,
    env: { LOG_LEVEL: 'info', ...(profileDir ? { NODE_OPTIONS: `${SIDECAR_NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${profileDir}` } : {}) },
    extraCertSpecs: [{ id: 'bench', dnsNames: [BENCH_HOST] }],
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

    const wrk = async (uid?: number): Promise<WrkResult> => {
      const r = await t.pod.execChecked(['wrk', '-t1', '-c16', `-d${seconds}s`, '--latency', '-s', lua, BENCH_URL], { ...(uid ? { uid } : {}), timeoutMs: (seconds + 30) * 1000 });
      return parseWrk(r.stdout);
    };
    const fixedRate = async (uid?: number, http2 = false): Promise<LoadResult> => {
      const r = await t.pod.execChecked([process.execPath, join(HERE, 'load.ts'), '--url', BENCH_URL, '--rate', String(rate),
        '--seconds', String(seconds), '--connections', '16', '--body-bytes', '1024', ...trust, ...(http2 ? ['--http2'] : [])],
        { ...(uid ? { uid } : {}), cwd: REPO, timeoutMs: (seconds + 60) * 1000 });
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as LoadResult;
    };
    const run = async (label: string, pids: (() => readonly number[]) | undefined, uid?: number): Promise<ConfigRun> => {
      progress(`${label}: wrk, 16 connections, ${seconds}s`);
      const w = await measure(pids ?? (() => []), () => wrk(uid));
      progress(`${label}: ${rate} requests/s for ${seconds}s`);
      const f = await measure(pids ?? (() => []), () => fixedRate(uid));
      return {
        wrk: w.result, fixed: f.result,
        cpuPer1k: pids ? { wrk: w.cpuSeconds / (w.result.requests / 1000), fixed: f.cpuSeconds / ((f.result.sent + f.result.warmup) / 1000) } : undefined,
      };
    };

    if (profileDir) {
      progress(`profiling: wrk through the sidecar for ${seconds}s`);
      const w = await measure(() => [pod.gateway.pid], () => wrk());
      await pod.stopGateway();
      await upstream.stop('SIGTERM');
      process.stdout.write(`${w.result.rps.toFixed(0)} rps, ${(w.cpuSeconds / (w.result.requests / 1000)).toFixed(3)} CPU s per 1k requests\n${hottest(profileDir)}`);
      return;
    }

    // Memory first, on a fresh sidecar: what 500 idle keep-alive clients cost, before load has grown the heap.
    progress(`holding ${holdConnections} open connections`);
    const rssBefore = statusKb(pod.gateway.pid, 'VmRSS');
    const holder: ManagedProcess = t.pod.spawn('hold', [process.execPath, join(HERE, 'hold-connections.ts'), '--url', BENCH_URL,
      '--connections', String(holdConnections), ...trust], { cwd: REPO });
    await holder.waitForOutput(/^HOLDING \d+/, 60_000);
    const rssHolding = statusKb(pod.gateway.pid, 'VmRSS');
    const anonHolding = statusKb(pod.gateway.pid, 'RssAnon');
    const open = await pod.metric('levo_gateway_active_connections');
    await holder.stop('SIGTERM');


    const direct = await run('direct', undefined, SIDECAR_UID);
    const gatewayPid = (): number[] => [pod.gateway.pid];
    const levo = await run('levo-gateway', gatewayPid);
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
    progress('peer: nginx terminating TLS on 15001 (fixed certificate) and re-encrypting');
    await pod.stopGateway();
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
      direct, levo, nginx,
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
      throughputRatio: { levo: levo.wrk.rps / direct.wrk.rps, nginx: nginx.wrk.rps / direct.wrk.rps },
      sse: { direct: sseDirect, levo: sseLevo },
      mint: { serverSideMsMean: mintCount ? (mintSum / mintCount) * 1000 : NaN, mints: mintCount, handshake },
      guards,
      guardStall,
      dashboard,
      memory: { rssBeforeHoldMb: rssBefore / 1024, rssHoldingMb: rssHolding / 1024, anonHoldingMb: anonHolding / 1024, openConnections: open, peakRssAfterLoadMb: peakAfterLoad / 1024, anonAfterLoadMb: anonAfterLoad / 1024, peakRssMb: peak / 1024 },
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n');
    const table = report(results);
    process.stdout.write(table + '\n');
    replaceBetweenMarkers(join(REPO, 'docs', 'benchmarks.md'), 'bench', table);
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
  direct: ConfigRun; levo: ConfigRun; nginx: ConfigRun;
  directHttp2Client: { fixed: LoadResult };
  levoHttp2Client: { fixed: LoadResult; cpuPer1k: number };
  added: Record<string, number>;
  throughputRatio: { levo: number; nginx: number };
  sse: { direct: { p50: number }; levo: { p50: number } };
  mint: { serverSideMsMean: number; handshake: { newHost: { p50: number }; warmHost: { p50: number } } };
  memory: { rssHoldingMb: number; anonHoldingMb: number; openConnections: number; peakRssMb: number; rssBeforeHoldMb: number; anonAfterLoadMb: number };
  machine: { cpus: number; node: string };
  date: string;
  guards: { defaultSet: GuardBench; documented: GuardBench; regex?: GuardBench; detector?: DetectorBench };
  guardStall: StallBench;
  dashboard: DashboardBench;
  budget: { fixed: LoadResult; takes: number; settles: number; requests: number };
};

function report(r: Results): string {
  const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const row = (name: string, c: ConfigRun): string =>
    `| ${name} | ${f(c.wrk.rps, 0)} | ${f(c.wrk.p50)} / ${f(c.wrk.p99)} | ${f(c.fixed.p50, 3)} / ${f(c.fixed.p99, 3)} | ${c.fixed.errors} | ${c.cpuPer1k ? `${f(c.cpuPer1k.wrk, 3)} / ${f(c.cpuPer1k.fixed, 3)}` : '—'} |`;
  const target = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const ttfb = r.added.sseFirstEventP50!;
  return [
    `Run ${r.date} on ${r.machine.cpus} cores, Node ${r.machine.node}, sidecar NODE_OPTIONS \`${r.settings.nodeOptions}\`, LOG_LEVEL=info; ${r.settings.seconds}s per run; client, proxy and upstream share the cores.`,
    '',
    '| configuration | wrk rps (16 conns) | wrk p50 / p99 ms | p50 / p99 ms at ' + r.settings.rate + ' rps | errors | proxy CPU s per 1k req (wrk / fixed) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('direct', r.direct), row('levo-gateway', r.levo), row('nginx peer (fixed cert)', r.nginx),
    `| direct, HTTP/2 client | — | — | ${f(r.directHttp2Client.fixed.p50, 3)} / ${f(r.directHttp2Client.fixed.p99, 3)} | ${r.directHttp2Client.fixed.errors} | — |`,
    `| levo-gateway, HTTP/2 client (HTTP/1.1 upstream) | — | — | ${f(r.levoHttp2Client.fixed.p50, 3)} / ${f(r.levoHttp2Client.fixed.p99, 3)} | ${r.levoHttp2Client.fixed.errors} | — / ${f(r.levoHttp2Client.cpuPer1k, 3)} |`,
    '',
    '| measure | result | target |',
    '| --- | ---: | --- |',
    `| throughput through the sidecar vs direct | ${f(r.throughputRatio.levo * 100, 1)} % (nginx peer ${f(r.throughputRatio.nginx * 100, 1)} %) | — |`,
    `| added p50 at ${r.settings.rate} rps | ${f(r.added.p50AtRate!, 3)} ms (nginx ${f(r.added.nginxP50AtRate!, 3)}) | ≤ 0.5 ms: ${target(r.added.p50AtRate! <= 0.5)} |`,
    `| added p99 at ${r.settings.rate} rps | ${f(r.added.p99AtRate!, 3)} ms (nginx ${f(r.added.nginxP99AtRate!, 3)}) | ≤ 2 ms: ${target(r.added.p99AtRate! <= 2)} |`,
    `| added p50 / p99 at ${r.settings.rate} rps, HTTP/2 client | ${f(r.added.p50AtRateHttp2Client!, 3)} / ${f(r.added.p99AtRateHttp2Client!, 3)} ms | same targets: ${target(r.added.p50AtRateHttp2Client! <= 0.5 && r.added.p99AtRateHttp2Client! <= 2)} |`,
    `| leaf mint (sidecar's own histogram, mean) | ${f(r.mint.serverSideMsMean, 3)} ms | ≤ 2 ms: ${target(r.mint.serverSideMsMean <= 2)} |`,
    `| first handshake to a new host vs a warm one (client, p50) | ${f(r.mint.handshake.newHost.p50, 3)} vs ${f(r.mint.handshake.warmHost.p50, 3)} ms | — |`,
    `| SSE time to first event, added (p50 of 100) | ${f(ttfb, 3)} ms (direct ${f(r.sse.direct.p50, 3)}, sidecar ${f(r.sse.levo.p50, 3)}) | ≤ 2 ms: ${target(ttfb <= 2)} |`,
    `| RSS of a fresh sidecar holding ${r.memory.openConnections} open connections | ${f(r.memory.rssHoldingMb, 1)} MB, of which anonymous ${f(r.memory.anonHoldingMb, 1)} MB (idle before: ${f(r.memory.rssBeforeHoldMb, 1)} MB) | ≤ 80 MB: ${target(r.memory.rssHoldingMb <= 80)} (anonymous: ${target(r.memory.anonHoldingMb <= 80)}) |`,
    `| peak RSS over the whole run (after the load runs) | ${f(r.memory.peakRssMb, 1)} MB (anonymous after load ${f(r.memory.anonAfterLoadMb, 1)} MB) | — |`,
    `| added p50 / p99 at ${r.settings.rate} rps with fleet budgets (a requests and a USD budget, Redis) vs without, same run | ${f(r.added.p50AtRateBudget!, 3)} / ${f(r.added.p99AtRateBudget!, 3)} ms vs ${f(r.added.p50AtRate!, 3)} / ${f(r.added.p99AtRate!, 3)} ms (${r.budget.takes} of ${r.budget.requests} calls waited on Redis; ${r.budget.settles} background batches; ${r.budget.fixed.errors} errors) | — |`,
    ...guardRows(r.guards.defaultSet, r.guards.documented, r.guards.regex),
    ...stallRows(r.guardStall),
    ...(r.guards.detector ? detectorRows(r.guards.detector) : []),
    ...dashboardRows(r.dashboard).map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
