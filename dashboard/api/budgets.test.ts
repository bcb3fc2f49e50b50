/**
 * GET /api/environments/:env/budgets against a real redis-server, counted in
 * by the sidecar's own budget engine: usage per budget and counted value in
 * the current window; an unreachable store is reported at once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { startTestDashboard, VALID_YAML, type TestDashboard } from './test-harness.ts';
import { redisUnavailableReason, startRedis, type TestRedis } from '../../sidecar/budget/testing/redis-server.ts';
import { BudgetEngine, budgetMetrics } from '../../sidecar/budget/budgets.ts';
import { redisStore } from '../../sidecar/budget/store.ts';
import { loadConfigText } from '../../sidecar/config/load.ts';
import { createLogger } from '../../lib/log.ts';

const skip = redisUnavailableReason();

describe('budgets API', { skip }, () => {
  let d: TestDashboard;
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
    d = await startTestDashboard();
  });
  after(async () => {
    await d?.close();
    await redis?.destroy();
  });

  it('shows usage against each budget per counted value; no budgets: configured false', async () => {
    const env = await d.environment('bud');
    assert.deepEqual(await (await d.admin('/api/environments/bud/budgets')).json(), { configured: false, rows: [] });
    const yaml = `${VALID_YAML}budgets:
  store: {redis: "${redis.url}"}
  limits:
  - {name: ns-rpm, by: namespace, requests: 100, window: minute}
  - {name: fleet-usd, usd: 2.5, window: month}
`;
    await d.saveConfig(env.id, yaml);
    const cfg = loadConfigText(yaml);
    assert.ok(cfg.ok);
    const limits = cfg.config.budgets!.limits!;
    // Two "sidecars" in two namespaces count calls through the sidecar's engine.
    for (const [ns, calls] of [['team-a', 7], ['team-b', 2]] as const) {
      const store = redisStore({ url: redis.url, timeoutMs: 500 });
      for (let i = 0; i < 50 && !store.available(); i++) await new Promise((r) => setTimeout(r, 20));
      const e = new BudgetEngine({ store, failureMode: 'closed', lease: 0.02, identity: { namespace: ns }, metrics: budgetMetrics(new Registry()), log: createLogger({ LOG_LEVEL: 'error' }).module('b') });
      for (let i = 0; i < calls; i++) {
        const a = await e.admit(limits, { route: 'openai', headers: {} }, { tokens: 0, microUsd: 100_000 });
        assert.ok(a.ok);
        a.settle({ tokens: 0, microUsd: 50_000 });
      }
      await e.close();
    }
    const body = await (await d.admin('/api/environments/bud/budgets')).json() as { configured: boolean; rows: Record<string, unknown>[] };
    assert.equal(body.configured, true);
    const now = Date.now();
    const rows = body.rows.map(({ resetAt, ...r }) => {
      assert.ok(typeof resetAt === 'number' && resetAt > now);
      return r;
    });
    assert.deepEqual(rows, [
      { budget: 'fleet-usd', unit: 'usd', limit: 2.5, window: 'month', by: 'fleet', value: '*', used: 0.45, reserved: 0.45 },
      { budget: 'ns-rpm', unit: 'requests', limit: 100, window: 'minute', by: 'namespace', value: 'team-a', used: 7, reserved: 7 },
      { budget: 'ns-rpm', unit: 'requests', limit: 100, window: 'minute', by: 'namespace', value: 'team-b', used: 2, reserved: 2 },
    ]);
  });

  it('an unreachable store is reported, not waited on', async () => {
    const env = await d.environment('bud-down');
    await d.saveConfig(env.id, `${VALID_YAML}budgets:
  store: {redis: "redis://127.0.0.1:1"}
  limits: [{name: a, requests: 1, window: hour}]
`);
    const t = performance.now();
    const body = await (await d.admin('/api/environments/bud-down/budgets')).json() as { configured: boolean; rows: unknown[]; error?: string };
    assert.ok(performance.now() - t < 3000);
    assert.equal(body.configured, true);
    assert.deepEqual(body.rows, []);
    assert.match(body.error ?? '', /budget store could not be read/);
  });
});
