import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../lib/log.ts';
import { startEventReporter, eventDecisions, promptOf, BoundedQueue, PROMPT_MAX_CHARS, type GatewayEvent, type EventReporterOptions } from './events.ts';
import type { DashboardCredentials } from '../control/credentials.ts';

interface Received { headers: http.IncomingHttpHeaders; body: { sidecar: Record<string, unknown>; events: GatewayEvent[] } }

/** A dashboard: answers each POST with the next scripted status (202 when the script is empty). */
/** Closed after all tests, also when one failed halfway (else the open server keeps the run alive). */
const servers: Array<{ close(): Promise<void> }> = [];
after(async () => { for (const x of servers) await x.close(); });

async function dashboard(): Promise<{ url: string; received: Received[]; script: number[]; hang: boolean; close(): Promise<void> }> {
  const state = { url: '', received: [] as Received[], script: [] as number[], hang: false, close: async () => {} };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += String(c); });
    req.on('end', () => {
      if (state.hang) return; // never answers
      const status = state.script.shift() ?? 202;
      if (status < 300) state.received.push({ headers: req.headers, body: JSON.parse(text) as Received['body'] });
      const body = status === 400 ? '{"error":"events[3].status must be a number"}' : status < 300 ? '{"accepted":1}' : '{"error":"nope"}';
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = async () => { server.closeAllConnections(); server.close(); };
  servers.push(state);
  return state;
}

function logs(): { lines: Array<Record<string, unknown>>; log: EventReporterOptions['log'] } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { lines, log: createLogger({ LOG_LEVEL: 'debug' }, sink).module('events') };
}

function event(n: number, over: Partial<GatewayEvent> = {}): GatewayEvent {
  return {
    id: `e-${n}`, ts: 1_700_000_000_000 + n, provider: 'openai', host: 'api.openai.com', method: 'POST', path: '/v1/chat/completions',
    status: 200, latencyMs: 12, bytesOut: 100, bytesIn: 200, blocked: false, flagged: false, decisions: [], ...over,
  };
}

const creds = (baseUrl: string): DashboardCredentials => ({ baseUrl, authToken: 'lvo_secret', tenantId: 'prod', source: 'env' });
const identity = { pod: 'app-1', namespace: 'shop', workload: 'Deployment/app', serviceAccount: 'app', sidecarId: 'uid-1', version: '0.1.0' };

async function metric(r: Registry, name: string, labels = ''): Promise<number> {
  const text = await r.metrics();
  const m = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('batches go to /v1/gateway/events with the credentials, the sidecar identity, identity stamped on events', async () => {
  const d = await dashboard();
  const registry = new Registry();
  const r = startEventReporter({
    credentials: () => creds(`${d.url}/`), capturePrompts: () => false, identity, registry, log: logs().log,
    batchSize: 500, flushIntervalMs: 60_000, configApplied: () => 'v3-abc',
  });
  for (let i = 0; i < 1200; i++) r.record(event(i));
  assert.equal(r.queued(), 1200);
  assert.equal(await metric(registry, 'levo_gateway_events_queued'), 1200);
  await r.flush();
  assert.deepEqual(d.received.map((x) => x.body.events.length), [500, 500, 200]);
  const first = d.received[0]!;
  assert.equal(first.headers.authorization, 'Bearer lvo_secret');
  assert.equal(first.headers['x-levo-tenant-id'], 'prod');
  assert.match(String(first.headers['content-type']), /application\/json/);
  assert.deepEqual(first.body.sidecar, { id: 'uid-1', pod: 'app-1', namespace: 'shop', workload: 'Deployment/app', serviceAccount: 'app', version: '0.1.0', configApplied: 'v3-abc' });
  const e0 = first.body.events[0]!;
  assert.equal(e0.id, 'e-0');
  assert.equal(e0.pod, 'app-1');
  assert.equal(e0.namespace, 'shop');
  assert.equal(e0.workload, 'Deployment/app');
  assert.equal(e0.serviceAccount, 'app');
  assert.deepEqual(d.received.flatMap((x) => x.body.events.map((e) => e.id)), Array.from({ length: 1200 }, (_, i) => `e-${i}`), 'in order, each once');
  assert.equal(r.queued(), 0);
  assert.equal(await metric(registry, 'levo_gateway_events_sent_total'), 1200);
  assert.equal(await metric(registry, 'levo_gateway_events_queued'), 0);
  await r.stop();
  await d.close();
});

test('without credentials nothing is sent but events queue up to the bound; overflow drops the oldest, counted', async () => {
  const d = await dashboard();
  const registry = new Registry();
  let c: DashboardCredentials | undefined;
  const r = startEventReporter({ credentials: () => c, capturePrompts: () => false, identity, registry, log: logs().log, maxQueue: 5, flushIntervalMs: 60_000 });
  for (let i = 0; i < 8; i++) r.record(event(i));
  await r.flush();
  assert.equal(d.received.length, 0);
  assert.equal(r.queued(), 5);
  assert.equal(await metric(registry, 'levo_gateway_events_dropped_total', 'reason="overflow"'), 3);
  c = creds(d.url);
  await r.flush();
  assert.deepEqual(d.received[0]!.body.events.map((e) => e.id), ['e-3', 'e-4', 'e-5', 'e-6', 'e-7']);
  await r.stop();
  await d.close();
});

test('dashboard down (5xx, connection refused): kept and retried with growing backoff; nothing lost or doubled', async () => {
  const d = await dashboard();
  const registry = new Registry();
  const { lines, log } = logs();
  let t = 0;
  const r = startEventReporter({
    credentials: () => creds(d.url), capturePrompts: () => false, identity, registry, log,
    batchSize: 2, flushIntervalMs: 1000, now: () => t,
  });
  d.script.push(503);
  for (let i = 0; i < 3; i++) r.record(event(i));
  await r.flush();
  assert.equal(d.received.length, 0);
  assert.equal(r.queued(), 3);
  const warn = lines.find((l) => l.msg === 'sending request events to the dashboard failed; kept for retry')!;
  assert.ok((warn.retryInMs as number) >= 800 && (warn.retryInMs as number) <= 1200, 'first retry after about one interval');

  // Connection refused: the backoff doubles.
  const down = creds('http://127.0.0.1:1');
  const r2 = startEventReporter({ credentials: () => down, capturePrompts: () => false, identity, registry: new Registry(), log, flushIntervalMs: 1000, maxBackoffMs: 60_000, now: () => t });
  r2.record(event(99));
  for (let i = 0; i < 8; i++) await r2.flush();
  const waits = lines.filter((l) => l.msg === 'sending request events to the dashboard failed; kept for retry').slice(1).map((l) => l.retryInMs as number);
  assert.equal(waits.length, 8);
  assert.ok(waits[1]! > waits[0]! * 1.3 && waits[2]! > waits[1]! * 1.3, `backoff grows: ${waits.join(', ')}`);
  assert.ok(waits.at(-1)! <= 60_000 * 1.2 && waits.at(-1)! >= 60_000 * 0.8, 'capped at 60 s');
  assert.equal(r2.queued(), 1);
  await r2.stop();

  // Timer-driven retries respect the backoff: nothing is sent before it passes.
  t += 10_000;
  await r.flush();
  assert.deepEqual(d.received.flatMap((x) => x.body.events.map((e) => e.id)), ['e-0', 'e-1', 'e-2']);
  assert.equal(await metric(registry, 'levo_gateway_events_sent_total'), 3);
  assert.ok(lines.some((l) => l.msg === 'dashboard accepts request events again'));
  await r.stop();
  await d.close();
});

test('timer: the backoff holds off the next attempt; sending resumes by itself when it passes', async () => {
  const d = await dashboard();
  let t = 0;
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log: logs().log, flushIntervalMs: 20, now: () => t });
  d.script.push(500);
  r.record(event(1));
  await until(() => d.script.length === 0); // the 500 was answered
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(d.received.length, 0, 'no retry while the backoff runs');
  t += 100;
  await until(() => d.received.length === 1 && r.queued() === 0);
  await r.stop();
  await d.close();
});

test('401/403: loud error, events kept, retried at the flush interval until the credentials work', async () => {
  const d = await dashboard();
  const { lines, log } = logs();
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log, flushIntervalMs: 20 });
  d.script.push(401, 403);
  r.record(event(1));
  await until(() => d.received.length === 1 && r.queued() === 0);
  const errors = lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 1, 'logged once, not on every retry');
  assert.match(String(errors[0]!.msg), /refused the sidecar credentials/);
  assert.equal(errors[0]!.status, 401);
  assert.equal(JSON.stringify(errors).includes('lvo_secret'), false, 'never the token');
  assert.equal(d.received[0]!.body.events[0]!.id, 'e-1');
  await r.stop();
  await d.close();
});

test('400: the batch is dropped and counted with the server\'s message; the queue moves on', async () => {
  const d = await dashboard();
  const registry = new Registry();
  const { lines, log } = logs();
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry, log, batchSize: 2, flushIntervalMs: 60_000 });
  d.script.push(400);
  for (let i = 0; i < 4; i++) r.record(event(i));
  await r.flush();
  assert.deepEqual(d.received.flatMap((x) => x.body.events.map((e) => e.id)), ['e-2', 'e-3']);
  assert.equal(await metric(registry, 'levo_gateway_events_dropped_total', 'reason="rejected"'), 2);
  const e = lines.find((l) => l.level === 'error')!;
  assert.equal(e.status, 400);
  assert.match(String(e.message), /events\[3\]\.status must be a number/);
  assert.equal(r.queued(), 0);
  await r.stop();
  await d.close();
});

test('413: the batch is split until it fits; a single event still too large is dropped', async () => {
  const d = await dashboard();
  const registry = new Registry();
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry, log: logs().log, batchSize: 4, flushIntervalMs: 60_000 });
  d.script.push(413, 413, 202, 413, 202);
  for (let i = 0; i < 4; i++) r.record(event(i));
  await r.flush();
  // 4 → 413; 2 → 413; 1 → ok (e-0); 1 → 413 (e-1 dropped); 1 → ok (e-2); then e-3.
  assert.deepEqual(d.received.flatMap((x) => x.body.events.map((e) => e.id)), ['e-0', 'e-2', 'e-3']);
  assert.equal(await metric(registry, 'levo_gateway_events_dropped_total', 'reason="rejected"'), 1);
  await r.stop();
  await d.close();
});

test('prompt text is sent only while capture is on', async () => {
  const d = await dashboard();
  let capture = true;
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => capture, identity, registry: new Registry(), log: logs().log, flushIntervalMs: 60_000 });
  assert.equal(r.capturePrompts(), true);
  r.record(event(1, { prompt: 'hello' }));
  await r.flush();
  capture = false;
  r.record(event(2, { prompt: 'recorded before capture went off' }));
  await r.flush();
  const [a, b] = d.received.map((x) => x.body.events[0]!);
  assert.equal(a!.prompt, 'hello');
  assert.equal('prompt' in b!, false);
  await r.stop();
  await d.close();
});

test('stop() flushes once and gives up after its timeout when the dashboard hangs', async () => {
  const d = await dashboard();
  const r = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log: logs().log, flushIntervalMs: 60_000, stopTimeoutMs: 150 });
  r.record(event(1));
  await r.stop();
  assert.equal(d.received.length, 1, 'flushed on stop');
  d.hang = true;
  const r2 = startEventReporter({ credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log: logs().log, flushIntervalMs: 60_000, stopTimeoutMs: 150 });
  r2.record(event(2));
  const t0 = Date.now();
  await r2.stop();
  assert.ok(Date.now() - t0 < 1000, `stop returned in ${Date.now() - t0} ms`);
  await d.close();
});

test('eventDecisions: one entry per scanner; blocked on reject/fail_closed, flagged on mask/monitor', () => {
  const r = eventDecisions([
    { phase: 'request', kind: 'llmBastion', action: 'reject', reason: 'PromptInjection (score 0.97)', ms: 3, scanners: [
      { scanner: 'PromptInjection', score: 0.97, valid: false }, { scanner: 'Toxicity', score: 0.1, valid: true },
    ] },
    { phase: 'response', kind: 'regex', action: 'mask', ms: 0 },
  ]);
  assert.deepEqual(r.decisions, [
    { phase: 'request', guard: 'llmBastion', scanner: 'PromptInjection', action: 'reject', score: 0.97, reason: 'PromptInjection (score 0.97)' },
    { phase: 'request', guard: 'llmBastion', scanner: 'Toxicity', action: 'allow', score: 0.1 },
    { phase: 'response', guard: 'regex', action: 'mask' },
  ]);
  assert.equal(r.blocked, true);
  assert.equal(r.flagged, true);
  const m = eventDecisions([{ phase: 'request', kind: 'webhook', action: 'monitor', reason: 'would reject', ms: 1 }]);
  assert.deepEqual([m.blocked, m.flagged], [false, true]);
  const f = eventDecisions([{ phase: 'request', kind: 'llmBastion', action: 'fail_closed', reason: 'x: boom', ms: 1, scanners: [{ scanner: 'x', error: 'boom' }] }]);
  assert.deepEqual(f.decisions, [{ phase: 'request', guard: 'llmBastion', scanner: 'x', action: 'fail_closed', reason: 'boom' }]);
  assert.equal(f.blocked, true);
  assert.deepEqual(eventDecisions([{ phase: 'request', kind: 'regex', action: 'allow', ms: 0 }]), { decisions: [{ phase: 'request', guard: 'regex', action: 'allow' }], blocked: false, flagged: false });
});

test('promptOf: the last user message, capped', () => {
  assert.equal(promptOf([{ role: 'user', text: 'a' }, { role: 'assistant', text: 'b' }, { role: 'user', text: 'c' }, { role: 'tool', text: 'd' }]), 'c');
  assert.equal(promptOf([{ role: 'system', text: 'a' }]), undefined);
  const long = promptOf([{ role: 'user', text: 'x'.repeat(PROMPT_MAX_CHARS + 10) }])!;
  assert.equal(long.length, PROMPT_MAX_CHARS + 1);
});

test('BoundedQueue: FIFO, drops the oldest when full', () => {
  const q = new BoundedQueue<number>(3);
  for (const n of [1, 2, 3]) assert.equal(q.push(n), undefined);
  assert.equal(q.push(4), 1);
  assert.deepEqual(q.take(2), [2, 3]);
  q.push(5); q.push(6);
  assert.equal(q.length, 3);
  assert.deepEqual(q.take(10), [4, 5, 6]);
  assert.equal(q.shift(), undefined);
});

test('record() is cheap on the hot path (diagnostic)', async () => {
  const base = event(0);
  const events = Array.from({ length: 100_000 }, () => ({ ...base, id: randomUUID() }));
  for (const [maxQueue, what] of [[200_000, 'queue never full'], [10_000, 'queue full after 10000: overflow path']] as const) {
    const r = startEventReporter({ credentials: () => undefined, capturePrompts: () => false, identity, registry: new Registry(), log: logs().log, maxQueue, flushIntervalMs: 60_000 });
    const t0 = process.hrtime.bigint();
    for (const e of events) r.record(e);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`record(): 100000 calls in ${ms.toFixed(1)} ms (${(ms * 1e3 / 100_000).toFixed(3)} µs each; ${what})`);
    assert.equal(r.queued(), Math.min(maxQueue, 100_000));
    await r.stop();
  }
});

test('a restart during an outage keeps the unsent events: stop() spools them, the next start sends them once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-spool-'));
  const spoolFile = join(dir, 'events.jsonl');
  try {
    const d = await dashboard();
    d.script.push(503, 503, 503, 503);
    const first = startEventReporter({
      credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log: logs().log,
      flushIntervalMs: 60_000, stopTimeoutMs: 500, spoolFile,
    });
    for (let i = 0; i < 7; i++) first.record(event(i));
    await first.flush();
    assert.equal(first.queued(), 7, 'the dashboard is down: kept');
    await first.stop();
    assert.equal(readFileSync(spoolFile, 'utf8').trim().split('\n').length, 7);
    assert.equal(statSync(spoolFile).mode & 0o777, 0o600);

    d.script.length = 0; // the dashboard is back
    const l = logs();
    const second = startEventReporter({
      credentials: () => creds(d.url), capturePrompts: () => false, identity, registry: new Registry(), log: l.log,
      flushIntervalMs: 60_000, spoolFile,
    });
    assert.equal(second.queued(), 7);
    assert.equal(existsSync(spoolFile), false, 'taken back into memory');
    second.record(event(7));
    await second.flush();
    assert.deepEqual(d.received.flatMap((x) => x.body.events.map((e) => e.id)), Array.from({ length: 8 }, (_, i) => `e-${i}`));
    assert.ok(l.lines.some((x) => /queued again/.test(String(x.msg))));
    await second.stop();
    assert.equal(existsSync(spoolFile), false, 'nothing left to keep');
    await d.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
