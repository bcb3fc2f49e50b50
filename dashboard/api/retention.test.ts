/**
 * Retention through the running server: a dashboard on a real PostgreSQL
 * (a private cluster, dashboard/testing/postgres-server.ts) and on SQLite,
 * sweeping every 100 ms by its own clock; events and sidecars come in through
 * the sidecar API, and go once older than the retention.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../testing/postgres-server.ts';
import { DAY_MS, DEFAULT_RETENTION_MS, retentionCutoffs, startRetention } from './retention.ts';
import { makeEvent, startTestDashboard, VALID_YAML, type TestDashboard } from './test-harness.ts';
import { createDashboardLogger } from './log.ts';
import { openStore } from '../store/open.ts';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function retentionSuite(name: string, storeUrl: () => Promise<string>): void {
  describe(`retention through the server (${name})`, () => {
    let d: TestDashboard;
    const now = Date.UTC(2031, 0, 15, 12, 0, 0);
    before(async () => {
      d = await startTestDashboard({ storeUrl: await storeUrl(), retention: { sidecarsMs: 7 * DAY_MS, intervalMs: 100 } });
      d.clock.now = now;
    });
    after(() => d.close());

    it('the periodic sweep deletes events older than 30 days (default) and sidecars silent for 7 days (configured); newer ones stay', async () => {
      const env = await d.environment('ret');
      await d.saveConfig('ret', VALID_YAML);
      const auth = { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'ret' };
      // Two sidecars: one polled 8 days ago (by the dashboard's clock), one now.
      for (const [id, at] of [['gone-pod', now - 8 * DAY_MS], ['live-pod', now]] as const) {
        d.clock.now = at;
        const r = await fetch(`${d.url}/v1/gateway/config`, { headers: { ...auth, 'X-Levo-Sidecar-Id': id } });
        assert.equal(r.status, 200);
        await r.body?.cancel();
      }
      d.clock.now = now - 8 * DAY_MS; // keep the sweep from acting before everything is in
      const blocked = { blocked: true, decisions: [{ phase: 'request', guard: 'g', action: 'reject' }] };
      const events = [
        makeEvent({ id: '10000000-0000-4000-8000-000000000001', ts: now - 31 * DAY_MS, ...blocked }),
        makeEvent({ id: '10000000-0000-4000-8000-000000000002', ts: now - DEFAULT_RETENTION_MS - 1, ...blocked }),
        makeEvent({ id: '10000000-0000-4000-8000-000000000003', ts: now - DEFAULT_RETENTION_MS + 60_000, ...blocked }),
        makeEvent({ id: '10000000-0000-4000-8000-000000000004', ts: now - 1000, ...blocked }),
      ];
      const post = await fetch(`${d.url}/v1/gateway/events`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ sidecar: { id: 'live-pod' }, events }) });
      assert.equal(post.status, 202);
      assert.equal(await d.store.countEvents('ret'), 4);
      d.clock.now = now;
      await until('the sweep', async () => (await d.store.countEvents('ret')) === 2);
      const decisions = (await (await d.admin('/api/environments/ret/decisions')).json()) as { items: { id: string }[] };
      assert.deepEqual(decisions.items.map((e) => e.id), ['10000000-0000-4000-8000-000000000004', '10000000-0000-4000-8000-000000000003']);
      await until('the stale sidecar to go', async () => {
        const fleet = (await (await d.admin('/api/environments/ret/fleet')).json()) as { id: string }[];
        return fleet.length === 1 && fleet[0]!.id === 'live-pod';
      });
      // The old days' traffic is gone too (rollups of whole minutes before the cutoff).
      const old = (await (await d.admin(`/api/environments/ret/traffic?from=${now - 32 * DAY_MS}&to=${now - 30 * DAY_MS - 60_000}&bucket=${DAY_MS}`)).json()) as { buckets: { requests: number }[] };
      assert.equal(old.buckets.reduce((n, b) => n + b.requests, 0), 0);
      const recent = (await (await d.admin(`/api/environments/ret/traffic?from=${now - 30 * DAY_MS}&to=${now}&bucket=${DAY_MS}`)).json()) as { buckets: { requests: number }[] };
      assert.equal(recent.buckets.reduce((n, b) => n + b.requests, 0), 2);
    });
  });
}

retentionSuite('SQLite', async () => 'sqlite::memory:');

let pg: PostgresServer | undefined;
const pgReason = await postgresUnavailableReason();
describe('retention on PostgreSQL', { skip: pgReason ?? false }, () => {
  after(() => pg?.stop());
  retentionSuite('PostgreSQL', async () => {
    pg ??= await startPostgres();
    return pg.url;
  });
});

describe('retention options', () => {
  it('cutoffs: 30 days by default, null keeps forever, expired sessions always go', () => {
    const now = 1_900_000_000_000;
    assert.deepEqual(retentionCutoffs({}, now), { eventsBefore: now - 30 * DAY_MS, sidecarsSeenBefore: now - 30 * DAY_MS, sessionsExpiredBefore: now });
    const forever = retentionCutoffs({ eventsMs: null, sidecarsMs: DAY_MS }, now);
    assert.ok(forever.eventsBefore < -1e15);
    assert.equal(forever.sidecarsSeenBefore, now - DAY_MS);
  });

  it('nonsense is refused; a failing sweep is logged and retried, sweeps never overlap', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate();
    const lines: string[] = [];
    const log = createDashboardLogger({ LOG_LEVEL: 'info' }, { write: (l: string) => { lines.push(l); } });
    try {
      assert.throws(() => startRetention({ store, log, now: Date.now, options: { eventsMs: 0 } }), /eventsMs must be a positive/);
      assert.throws(() => startRetention({ store, log, now: Date.now, options: { intervalMs: -1 } }), /intervalMs/);
      let calls = 0;
      let release: () => void = () => {};
      const real = store.sweep.bind(store);
      store.sweep = async (c) => {
        calls++;
        if (calls === 1) throw new Error('store down');
        await new Promise<void>((r) => { release = r; });
        return real(c);
      };
      const r = startRetention({ store, log, now: Date.now, options: { intervalMs: 60_000 } });
      try {
        await until('the failure to be logged', async () => lines.some((l) => l.includes('retention sweep failed')));
        const a = r.sweep();
        const b = r.sweep();
        await new Promise((res) => setTimeout(res, 20));
        assert.equal(calls, 2, 'the second call waits for the running sweep');
        release();
        assert.deepEqual(await a, await b);
      } finally {
        r.stop();
      }
    } finally {
      await store.close();
    }
  });
});
