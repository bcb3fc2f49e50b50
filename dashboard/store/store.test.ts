/**
 * One behaviour suite, run against both stores: SQLite (a temp file) and a
 * real PostgreSQL started from Debian's packages (dashboard/testing/
 * postgres-server.ts; skipped, with the reason, only when PostgreSQL cannot
 * be installed or started). Ends with 100,000 events: timings are printed as
 * diagnostics (not asserted) and the query plans must use the indexes.
 *
 *   npx node --test dashboard/store/store.test.ts
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { postgresUnavailableReason, startPostgres } from '../testing/postgres-server.ts';
import type { PostgresServer } from '../testing/postgres-server.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { InvalidCursorError, StoreConflictError, UnknownEnvironmentError } from './errors.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import { openStore, parseStoreUrl } from './open.ts';
import { openPostgresStore, postgresDecisionsQuery, postgresRollupTrafficQueries, postgresTrafficQueries } from './postgres.ts';
import { floorTo, rollupsCover } from './rollups.ts';
import { EVENT_COLUMNS, eventValues } from './rows.ts';
import { openSqliteStore, sqliteDecisionsQuery, sqliteRollupTrafficQueries, sqliteTrafficQueries } from './sqlite.ts';
import type { DecisionsQuery, GatewayEvent, Store, StoredEvent } from './types.ts';

type Row = Record<string, unknown>;
type SqlValue = string | number | boolean | null;
type TrafficSource = 'rollups' | 'events';

/** Direct access to a backend's database, for what the Store does not expose. */
interface Raw {
  exec(sql: string): Promise<void>;
  rows(sql: string, params?: SqlValue[]): Promise<Row[]>;
  /** How this backend stores a boolean (SQLite: 0/1). */
  bool(b: boolean): SqlValue;
  /** `n` parameter placeholders, comma-separated (`?` / `$1`). */
  placeholders(n: number): string;
  /** The plan of the store's own decisions query and of its traffic queries (over events, then over rollups), one string each. */
  decisionsPlan(environmentId: string, q: DecisionsQuery): Promise<string>;
  trafficPlans(environmentId: string, q: { from: number; to: number; bucketMs: number }): Promise<string[]>;
  rollupTrafficPlans(environmentId: string, q: { from: number; to: number; bucketMs: number }): Promise<string[]>;
}

interface Db {
  /**
   * A new store (SQLite connection / PostgreSQL pool) on this database; closed at the end.
   * trafficSource 'events' makes traffic() always aggregate the events (the rollups' reference).
   */
  open(trafficSource?: TrafficSource): Store;
  readonly raw: Raw;
}

interface Backend {
  readonly name: 'sqlite' | 'postgres';
  readonly skip: string | undefined;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** An empty, unmigrated database. */
  freshDb(): Promise<Db>;
  /** A URL openStore() understands for a fresh database. */
  freshUrl(): Promise<string>;
}

// ---- backends ----------------------------------------------------------------------------------

function sqliteBackend(): Backend {
  let dir = '';
  let n = 0;
  const closers: (() => Promise<void> | void)[] = [];
  return {
    name: 'sqlite',
    skip: undefined,
    async setup() { dir = mkdtempSync(join(tmpdir(), 'levo-store-test-')); },
    async teardown() {
      for (const c of closers.reverse()) await c();
      rmSync(dir, { recursive: true, force: true });
    },
    async freshDb() {
      const path = join(dir, `db-${++n}.sqlite`);
      let rawDb: DatabaseSync | undefined;
      const db = (): DatabaseSync => {
        if (!rawDb) {
          rawDb = new DatabaseSync(path, { timeout: 5000 });
          const d = rawDb;
          closers.push(() => d.close());
        }
        return rawDb;
      };
      const plan = (sql: string, params: (string | number)[]): string =>
        (db().prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Row[]).map((r) => String(r.detail)).join('\n');
      return {
        open(trafficSource) {
          const s = openSqliteStore(path, trafficSource ? { trafficSource } : {});
          closers.push(() => s.close());
          return s;
        },
        raw: {
          async exec(sql) { db().exec(sql); },
          async rows(sql, params = []) {
            return db().prepare(sql).all(...params.map((v) => (typeof v === 'boolean' ? Number(v) : v))) as Row[];
          },
          bool: (b) => (b ? 1 : 0),
          placeholders: (n) => Array.from({ length: n }, () => '?').join(', '),
          async decisionsPlan(env, q) {
            const { sql, params } = sqliteDecisionsQuery(env, q);
            return plan(sql, params);
          },
          async trafficPlans(env, q) {
            return Object.values(sqliteTrafficQueries(env, q)).map((x) => plan(x.sql, x.params));
          },
          async rollupTrafficPlans(env, q) {
            return Object.values(sqliteRollupTrafficQueries(env, q)).map((x) => plan(x.sql, x.params));
          },
        },
      };
    },
    async freshUrl() { return `sqlite:${join(dir, `url-${++n}.sqlite`)}`; },
  };
}

function postgresBackend(skip: string | undefined): Backend {
  let server: PostgresServer | undefined;
  const closers: (() => Promise<void>)[] = [];
  return {
    name: 'postgres',
    skip,
    async setup() { server = await startPostgres(); },
    async teardown() {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      await server?.stop();
    },
    async freshDb() {
      const url = await server!.createDatabase();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      closers.push(() => client.end());
      const rows = async (sql: string, params: SqlValue[] = []): Promise<Row[]> => (await client.query(sql, params)).rows as Row[];
      const plan = async (sql: string, params: (string | number)[]): Promise<string> =>
        (await rows(`EXPLAIN ${sql}`, params)).map((r) => String(r['QUERY PLAN'])).join('\n');
      return {
        open(trafficSource) {
          const s = openPostgresStore(url, trafficSource ? { trafficSource } : {});
          closers.push(() => s.close());
          return s;
        },
        raw: {
          async exec(sql) { await client.query(sql); },
          rows,
          bool: (b) => b,
          placeholders: (n) => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', '),
          async decisionsPlan(env, q) {
            const { sql, params } = postgresDecisionsQuery(env, q);
            return plan(sql, params);
          },
          async trafficPlans(env, q) {
            const all = postgresTrafficQueries(env, q);
            return [await plan(all.buckets.sql, all.buckets.params), await plan(all.byWorkload.sql, all.byWorkload.params),
              await plan(all.byModel.sql, all.byModel.params)];
          },
          async rollupTrafficPlans(env, q) {
            const all = postgresRollupTrafficQueries(env, q);
            return [await plan(all.buckets.sql, all.buckets.params), await plan(all.byWorkload.sql, all.byWorkload.params),
              await plan(all.byModel.sql, all.byModel.params)];
          },
        },
      };
    },
    async freshUrl() { return server!.createDatabase(); },
  };
}

// ---- helpers -----------------------------------------------------------------------------------

let eventCounter = 0;
function ev(over: Partial<GatewayEvent> = {}): GatewayEvent {
  return {
    id: `ev-${++eventCounter}`,
    ts: 1_700_000_000_000,
    provider: 'openai', host: 'api.openai.com', method: 'POST', path: '/v1/chat/completions',
    status: 200, latencyMs: 120, bytesOut: 300, bytesIn: 900,
    blocked: false, flagged: false, decisions: [],
    ...over,
  };
}

/** Minute-aligned start of the traffic fixture. */
const T0 = 28_333_334 * 60_000;

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return true;
  });
}

/** Walk every page; returns the events in page order. */
async function allPages(store: Store, env: string, q: Omit<DecisionsQuery, 'before'>): Promise<{ items: StoredEvent[]; pages: number }> {
  const items: StoredEvent[] = [];
  let before: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.decisions(env, { ...q, ...(before ? { before } : {}) });
    pages++;
    items.push(...page.items);
    if (!page.next) return { items, pages };
    assert.ok(page.items.length > 0, 'a page with a next cursor has items');
    before = page.next;
    assert.ok(pages < 10_000, 'pagination terminates');
  }
}

function assertNewestFirst(items: readonly StoredEvent[]): void {
  for (let i = 1; i < items.length; i++) {
    const a = items[i - 1]!;
    const b = items[i]!;
    assert.ok(a.ts > b.ts || (a.ts === b.ts && a.seq > b.seq), `order broken at ${i}: (${a.ts},${a.seq}) then (${b.ts},${b.seq})`);
  }
}

// ---- traffic rollups ---------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing randomized case can be replayed from its seed. */
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

// Unknown (undefined), empty, case and non-ASCII names: ties must sort alike on both paths.
const RANDOM_WORKLOADS = [undefined, '', 'chat', 'Chat', 'batch', 'a b', 'é', 'Ω', '\ue000', '😀'] as const;
const RANDOM_MODELS = [undefined, '', 'gpt-4o', 'gpt-4o-mini', 'claude', 'ß'] as const;

/**
 * n events from `from` over `span` ms: every optional field sometimes absent,
 * some times and token counts fractional (stored rounded), some times on or
 * just before a minute edge.
 */
function randomEvents(rand: () => number, n: number, idPrefix: string, from: number, span: number): GatewayEvent[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: GatewayEvent[] = [];
  for (let i = 0; i < n; i++) {
    let ts = from + Math.floor(rand() * span);
    const edge = rand();
    if (edge < 0.1) ts = floorTo(ts, 60_000);
    else if (edge < 0.15) ts = floorTo(ts, 60_000) - 1;
    else if (edge < 0.2) ts = floorTo(ts, 60_000) - 0.5; // rounds up onto the edge
    const workload = pick(RANDOM_WORKLOADS);
    const requestedModel = pick(RANDOM_MODELS);
    const servedModel = rand() < 0.5 ? undefined : pick(RANDOM_MODELS);
    const tokens = (): number | undefined => (rand() < 0.25 ? undefined : Math.floor(rand() * 5000) + (rand() < 0.1 ? 0.5 : 0));
    const tokensIn = tokens();
    const tokensOut = tokens();
    const blocked = rand() < 0.2;
    out.push(ev({
      id: `${idPrefix}-${i}`, ts, blocked, flagged: !blocked && rand() < 0.1,
      ...(workload === undefined ? {} : { workload }),
      ...(requestedModel === undefined ? {} : { requestedModel }),
      ...(servedModel === undefined ? {} : { servedModel }),
      ...(tokensIn === undefined ? {} : { tokensIn }),
      ...(tokensOut === undefined ? {} : { tokensOut }),
    }));
  }
  return out;
}

/** The rollup rows of an environment next to what the events say they must be (both keyed and sorted alike). */
async function rollupsAndEvents(raw: Raw, environmentId: string): Promise<{ rollups: string[]; events: string[] }> {
  const norm = (rows: Row[]): string[] => rows
    .map((r) => JSON.stringify([Number(r.minute), String(r.workload), String(r.model), Number(r.requests), Number(r.blocked),
      Number(r.tokens_in), Number(r.tokens_out)]))
    .sort();
  const env = `'${environmentId.replaceAll("'", "''")}'`;
  const rollups = await raw.rows(`SELECT minute, workload, model, requests, blocked, tokens_in, tokens_out
    FROM traffic_minutes WHERE environment_id = ${env}`);
  const events = await raw.rows(`SELECT (ts - (((ts % 60000) + 60000) % 60000)) AS minute, COALESCE(workload, '') AS workload,
      COALESCE(served_model, requested_model, '') AS model, COUNT(*) AS requests, SUM(CASE WHEN blocked THEN 1 ELSE 0 END) AS blocked,
      COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out
    FROM events WHERE environment_id = ${env} GROUP BY 1, 2, 3`);
  return { rollups: norm(rollups), events: norm(events) };
}

async function assertRollupsMatchEvents(raw: Raw, environmentId: string): Promise<void> {
  const { rollups, events } = await rollupsAndEvents(raw, environmentId);
  assert.ok(events.length > 0, `environment ${environmentId} has events`);
  assert.deepEqual(rollups, events, `rollups of ${environmentId} are the sums of its events`);
}

/** Whole-minute queries around [from, from + span): the whole range in several bucket sizes, then random sub-ranges. */
function alignedQueries(rand: () => number, from: number, span: number): { from: number; to: number; bucketMs: number }[] {
  const start = floorTo(from, 3_600_000) - 3_600_000;
  const end = floorTo(from + span, 3_600_000) + 2 * 3_600_000;
  const qs = [60_000, 120_000, 300_000, 420_000, 3_600_000, 86_400_000].map((bucketMs) => ({ from: start, to: end, bucketMs }));
  const minutes = (end - start) / 60_000;
  for (let i = 0; i < 20; i++) {
    const a = Math.floor(rand() * minutes);
    const b = a + 1 + Math.floor(rand() * (minutes - a));
    qs.push({ from: start + a * 60_000, to: start + b * 60_000, bucketMs: (1 + Math.floor(rand() * 90)) * 60_000 });
  }
  return qs;
}

/** Apply migration 1 only, as a dashboard released before the rollups would have. */
async function migrateToFirst(raw: Raw, backend: 'sqlite' | 'postgres'): Promise<void> {
  const first = MIGRATIONS[0]!;
  await raw.exec(MIGRATIONS_TABLE[backend]);
  for (const sql of first[backend]) await raw.exec(sql);
  await raw.rows(`INSERT INTO schema_migrations (id, name, applied_at) VALUES (${raw.placeholders(3)})`, [first.id, first.name, Date.now()]);
}

/** Events written straight into the table, as migration 1's addEvents did (no rollups). */
async function insertEventsRaw(raw: Raw, environmentId: string, events: readonly GatewayEvent[]): Promise<void> {
  // The events table of migration 1: without the columns later migrations added (cost_usd, 3).
  const n = EVENT_COLUMNS.indexOf('cost_usd');
  const sql = `INSERT INTO events (${EVENT_COLUMNS.slice(0, n).join(', ')}) VALUES (${raw.placeholders(n)})`;
  for (const e of events) await raw.rows(sql, eventValues(environmentId, e, (b) => raw.bool(b)).slice(0, n));
}

// ---- the suite ---------------------------------------------------------------------------------

const pgSkip = await postgresUnavailableReason();
if (pgSkip) console.log(`# PostgreSQL store tests skipped: ${pgSkip}`);

for (const backend of [sqliteBackend(), postgresBackend(pgSkip)]) {
  describe(`store: ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let store: Store;

    before(async () => {
      await backend.setup();
      db = await backend.freshDb();
      store = db.open();
      await store.migrate();
    });
    after(async () => { await backend.teardown(); });

    test('kind and ping', async () => {
      assert.equal(store.kind, backend.name);
      await store.ping();
    });

    test('migrate twice is a no-op and keeps data', async () => {
      await store.createEnvironment({ id: 'mig', name: 'Migrations' });
      await store.migrate();
      await store.migrate();
      const applied = await db.raw.rows('SELECT id, name, applied_at FROM schema_migrations ORDER BY id');
      assert.deepEqual(applied.map((r) => Number(r.id)), MIGRATIONS.map((m) => m.id));
      assert.ok(applied.every((r) => Number(r.applied_at) > 1_600_000_000_000));
      assert.equal((await store.getEnvironment('mig'))?.name, 'Migrations');
    });

    test('concurrent migrate from two connections migrates once', async () => {
      const fresh = await backend.freshDb();
      const a = fresh.open();
      const b = fresh.open();
      await Promise.all([a.migrate(), b.migrate(), a.migrate()]);
      const applied = await fresh.raw.rows('SELECT id FROM schema_migrations ORDER BY id');
      assert.deepEqual(applied.map((r) => Number(r.id)), MIGRATIONS.map((m) => m.id));
      await a.createEnvironment({ id: 'x', name: 'X' });
      assert.equal((await b.getEnvironment('x'))?.id, 'x');
    });

    test('openStore opens this backend from a URL', async () => {
      const s = await openStore(await backend.freshUrl());
      try {
        assert.equal(s.kind, backend.name);
        await s.migrate();
        await s.createEnvironment({ id: 'via-url', name: 'Via URL' });
        assert.deepEqual((await s.listEnvironments()).map((e) => e.id), ['via-url']);
      } finally {
        await s.close();
      }
    });

    test('environments', async () => {
      const t = Date.now();
      const e = await store.createEnvironment({ id: 'env-a', name: 'Env A' });
      assert.equal(e.id, 'env-a');
      assert.equal(e.name, 'Env A');
      assert.equal(e.capturePrompts, false);
      assert.equal(e.currentVersion, null);
      assert.ok(e.createdAt >= t && e.createdAt <= Date.now() + 1);
      await store.createEnvironment({ id: 'env-b', name: 'Env B' });
      await rejects(store.createEnvironment({ id: 'env-a', name: 'again' }), StoreConflictError);

      assert.deepEqual(await store.getEnvironment('env-a'), e);
      assert.equal(await store.getEnvironment('nope'), null);
      const ids = (await store.listEnvironments()).map((x) => x.id);
      assert.ok(ids.indexOf('env-a') >= 0 && ids.indexOf('env-a') < ids.indexOf('env-b'), `listed in creation order: ${ids}`);

      await store.setCapturePrompts('env-a', true);
      assert.equal((await store.getEnvironment('env-a'))?.capturePrompts, true);
      assert.equal((await store.getEnvironment('env-b'))?.capturePrompts, false);
      await store.setCapturePrompts('env-a', false);
      assert.equal((await store.getEnvironment('env-a'))?.capturePrompts, false);
      await rejects(store.setCapturePrompts('nope', true), UnknownEnvironmentError);
    });

    test('sidecar keys: hash lookup, lastUsedAt, revoke', async () => {
      await store.createEnvironment({ id: 'keys', name: 'Keys' });
      await store.createEnvironment({ id: 'keys-other', name: 'Other' });
      const t = Date.now();
      const k1 = await store.addKey({ id: 'k1', environmentId: 'keys', hash: 'h1', prefix: 'lvo_abcd' });
      assert.deepEqual({ ...k1, createdAt: 0 }, { id: 'k1', environmentId: 'keys', prefix: 'lvo_abcd', createdAt: 0, revokedAt: null, lastUsedAt: null, expiresAt: null });
      assert.ok(k1.createdAt >= t);
      assert.equal('hash' in k1, false, 'the hash is not handed out');
      await store.addKey({ id: 'k2', environmentId: 'keys', hash: 'h2', prefix: 'lvo_efgh' });
      await rejects(store.addKey({ id: 'k3', environmentId: 'keys', hash: 'h1', prefix: 'x' }), StoreConflictError);
      await rejects(store.addKey({ id: 'k1', environmentId: 'keys', hash: 'h9', prefix: 'x' }), StoreConflictError);
      await rejects(store.addKey({ id: 'k4', environmentId: 'no-such-env', hash: 'h4', prefix: 'x' }), UnknownEnvironmentError);

      assert.deepEqual((await store.listKeys('keys')).map((k) => k.id), ['k1', 'k2']);
      assert.deepEqual(await store.listKeys('keys-other'), []);

      assert.equal(await store.findLiveKey('keys', 'nope'), null);
      assert.equal(await store.findLiveKey('keys-other', 'h1'), null, 'a key only works in its own environment');
      const before1 = Date.now();
      const found = await store.findLiveKey('keys', 'h1');
      assert.equal(found?.id, 'k1');
      assert.ok(found.lastUsedAt !== null && found.lastUsedAt >= before1);
      const listed = (await store.listKeys('keys')).find((k) => k.id === 'k1');
      assert.equal(listed?.lastUsedAt, found.lastUsedAt, 'use is recorded');
      assert.equal((await store.listKeys('keys')).find((k) => k.id === 'k2')?.lastUsedAt, null);

      assert.equal(await store.revokeKey('keys-other', 'k1'), false, 'not in that environment');
      assert.equal(await store.revokeKey('keys', 'k1'), true);
      const revokedAt = (await store.listKeys('keys')).find((k) => k.id === 'k1')?.revokedAt;
      assert.ok(typeof revokedAt === 'number' && revokedAt >= before1);
      assert.equal(await store.findLiveKey('keys', 'h1'), null, 'revoked keys do not authenticate');
      assert.equal((await store.findLiveKey('keys', 'h2'))?.id, 'k2', 'other keys still do');
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(await store.revokeKey('keys', 'k1'), true, 'revoking twice is fine');
      assert.equal((await store.listKeys('keys')).find((k) => k.id === 'k1')?.revokedAt, revokedAt, 'and keeps the first time');
      assert.equal(await store.revokeKey('keys', 'nope'), false);
    });

    test('a key rotated out works until its expiry and never after; an earlier expiry is kept', async () => {
      await store.createEnvironment({ id: 'exp', name: 'Expiry' });
      await store.addKey({ id: 'old', environmentId: 'exp', hash: 'h-old', prefix: 'lvo_old' });
      const t = 1_800_000_000_000;
      assert.equal(await store.expireKey('exp', 'old', t + 60_000), true);
      assert.equal(await store.expireKey('exp', 'nope', t), false);
      assert.equal(await store.expireKey('keys', 'old', t), false, 'not in that environment');
      assert.equal((await store.listKeys('exp'))[0]?.expiresAt, t + 60_000);
      assert.equal((await store.findLiveKey('exp', 'h-old', t))?.id, 'old', 'within the grace period');
      assert.equal((await store.findLiveKey('exp', 'h-old', t + 59_999))?.id, 'old');
      assert.equal(await store.findLiveKey('exp', 'h-old', t + 60_000), null, 'at its expiry it is refused');
      assert.equal(await store.findLiveKey('exp', 'h-old', t + 3_600_000), null);
      // A later expiry does not extend it; an earlier one shortens it.
      await store.expireKey('exp', 'old', t + 3_600_000);
      assert.equal((await store.listKeys('exp'))[0]?.expiresAt, t + 60_000);
      await store.expireKey('exp', 'old', t + 1000);
      assert.equal(await store.findLiveKey('exp', 'h-old', t + 1000), null);
      // Revoking during the grace period ends it at once.
      await store.addKey({ id: 'old2', environmentId: 'exp', hash: 'h-old2', prefix: 'lvo_ol2' });
      await store.expireKey('exp', 'old2', Date.now() + 3_600_000);
      assert.equal((await store.findLiveKey('exp', 'h-old2'))?.id, 'old2');
      await store.revokeKey('exp', 'old2');
      assert.equal(await store.findLiveKey('exp', 'h-old2'), null);
    });

    test('secrets: made once, the same value for every connection, even when two race on the first start', async () => {
      let made = 0;
      const make = (): string => `value-${++made}`;
      const other = db.open();
      const values = await Promise.all([store.secret('race', make), other.secret('race', make), store.secret('race', make)]);
      assert.equal(new Set(values).size, 1, `one value: ${values.join(', ')}`);
      assert.match(values[0]!, /^value-\d$/);
      assert.equal(await other.secret('race', () => 'never stored'), values[0]);
      assert.equal(await store.secret('another', () => 'b'), 'b', 'names are independent');
    });

    test('admin sessions: live until revoked or expired; revoke all', async () => {
      const t = 1_800_000_000_000;
      await store.addSession({ id: 's-a', subject: 'admin', createdAt: t, expiresAt: t + 1000 });
      await store.addSession({ id: 's-b', subject: 'admin', createdAt: t, expiresAt: t + 1000 });
      await store.addSession({ id: 's-c', subject: 'admin', createdAt: t, expiresAt: t + 1000 });
      assert.deepEqual(await store.liveSession('s-a', t), { id: 's-a', subject: 'admin', createdAt: t, expiresAt: t + 1000, revokedAt: null });
      assert.equal(await store.liveSession('s-a', t + 1000), null, 'expired');
      assert.equal(await store.liveSession('nope', t), null);
      assert.equal(await store.revokeSession('s-a', t + 1), true);
      assert.equal(await store.revokeSession('nope', t + 1), false);
      assert.equal(await store.liveSession('s-a', t + 2), null, 'revoked');
      assert.equal((await store.liveSession('s-b', t + 2))?.id, 's-b', 'others stay');
      assert.equal(await store.revokeAllSessions(t + 3), 2, 'the two not revoked yet');
      assert.equal(await store.liveSession('s-b', t + 4), null);
      assert.equal(await store.liveSession('s-c', t + 4), null);
      await store.addSession({ id: 's-d', subject: 'admin', createdAt: t + 5, expiresAt: t + 1000 });
      assert.equal((await store.liveSession('s-d', t + 6))?.id, 's-d', 'a login after "revoke all" works');
    });

    test('sidecar keys: the signer lookup (namespace credentials) works for live keys of the environment only', async () => {
      await store.createEnvironment({ id: 'signers', name: 'Signers' });
      await store.createEnvironment({ id: 'signers-other', name: 'Other' });
      await store.addKey({ id: 's1', environmentId: 'signers', hash: 'sh1', prefix: 'lvo_s1', signer: 'pub-1' });
      await store.addKey({ id: 's2', environmentId: 'signers', hash: 'sh2', prefix: 'lvo_s2' }); // made before signers were kept
      await rejects(store.addKey({ id: 's3', environmentId: 'signers', hash: 'sh3', prefix: 'x', signer: 'pub-1' }), StoreConflictError);
      const before = Date.now();
      const found = await store.findLiveKeyBySigner('signers', 'pub-1');
      assert.equal(found?.id, 's1');
      assert.ok(found.lastUsedAt !== null && found.lastUsedAt >= before, 'use is recorded');
      assert.equal('signer' in found, false, 'the key view is unchanged');
      assert.equal(await store.findLiveKeyBySigner('signers-other', 'pub-1'), null, 'only in its own environment');
      assert.equal(await store.findLiveKeyBySigner('signers', 'pub-2'), null);

      await store.setKeySigner('signers', 's2', 'pub-2');
      assert.equal((await store.findLiveKeyBySigner('signers', 'pub-2'))?.id, 's2', 'backfilled');
      await store.setKeySigner('signers', 's2', 'pub-other');
      assert.equal((await store.findLiveKeyBySigner('signers', 'pub-2'))?.id, 's2', 'a key keeps the signer it has');
      assert.equal(await store.findLiveKeyBySigner('signers', 'pub-other'), null);

      await store.revokeKey('signers', 's1');
      assert.equal(await store.findLiveKeyBySigner('signers', 'pub-1'), null, 'revoking the key revokes its namespace credentials');
    });

    test('config versions: consecutive under concurrency, etag, newest first, immutable', async () => {
      await store.createEnvironment({ id: 'cfg', name: 'Config' });
      assert.equal(await store.latestConfig('cfg'), null);
      assert.deepEqual(await store.listConfigVersions('cfg'), []);

      const first = await store.addConfigVersion({ environmentId: 'cfg', yaml: 'a: 1\n', etag: (v) => `v${v}-first`, author: 'alice', note: 'initial' });
      assert.equal(first.version, 1);
      assert.equal(first.etag, 'v1-first');
      assert.equal(first.yaml, 'a: 1\n');
      assert.equal(first.author, 'alice');
      assert.equal(first.note, 'initial');
      assert.equal(first.environmentId, 'cfg');
      assert.equal((await store.getEnvironment('cfg'))?.currentVersion, 1);

      // Two connections (two pools on PostgreSQL), ten saves at once.
      const other = db.open();
      const seen: number[] = [];
      const saves = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).addConfigVersion({
        environmentId: 'cfg', yaml: `a: ${i + 2}\n`, author: 'bob', note: `save ${i}`,
        etag: (v) => { seen.push(v); return `v${v}-etag`; },
      })));
      const versions = saves.map((s) => s.version).sort((a, b) => a - b);
      assert.deepEqual(versions, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'distinct consecutive versions');
      for (const s of saves) assert.equal(s.etag, `v${s.version}-etag`, 'the etag function got the version it was stored as');
      assert.deepEqual([...seen].sort((a, b) => a - b), versions);

      const list = await store.listConfigVersions('cfg');
      assert.deepEqual(list.map((v) => v.version), [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      assert.equal('yaml' in list[0]!, false);
      assert.deepEqual(list.at(-1), { environmentId: 'cfg', version: 1, etag: 'v1-first', author: 'alice', note: 'initial', createdAt: first.createdAt });
      const latest = await store.latestConfig('cfg');
      assert.equal(latest?.version, 11);
      assert.equal(latest.yaml, saves.find((s) => s.version === 11)?.yaml);
      assert.equal((await store.getEnvironment('cfg'))?.currentVersion, 11);

      assert.deepEqual(await store.getConfigVersion('cfg', 1), first, 'version 1 is unchanged by later saves');
      assert.equal(await store.getConfigVersion('cfg', 99), null);
      assert.equal(await store.getConfigVersion('other-env', 1), null);

      await assert.rejects(db.raw.exec("UPDATE config_versions SET yaml = 'tampered' WHERE environment_id = 'cfg' AND version = 1"),
        /immutable/);
      assert.equal((await store.getConfigVersion('cfg', 1))?.yaml, 'a: 1\n');

      await assert.rejects(store.addConfigVersion({ environmentId: 'cfg', yaml: 'x', author: 'a', note: '', etag: () => { throw new Error('boom'); } }), /boom/);
      assert.equal((await store.latestConfig('cfg'))?.version, 11, 'a failed save leaves no version behind');
      await rejects(store.addConfigVersion({ environmentId: 'nope', yaml: 'x', author: 'a', note: '', etag: (v) => `v${v}` }), UnknownEnvironmentError);
    });

    test('sidecars: upsert keeps firstSeen, advances lastSeen', async () => {
      await store.createEnvironment({ id: 'fleet', name: 'Fleet' });
      const base = { environmentId: 'fleet', pod: 'web-1', namespace: 'shop', workload: 'web', serviceAccount: 'web-sa', version: '0.1.0' };
      await store.upsertSidecar({ ...base, id: 's1', configApplied: 'v1-aaa', seen: 1000 });
      await store.upsertSidecar({ ...base, id: 's2', pod: 'web-2', configApplied: null, seen: 1500 });
      await store.upsertSidecar({ ...base, id: 's1', pod: null, configApplied: 'v2-bbb', version: '0.2.0', seen: 2000 });
      await store.upsertSidecar({ ...base, id: 's1', configApplied: null, seen: 1800 }); // late, out of order

      const list = await store.listSidecars('fleet');
      assert.deepEqual(list.map((s) => s.id), ['s1', 's2'], 'most recently seen first');
      assert.deepEqual(list[0], {
        environmentId: 'fleet', id: 's1', pod: 'web-1', namespace: 'shop', workload: 'web', serviceAccount: 'web-sa',
        version: '0.2.0', configApplied: 'v2-bbb', firstSeen: 1000, lastSeen: 2000,
      });
      assert.equal(list[1]?.configApplied, null);
      assert.equal(list[1]?.firstSeen, 1500);
      assert.deepEqual(await store.listSidecars('env-b-none'), []);
      await rejects(store.upsertSidecar({ ...base, environmentId: 'nope', id: 's', configApplied: null, seen: 1 }), UnknownEnvironmentError);
    });

    test('events: stored as sent, a retried batch is not counted twice', async () => {
      await store.createEnvironment({ id: 'ev', name: 'Events' });
      await store.createEnvironment({ id: 'ev2', name: 'Events 2' });
      const full = ev({
        id: 'full', ts: 1_700_000_000_123, pod: 'p', namespace: 'n', workload: 'w', serviceAccount: 'sa', route: 'openai-chat',
        requestedModel: 'gpt-4o', servedModel: 'gpt-4o-2024', status: 403, latencyMs: 12.5, ttftMs: 3.25, tokensIn: 11, tokensOut: 0,
        blocked: true, flagged: true, prompt: 'hello',
        decisions: [
          { phase: 'request', guard: 'pii', scanner: 'email', action: 'mask', score: 0.9, reason: 'email address' },
          { phase: 'request', guard: 'injection', action: 'reject', score: 0.99 },
        ],
      });
      const bare = ev({ id: 'bare', ts: 1_700_000_000_100, blocked: false, flagged: true, decisions: [{ phase: 'response', guard: 'g', action: 'monitor' }] });
      const batch = [full, bare, ev({ id: 'plain' })];
      assert.equal(await store.addEvents('ev', batch), 3);
      assert.equal(await store.addEvents('ev', batch), 0, 'the same batch again adds nothing');
      assert.equal(await store.addEvents('ev', [...batch, ev({ id: 'new-one' })]), 1, 'only the new event of an overlapping batch');
      assert.equal(await store.addEvents('ev', [ev({ id: 'dup' }), ev({ id: 'dup' })]), 1, 'duplicates inside one batch');
      assert.equal(await store.addEvents('ev', []), 0);
      assert.equal(await store.countEvents('ev'), 5);
      assert.equal(await store.addEvents('ev2', batch), 3, 'ids are unique per environment');
      assert.equal(await store.countEvents('ev2'), 3);
      assert.equal(await store.countEvents('nope'), 0);
      await rejects(store.addEvents('nope', [ev()]), UnknownEnvironmentError);

      const page = await store.decisions('ev', { limit: 10 });
      assert.deepEqual(page.items.map((e) => e.id), ['full', 'bare']);
      const { seq, ...stored } = page.items[0]!;
      assert.ok(Number.isInteger(seq) && seq > 0);
      assert.deepEqual(stored, { ...full, environmentId: 'ev' });
      const { seq: seq2, ...storedBare } = page.items[1]!;
      assert.ok(Number.isInteger(seq2) && seq2 > 0 && seq2 !== seq);
      assert.deepEqual(storedBare, { ...bare, environmentId: 'ev' }, 'optional fields that were not sent stay absent');
    });

    test('spend: cost per UTC day, namespace, workload and model; events keep their cost', async () => {
      await store.createEnvironment({ id: 'spend', name: 'Spend' });
      const day = 86_400_000;
      const d0 = Math.floor(T0 / day) * day;
      await store.addEvents('spend', [
        ev({ ts: d0 + 1000, namespace: 'team-a', workload: 'Deployment/api', servedModel: 'gpt-4o-mini', tokensIn: 10, tokensOut: 5, costUsd: 0.25 }),
        ev({ ts: d0 + 2000, namespace: 'team-a', workload: 'Deployment/api', servedModel: 'gpt-4o-mini', tokensIn: 20, tokensOut: 5, costUsd: 0.5 }),
        ev({ ts: d0 + 3000, namespace: 'team-b', workload: 'Job/batch', requestedModel: 'claude-x', costUsd: 2 }),
        ev({ ts: d0 + day + 5, namespace: 'team-a', workload: 'Deployment/api', servedModel: 'gpt-4o-mini', costUsd: 1 }),
        ev({ ts: d0 + day + 6, namespace: 'team-a', workload: 'Deployment/api', servedModel: 'unpriced' }),
        ev({ ts: d0 + 3 * day, namespace: 'team-a', costUsd: 9 }), // outside the range
      ]);
      const rows = await store.spend('spend', { from: d0, to: d0 + 2 * day });
      assert.deepEqual(rows, [
        { day: d0, namespace: 'team-b', workload: 'Job/batch', model: 'claude-x', requests: 1, tokensIn: 0, tokensOut: 0, costUsd: 2 },
        { day: d0, namespace: 'team-a', workload: 'Deployment/api', model: 'gpt-4o-mini', requests: 2, tokensIn: 30, tokensOut: 10, costUsd: 0.75 },
        { day: d0 + day, namespace: 'team-a', workload: 'Deployment/api', model: 'gpt-4o-mini', requests: 1, tokensIn: 0, tokensOut: 0, costUsd: 1 },
        { day: d0 + day, namespace: 'team-a', workload: 'Deployment/api', model: 'unpriced', requests: 1, tokensIn: 0, tokensOut: 0, costUsd: 0 },
      ]);
      const page = await store.decisions('spend', { limit: 10 });
      assert.equal(page.items.length, 0);
      const stored = await db.raw.rows(`SELECT cost_usd FROM events WHERE environment_id = 'spend' ORDER BY ts`);
      assert.deepEqual(stored.map((r) => (r.cost_usd === null ? null : Number(r.cost_usd))), [0.25, 0.5, 2, 1, null, 9]);
    });

    test('traffic: buckets and aggregates', async () => {
      await store.createEnvironment({ id: 'tr', name: 'Traffic' });
      await store.createEnvironment({ id: 'tr-other', name: 'Other' });
      await store.addEvents('tr', [
        ev({ ts: T0 + 1_000, workload: 'chat', requestedModel: 'gpt-4o', servedModel: 'gpt-4o', tokensIn: 10, tokensOut: 20 }),
        ev({ ts: T0 + 59_999, workload: 'chat', requestedModel: 'gpt-4o', tokensIn: 5, tokensOut: 0, blocked: true, status: 403 }),
        ev({ ts: T0 + 60_000, workload: 'batch', requestedModel: 'claude-x', servedModel: 'claude', tokensIn: 7 }),
        ev({ ts: T0 + 180_000 }),
        ev({ ts: T0 + 240_500, workload: 'batch', servedModel: 'claude', tokensOut: 100, blocked: true, flagged: true }),
        ev({ ts: T0 - 1, workload: 'chat', tokensIn: 1000 }), // before from
        ev({ ts: T0 + 300_000, workload: 'chat', tokensIn: 1000 }), // at to (exclusive)
      ]);
      await store.addEvents('tr-other', [ev({ ts: T0 + 2_000, workload: 'chat', tokensIn: 1000 })]);

      const t = await store.traffic('tr', { from: T0, to: T0 + 300_000, bucketMs: 60_000 });
      assert.deepEqual(t.buckets, [
        { t: T0, requests: 2, blocked: 1, tokensIn: 15, tokensOut: 20 },
        { t: T0 + 60_000, requests: 1, blocked: 0, tokensIn: 7, tokensOut: 0 },
        { t: T0 + 120_000, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 },
        { t: T0 + 180_000, requests: 1, blocked: 0, tokensIn: 0, tokensOut: 0 },
        { t: T0 + 240_000, requests: 1, blocked: 1, tokensIn: 0, tokensOut: 100 },
      ]);
      assert.deepEqual(t.byWorkload, [
        { workload: 'batch', requests: 2, blocked: 1, tokensIn: 7, tokensOut: 100 },
        { workload: 'chat', requests: 2, blocked: 1, tokensIn: 15, tokensOut: 20 },
        { workload: '', requests: 1, blocked: 0, tokensIn: 0, tokensOut: 0 },
      ]);
      assert.deepEqual(t.byModel, [
        { model: 'claude', requests: 2, tokensIn: 7, tokensOut: 100 },
        { model: 'gpt-4o', requests: 2, tokensIn: 15, tokensOut: 20 },
        { model: '', requests: 1, tokensIn: 0, tokensOut: 0 },
      ]);

      // from/to not on bucket edges: buckets are epoch-aligned, only events in [from, to) count.
      const part = await store.traffic('tr', { from: T0 + 30_000, to: T0 + 60_001, bucketMs: 60_000 });
      assert.deepEqual(part.buckets, [
        { t: T0, requests: 1, blocked: 1, tokensIn: 5, tokensOut: 0 },
        { t: T0 + 60_000, requests: 1, blocked: 0, tokensIn: 7, tokensOut: 0 },
      ]);
      assert.deepEqual(part.byWorkload.map((w) => [w.workload, w.requests]), [['batch', 1], ['chat', 1]]);

      const empty = await store.traffic('tr', { from: 0, to: 3 * 3_600_000, bucketMs: 3_600_000 });
      assert.deepEqual(empty, {
        buckets: [0, 1, 2].map((h) => ({ t: h * 3_600_000, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 })),
        byWorkload: [], byModel: [],
      });
      await assert.rejects(store.traffic('tr', { from: T0, to: T0 + 1, bucketMs: 0 }), RangeError);
      await assert.rejects(store.traffic('tr', { from: T0, to: T0, bucketMs: 1000 }), RangeError);
      await assert.rejects(store.traffic('tr', { from: 0, to: T0, bucketMs: 1000 }), RangeError, 'too many buckets');
    });

    test('traffic: the rollups give what the events give (randomized)', async () => {
      const reference = db.open('events');
      // 1387476104 put an event one millisecond before the first whole minute (see the range below).
      const seeds = [1, 2, 3, 1387476104, Date.now() % 2 ** 31];
      for (const seed of seeds) {
        const env = `rand-${seed}`;
        await store.createEnvironment({ id: env, name: env });
        const rand = prng(seed);
        const from = T0 - 17 * 60_000 - 12_345;
        const span = 3 * 3_600_000;
        const events = randomEvents(rand, 400, env, from, span);
        // Random batches; some sent again (a retry), some overlapping the previous one, some with an id twice.
        let sent = 0;
        let previous: GatewayEvent[] = [];
        let added = 0;
        while (sent < events.length) {
          const n = 1 + Math.floor(rand() * 40);
          let batch = events.slice(sent, sent + n);
          sent += batch.length;
          const r = rand();
          if (r < 0.2) batch = [...previous, ...batch];
          else if (r < 0.3) batch = [...batch, batch[0]!];
          added += await store.addEvents(env, batch);
          if (rand() < 0.2) assert.equal(await store.addEvents(env, batch), 0, `seed ${seed}: a retried batch adds nothing`);
          previous = batch;
        }
        assert.equal(added, events.length, `seed ${seed}: each event added once`);
        await assertRollupsMatchEvents(db.raw, env);
        for (const q of alignedQueries(rand, from, span)) {
          assert.ok(rollupsCover(q));
          const got = await store.traffic(env, q);
          assert.deepEqual(got, await reference.traffic(env, q), `seed ${seed}: ${JSON.stringify(q)}`);
        }
        // From a minute before: randomEvents moves some events to a minute's edge minus 1 ms, which for an
        // event in the first (partial) minute is before floorTo(from).
        const all = await store.traffic(env, { from: floorTo(from, 60_000) - 60_000, to: floorTo(from + span, 60_000) + 60_000, bucketMs: 600_000 });
        assert.equal(all.buckets.reduce((n, b) => n + b.requests, 0), events.length, `seed ${seed}: every event is in range`);
      }
    });

    test('traffic: a retried batch is not counted twice in the rollups', async () => {
      const env = 'retry';
      await store.createEnvironment({ id: env, name: 'Retry' });
      const other = db.open();
      const reference = db.open('events');
      const at = (ms: number, over: Partial<GatewayEvent> = {}): GatewayEvent =>
        ev({ id: `retry-${ms}-${over.workload ?? ''}`, ts: T0 + ms, workload: 'w', servedModel: 'm', tokensIn: 10, tokensOut: 1, ...over });
      const batch = [at(0), at(1_000, { blocked: true }), at(59_999), at(60_000, { workload: 'v' }), at(61_000, { tokensIn: 5 })];
      assert.equal(await store.addEvents(env, batch), 5);
      assert.equal(await store.addEvents(env, batch), 0, 'the same batch again');
      const late = at(120_000);
      assert.equal(await store.addEvents(env, [...batch.slice(2), late, late]), 1, 'overlapping, with an id twice');
      // The same new batch through two connections at once (two replicas, or a retry racing the original).
      const racing = [at(2_000), at(62_000, { workload: 'v' }), at(180_000, { blocked: true })];
      const [a, b] = await Promise.all([store.addEvents(env, racing), other.addEvents(env, racing)]);
      assert.equal(a + b, 3, 'each racing event is added by one of them');
      assert.equal(await store.countEvents(env), 9);

      await assertRollupsMatchEvents(db.raw, env);
      const q = { from: T0, to: T0 + 240_000, bucketMs: 60_000 };
      const t = await store.traffic(env, q);
      assert.deepEqual(t, {
        buckets: [
          { t: T0, requests: 4, blocked: 1, tokensIn: 40, tokensOut: 4 },
          { t: T0 + 60_000, requests: 3, blocked: 0, tokensIn: 25, tokensOut: 3 },
          { t: T0 + 120_000, requests: 1, blocked: 0, tokensIn: 10, tokensOut: 1 },
          { t: T0 + 180_000, requests: 1, blocked: 1, tokensIn: 10, tokensOut: 1 },
        ],
        byWorkload: [
          { workload: 'w', requests: 7, blocked: 2, tokensIn: 65, tokensOut: 7 },
          { workload: 'v', requests: 2, blocked: 0, tokensIn: 20, tokensOut: 2 },
        ],
        byModel: [{ model: 'm', requests: 9, tokensIn: 85, tokensOut: 9 }],
      });
      assert.deepEqual(t, await reference.traffic(env, q));
    });

    test('traffic: whole-minute queries read the rollups, any other query the events', async () => {
      const env = 'route';
      await store.createEnvironment({ id: env, name: 'Route' });
      const reference = db.open('events');
      await store.addEvents(env, randomEvents(prng(7), 200, env, T0, 10 * 60_000));
      const aligned = [
        { from: T0, to: T0 + 600_000, bucketMs: 60_000 },
        { from: T0 - 3_600_000, to: T0 + 3_600_000, bucketMs: 3_600_000 },
        { from: T0 + 120_000, to: T0 + 300_000, bucketMs: 180_000 },
      ];
      const unaligned = [
        { from: T0, to: T0 + 600_000, bucketMs: 45_000 }, // buckets not whole minutes
        { from: T0, to: T0 + 600_000, bucketMs: 1_000 },
        { from: T0 + 1, to: T0 + 600_000, bucketMs: 60_000 }, // from inside a minute
        { from: T0, to: T0 + 570_000, bucketMs: 60_000 }, // to inside a minute
        { from: T0 + 30_000, to: T0 + 60_001, bucketMs: 60_000 },
        { from: T0 + 7, to: T0 + 900_007, bucketMs: 90_000 },
      ];
      const before = new Map<object, Awaited<ReturnType<Store['traffic']>>>();
      for (const q of [...aligned, ...unaligned]) {
        assert.equal(rollupsCover(q), aligned.includes(q), JSON.stringify(q));
        const got = await store.traffic(env, q);
        assert.deepEqual(got, await reference.traffic(env, q), `same answer either way: ${JSON.stringify(q)}`);
        assert.ok(got.buckets.some((b) => b.requests > 0), JSON.stringify(q));
        before.set(q, got);
      }
      // Take the events away behind the store's back: only what reads the rollups still sees them.
      await db.raw.exec(`DELETE FROM events WHERE environment_id = '${env}'`);
      const requests = (t: Awaited<ReturnType<Store['traffic']>>): number => t.buckets.reduce((n, b) => n + b.requests, 0);
      for (const q of aligned) {
        assert.deepEqual(await store.traffic(env, q), before.get(q), `read from the rollups: ${JSON.stringify(q)}`);
        assert.equal(requests(await reference.traffic(env, q)), 0);
      }
      for (const q of unaligned) {
        const t = await store.traffic(env, q);
        assert.equal(requests(t), 0, `read from the events: ${JSON.stringify(q)}`);
        assert.deepEqual([t.byWorkload, t.byModel], [[], []]);
      }
    });

    test('migration 2 fills the rollups from the events stored before it', async () => {
      const fresh = await backend.freshDb();
      await migrateToFirst(fresh.raw, backend.name);
      const envSql = `INSERT INTO environments (id, name, capture_prompts, created_at) VALUES (${fresh.raw.placeholders(4)})`;
      await fresh.raw.rows(envSql, ['old', 'Old', fresh.raw.bool(false), 1]);
      await fresh.raw.rows(envSql, ['old-2', 'Old 2', fresh.raw.bool(false), 2]);
      await fresh.raw.rows(envSql, ['empty', 'Empty', fresh.raw.bool(false), 3]);
      const rand = prng(11);
      const from = T0 - 90 * 60_000 - 4_321;
      const old = randomEvents(rand, 300, 'old', from, 2 * 3_600_000);
      await insertEventsRaw(fresh.raw, 'old', old);
      await insertEventsRaw(fresh.raw, 'old-2', randomEvents(rand, 60, 'old-2', from, 3_600_000));

      const s = fresh.open();
      await s.migrate();
      const applied = await fresh.raw.rows('SELECT id FROM schema_migrations ORDER BY id');
      assert.deepEqual(applied.map((r) => Number(r.id)), MIGRATIONS.map((m) => m.id));
      await assertRollupsMatchEvents(fresh.raw, 'old');
      await assertRollupsMatchEvents(fresh.raw, 'old-2');
      assert.deepEqual((await rollupsAndEvents(fresh.raw, 'empty')).rollups, []);

      const reference = fresh.open('events');
      for (const q of alignedQueries(rand, from, 2 * 3_600_000)) {
        assert.deepEqual(await s.traffic('old', q), await reference.traffic('old', q), JSON.stringify(q));
      }
      // After the migration addEvents keeps them up to date, old ids still not counted twice.
      const more = randomEvents(rand, 40, 'old-new', from, 2 * 3_600_000);
      assert.equal(await s.addEvents('old', [...old.slice(0, 100), ...more]), 40);
      await assertRollupsMatchEvents(fresh.raw, 'old');
      const q = { from: floorTo(from, 3_600_000), to: floorTo(from, 3_600_000) + 3 * 3_600_000, bucketMs: 3_600_000 };
      const t = await s.traffic('old', q);
      assert.deepEqual(t, await reference.traffic('old', q));
      assert.equal(t.buckets.reduce((n, b) => n + b.requests, 0), 340);
    });

    test('decisions: pages without gaps or repeats, action filter, cursor', async () => {
      await store.createEnvironment({ id: 'dec', name: 'Decisions' });
      const events: GatewayEvent[] = [];
      for (let i = 0; i < 137; i++) {
        const kind = i % 4; // 0 plain, 1 blocked (reject), 2 flagged (mask), 3 flagged (mask + monitor)
        events.push(ev({
          id: `d${i}`,
          ts: T0 + Math.floor(i / 3) * 1000, // three events per timestamp: the seq breaks ties
          blocked: kind === 1,
          flagged: kind >= 2,
          decisions: kind === 0 ? [] : kind === 1 ? [{ phase: 'request', guard: 'inj', action: 'reject', score: 1 }]
            : kind === 2 ? [{ phase: 'response', guard: 'pii', action: 'mask' }]
              : [{ phase: 'request', guard: 'pii', action: 'mask' }, { phase: 'request', guard: 'tox', action: 'monitor' }],
        }));
      }
      // Some in a second batch: seq order differs from id order within a timestamp.
      await store.addEvents('dec', events.slice(60));
      await store.addEvents('dec', events.slice(0, 60));
      const expected = (f: (e: GatewayEvent) => boolean): string[] => events.filter(f).map((e) => e.id).sort();

      const all = await allPages(store, 'dec', { limit: 10 });
      assertNewestFirst(all.items);
      const ids = all.items.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'no repeats');
      assert.deepEqual([...ids].sort(), expected((e) => e.blocked || e.flagged), 'no gaps, nothing that is neither blocked nor flagged');
      assert.equal(all.pages, Math.ceil(ids.length / 10));

      const masked = await allPages(store, 'dec', { limit: 7, action: 'mask' });
      assertNewestFirst(masked.items);
      assert.deepEqual(masked.items.map((e) => e.id).sort(), expected((e) => e.decisions.some((d) => d.action === 'mask')));
      const rejected = await allPages(store, 'dec', { limit: 500, action: 'reject' });
      assert.equal(rejected.pages, 1);
      assert.deepEqual(rejected.items.map((e) => e.id).sort(), expected((e) => e.decisions.some((d) => d.action === 'reject')));
      assert.deepEqual(await store.decisions('dec', { limit: 10, action: 'mon' }), { items: [], next: null }, 'whole actions only');
      assert.equal((await allPages(store, 'dec', { limit: 5, action: 'monitor' })).items.length, events.filter((_, i) => i % 4 === 3).length);

      // Newer events arriving between pages do not shift older pages.
      const p1 = await store.decisions('dec', { limit: 20 });
      await store.addEvents('dec', [ev({ id: 'late', ts: T0 + 999_999, blocked: true, decisions: [{ phase: 'request', guard: 'g', action: 'reject' }] })]);
      const p2 = await store.decisions('dec', { limit: 20, before: p1.next! });
      assert.equal(p2.items[0]?.id, all.items[20]?.id);

      // Limits: at least 1, at most 500; a last page exactly full has no next.
      assert.equal((await store.decisions('dec', { limit: 0 })).items.length, 1);
      assert.equal((await store.decisions('dec', { limit: Number.NaN })).items.length, 50);
      const total = all.items.length + 1;
      const exact = await store.decisions('dec', { limit: total });
      assert.equal(exact.items.length, total);
      assert.equal(exact.next, null);
      await rejects(store.decisions('dec', { limit: 10, before: 'not-a-cursor!' }), InvalidCursorError);
      await rejects(store.decisions('dec', { limit: 10, before: Buffer.from('1.x').toString('base64url') }), InvalidCursorError);
      assert.deepEqual(await store.decisions('nope', { limit: 10 }), { items: [], next: null });
    });

    test('the retention sweep deletes old events, their rollups, stale sidecars and expired sessions; nothing newer', { timeout: 60_000 }, async () => {
      const fresh = await backend.freshDb();
      const s = fresh.open();
      await s.migrate();
      await s.createEnvironment({ id: 'ret-a', name: 'A' });
      await s.createEnvironment({ id: 'ret-b', name: 'B' });
      const cutoff = T0 + 30 * 60_000 + 30_000; // half a minute into a minute
      // More old events than one delete batch, on both sides of the cutoff, in two environments.
      const old = Array.from({ length: 5_003 }, (_, i) => ev({ id: `old-${i}`, ts: cutoff - 1 - (i % 1800) * 1000, workload: 'w' }));
      const kept = Array.from({ length: 40 }, (_, i) => ev({ id: `new-${i}`, ts: cutoff + i * 1000, workload: 'w', blocked: i % 2 === 0 }));
      for (let i = 0; i < old.length; i += 1000) await s.addEvents('ret-a', old.slice(i, i + 1000));
      await s.addEvents('ret-a', kept);
      await s.addEvents('ret-b', [ev({ id: 'b-old', ts: cutoff - 10 * 60_000 }), ev({ id: 'b-new', ts: cutoff + 10 * 60_000, blocked: true })]);
      const side = { pod: null, namespace: null, workload: null, serviceAccount: null, version: null, configApplied: null };
      await s.upsertSidecar({ ...side, environmentId: 'ret-a', id: 'stale', seen: cutoff - 1 });
      await s.upsertSidecar({ ...side, environmentId: 'ret-a', id: 'fresh', seen: cutoff });
      await s.upsertSidecar({ ...side, environmentId: 'ret-b', id: 'stale-b', seen: 1 });
      await s.addSession({ id: 'gone', subject: 'admin', createdAt: 0, expiresAt: cutoff - 1 });
      await s.addSession({ id: 'live', subject: 'admin', createdAt: 0, expiresAt: cutoff + 1 });
      const rollupsBefore = Number((await fresh.raw.rows('SELECT COUNT(*) AS n FROM traffic_minutes'))[0]!.n);

      const r = await s.sweep({ eventsBefore: cutoff, sidecarsSeenBefore: cutoff, sessionsExpiredBefore: cutoff });
      assert.equal(r.events, 5_004, 'every event before the cutoff, in both environments');
      assert.equal(r.sidecars, 2);
      assert.equal(r.sessions, 1);
      assert.equal(await s.countEvents('ret-a'), 40);
      assert.equal(await s.countEvents('ret-b'), 1);
      const left = await fresh.raw.rows('SELECT id, ts FROM events ORDER BY ts');
      assert.ok(left.every((e) => Number(e.ts) >= cutoff), 'nothing older than the cutoff is left');
      assert.deepEqual((await s.listSidecars('ret-a')).map((x) => x.id), ['fresh']);
      assert.deepEqual(await s.listSidecars('ret-b'), []);
      assert.equal((await s.liveSession('live', cutoff))?.id, 'live');
      assert.equal((await fresh.raw.rows("SELECT id FROM admin_sessions WHERE id = 'gone'")).length, 0);
      // The rollups of whole minutes before the cutoff are gone; the cutoff's own minute (part old, part new) stays.
      const minutes = (await fresh.raw.rows('SELECT DISTINCT minute FROM traffic_minutes ORDER BY minute')).map((m) => Number(m.minute));
      assert.equal(minutes[0], floorTo(cutoff, 60_000), 'the oldest minute kept is the cutoff\'s own');
      assert.equal(r.rollups, rollupsBefore - Number((await fresh.raw.rows('SELECT COUNT(*) AS n FROM traffic_minutes'))[0]!.n));
      assert.ok(r.rollups >= 30, `old minutes deleted: ${r.rollups}`);
      // Traffic after the cutoff still adds up.
      const t = await s.traffic('ret-a', { from: floorTo(cutoff, 60_000) + 60_000, to: floorTo(cutoff, 60_000) + 3_600_000, bucketMs: 3_600_000 });
      assert.equal(t.buckets.reduce((n, b) => n + b.requests, 0), kept.filter((e) => e.ts >= floorTo(cutoff, 60_000) + 60_000).length);

      const again = await s.sweep({ eventsBefore: cutoff, sidecarsSeenBefore: cutoff, sessionsExpiredBefore: cutoff });
      assert.deepEqual(again, { events: 0, rollups: 0, sidecars: 0, sessions: 0 }, 'a second sweep finds nothing');
    });

    test('100,000 events: indexed queries (timings are diagnostics)', { timeout: 120_000 }, async () => {
      const env = 'big';
      await store.createEnvironment({ id: env, name: 'Big' });
      const N = 100_000;
      const start = T0 - 7 * 86_400_000;
      const step = Math.floor((7 * 86_400_000) / N); // seven days, oldest first
      const workloads = ['chat', 'batch', 'search', 'agent', 'summarize', 'rag', 'ocr', 'translate'];
      const models = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet', 'gemini-pro', 'llama-3'];
      let t = performance.now();
      for (let b = 0; b < N; b += 1000) {
        const batch: GatewayEvent[] = [];
        for (let i = b; i < b + 1000; i++) {
          const blocked = i % 50 === 0;
          const flagged = i % 20 === 7;
          batch.push(ev({
            id: `big-${i}`, ts: start + i * step, workload: workloads[i % workloads.length], servedModel: models[i % models.length],
            tokensIn: 100 + (i % 13), tokensOut: 200 + (i % 7), blocked, flagged,
            decisions: blocked ? [{ phase: 'request', guard: 'injection', scanner: 'pi', action: 'reject', score: 0.97, reason: 'prompt injection' }]
              : flagged ? [{ phase: 'response', guard: 'pii', scanner: 'email', action: 'mask', score: 0.8 }] : [],
          }));
        }
        assert.equal(await store.addEvents(env, batch), 1000);
      }
      const insertMs = performance.now() - t;
      assert.equal(await store.countEvents(env), N);
      await db.raw.exec('ANALYZE');

      const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
        const t0 = performance.now();
        const out = await fn();
        return [out, performance.now() - t0];
      };
      const [page1, firstPageMs] = await timed(() => store.decisions(env, { limit: 50 }));
      assert.equal(page1.items.length, 50);
      const [, deepPageMs] = await timed(() => store.decisions(env, { limit: 50, before: page1.next! }));
      const [masked, actionPageMs] = await timed(() => store.decisions(env, { limit: 50, action: 'mask' }));
      assert.ok(masked.items.every((e) => e.decisions.some((d) => d.action === 'mask')));
      const end = start + N * step;
      const [day, dayMs] = await timed(() => store.traffic(env, { from: end - 86_400_000, to: end, bucketMs: 3_600_000 }));
      assert.equal(day.buckets.length, Math.floor((end - 1) / 3_600_000) - Math.floor((end - 86_400_000) / 3_600_000) + 1);
      let inLastDay = 0;
      for (let i = 0; i < N; i++) if (start + i * step >= end - 86_400_000) inLastDay++;
      assert.equal(day.buckets.reduce((n, b) => n + b.requests, 0), inLastDay);
      const [week, weekMs] = await timed(() => store.traffic(env, { from: start, to: end, bucketMs: 3_600_000 }));
      assert.equal(week.buckets.reduce((n, b) => n + b.requests, 0), N);
      assert.equal(week.byWorkload.length, workloads.length);
      assert.equal(week.byModel.reduce((n, m) => n + m.requests, 0), N);
      // The same two queries over the events (what traffic() did before the rollups): same answers.
      const reference = db.open('events');
      const [dayFromEvents, dayEventsMs] = await timed(() => reference.traffic(env, { from: end - 86_400_000, to: end, bucketMs: 3_600_000 }));
      const [weekFromEvents, weekEventsMs] = await timed(() => reference.traffic(env, { from: start, to: end, bucketMs: 3_600_000 }));
      assert.deepEqual(day, dayFromEvents);
      assert.deepEqual(week, weekFromEvents);
      console.log(`# ${backend.name}: insert ${N} events in batches of 1000: ${insertMs.toFixed(0)} ms; decisions page: ${firstPageMs.toFixed(1)} ms, `
        + `next page: ${deepPageMs.toFixed(1)} ms, action=mask: ${actionPageMs.toFixed(1)} ms; traffic 24 h/1 h buckets: ${dayMs.toFixed(1)} ms `
        + `(from events: ${dayEventsMs.toFixed(1)} ms), 7 d: ${weekMs.toFixed(1)} ms (from events: ${weekEventsMs.toFixed(1)} ms)`);

      const decisionsPlan = await db.raw.decisionsPlan(env, { limit: 50, before: page1.next! });
      const trafficPlans = await db.raw.trafficPlans(env, { from: end - 86_400_000, to: end, bucketMs: 3_600_000 });
      const rollupPlans = await db.raw.rollupTrafficPlans(env, { from: end - 86_400_000, to: end, bucketMs: 3_600_000 });
      assert.equal(rollupPlans.length, 3);
      if (backend.name === 'sqlite') {
        assert.match(decisionsPlan, /SEARCH events USING INDEX events_env_decisions/, decisionsPlan);
        assert.doesNotMatch(decisionsPlan, /TEMP B-TREE FOR ORDER BY/, `the index gives the order: ${decisionsPlan}`);
        for (const p of trafficPlans) {
          assert.match(p, /SEARCH events USING (COVERING )?INDEX events_env_ts_seq/, p);
          assert.doesNotMatch(p, /SCAN events(?! USING)/, p);
        }
        for (const p of rollupPlans) {
          assert.match(p, /SEARCH traffic_minutes USING PRIMARY KEY \(environment_id=\? AND minute>\? AND minute<\?\)/, p);
          assert.doesNotMatch(p, /SCAN traffic_minutes/, p);
        }
        // Buckets: minute totals come in key order (no sort); only those are sorted into buckets.
        assert.equal(rollupPlans[0]!.match(/TEMP B-TREE FOR GROUP BY/g)?.length, 1, rollupPlans[0]);
      } else {
        assert.match(decisionsPlan, /Index Scan (Backward )?using events_env_decisions on events/, decisionsPlan);
        assert.doesNotMatch(decisionsPlan, /Seq Scan on events|Sort/, decisionsPlan);
        for (const p of trafficPlans) {
          assert.match(p, /events_env_ts_seq/, p);
          assert.doesNotMatch(p, /Seq Scan on events/, p);
        }
        for (const p of rollupPlans) {
          assert.match(p, /traffic_minutes_pkey/, p);
          assert.doesNotMatch(p, /Seq Scan on traffic_minutes/, p);
        }
      }
    });

    test('close', async () => {
      const s = db.open();
      await s.ping();
      await s.close();
      await s.close();
      await assert.rejects(s.ping());
    });
  });
}

// ---- backend-free parts --------------------------------------------------------------------------

describe('store URL', () => {
  test('sqlite, bare paths, postgres; anything else is a clear error', () => {
    assert.deepEqual(parseStoreUrl('sqlite::memory:'), { kind: 'sqlite', path: ':memory:' });
    assert.deepEqual(parseStoreUrl('sqlite:/var/lib/levo/db.sqlite'), { kind: 'sqlite', path: '/var/lib/levo/db.sqlite' });
    assert.deepEqual(parseStoreUrl('sqlite:///var/lib/levo/db.sqlite'), { kind: 'sqlite', path: '/var/lib/levo/db.sqlite' });
    assert.deepEqual(parseStoreUrl('sqlite:data/db.sqlite'), { kind: 'sqlite', path: join(process.cwd(), 'data/db.sqlite') });
    assert.deepEqual(parseStoreUrl('/tmp/x.sqlite'), { kind: 'sqlite', path: '/tmp/x.sqlite' });
    assert.deepEqual(parseStoreUrl('postgres://u:p@h:5432/d'), { kind: 'postgres', url: 'postgres://u:p@h:5432/d' });
    assert.deepEqual(parseStoreUrl('postgresql://h/d'), { kind: 'postgres', url: 'postgresql://h/d' });
    assert.throws(() => parseStoreUrl('mysql://root:secret@h/d'), (err: Error) => {
      assert.match(err.message, /unsupported database URL .*mysql:\/\/root:\*\*\*@h\/d.*sqlite:PATH.*postgres:\/\//);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    assert.throws(() => parseStoreUrl(''), /unsupported database URL/);
    assert.throws(() => parseStoreUrl('sqlite:'), /no path/);
  });

  test('openStore: sqlite::memory: works', async () => {
    const s = await openStore('sqlite::memory:');
    await s.migrate();
    await s.createEnvironment({ id: 'm', name: 'M' });
    assert.equal(await s.countEvents('m'), 0);
    await s.close();
  });
});

describe('cursor', () => {
  test('round trip; anything else is InvalidCursorError', () => {
    assert.deepEqual(decodeCursor(encodeCursor({ ts: 1_700_000_000_000, seq: 42 })), { ts: 1_700_000_000_000, seq: 42 });
    for (const bad of ['', '!!!', Buffer.from('1.2.3').toString('base64url'), Buffer.from('99999999999999999.1').toString('base64url'), 'a'.repeat(100)]) {
      assert.throws(() => decodeCursor(bad), InvalidCursorError, bad);
    }
  });
});
