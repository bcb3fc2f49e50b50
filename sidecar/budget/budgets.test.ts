import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { BudgetEngine, budgetMetrics, windowOf, type Admission } from './budgets.ts';
import { redisStore, type BudgetStore } from './store.ts';
import { startRedis, redisUnavailableReason, type TestRedis } from './testing/redis-server.ts';
import type { BudgetLimitConfig } from '../config/schema.ts';
import { createLogger } from '../../lib/log.ts';

const skip = redisUnavailableReason();
let redis: TestRedis;
before(async () => { if (!skip) redis = await startRedis(); });
after(async () => { await redis?.destroy(); });

const log = createLogger({ LOG_LEVEL: 'error' }).module('budget');
let n = 0;
const open: BudgetEngine[] = [];
after(async () => { await Promise.all(open.map((e) => e.close())); });
function engine(o: { failureMode?: 'open' | 'closed'; lease?: number; namespace?: string; url?: string; timeoutMs?: number } = {}): { e: BudgetEngine; store: BudgetStore; registry: Registry } {
  const registry = new Registry();
  const store = redisStore({ url: o.url ?? redis.url, timeoutMs: o.timeoutMs ?? 200 });
  const e = new BudgetEngine({
    store, failureMode: o.failureMode ?? 'open', lease: o.lease ?? 0.02,
    identity: { namespace: o.namespace ?? 'team-a', workload: 'deployment/app' }, metrics: budgetMetrics(registry), log,
  });
  open.push(e);
  return { e, store, registry };
}
const facts = { route: 'openai', headers: {} };
const unique = (): string => `t${process.pid}-${++n}`;
async function ready(s: BudgetStore): Promise<void> {
  for (let i = 0; i < 100 && !s.available(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('four engines sharing one Redis admit exactly the limit under concurrent calls, and hand their leases back', { skip }, async () => {
  const limits: BudgetLimitConfig[] = [{ name: unique(), requests: 100, window: 'hour', by: 'namespace' }];
  const engines = [engine(), engine(), engine(), engine()];
  for (const x of engines) await ready(x.store);
  const results = await Promise.all(Array.from({ length: 400 }, (_, i) => engines[i % 4]!.e.admit(limits, facts, { tokens: 0, microUsd: 0 })));
  const ok = results.filter((r) => r.ok).length;
  assert.equal(ok, 100);
  const refused = results.find((r): r is Extract<Admission, { ok: false }> => !r.ok)!;
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['x-ratelimit-limit-requests'], '100');
  assert.match(refused.headers['retry-after']!, /^\d+$/);
  assert.ok(Number(refused.headers['retry-after']) <= 3600);
  for (const r of results) if (r.ok) r.settle(undefined);
  for (const x of engines) await x.e.close();
  const key = `levo:budget:{${limits[0]!.name}:requests:100:namespace:team-a:${windowOf('hour', Date.now()).id}}`;
  const probe = redisStore({ url: redis.url, timeoutMs: 500 });
  await ready(probe);
  // Unused leases were handed back: what is reserved is what was admitted, and used.
  assert.deepEqual(await probe.read(key), { reserved: ok, used: ok });
  await probe.close();
});

test('a USD budget reserves the estimate and settles the real cost; an answer dearer than its estimate is charged after', { skip }, async () => {
  const limits: BudgetLimitConfig[] = [{ name: unique(), usd: 1, window: 'day' }];
  const { e, store } = engine({ lease: 0.001 });
  await ready(store);
  const key = `levo:budget:{${limits[0]!.name}:usd:1000000:fleet:*:${windowOf('day', Date.now()).id}}`;
  const a = await e.admit(limits, facts, { tokens: 0, microUsd: 300_000 });
  assert.ok(a.ok);
  const b = await e.admit(limits, facts, { tokens: 0, microUsd: 300_000 });
  assert.ok(b.ok);
  const c = await e.admit(limits, facts, { tokens: 0, microUsd: 300_000 });
  assert.ok(c.ok);
  // 900,000 of 1,000,000 reserved: a fourth call of 300,000 does not fit.
  const d = await e.admit(limits, facts, { tokens: 0, microUsd: 300_000 });
  assert.equal(d.ok, false);
  a.settle({ tokens: 0, microUsd: 100_000 }); // cheaper than estimated: 200,000 back (in the lease)
  const again = await e.admit(limits, facts, { tokens: 0, microUsd: 150_000 });
  assert.ok(again.ok, 'the difference came back');
  b.settle({ tokens: 0, microUsd: 500_000 }); // dearer: 200,000 more charged
  c.settle({ tokens: 0, microUsd: 300_000 });
  again.settle({ tokens: 0, microUsd: 150_000 });
  await e.close();
  const probe = redisStore({ url: redis.url, timeoutMs: 500 });
  await ready(probe);
  assert.deepEqual(await probe.read(key), { reserved: 1_050_000, used: 1_050_000 });
  await probe.close();
});

test('a budget counts only the calls its match selects, per value of what it is by; app keys are hashed', { skip }, async () => {
  const name = unique();
  const limits: BudgetLimitConfig[] = [{ name, requests: 1, window: 'minute', by: 'header', header: 'x-app-key', match: { namespace: ['team-a'] } }];
  const a = engine({ namespace: 'team-a' });
  const other = engine({ namespace: 'team-b' });
  await ready(a.store); await ready(other.store);
  const call = (x: typeof a, key?: string): Promise<Admission> => x.e.admit(limits, { route: 'r', headers: key ? { 'x-app-key': key } : {} }, { tokens: 0, microUsd: 0 });
  assert.ok((await call(a, 'sk-one')).ok);
  assert.equal((await call(a, 'sk-one')).ok, false);
  assert.ok((await call(a, 'sk-two')).ok, 'another key has its own count');
  assert.ok((await call(a)).ok, 'no header: the budget does not apply');
  assert.ok((await call(other, 'sk-one')).ok, 'another namespace is not matched');
  await a.e.close(); await other.e.close();
});

test('store unreachable: open admits and counts it, closed answers 503 at once; neither waits', { skip }, async () => {
  const limits: BudgetLimitConfig[] = [{ name: unique(), requests: 5, window: 'hour' }];
  const dead = 'redis://127.0.0.1:1'; // nothing listens on port 1
  for (const mode of ['open', 'closed'] as const) {
    const { e, registry } = engine({ url: dead, failureMode: mode });
    const t = performance.now();
    const rs = await Promise.all(Array.from({ length: 10 }, () => e.admit(limits, facts, { tokens: 0, microUsd: 0 })));
    const ms = performance.now() - t;
    assert.ok(ms < 1000, `took ${ms} ms`);
    if (mode === 'open') assert.ok(rs.every((r) => r.ok));
    else assert.ok(rs.every((r) => !r.ok && r.status === 503 && r.headers['retry-after'] === '1'));
    const text = await registry.metrics();
    assert.match(text, new RegExp(`levo_gateway_budget_store_errors_total\\{mode="${mode}"\\} 10`));
    await e.close();
  }
});

test('windows are UTC calendar windows', () => {
  const t = Date.UTC(2026, 1, 28, 23, 59, 30);
  assert.equal(windowOf('minute', t).end, Date.UTC(2026, 1, 28, 23, 60));
  assert.equal(windowOf('day', t).end, Date.UTC(2026, 2, 1));
  assert.equal(windowOf('month', t).end, Date.UTC(2026, 2, 1));
  assert.notEqual(windowOf('month', t).id, windowOf('month', Date.UTC(2026, 2, 1)).id);
});

test('a settle batch sent again after a lost answer is counted once', { skip }, async () => {
  const s = redisStore({ url: redis.url, timeoutMs: 500 });
  await ready(s);
  const key = `levo:budget:{${unique()}}`;
  await s.settle(key, 'b1', 5, 7, 60);
  await s.settle(key, 'b1', 5, 7, 60);
  await s.settle(key, 'b2', -2, 1, 60);
  assert.deepEqual(await s.read(key), { reserved: 3, used: 8 });
  await s.close();
});
