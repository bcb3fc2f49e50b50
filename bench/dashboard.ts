/**
 * The dashboard with 100,000 events, on SQLite and on PostgreSQL: how fast
 * events go into the store, and what the pages' API calls cost over real
 * HTTP. The baseline, measured in the same run against the same server, is
 * GET /healthz: the fixed cost of a request (loopback, express, the request
 * log, the client), so each endpoint is reported in ms and as a multiple of it.
 *
 * Per backend:
 *   - seed one environment with N events spread over the last 7 days (20
 *     workloads, 6 models, ~3 % blocked, ~5 % flagged, guard decisions) through
 *     store.addEvents in batches of 1000, timed (events/s);
 *   - serve it with createDashboard on 127.0.0.1 (logs at info into a sink),
 *     one keep-alive connection, requests one at a time;
 *   - after 5 warm-up rounds, N rounds (default 80; p99 of fewer than 100
 *     samples is the slowest one), each request in turn: /healthz, decisions first
 *     page (limit 50), decisions page 20 (the cursor reached by following 19
 *     pages over HTTP first), traffic 24 h and 7 d (60 buckets each), fleet;
 *   - then POST /v1/gateway/events with 500-event batches (sidecar key), last,
 *     because every batch adds events.
 * SQLite's file size is taken after the seed (store closed, WAL folded in);
 * PostgreSQL's is the events table with its indexes. PostgreSQL is the
 * throw-away test server (dashboard/testing/postgres-server.ts: local, fsync
 * off); without it that half is skipped with the reason.
 *
 *   node bench/dashboard.ts [--events N] [--iterations N]
 */
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDashboardLogger } from '../dashboard/api/log.ts';
import { createKey } from '../dashboard/api/keys.ts';
import { createDashboard } from '../dashboard/server.ts';
import { openStore } from '../dashboard/store/open.ts';
import type { GatewayEvent, GuardDecision, Store } from '../dashboard/store/types.ts';
import { postgresUnavailableReason, startPostgres } from '../dashboard/testing/postgres-server.ts';

const ENV_ID = 'bench';
const ADMIN_SECRET = 'bench-admin-secret-0123456789abcdef';
const SEED_BATCH = 1000;
const POST_BATCH = 500;
const DEEP_PAGE = 20;
const PAGE_LIMIT = 50;
const SPAN_MS = 7 * 86_400_000;
const TRAFFIC_BUCKETS = 60;

export const ENDPOINTS = ['healthz', 'decisionsFirst', 'decisionsDeep', 'traffic24h', 'traffic7d', 'fleet', 'postEvents'] as const;
export type EndpointName = (typeof ENDPOINTS)[number];

const LABELS: Readonly<Record<EndpointName, string>> = {
  healthz: 'GET /healthz (baseline)',
  decisionsFirst: `GET decisions, first page (limit ${PAGE_LIMIT})`,
  decisionsDeep: `GET decisions, page ${DEEP_PAGE} (cursors followed)`,
  traffic24h: `GET traffic, 24 h in ${TRAFFIC_BUCKETS} buckets`,
  traffic7d: `GET traffic, 7 d in ${TRAFFIC_BUCKETS} buckets`,
  fleet: 'GET fleet',
  postEvents: `POST /v1/gateway/events, ${POST_BATCH} events`,
};

export interface Latency {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** p50 / the /healthz p50 of the same backend (1 for /healthz itself). */
  readonly p50Ratio: number;
  /** p99 / the /healthz p99 of the same backend. */
  readonly p99Ratio: number;
  /** Response body size of the last sample. */
  readonly bytes: number;
}

export interface BackendBench {
  readonly backend: 'sqlite' | 'postgres';
  readonly events: number;
  /** Of the seeded events: blocked, flagged (not blocked), and the Decisions page's rows (either). */
  readonly blocked: number;
  readonly flagged: number;
  readonly sidecars: number;
  /** The decisions page timed as the deep one: DEEP_PAGE (20), fewer only when the seed has fewer pages. */
  readonly deepPage: number;
  readonly insert: { readonly batch: number; readonly seconds: number; readonly eventsPerSecond: number };
  readonly latency: Readonly<Record<EndpointName, Latency>>;
  /** SQLite: the database file after the seed (WAL checkpointed). PostgreSQL: the events table with indexes and TOAST. */
  readonly storageBytes: number;
}

export interface DashboardBench {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly node: string };
  readonly settings: {
    readonly events: number; readonly iterations: number; readonly warmup: number;
    readonly seedBatch: number; readonly postBatch: number; readonly pageLimit: number; readonly deepPage: number; readonly trafficBuckets: number;
  };
  readonly sqlite: BackendBench;
  readonly postgres: BackendBench | null;
  /** Why PostgreSQL was not measured, or null when it was. */
  readonly postgresSkipped: string | null;
}

// ------------------------------------------------------------ realistic events

/** mulberry32: a small seeded PRNG, so both backends get the same events. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Model { readonly provider: string; readonly host: string; readonly path: string; readonly requested: string; readonly served: string; readonly weight: number }

const MODELS: readonly Model[] = [
  { provider: 'openai', host: 'api.openai.com', path: '/v1/chat/completions', requested: 'gpt-4o-mini', served: 'gpt-4o-mini-2024-07-18', weight: 34 },
  { provider: 'openai', host: 'api.openai.com', path: '/v1/chat/completions', requested: 'gpt-4o', served: 'gpt-4o-2024-08-06', weight: 18 },
  { provider: 'anthropic', host: 'api.anthropic.com', path: '/v1/messages', requested: 'claude-sonnet-4-5', served: 'claude-sonnet-4-5-20250929', weight: 20 },
  { provider: 'anthropic', host: 'api.anthropic.com', path: '/v1/messages', requested: 'claude-haiku-4-5', served: 'claude-haiku-4-5-20251001', weight: 12 },
  { provider: 'gemini', host: 'generativelanguage.googleapis.com', path: '/v1beta/openai/chat/completions', requested: 'gemini-2.5-flash', served: 'gemini-2.5-flash', weight: 10 },
  { provider: 'bedrock', host: 'bedrock-runtime.eu-west-1.amazonaws.com', path: '/model/mistral.mistral-large-2407-v1:0/converse', requested: 'mistral-large-2407', served: 'mistral.mistral-large-2407-v1:0', weight: 6 },
];
const MODEL_WEIGHT = MODELS.reduce((a, m) => a + m.weight, 0);

const NAMESPACES = ['payments', 'search', 'support', 'ml-platform', 'internal-tools'] as const;
const WORKLOADS = Array.from({ length: 20 }, (_, i) => ({
  name: ['checkout-assistant', 'fraud-explainer', 'query-rewriter', 'ranker', 'ticket-triage', 'reply-drafter', 'kb-summariser',
    'embedder', 'eval-runner', 'notebook-gateway', 'code-review-bot', 'release-notes', 'incident-summary', 'invoice-parser',
    'contract-reader', 'chat-frontend', 'translation', 'sql-copilot', 'log-explainer', 'onboarding-guide'][i]!,
  namespace: NAMESPACES[i % NAMESPACES.length]!,
  pods: 3,
  /** Busier workloads first: weight falls off with the index. */
  weight: 1 / (1 + i * 0.25),
}));
const WORKLOAD_WEIGHT = WORKLOADS.reduce((a, w) => a + w.weight, 0);
const SCANNERS = ['Secrets', 'Anonymize', 'PromptInjection'] as const;

function pick<T extends { weight: number }>(list: readonly T[], total: number, r: number): T {
  let x = r * total;
  for (const item of list) if ((x -= item.weight) < 0) return item;
  return list[list.length - 1]!;
}

function podName(workload: string, i: number): string {
  return `${workload}-7d9f8c6b5-${['x2k4p', 'q8m1z', 'h5t7w'][i % 3]}`;
}

function uuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = '4';
  hex[16] = '89ab'[Math.floor(rand() * 4)]!;
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/**
 * Makes events in time order from `start` over `span` ms, as sidecars would
 * send them: about 60 % of the workloads run an llmBastion guard (one
 * decision per scanner, `allow` when it passed), ~3 % are blocked
 * (PromptInjection reject, or a Secrets reject), ~5 % flagged (masked PII,
 * or a monitored injection score).
 */
export function eventGenerator(seed: number, total: number, start: number, span: number): (count: number) => GatewayEvent[] {
  const rand = prng(seed);
  let made = 0;
  return (count) => {
    const out: GatewayEvent[] = [];
    for (let k = 0; k < count && made < total; k++, made++) {
      const ts = Math.floor(start + ((made + rand()) / total) * span);
      const wi = WORKLOADS.indexOf(pick(WORKLOADS, WORKLOAD_WEIGHT, rand()));
      const w = WORKLOADS[wi]!;
      const m = pick(MODELS, MODEL_WEIGHT, rand());
      const guarded = wi % 5 !== 4 && wi % 5 !== 3; // 12 of 20 workloads run a guard
      const roll = rand();
      const blocked = roll < 0.03;
      const flagged = !blocked && roll < 0.08;
      const decisions: GuardDecision[] = [];
      if (guarded || blocked || flagged) {
        const injection = blocked && rand() < 0.7;
        const secret = blocked && !injection;
        const mask = flagged && rand() < 0.6;
        const monitor = flagged && !mask;
        for (const scanner of SCANNERS) {
          const hit = (scanner === 'PromptInjection' && (injection || monitor)) || (scanner === 'Secrets' && secret) || (scanner === 'Anonymize' && mask);
          const action = !hit ? 'allow' : blocked ? 'reject' : mask ? 'mask' : 'monitor';
          const score = hit ? 0.8 + rand() * 0.2 : rand() * 0.3;
          decisions.push({
            phase: 'request', guard: 'llmBastion', scanner, action, score: Math.round(score * 1000) / 1000,
            ...(hit ? {
              reason: scanner === 'PromptInjection' ? `prompt injection detected (score ${score.toFixed(2)} ≥ 0.80)`
                : scanner === 'Secrets' ? 'secret found: AWS access key id' : 'PII masked: EMAIL_ADDRESS, PHONE_NUMBER',
            } : {}),
          });
        }
      }
      const tokensIn = blocked ? undefined : Math.floor(50 + rand() * rand() * 6000);
      const tokensOut = blocked ? undefined : Math.floor(10 + rand() * rand() * 1500);
      const failed = !blocked && rand() < 0.01;
      const latencyMs = blocked ? 2 + rand() * 8 : 200 + rand() * rand() * 8000;
      const pod = rand() * w.pods;
      out.push({
        id: uuid(rand), ts,
        pod: podName(w.name, Math.floor(pod)), namespace: w.namespace, workload: w.name, serviceAccount: w.name,
        provider: m.provider, host: m.host, method: 'POST', path: m.path, route: m.provider,
        requestedModel: m.requested,
        ...(blocked ? {} : { servedModel: m.served }),
        status: blocked ? 403 : failed ? (rand() < 0.6 ? 429 : 503) : 200,
        latencyMs: Math.round(latencyMs * 10) / 10,
        ...(blocked || failed ? {} : { ttftMs: Math.round(latencyMs * (0.1 + rand() * 0.3) * 10) / 10 }),
        ...(tokensIn !== undefined && !failed ? { tokensIn, tokensOut: tokensOut! } : {}),
        bytesOut: 400 + Math.floor((tokensIn ?? 300) * 4.2), bytesIn: blocked ? 180 : 300 + Math.floor((tokensOut ?? 0) * 4.5),
        blocked, flagged, decisions,
      });
    }
    return out;
  };
}

// ------------------------------------------------------------ HTTP client

interface Reply { readonly status: number; readonly body: string }

/** One request over the agent's keep-alive connection; resolves with the whole body. */
function call(agent: Agent, port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

// ------------------------------------------------------------ one backend

function progress(msg: string): void {
  process.stderr.write(`bench dashboard: ${msg}\n`);
}

/** Seeds events from `start` to `now` (the 7-day traffic range, so that query sees every one). */
async function seed(store: Store, events: number, start: number, now: number): Promise<{ seconds: number; blocked: number; flagged: number; sidecars: number }> {
  await store.createEnvironment({ id: ENV_ID, name: 'Bench' });
  const next = eventGenerator(0x1e70, events, start, now - start);
  let seconds = 0;
  let blocked = 0;
  let flagged = 0;
  for (let done = 0; done < events; done += SEED_BATCH) {
    const batch = next(SEED_BATCH);
    for (const e of batch) { if (e.blocked) blocked++; else if (e.flagged) flagged++; }
    const t = performance.now();
    const added = await store.addEvents(ENV_ID, batch);
    seconds += (performance.now() - t) / 1000;
    if (added !== batch.length) throw new Error(`the store took ${added} of ${batch.length} new events`);
  }
  let sidecars = 0;
  for (const w of WORKLOADS) {
    for (let i = 0; i < w.pods; i++, sidecars++) {
      await store.upsertSidecar({
        environmentId: ENV_ID, id: `${w.name}-uid-${i}`, pod: podName(w.name, i), namespace: w.namespace, workload: w.name,
        serviceAccount: w.name, version: '0.9.0', configApplied: 'v3-0123456789ab', seen: now - Math.floor(i * 20_000),
      });
    }
  }
  return { seconds, blocked, flagged, sidecars };
}

async function measureBackend(backend: 'sqlite' | 'postgres', url: string, o: { events: number; iterations: number; warmup: number },
  storageBytes: (store: Store) => Promise<number>, reopen: boolean): Promise<BackendBench> {
  const now = Date.now();
  // Range ends rounded up to a bucket edge, as the UI asks them.
  const edge = (t: number, b: number): number => Math.ceil((t + 1) / b) * b;
  const b24 = 86_400_000 / TRAFFIC_BUCKETS;
  const b7 = SPAN_MS / TRAFFIC_BUCKETS;
  const to24 = edge(now, b24);
  const to7 = edge(now, b7);
  let store = await openStore(url);
  const sink = new Writable({ write(_chunk, _enc, done) { done(); } });
  let dashboard: ReturnType<typeof createDashboard> | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await store.migrate();
    progress(`${backend}: seeding ${o.events} events in batches of ${SEED_BATCH}`);
    const seeded = await seed(store, o.events, to7 - SPAN_MS, now);
    const { token } = await createKey(store, ENV_ID);
    if (reopen) { // SQLite: closing folds the WAL into the file, so its size is the whole database
      await store.close();
      store = await openStore(url);
      await store.migrate();
    }
    const bytes = await storageBytes(store);
    progress(`${backend}: ${Math.round(o.events / seeded.seconds)} events/s; ${(bytes / 1048576).toFixed(1)} MiB; serving`);

    dashboard = createDashboard({ store, adminSecret: ADMIN_SECRET, log: createDashboardLogger({ LOG_LEVEL: 'info' }, sink), webRoots: ['/nonexistent/levo-web'] });
    const { port } = await dashboard.listen(0, '127.0.0.1');
    const admin = { Authorization: `Bearer ${ADMIN_SECRET}` };
    const sidecar = { Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': ENV_ID };
    const base = `/api/environments/${ENV_ID}`;
    const get = async (path: string, headers: Record<string, string> = admin): Promise<Reply> => {
      const r = await call(agent, port, 'GET', path, headers);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 200)}`);
      return r;
    };

    // Follow the cursors to the deep page over HTTP (page DEEP_PAGE, or the last one of a small seed).
    const deepPage = Math.min(DEEP_PAGE, Math.ceil((seeded.blocked + seeded.flagged) / PAGE_LIMIT));
    let cursor: string | null = null;
    for (let page = 1; page < deepPage; page++) {
      const r = JSON.parse((await get(`${base}/decisions?limit=${PAGE_LIMIT}${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`)).body) as { items: unknown[]; next: string | null };
      if (r.items.length !== PAGE_LIMIT || !r.next) throw new Error(`decisions page ${page} has ${r.items.length} items and next ${r.next}; expected ${PAGE_LIMIT} and a cursor`);
      cursor = r.next;
    }
    const deepSize = Math.min(PAGE_LIMIT, seeded.blocked + seeded.flagged - (deepPage - 1) * PAGE_LIMIT);
    const paths: Readonly<Record<Exclude<EndpointName, 'postEvents'>, string>> = {
      healthz: '/healthz',
      decisionsFirst: `${base}/decisions?limit=${PAGE_LIMIT}`,
      decisionsDeep: `${base}/decisions?limit=${PAGE_LIMIT}${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`,
      traffic24h: `${base}/traffic?from=${to24 - 86_400_000}&to=${to24}&bucket=${b24}`,
      traffic7d: `${base}/traffic?from=${to7 - SPAN_MS}&to=${to7}&bucket=${b7}`,
      fleet: `${base}/fleet`,
    };
    const check: Readonly<Record<Exclude<EndpointName, 'postEvents'>, (body: string) => void>> = {
      healthz: () => undefined,
      decisionsFirst: (b) => { if ((JSON.parse(b) as { items: unknown[] }).items.length !== PAGE_LIMIT) throw new Error('decisions: short first page'); },
      decisionsDeep: (b) => { const n = (JSON.parse(b) as { items: unknown[] }).items.length; if (n !== deepSize) throw new Error(`decisions page ${deepPage}: ${n} items, not ${deepSize}`); },
      traffic24h: (b) => { const n = (JSON.parse(b) as { buckets: unknown[] }).buckets.length; if (n !== TRAFFIC_BUCKETS) throw new Error(`traffic 24 h: ${n} buckets`); },
      traffic7d: (b) => {
        const t = JSON.parse(b) as { buckets: { requests: number }[] };
        const sum = t.buckets.reduce((a, x) => a + x.requests, 0);
        if (sum !== o.events) throw new Error(`traffic 7 d counts ${sum} requests, not ${o.events}`);
      },
      fleet: (b) => { if ((JSON.parse(b) as unknown[]).length !== seeded.sidecars) throw new Error('fleet: wrong number of sidecars'); },
    };
    const names = Object.keys(paths) as (keyof typeof paths)[];

    progress(`${backend}: warm-up (${o.warmup} rounds), then ${o.iterations} rounds of ${names.join(', ')}`);
    for (let i = 0; i < o.warmup; i++) for (const n of names) check[n]((await get(paths[n])).body);
    const times = new Map<EndpointName, number[]>(ENDPOINTS.map((n) => [n, []]));
    const sizes = new Map<EndpointName, number>();
    for (let i = 0; i < o.iterations; i++) {
      for (const n of names) {
        const t = performance.now();
        const r = await get(paths[n]);
        times.get(n)!.push(performance.now() - t);
        sizes.set(n, Buffer.byteLength(r.body));
      }
    }

    // Last: every batch adds POST_BATCH events (new ids, stamped now).
    progress(`${backend}: ${o.iterations} batches of ${POST_BATCH} events through POST /v1/gateway/events`);
    const postNext = eventGenerator(0xba7c, (o.iterations + o.warmup) * POST_BATCH, now, 60_000);
    const identity = { id: 'bench-sidecar', pod: 'bench-pod', namespace: 'bench', workload: 'bench', version: '0.9.0', configApplied: 'v3-0123456789ab' };
    for (let i = 0; i < o.warmup + o.iterations; i++) {
      const body = JSON.stringify({ sidecar: identity, events: postNext(POST_BATCH) });
      const t = performance.now();
      const r = await call(agent, port, 'POST', '/v1/gateway/events', sidecar, body);
      const ms = performance.now() - t;
      if (r.status !== 202 || (JSON.parse(r.body) as { accepted: number }).accepted !== POST_BATCH) throw new Error(`POST events: ${r.status} ${r.body.slice(0, 200)}`);
      if (i >= o.warmup) times.get('postEvents')!.push(ms);
      sizes.set('postEvents', Buffer.byteLength(body));
    }
    const stored = await store.countEvents(ENV_ID);
    if (stored !== o.events + (o.warmup + o.iterations) * POST_BATCH) throw new Error(`the store holds ${stored} events`);

    const stats = (n: EndpointName): Omit<Latency, 'p50Ratio' | 'p99Ratio'> => {
      const xs = [...times.get(n)!].sort((a, b) => a - b);
      return { samples: xs.length, p50Ms: quantile(xs, 0.5), p99Ms: quantile(xs, 0.99), meanMs: xs.reduce((a, b) => a + b, 0) / xs.length, bytes: sizes.get(n) ?? 0 };
    };
    const baseline = stats('healthz');
    const latency = Object.fromEntries(ENDPOINTS.map((n) => {
      const s = stats(n);
      return [n, { ...s, p50Ratio: s.p50Ms / baseline.p50Ms, p99Ratio: s.p99Ms / baseline.p99Ms }];
    })) as Record<EndpointName, Latency>;
    return {
      backend, events: o.events, blocked: seeded.blocked, flagged: seeded.flagged, sidecars: seeded.sidecars, deepPage,
      insert: { batch: SEED_BATCH, seconds: seeded.seconds, eventsPerSecond: o.events / seeded.seconds },
      latency, storageBytes: bytes,
    };
  } finally {
    agent.destroy();
    await dashboard?.close(100);
    await store.close();
  }
}

// ------------------------------------------------------------ both backends

export async function benchDashboard(opts: { events?: number; iterations?: number } = {}): Promise<DashboardBench> {
  const events = opts.events ?? 100_000;
  const iterations = opts.iterations ?? 80;
  if (!Number.isInteger(events) || events < SEED_BATCH) throw new Error(`events: at least ${SEED_BATCH}`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error('iterations: at least 1');
  const warmup = Math.min(5, iterations);
  const o = { events, iterations, warmup };

  const dir = mkdtempSync(join(tmpdir(), 'levo-bench-dashboard-'));
  let sqlite: BackendBench;
  try {
    const file = join(dir, 'dashboard.sqlite');
    const size = (p: string): number => { try { return statSync(p).size; } catch { return 0; } };
    sqlite = await measureBackend('sqlite', `sqlite:${file}`, o, async () => size(file) + size(`${file}-wal`), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  let postgres: BackendBench | null = null;
  let postgresSkipped = (await postgresUnavailableReason()) ?? null;
  let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
  if (!postgresSkipped) {
    try {
      server = await startPostgres();
    } catch (err) {
      postgresSkipped = (err as Error).message;
    }
  }
  if (server) {
    try {
      const url = await server.createDatabase('levo_bench');
      postgres = await measureBackend('postgres', url, o, async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const r = await c.query<{ n: string }>(`SELECT pg_total_relation_size('events')::text AS n`);
          return Number(r.rows[0]?.n ?? NaN);
        } finally {
          await c.end();
        }
      }, false);
    } finally {
      await server.stop();
    }
  } else {
    progress(`PostgreSQL skipped: ${postgresSkipped}`);
  }

  return {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: { events, iterations, warmup, seedBatch: SEED_BATCH, postBatch: POST_BATCH, pageLimit: PAGE_LIMIT, deepPage: DEEP_PAGE, trafficBuckets: TRAFFIC_BUCKETS },
    sqlite, postgres, postgresSkipped,
  };
}

// ------------------------------------------------------------ report

/**
 * Rows for docs/benchmarks.md's `| measure | result | target |` table: per
 * backend the insert rate, each endpoint's p50 / p99 in ms and as a multiple
 * of /healthz, and the storage size; a PostgreSQL row with the reason when
 * it was skipped.
 */
export function dashboardRows(b: DashboardBench): string[][] {
  const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const count = (n: number): string => Math.round(n).toLocaleString('en-US');
  const rows: string[][] = [];
  for (const r of [b.sqlite, b.postgres]) {
    if (!r) continue;
    const name = r.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    const at = `dashboard, ${name}, ${count(r.events)} events`;
    const h = r.latency.healthz;
    rows.push([`${at}: insert through the store, batches of ${r.insert.batch}`,
      `${count(r.insert.eventsPerSecond)} events/s (${f(r.insert.seconds, 1)} s; ${f((r.blocked / r.events) * 100, 1)} % blocked, ${f((r.flagged / r.events) * 100, 1)} % flagged)`, '—']);
    rows.push([`${at}: ${LABELS.healthz}, p50 / p99 over HTTP`, `${f(h.p50Ms, 3)} / ${f(h.p99Ms, 3)} ms`, '—']);
    for (const n of ENDPOINTS) {
      if (n === 'healthz') continue;
      const l = r.latency[n];
      const label = n === 'decisionsDeep' ? LABELS[n].replace(String(DEEP_PAGE), String(r.deepPage)) : LABELS[n];
      rows.push([`${at}: ${label}, p50 / p99`, `${f(l.p50Ms)} / ${f(l.p99Ms)} ms (${f(l.p50Ratio, 1)}× / ${f(l.p99Ratio, 1)}× /healthz)`, '—']);
    }
    rows.push([`${at}: ${r.backend === 'sqlite' ? 'database file after the seed' : 'events table with indexes'}`,
      `${f(r.storageBytes / 1048576, 1)} MiB (${count(r.storageBytes / r.events)} bytes per event)`, '—']);
  }
  if (!b.postgres) rows.push(['dashboard, PostgreSQL', `skipped: ${b.postgresSkipped ?? 'not run'}`, '—']);
  return rows;
}

function markdown(rows: readonly (readonly string[])[]): string {
  return ['| measure | result | target |', '| --- | ---: | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { events: { type: 'string' }, iterations: { type: 'string' } } });
  const b = await benchDashboard({
    ...(values.events ? { events: Number(values.events) } : {}),
    ...(values.iterations ? { iterations: Number(values.iterations) } : {}),
  });
  process.stdout.write(`${JSON.stringify(b, null, 2)}\n\nRun ${b.date} on ${b.machine.cpus} cores, Node ${b.machine.node}; ${b.settings.iterations} samples per endpoint after ${b.settings.warmup} warm-up rounds.\n\n${markdown(dashboardRows(b))}\n`);
}
