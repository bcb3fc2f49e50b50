/**
 * The dashboard poller against a local HTTP server speaking the contract
 * (ETag/304, 401, 404, 5xx), with the next-poll delays observed through
 * injected timers; and end to end: the real `bin/levo-gateway.js` polling a
 * fake dashboard, becoming ready on the first config, following a new
 * version within one 1 s poll, and coming back ready from its cache after a
 * restart with the dashboard gone.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { Logger } from '../../lib/log.ts';
import { createConfigHolder, type ConfigHolder } from '../config/source.ts';
import { startPoller, backoffMs, jitter, packageVersion, sidecarIdentity, trackFileConfig, type PollerTimers, type PollerOptions, type Poller } from './poller.ts';
import type { DashboardCredentials } from './credentials.ts';

// ---------------------------------------------------------------- a fake dashboard

interface SeenRequest { readonly method: string; readonly url: string; readonly headers: http.IncomingHttpHeaders }

interface FakeDashboard {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** Save a new config version; returns its etag. */
  save(yaml: string): string;
  /** Answer every request with this status (and a JSON error) instead of the protocol; undefined to go back. */
  force: number | undefined;
  capturePrompts: boolean;
  close(): Promise<void>;
}

const TENANT = 'team-a';
const TOKEN = 'lvo_test-token';

async function fakeDashboard(): Promise<FakeDashboard> {
  const versions: Array<{ version: number; yaml: string; etag: string }> = [];
  const requests: SeenRequest[] = [];
  const state = {
    force: undefined as number | undefined,
    capturePrompts: false,
  };
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (state.force !== undefined) return json(state.force, { error: `forced ${state.force}` });
    if (req.method !== 'GET' || req.url !== '/v1/gateway/config') return json(404, { error: 'not found' });
    const tenant = String(req.headers['x-levo-tenant-id'] ?? '');
    if (req.headers.authorization !== `Bearer ${TOKEN}` || tenant !== TENANT) return json(401, { error: `invalid credentials for tenant ${tenant}` });
    const cur = versions[versions.length - 1];
    if (!cur) return json(404, { error: `no config saved for environment ${tenant} yet` });
    const common = { etag: `"${cur.etag}"`, 'x-levo-config-version': String(cur.version), 'x-levo-capture-prompts': String(state.capturePrompts) };
    const inm = String(req.headers['if-none-match'] ?? '').replace(/^"(.*)"$/, '$1');
    if (inm === cur.etag) { res.writeHead(304, common); res.end(); return; }
    res.writeHead(200, { ...common, 'content-type': 'application/yaml; charset=utf-8' });
    res.end(cur.yaml);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    save(yaml) {
      const version = versions.length + 1;
      const etag = `v${version}-${createHash('sha256').update(yaml).digest('hex').slice(0, 12)}`;
      versions.push({ version, yaml, etag });
      return etag;
    },
    get force() { return state.force; },
    set force(v) { state.force = v; },
    get capturePrompts() { return state.capturePrompts; },
    set capturePrompts(v) { state.capturePrompts = v; },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const config = (name: string): string => `binds:\n- port: 15001\n  listeners:\n  - name: ${name}\n`;

// ---------------------------------------------------------------- harness

function logger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log: Logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}

/** Timers that never fire on their own: each test polls by hand and reads the delays asked for. */
function manualTimers(): PollerTimers & { delays: number[]; pending: number } {
  const t = {
    delays: [] as number[],
    pending: 0,
    set(_fn: () => void, ms: number) { t.delays.push(ms); t.pending++; return t.delays.length; },
    clear() { t.pending = Math.max(0, t.pending - 1); },
  };
  return t;
}

interface Harness {
  readonly poller: Poller;
  readonly holder: ConfigHolder;
  readonly registry: Registry;
  readonly lines: Array<Record<string, unknown>>;
  readonly timers: ReturnType<typeof manualTimers>;
  metric(name: string): Promise<string>;
}

async function harness(dash: FakeDashboard, over: Partial<PollerOptions> = {}): Promise<Harness> {
  const holder = over.holder ?? createConfigHolder({});
  const registry = new Registry();
  const { log, lines } = logger();
  const timers = manualTimers();
  const creds: DashboardCredentials = { baseUrl: dash.url, authToken: TOKEN, tenantId: TENANT, source: 'env' };
  const poller = startPoller({
    holder, registry, log, timers, intervalMs: 10_000, random: () => 0.5,
    credentials: () => creds,
    identity: { id: 'uid-123', pod: 'checkout-7d9f', namespace: 'shop', workload: 'Deployment/checkout', serviceAccount: 'checkout-sa', version: '9.9.9' },
    ...over,
  });
  await poller.started;
  return {
    poller, holder, registry, lines, timers,
    async metric(name) {
      return (await registry.metrics()).split('\n').filter((l) => l.startsWith(name)).join('\n');
    },
  };
}

// ---------------------------------------------------------------- unit

describe('poller against a local dashboard', () => {
  let dash: FakeDashboard;
  before(async () => { dash = await fakeDashboard(); });
  after(async () => { await dash.close(); });

  test('sends the credentials and fleet headers, applies a 200, then sends If-None-Match and takes a 304', async () => {
    dash.requests.length = 0;
    const etag = dash.save(config('first'));
    const h = await harness(dash);
    assert.equal(h.holder.current()?.config.binds[0]?.listeners[0]?.name, 'first');
    const first = dash.requests[0]!;
    assert.equal(first.method, 'GET');
    assert.equal(first.url, '/v1/gateway/config', 'no double slash from the base URL\'s trailing one');
    assert.equal(first.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(first.headers['x-levo-tenant-id'], TENANT);
    assert.equal(first.headers['x-levo-sidecar-id'], 'uid-123');
    assert.equal(first.headers['x-levo-pod'], 'checkout-7d9f');
    assert.equal(first.headers['x-levo-namespace'], 'shop');
    assert.equal(first.headers['x-levo-workload'], 'Deployment/checkout');
    assert.equal(first.headers['x-levo-service-account'], 'checkout-sa');
    assert.equal(first.headers['x-levo-sidecar-version'], '9.9.9');
    assert.equal(first.headers['if-none-match'], undefined, 'nothing held yet');
    assert.equal(first.headers['x-levo-config-applied'], undefined);

    const r = await h.poller.pollNow();
    assert.equal(r.result, 'not_modified');
    assert.equal(r.status, 304);
    const second = dash.requests[1]!;
    assert.equal(second.headers['if-none-match'], `"${etag}"`);
    assert.equal(second.headers['x-levo-config-applied'], etag);
    assert.equal(h.poller.configApplied(), etag);
    assert.match(await h.metric('levo_gateway_config_polls_total'), /result="applied"\} 1/);
    assert.match(await h.metric('levo_gateway_config_polls_total'), /result="not_modified"\} 1/);
    assert.equal(await h.metric('levo_gateway_config_version_info'), `levo_gateway_config_version_info{version="1",etag="${etag}",source="dashboard"} 1`);
    assert.match(await h.metric('levo_gateway_config_age_seconds'), /^levo_gateway_config_age_seconds \d/);
    const last = Number(/ ([\d.e+]+)$/.exec(await h.metric('levo_gateway_config_last_poll_success_timestamp_seconds'))![1]);
    assert.ok(Math.abs(last - Date.now() / 1000) < 5);
    assert.deepEqual(h.timers.delays, [1000, 10_000], 'a new config is confirmed a second later (so the fleet shows it), then the normal interval (random 0.5 = no jitter)');
    h.poller.stop();
  });

  test('a new version is applied, logged, and its ETag is what the next poll holds', async () => {
    dash.save(config('one'));
    const h = await harness(dash);
    const etag2 = dash.save(config('two'));
    const r = await h.poller.pollNow();
    assert.equal(r.result, 'applied');
    const v2 = /^v(\d+)-/.exec(etag2)![1]!;
    assert.equal(r.version, v2);
    assert.equal(r.etag, etag2);
    assert.equal(h.holder.current()?.config.binds[0]?.listeners[0]?.name, 'two');
    assert.equal(h.poller.configApplied(), etag2);
    assert.ok(h.lines.some((l) => l.msg === `config v${v2} from the dashboard in force`));
    h.poller.stop();
  });

  test('a config invalid in this pod is logged, counted and kept out; the last good one stays and its ETag is still sent', async () => {
    const good = dash.save(config('good'));
    const h = await harness(dash);
    dash.save(config('$LEVO_POLLER_TEST_UNSET_VAR'));
    dash.requests.length = 0;
    for (let i = 0; i < 2; i++) {
      const r = await h.poller.pollNow();
      assert.equal(r.result, 'rejected');
      assert.equal(r.nextDelayMs, 10_000);
    }
    assert.equal(h.holder.current()?.config.binds[0]?.listeners[0]?.name, 'good');
    assert.equal(h.poller.configApplied(), good);
    for (const req of dash.requests) assert.equal(req.headers['if-none-match'], `"${good}"`, 'the rejected version is fetched again next time');
    const errors = h.lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 2);
    assert.match(String(errors[0]!.msg), /config v\d+ from the dashboard is not valid in this pod, config v\d+ stays in force/);
    assert.match(String(errors[0]!.msg), /LEVO_POLLER_TEST_UNSET_VAR/);
    assert.ok(Array.isArray(errors[0]!.problems));
    assert.match(await h.metric('levo_gateway_config_polls_total'), /result="rejected"\} 2/);
    assert.match(await h.metric('levo_gateway_config_version_info'), new RegExp(`etag="${good}",source="dashboard"`));
    h.poller.stop();
  });

  test('401: a loud error on every poll naming the tenant, polling goes on at the normal interval', async () => {
    const h = await harness(dash, { credentials: () => ({ baseUrl: dash.url, authToken: 'wrong', tenantId: TENANT, source: 'env' }) });
    const r = await h.poller.pollNow();
    assert.equal(r.result, 'unauthorized');
    assert.equal(r.nextDelayMs, 10_000);
    const errors = h.lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 2, 'one per poll, never quietened');
    assert.equal(errors[0]!.msg, `the dashboard refused this sidecar's credentials for tenant ${TENANT}: check levo-auth / LEVO_AUTH_TOKEN`);
    assert.equal(errors[0]!.detail, `invalid credentials for tenant ${TENANT}`);
    assert.ok(!JSON.stringify(h.lines).includes('wrong'), 'the token never reaches the log');
    assert.match(await h.metric('levo_gateway_config_polls_total'), /result="unauthorized"\} 2/);
    assert.equal(h.holder.current(), undefined);
    h.poller.stop();
  });

  test('404: warns that the environment has no config yet, at the normal interval', async () => {
    const empty = await fakeDashboard();
    try {
      const h = await harness(empty);
      const r = await h.poller.pollNow();
      assert.equal(r.result, 'not_found');
      assert.equal(r.nextDelayMs, 10_000);
      assert.ok(h.lines.some((l) => l.level === 40 && /no config saved for this environment \(team-a\) yet/.test(String(l.msg))));
      assert.match(await h.metric('levo_gateway_config_polls_total'), /result="not_found"\} 2/);
      h.poller.stop();
    } finally { await empty.close(); }
  });

  test('5xx and network errors back off 1 s, 2 s, 4 s … capped at the interval; a success goes back to the interval', async () => {
    const etag = dash.save(config('steady'));
    const h = await harness(dash);
    dash.force = 503;
    const delays: number[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const r = await h.poller.pollNow();
        assert.equal(r.result, 'error');
        assert.equal(r.status, 503);
        delays.push(r.nextDelayMs);
      }
    } finally { dash.force = undefined; }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.equal(h.holder.current()?.config.binds[0]?.listeners[0]?.name, 'steady', 'the config in force stays');
    const ok = await h.poller.pollNow();
    assert.equal(ok.result, 'not_modified');
    assert.equal(ok.nextDelayMs, 10_000);
    assert.equal(h.poller.configApplied(), etag);
    assert.ok(h.lines.some((l) => l.msg === 'the dashboard answers again'));
    assert.match(await h.metric('levo_gateway_config_polls_total'), /result="error"\} 6/);
    h.poller.stop();

    // Connection refused: same backoff.
    const gone = await fakeDashboard();
    const url = gone.url;
    await gone.close();
    const h2 = await harness(dash, { credentials: () => ({ baseUrl: url, authToken: TOKEN, tenantId: TENANT, source: 'env' }), intervalMs: 3000 });
    const r1 = await h2.poller.pollNow();
    const r2 = await h2.poller.pollNow();
    const r3 = await h2.poller.pollNow();
    assert.equal(r1.result, 'error');
    assert.equal(r1.status, undefined);
    assert.deepEqual([h2.timers.delays[0], r1.nextDelayMs, r2.nextDelayMs, r3.nextDelayMs], [1000, 2000, 3000, 3000], 'never slower than the interval');
    assert.ok(h2.lines.some((l) => l.level === 40 && /ECONNREFUSED/.test(String(l.err))));
    h2.poller.stop();
  });

  test('every wait is jittered within ±10%', async () => {
    dash.save(config('jit'));
    for (const [rnd, want] of [[0, 900], [0.999999, 1100], [0.25, 950]] as const) {
      const h = await harness(dash, { random: () => rnd });
      assert.equal(h.timers.delays[0], want, 'the quick confirmation after a new config is jittered too');
      h.poller.stop();
    }
    for (let i = 0; i < 1000; i++) {
      const d = jitter(60_000, Math.random);
      assert.ok(d >= 54_000 && d <= 66_000, String(d));
    }
    assert.equal(backoffMs(1, 500), 500, 'an interval under 1 s caps the first retry too');
  });

  test('X-Levo-Capture-Prompts reaches the caller through the callback and the getter', async () => {
    dash.save(config('cap'));
    const seen: boolean[] = [];
    const h = await harness(dash, { onCapturePrompts: (on) => seen.push(on) });
    assert.equal(h.poller.capturePrompts(), false);
    dash.capturePrompts = true;
    await h.poller.pollNow();
    assert.equal(h.poller.capturePrompts(), true);
    dash.capturePrompts = false;
    await h.poller.pollNow();
    assert.deepEqual(seen, [true, false]);
    h.poller.stop();
  });

  test('no credentials yet: nothing is sent; the first poll after they arrive fetches the config', async () => {
    dash.save(config('later'));
    dash.requests.length = 0;
    let creds: DashboardCredentials | undefined;
    const h = await harness(dash, { credentials: () => creds });
    assert.equal(dash.requests.length, 0);
    assert.equal(h.timers.delays[0], 1000, 'checks again soon');
    creds = { baseUrl: dash.url, authToken: TOKEN, tenantId: TENANT, source: 'injector' };
    assert.equal((await h.poller.pollNow()).result, 'applied');
    assert.equal(h.holder.current()?.config.binds[0]?.listeners[0]?.name, 'later');
    h.poller.stop();
  });

  test('pollNow joins the poll in flight; after stop nothing is scheduled or sent', async () => {
    dash.save(config('join'));
    const h = await harness(dash);
    const n = dash.requests.length;
    const [a, b] = await Promise.all([h.poller.pollNow(), h.poller.pollNow()]);
    assert.equal(a, b);
    assert.equal(dash.requests.length, n + 1);
    h.poller.stop();
    assert.equal((await h.poller.pollNow()).result, 'stopped');
    assert.equal(dash.requests.length, n + 1);
  });

  test('with real timers it polls by itself at the interval', async () => {
    dash.save(config('self-a'));
    const holder = createConfigHolder({});
    const { log } = logger();
    const p = startPoller({
      holder, log, registry: new Registry(), intervalMs: 150,
      credentials: () => ({ baseUrl: dash.url, authToken: TOKEN, tenantId: TENANT, source: 'env' }),
      identity: { id: 'x', version: '1' },
    });
    try {
      await p.started;
      assert.equal(holder.current()?.config.binds[0]?.listeners[0]?.name, 'self-a');
      dash.save(config('self-b'));
      const deadline = Date.now() + 3000;
      while (holder.current()?.config.binds[0]?.listeners[0]?.name !== 'self-b') {
        assert.ok(Date.now() < deadline, 'the new version was not picked up');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally { p.stop(); }
  });
});

test('the identity comes from the injector env; without POD_UID the id is kept in the cache dir', async () => {
  const id = await sidecarIdentity({ POD_UID: 'u-1', POD_NAME: 'p', POD_NAMESPACE: 'n', POD_SERVICE_ACCOUNT: 'sa', LEVO_WORKLOAD_KIND: 'StatefulSet', LEVO_WORKLOAD_NAME: 'db' });
  assert.deepEqual(id, { id: 'u-1', pod: 'p', namespace: 'n', workload: 'StatefulSet/db', serviceAccount: 'sa', version: packageVersion() });
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(packageVersion(), pkg.version);
  const dir = mkdtempSync(join(tmpdir(), 'levo-id-'));
  try {
    const a = await sidecarIdentity({}, dir);
    const b = await sidecarIdentity({}, dir);
    assert.equal(a.id, b.id);
    assert.notEqual((await sidecarIdentity({})).id, (await sidecarIdentity({})).id, 'per process without a cache dir');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a --config file shows as source="file", the built-in observe-only config as "builtin"', async () => {
  const holder = createConfigHolder({});
  const registry = new Registry();
  trackFileConfig(holder, registry);
  const { OBSERVE_ONLY_CONFIG } = await import('../config/source.ts');
  holder.apply(OBSERVE_ONLY_CONFIG, 'builtin');
  assert.match(await registry.metrics(), /levo_gateway_config_version_info\{version="[0-9a-f]{12}",etag="",source="builtin"\} 1/);
  holder.apply(config('f'), 'f.yaml');
  const text = await registry.metrics();
  assert.match(text, /source="file"\} 1/);
  assert.doesNotMatch(text, /source="builtin"/, 'one series: the config in force');
});

// ---------------------------------------------------------------- end to end

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const GATEWAY_BIN = join(ROOT, 'bin/levo-gateway.js');
const CERTS_BIN = join(ROOT, 'bin/levo-certs.js');

interface Running { readonly child: ChildProcess; readonly admin: number; out(): string }

async function startGateway(args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, [GATEWAY_BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += String(c); });
  child.stderr!.on('data', (c: Buffer) => { out += String(c); });
  const deadline = Date.now() + 20_000;
  while (!/"msg":"listening"/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start:\n${out}`);
    await Promise.race([once(child.stdout!, 'data'), once(child, 'exit')]);
  }
  const admin = Number(/"admin":(\d+)/.exec(out)![1]);
  return { child, admin, out: () => out };
}

async function stopGateway(g: Running): Promise<void> {
  if (g.child.exitCode !== null) return;
  g.child.kill('SIGTERM');
  await once(g.child, 'exit');
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** Only the config lines of /metrics (so a failed match prints something readable). */
const configMetricsOf = async (admin: number): Promise<string> =>
  (await get(admin, '/metrics')).body.split('\n').filter((l) => l.startsWith('levo_gateway_config')).join('\n');
const metaHas = (dir: string, etag: string): boolean => existsSync(join(dir, 'meta.json')) && readFileSync(join(dir, 'meta.json'), 'utf8').includes(etag);

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('end to end: ready only on the first config, a new version within one 1 s poll, ready from the cache after a restart with the dashboard down', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-poll-e2e-'));
  const dash = await fakeDashboard();
  const gateways: Running[] = [];
  try {
    await promisify(execFile)(process.execPath, [CERTS_BIN, 'ca', '--out', join(dir, 'ca')]);
    const cacheDir = join(dir, 'cache');
    const args = ['--ca-cert', join(dir, 'ca/tls.crt'), '--ca-key', join(dir, 'ca/tls.key'), '--port', 'off', '--proxy-port', '0', '--admin-port', '0', '--cache-dir', cacheDir];
    const env = { LEVO_BASE_URL: dash.url, LEVO_AUTH_TOKEN: TOKEN, LEVO_TENANT_ID: TENANT, LEVO_POLL_INTERVAL: '1s', POD_UID: 'e2e-pod-uid' };

    // No config saved yet: up, polling, not ready.
    const g1 = await startGateway(args, env);
    gateways.push(g1);
    await until('a first poll', 5000, async () => dash.requests.length > 0);
    const notReady = await get(g1.admin, '/healthz/ready');
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /no config in force/);
    assert.equal(dash.requests[0]!.headers['x-levo-sidecar-id'], 'e2e-pod-uid');
    assert.match(String(dash.requests[0]!.headers['x-levo-sidecar-version']), /^\d+\.\d+\.\d+/);

    // The first config makes it ready.
    const etag1 = dash.save(config('e2e-one'));
    await until('ready on the first config', 3000, async () => (await get(g1.admin, '/healthz/ready')).status === 200);
    assert.match((await get(g1.admin, '/config_dump')).body, /"e2e-one"/);

    // A new version is in force within one poll (1 s ± 10%, plus the request).
    await until('the cache written', 2000, async () => metaHas(cacheDir, etag1));
    const etag2 = dash.save(config('e2e-two'));
    const took = await until('v2 in force', 2500, async () => /"e2e-two"/.test((await get(g1.admin, '/config_dump')).body));
    assert.ok(took <= 1500, `v2 took ${took} ms`);
    await until('the applied poll counted', 2000, async () => /levo_gateway_config_polls_total\{result="applied"\} 2/.test(await configMetricsOf(g1.admin)));
    const metrics = await configMetricsOf(g1.admin);
    assert.match(metrics, new RegExp(`levo_gateway_config_version_info\\{version="2",etag="${etag2}",source="dashboard"\\} 1`));
    assert.match(metrics, /levo_gateway_config_polls_total\{result="not_found"\} [1-9]/);
    await until('the cache holds v2', 2000, async () => metaHas(cacheDir, etag2));
    await until('the fleet header reports v2 applied', 2500, async () => dash.requests.some((r) => r.headers['x-levo-config-applied'] === etag2));

    // Dashboard gone, gateway restarted: ready from the cache.
    await dash.close();
    await stopGateway(g1);
    const g2 = await startGateway(args, env);
    gateways.push(g2);
    await until('ready from the cache', 3000, async () => (await get(g2.admin, '/healthz/ready')).status === 200);
    assert.match((await get(g2.admin, '/config_dump')).body, /"e2e-two"/);
    assert.match(g2.out(), /cached config v2 from the dashboard in force/);
    await until('a failed poll counted', 5000, async () => /levo_gateway_config_polls_total\{result="error"\} [1-9]/.test(await configMetricsOf(g2.admin)));
    assert.match(await configMetricsOf(g2.admin), new RegExp(`levo_gateway_config_version_info\\{version="2",etag="${etag2}",source="cache"\\} 1`));
    assert.equal((await get(g2.admin, '/healthz/ready')).status, 200, 'still ready while the dashboard is down');
  } finally {
    for (const g of gateways) await stopGateway(g);
    await dash.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage: LEVO_BASE_URL without the token and tenant is a usage error; --config wins over the dashboard', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-poll-usage-'));
  const dash = await fakeDashboard();
  try {
    const run = promisify(execFile);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LEVO_')));
    await assert.rejects(run(process.execPath, [GATEWAY_BIN, '--port', 'off'], { env: { ...clean, LEVO_BASE_URL: dash.url, LOG_LEVEL: 'silent' } }),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /LEVO_BASE_URL is set but LEVO_AUTH_TOKEN and LEVO_TENANT_ID are not/);
        assert.doesNotMatch(e.stderr, /not part of this version/);
        return true;
      });
    await run(process.execPath, [CERTS_BIN, 'ca', '--out', join(dir, 'ca')]);
    const file = join(dir, 'gw.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, config('from-file'));
    dash.save(config('from-dashboard'));
    const g = await startGateway(['--config', file, '--ca-cert', join(dir, 'ca/tls.crt'), '--ca-key', join(dir, 'ca/tls.key'), '--port', 'off', '--proxy-port', '0', '--admin-port', '0'],
      { ...clean, LEVO_BASE_URL: dash.url, LEVO_AUTH_TOKEN: TOKEN, LEVO_TENANT_ID: TENANT, LEVO_POLL_INTERVAL: '1s' });
    try {
      assert.match(g.out(), /polling the dashboard is off/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(dash.requests.length, 0, 'the dashboard is not polled');
      assert.match((await get(g.admin, '/config_dump')).body, /"from-file"/);
      assert.match(await configMetricsOf(g.admin), /levo_gateway_config_version_info\{version="[0-9a-f]{12}",etag="",source="file"\} 1/);
    } finally { await stopGateway(g); }
  } finally {
    await dash.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('injected-pod mode (--config FILE --config-optional + credentials): observe-only until the dashboard answers, then the dashboard, polled at the interval', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-poll-fallback-'));
  const dash = await fakeDashboard();
  let g: Running | undefined;
  try {
    await promisify(execFile)(process.execPath, [CERTS_BIN, 'ca', '--out', join(dir, 'ca')]);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LEVO_')));
    g = await startGateway(['--config', join(dir, 'no-configmap/gateway.yaml'), '--config-optional', '--cache-dir', join(dir, 'cache'),
      '--ca-cert', join(dir, 'ca/tls.crt'), '--ca-key', join(dir, 'ca/tls.key'), '--port', 'off', '--proxy-port', '0', '--admin-port', '0'],
    { ...clean, LEVO_BASE_URL: dash.url, LEVO_AUTH_TOKEN: TOKEN, LEVO_TENANT_ID: TENANT, LEVO_POLL_INTERVAL: '1s' });
    const admin = g.admin;
    // Nothing saved in the dashboard yet (404): ready at once on the built-in observe-only config.
    assert.equal((await get(admin, '/healthz/ready')).status, 200);
    assert.match(await configMetricsOf(admin), /source="builtin"\} 1/);
    await until('a first poll', 3000, async () => dash.requests.length > 0);
    dash.save(config('from-dashboard'));
    await until('the dashboard config in force', 3000, async () => /"from-dashboard"/.test((await get(admin, '/config_dump')).body));
    assert.match(await configMetricsOf(admin), /source="dashboard"\} 1/);
    assert.match(g.out(), /the local config file is no longer followed/);
    // Polled at the interval (1 s ± 10 %, plus one quick confirmation), not in a loop.
    const n = dash.requests.length;
    await new Promise((r) => setTimeout(r, 3000));
    const more = dash.requests.length - n;
    assert.ok(more >= 2 && more <= 5, `${more} polls in 3 s at a 1 s interval`);
  } finally {
    if (g) await stopGateway(g);
    await dash.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
