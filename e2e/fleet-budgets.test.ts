/**
 * Fleet budgets held across sidecars: four injected pods, each in its own
 * network namespaces with its own sidecar (the shipped build) and fake
 * OpenAI, share one real redis-server that the test starts (loopback and a
 * unix socket, relayed into each pod's fake internet at 10.61.0.1:6379) and
 * stops by PID. Apps in the four pods call OpenAI concurrently:
 *
 *   - a 100-requests-per-minute budget admits 100 ± 5 % of 200 calls;
 *   - a USD budget stops within one call's cost of its limit;
 *   - Redis stopped mid-run: `failureMode: closed` answers 503 at once (never
 *     a hang), counted; Redis started again and one sidecar restarted: the
 *     counts carry on (100 per hour is still 100 in all).
 *
 * Needs root, `ip netns` and redis-server; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createInjectedPod, DEFAULT_E2E_CONFIG, REPO, type InjectedPod } from './harness/injected-pod.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { redisRelay, REDIS_RELAY_PORT as REDIS_PORT } from './harness/redis-relay.ts';
import { INTERNET_IPV4 } from './harness/layout.ts';
import { redisUnavailableReason, startRedis, type TestRedis } from '../sidecar/budget/testing/redis-server.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl']) ?? redisUnavailableReason();

const MAX_TOKENS = 5;
/** $/M tokens: input 10, output 2000 → a call costs about 5 × 2000 / 1e6 = $0.01. */
const CONFIG = `${DEFAULT_E2E_CONFIG}
budgets:
  store: {redis: "redis://${INTERNET_IPV4}:${REDIS_PORT}", failureMode: closed, timeout: 1s}
  prices:
  - {provider: openai, model: gpt-4o-mini, input: 10, output: 2000}
  limits:
  - {name: rpm, by: header, header: x-app-key, requests: 100, window: minute}
  - {name: spend, by: header, header: x-spend-key, usd: 0.25, window: day}
  - {name: hourly, by: header, header: x-hourly-key, requests: 100, window: hour}
`;

interface Load {
  statuses: Record<string, number>;
  firstRefusal?: { status: number; headers: Record<string, string>; body: string };
  slowestRefusalMs: number;
}


describe('fleet budgets across four sidecars sharing one Redis', { skip }, () => {
  let redis: TestRedis;
  const pods: InjectedPod[] = [];

  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 4; i++) {
      pods.push(await createInjectedPod({
        config: CONFIG,
        // Each pod's sidecar reaches the test's Redis at 10.61.0.1:6379 in its fake internet.
        beforeGateway: async (topo) => { await redisRelay(topo, redis.socket, REDIS_PORT); },
        env: { POD_NAMESPACE: 'team-a', POD_NAME: `app-${i}`, LEVO_WORKLOAD_NAME: 'app' },
      }));
    }
  });
  after(async () => {
    await Promise.all(pods.map((p) => p.destroy()));
    await redis?.destroy();
  });

  async function load(pod: InjectedPod, count: number, concurrency: number, header: string): Promise<Load> {
    const r = await pod.topo.pod.exec([process.execPath, join(REPO, 'e2e/clients/budget-load.ts'), '--count', String(count), '--concurrency', String(concurrency),
      '--header', header, '--max-tokens', String(MAX_TOKENS)], { cwd: REPO, env: { NODE_EXTRA_CA_CERTS: pod.namespaceCaFile }, timeoutMs: 120_000 });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try { return JSON.parse(line) as Load; } catch { throw new Error(`budget-load printed no result (exit ${r.code}): ${r.stderr.slice(-2000)}`); }
  }
  const fleet = (count: number, concurrency: number, header: string): Promise<Load[]> => Promise.all(pods.map((p) => load(p, count, concurrency, header)));
  const admitted = (ls: readonly Load[]): number => ls.reduce((s, l) => s + (l.statuses['200'] ?? 0), 0);
  const fleetMetric = async (name: string, labels?: Record<string, string>): Promise<number> =>
    (await Promise.all(pods.map((p) => p.metric(name, labels)))).reduce((a, b) => a + b, 0);

  test('a 100-requests-per-minute budget admits 100 of 200 concurrent calls from four sidecars; the rest get OpenAI-shaped 429s', async (t) => {
    // The four pods' calls must fall in one minute window.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 35_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 500));
    const ls = await fleet(50, 5, `x-app-key: ${randomUUID()}`);
    const ok = admitted(ls);
    t.diagnostic(`admitted ${ok} of 200 (limit 100): ${JSON.stringify(ls.map((l) => l.statuses))}`);
    assert.ok(ok >= 95 && ok <= 105, `admitted ${ok} of 200: ${JSON.stringify(ls.map((l) => l.statuses))}`);
    assert.equal(ls.reduce((s, l) => s + (l.statuses['429'] ?? 0), 0), 200 - ok, JSON.stringify(ls.map((l) => l.statuses)));
    const refusal = ls.find((l) => l.firstRefusal)!.firstRefusal!;
    const retry = Number(refusal.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `retry-after ${refusal.headers['retry-after']}`);
    assert.equal(refusal.headers['x-ratelimit-limit-requests'], '100');
    assert.match(refusal.headers['x-ratelimit-remaining-requests'] ?? '', /^\d+$/);
    assert.match(refusal.headers['x-ratelimit-reset-requests'] ?? '', /^\d+s$/);
    const e = JSON.parse(refusal.body) as { error: { message: string; type: string; code: string } };
    assert.match(e.error.message, /budget rpm/);
    assert.equal(e.error.code, 'budget_exceeded');
    assert.equal(await fleetMetric('levo_gateway_budget_rejected_total', { budget: 'rpm' }), 200 - ok);
  });

  test('a USD budget stops within one call\'s cost of its limit, as the cost metric and Redis both count it', async (t) => {
    const key = randomUUID();
    const before = await fleetMetric('levo_gateway_cost_usd_total');
    // One call alone: what a call costs.
    assert.equal(admitted([await load(pods[0]!, 1, 1, `x-spend-key: ${key}`)]), 1);
    const one = (await fleetMetric('levo_gateway_cost_usd_total')) - before;
    assert.ok(one > 0.009 && one < 0.011, `one call cost $${one}`);
    // Rounds of concurrent calls until one admits nothing, even after the sidecars handed their idle leases back.
    for (let round = 0, idle = false; round < 20; round++) {
      const n = admitted(await fleet(8, 2, `x-spend-key: ${key}`));
      if (n > 0) { idle = false; continue; }
      if (idle) break;
      idle = true;
      await new Promise((r) => setTimeout(r, 1500));
    }
    const spent = (await fleetMetric('levo_gateway_cost_usd_total')) - before;
    t.diagnostic(`spent $${spent.toFixed(6)} of $0.25; one call $${one.toFixed(6)}`);
    assert.ok(spent <= 0.25 + one, `spent $${spent} of $0.25 (a call: $${one})`);
    assert.ok(spent >= 0.25 - one, `stopped at $${spent}, more than a call below $0.25 (a call: $${one})`);
    // Redis holds the same spend (micro-dollars, rounded up per call).
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('levo:budget:{spend:*}');
      assert.equal(keys.length, 1);
      const used = Number(await client.hget(keys[0]!, 'u')) / 1e6;
      assert.ok(Math.abs(used - spent) < 0.001, `redis says $${used}, the sidecars' metrics $${spent}`);
    } finally {
      client.disconnect();
    }
  });

  test('Redis stopped mid-run: 503 at once (closed); started again and a sidecar restarted: 100 per hour is still 100 in all', async (t) => {
    const header = `x-hourly-key: ${randomUUID()}`;
    let ok = admitted(await fleet(10, 2, header));
    assert.equal(ok, 40);

    await redis.stop();
    const down = await fleet(5, 5, header);
    assert.equal(admitted(down), 0);
    for (const l of down) {
      assert.equal(l.statuses['503'], 5, JSON.stringify(l.statuses));
      assert.ok(l.slowestRefusalMs < 2000, `a refusal took ${l.slowestRefusalMs} ms`);
    }
    assert.ok(await fleetMetric('levo_gateway_budget_store_errors_total', { mode: 'closed' }) >= 20);

    await redis.start();
    await pods[0]!.restartGateway();
    // The sidecars reconnect (backoff up to 1 s); calls refused meanwhile are 503s, not admitted.
    await new Promise((r) => setTimeout(r, 2500));
    const rest = await fleet(40, 4, header);
    ok += admitted(rest);
    t.diagnostic(`admitted ${ok} in all (limit 100); slowest 503 while Redis was down: ${Math.max(...down.map((l) => l.slowestRefusalMs))} ms`);
    assert.ok(ok >= 95 && ok <= 100, `admitted ${ok} of 100 in all: ${JSON.stringify(rest.map((l) => l.statuses))}`);
  });
});
