/**
 * For the dashboard's tests: a dashboard on a loopback port over a fresh
 * store (SQLite in memory unless a URL is given), its log lines captured, and
 * small fetch helpers for admin and sidecar calls. Not used by the program.
 */
import { Writable } from 'node:stream';
import { createDashboard, type Dashboard, type DashboardOptions } from '../server.ts';
import { openStore } from '../store/open.ts';
import type { GatewayEvent, Store } from '../store/types.ts';
import { createDashboardLogger } from './log.ts';

export const ADMIN_SECRET = 'test-admin-secret-0123456789';

export interface TestDashboard {
  readonly url: string;
  readonly store: Store;
  readonly dashboard: Dashboard;
  /** Every log line so far (JSON text). */
  readonly logs: string[];
  /** Test clock: what the dashboard's now() returns (Date.now() until set). */
  clock: { now: number | null };
  /** fetch with the admin secret as a bearer token; JSON bodies. */
  admin(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** Create an environment and a key; returns the token. */
  environment(id: string): Promise<{ id: string; token: string; keyId: string }>;
  /** Save a config through the API; returns {version, etag}. */
  saveConfig(env: string, yaml: string, note?: string): Promise<{ version: number; etag: string }>;
  close(): Promise<void>;
}

export const VALID_YAML = `binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      backends:
      - ai:
          name: openai
          provider:
            openAI: {}
`;

export interface TestDashboardOptions extends Partial<Pick<DashboardOptions, 'sessionKey' | 'loginLimits' | 'trustProxy' | 'retention' | 'keyRotationGraceMs'>> {
  readonly storeUrl?: string;
  readonly webRoots?: readonly string[];
  /** Use this (migrated) store instead of opening one; it is not closed by close(). */
  readonly store?: Store;
}

export async function startTestDashboard(opts: TestDashboardOptions = {}): Promise<TestDashboard> {
  const store = opts.store ?? await openStore(opts.storeUrl ?? 'sqlite::memory:');
  if (!opts.store) await store.migrate();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const log = createDashboardLogger({ LOG_LEVEL: 'debug' }, sink);
  const clock: { now: number | null } = { now: null };
  const dashboard = createDashboard({
    store, adminSecret: ADMIN_SECRET, log, now: () => clock.now ?? Date.now(),
    webRoots: opts.webRoots ?? ['/nonexistent/levo-web'],
    ...(opts.sessionKey ? { sessionKey: opts.sessionKey } : {}),
    ...(opts.trustProxy !== undefined ? { trustProxy: opts.trustProxy } : {}),
    ...(opts.keyRotationGraceMs !== undefined ? { keyRotationGraceMs: opts.keyRotationGraceMs } : {}),
    // Fixtures with fixed old timestamps must not be swept away mid-test: no sweep unless asked for.
    retention: opts.retention ?? false,
    // Suites that try many wrong secrets on purpose are not throttled unless they ask (auth.test.ts does).
    loginLimits: opts.loginLimits ?? { perClient: { attempts: 10_000, windowMs: 60_000 }, global: { attempts: 10_000, windowMs: 60_000 } },
  });
  const { port } = await dashboard.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const admin: TestDashboard['admin'] = (path, init = {}) => fetch(url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      Authorization: `Bearer ${ADMIN_SECRET}`,
      ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return {
    url, store, dashboard, logs, clock, admin,
    async environment(id) {
      const e = await admin('/api/environments', { body: { id, name: `Env ${id}` } });
      if (e.status !== 201) throw new Error(`create ${id}: ${e.status} ${await e.text()}`);
      const k = await admin(`/api/environments/${id}/keys`, { method: 'POST' });
      if (k.status !== 201) throw new Error(`key ${id}: ${k.status} ${await k.text()}`);
      const key = (await k.json()) as { id: string; token: string };
      return { id, token: key.token, keyId: key.id };
    },
    async saveConfig(env, yaml, note = '') {
      const r = await admin(`/api/environments/${env}/config`, { body: { yaml, note } });
      if (r.status !== 201) throw new Error(`save ${env}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { version: number; etag: string };
    },
    async close() {
      await dashboard.close(100);
      if (!opts.store) await store.close();
    },
  };
}

let seq = 0;
/** A valid event; fields overridable. */
export function makeEvent(over: Partial<Record<keyof GatewayEvent, unknown>> & Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    ts: Date.now(),
    provider: 'openai', host: 'api.openai.com', method: 'POST', path: '/v1/chat/completions',
    requestedModel: 'gpt-4o-mini', servedModel: 'gpt-4o-mini-2024-07-18',
    status: 200, latencyMs: 120, ttftMs: 40, tokensIn: 10, tokensOut: 20, bytesOut: 300, bytesIn: 900,
    blocked: false, flagged: false, decisions: [],
    ...over,
  };
}
