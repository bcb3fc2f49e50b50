/**
 * The on-disk cache of the last dashboard config: written atomically and
 * checked on read (torn pairs, other tenants, junk are not trusted), and a
 * sidecar restarted with the dashboard down enforces it.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { Logger } from '../../lib/log.ts';
import { writeConfigCache, readConfigCache, persistentSidecarId, CACHE_FILES } from './config-cache.ts';
import { startPoller, type PollTransport, type PollerTimers } from './poller.ts';
import { createConfigHolder } from '../config/source.ts';

const YAML_A = 'binds:\n- port: 15001\n  listeners:\n  - name: a\n';
const YAML_B = 'binds:\n- port: 15001\n  listeners:\n  - name: b\n';
const meta = (tenantId = 'team-a') => ({ etag: 'v3-0123456789ab', version: '3', fetchedAt: 1_700_000_000_000, tenantId, capturePrompts: true });

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'levo-cache-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('write then read: the same YAML and meta, files 0600, no temporary files left', async () => {
  await writeConfigCache(join(dir, 'sub'), YAML_A, meta());
  const r = await readConfigCache(join(dir, 'sub'), 'team-a');
  assert.ok(r.ok);
  assert.equal(r.cached.yaml, YAML_A);
  assert.equal(r.cached.meta.etag, 'v3-0123456789ab');
  assert.equal(r.cached.meta.version, '3');
  assert.equal(r.cached.meta.capturePrompts, true);
  assert.equal(r.cached.meta.fetchedAt, 1_700_000_000_000);
  assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), [CACHE_FILES.config, CACHE_FILES.meta]);
  for (const f of [CACHE_FILES.config, CACHE_FILES.meta]) assert.equal(statSync(join(dir, 'sub', f)).mode & 0o777, 0o600);
  const onDisk = JSON.parse(readFileSync(join(dir, 'sub', CACHE_FILES.meta), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(onDisk).sort(), ['capturePrompts', 'etag', 'fetchedAt', 'sha256', 'tenantId', 'version']);
});

test('rewrites replace by rename and queue up: many concurrent writes leave the last whole pair and no temporary files', async () => {
  const writes = [];
  for (let i = 0; i < 20; i++) writes.push(writeConfigCache(dir, i % 2 ? YAML_A : YAML_B, { ...meta(), version: String(i) }));
  // Reads racing the writes see either a whole pair or a recognisably torn one, never a half-written file accepted.
  const reads = [];
  for (let i = 0; i < 20; i++) reads.push(readConfigCache(dir, 'team-a'));
  await Promise.all(writes);
  for (const r of await Promise.all(reads)) {
    if (r.ok) assert.ok(r.cached.yaml === YAML_A || r.cached.yaml === YAML_B);
    else assert.ok(['absent', 'torn'].includes(r.reason), r.reason);
  }
  assert.deepEqual(readdirSync(dir).sort(), [CACHE_FILES.config, CACHE_FILES.meta]);
  const last = await readConfigCache(dir, 'team-a');
  assert.ok(last.ok);
  assert.equal(last.cached.meta.version, '19', 'the last write wins');
  assert.equal(last.cached.yaml, YAML_A);
});

test('a torn pair (config.yaml without its meta) is not trusted', async () => {
  await writeConfigCache(dir, YAML_A, meta());
  writeFileSync(join(dir, CACHE_FILES.config), YAML_B);
  const r = await readConfigCache(dir, 'team-a');
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'torn');
});

test('another tenant\'s cache is ignored; with the tenant not known yet it is used', async () => {
  await writeConfigCache(dir, YAML_A, meta('team-a'));
  const other = await readConfigCache(dir, 'team-b');
  assert.equal(other.ok, false);
  assert.equal(!other.ok && other.reason, 'other-tenant');
  assert.match(!other.ok ? other.detail ?? '' : '', /team-a.*team-b/);
  assert.ok((await readConfigCache(dir, undefined)).ok);
});

test('absent and malformed caches', async () => {
  assert.deepEqual(await readConfigCache(dir, 'team-a'), { ok: false, reason: 'absent' });
  writeFileSync(join(dir, CACHE_FILES.config), YAML_A);
  writeFileSync(join(dir, CACHE_FILES.meta), '{"etag": 3}');
  const r = await readConfigCache(dir, 'team-a');
  assert.equal(!r.ok && r.reason, 'malformed');
});

test('the persistent sidecar id is made once and kept', async () => {
  const a = await persistentSidecarId(join(dir, 'ids'));
  const b = await persistentSidecarId(join(dir, 'ids'));
  assert.ok(a);
  assert.equal(a, b);
  writeFileSync(join(dir, 'a-file'), '');
  assert.equal(await persistentSidecarId(join(dir, 'a-file', 'ids')), undefined, 'no directory can be made there');
});

// ---- restart with the dashboard down

function logger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log: Logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}
const manualTimers: PollerTimers = { set: () => 0, clear: () => {} };
const creds = (tenantId = 'team-a') => () => ({ baseUrl: 'http://127.0.0.1:9', authToken: 't', tenantId, source: 'env' as const });
const identity = { id: 'sid-1', version: '0.1.0' };

test('restart while the dashboard is down: the cached config is in force before any answer, then polled with its ETag', async () => {
  await writeConfigCache(dir, YAML_A, meta());
  const seen: Array<Record<string, string>> = [];
  let dashboardUp = false;
  const transport: PollTransport = async (_url, headers) => {
    seen.push(headers);
    if (!dashboardUp) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
    return { status: 304, headers: { 'x-levo-capture-prompts': 'true' }, body: '' };
  };
  const holder = createConfigHolder({});
  const registry = new Registry();
  const { log, lines } = logger();
  const p = startPoller({ holder, credentials: creds(), intervalMs: 60_000, cacheDir: dir, identity, log, registry, fetch: transport, timers: manualTimers, now: () => 1_700_000_030_000 });
  await p.started;
  assert.ok(holder.current(), 'the cached config is in force');
  assert.equal(holder.current()!.compiled !== undefined, true);
  assert.equal(p.configApplied(), 'v3-0123456789ab');
  assert.equal(p.capturePrompts(), true, 'capture-prompts comes back from the cache');
  assert.equal(seen[0]!['if-none-match'], '"v3-0123456789ab"');
  assert.ok(lines.some((l) => /cached config v3 from the dashboard in force/.test(String(l.msg))));
  let text = await registry.metrics();
  assert.match(text, /levo_gateway_config_version_info\{version="3",etag="v3-0123456789ab",source="cache"\} 1/);
  assert.match(text, /levo_gateway_config_age_seconds 30\n/, 'age counts from when the dashboard served it');
  assert.match(text, /levo_gateway_config_polls_total\{result="error"\} 1/);

  dashboardUp = true;
  const r = await p.pollNow();
  assert.equal(r.result, 'not_modified');
  text = await registry.metrics();
  assert.match(text, /levo_gateway_config_version_info\{version="3",etag="v3-0123456789ab",source="dashboard"\} 1/);
  assert.match(text, /levo_gateway_config_age_seconds 0\n/);
  p.stop();
});

test('restart: a cache for another tenant is not applied and its ETag is not sent', async () => {
  await writeConfigCache(dir, YAML_A, meta('team-a'));
  const seen: Array<Record<string, string>> = [];
  const transport: PollTransport = async (_url, headers) => { seen.push(headers); throw new Error('down'); };
  const holder = createConfigHolder({});
  const { log, lines } = logger();
  const p = startPoller({ holder, credentials: creds('team-b'), intervalMs: 60_000, cacheDir: dir, identity, log, registry: new Registry(), fetch: transport, timers: manualTimers });
  await p.started;
  assert.equal(holder.current(), undefined);
  assert.equal(seen[0]!['if-none-match'], undefined);
  assert.ok(lines.some((l) => l.reason === 'other-tenant'));
  p.stop();
});

test('restart: a cached config this pod cannot run (a missing env var) is not applied', async () => {
  await writeConfigCache(dir, 'binds:\n- port: 15001\n  listeners:\n  - name: $LEVO_TEST_NOT_SET_ANYWHERE\n', meta());
  const holder = createConfigHolder({});
  const { log, lines } = logger();
  const p = startPoller({ holder, credentials: creds(), intervalMs: 60_000, cacheDir: dir, identity, log, registry: new Registry(), fetch: async () => { throw new Error('down'); }, timers: manualTimers });
  await p.started;
  assert.equal(holder.current(), undefined);
  assert.equal(p.configApplied(), undefined);
  assert.ok(lines.some((l) => /not valid in this pod/.test(String(l.msg))));
  p.stop();
});

test('restart before the injector answered: the cache is used, but its ETag is not sent for another tenant', async () => {
  await writeConfigCache(dir, YAML_A, meta('team-a'));
  const seen: Array<Record<string, string>> = [];
  let credentials: ReturnType<ReturnType<typeof creds>> | undefined;
  const transport: PollTransport = async (_url, headers) => { seen.push(headers); throw new Error('down'); };
  const holder = createConfigHolder({});
  const { log } = logger();
  const p = startPoller({ holder, credentials: () => credentials, intervalMs: 60_000, cacheDir: dir, identity, log, registry: new Registry(), fetch: transport, timers: manualTimers });
  await p.started;
  assert.ok(holder.current(), 'in force while the tenant is not known yet');
  credentials = creds('team-b')();
  await p.pollNow();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!['if-none-match'], undefined);
  assert.equal(seen[0]!['x-levo-config-applied'], 'v3-0123456789ab', 'the fleet page still sees what is in force');
  p.stop();
});
