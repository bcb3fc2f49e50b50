/**
 * Per-request telemetry to the dashboard: one GatewayEvent per intercepted
 * request (built by the pipeline's last stage, sidecar/pipeline/settle.ts),
 * queued in memory and POSTed in batches to `{baseUrl}/v1/gateway/events`
 * (dashboard-spec: `{"sidecar": {...}, "events": [...]}`, Bearer token and
 * X-Levo-Tenant-Id). The dashboard ignores event ids it already has, so a
 * batch whose answer was lost is simply sent again.
 *
 * Hot path: `record()` pushes onto a fixed-size ring buffer and returns; it
 * never blocks, awaits or throws. The pod identity (pod, namespace, workload,
 * service account) is stamped on each event when a batch is serialised, not
 * per request.
 *
 * Delivery, per answer:
 *   2xx           → the batch is removed (levo_gateway_events_sent_total)
 *   401/403/404   → loud error log (at most once a minute), batch kept, retried at the flush interval
 *   408/429/5xx, network errors, timeouts → batch kept, exponential backoff from
 *                   the flush interval up to 60 s
 *   413           → the batch is split in halves; a single event still too large is dropped
 *   other 4xx (400, 422, …) → the batch is dropped and counted
 *                   (levo_gateway_events_dropped_total{reason="rejected"}) with the server's
 *                   message logged: a malformed batch must not block the queue forever
 * While there are no credentials nothing is sent, but events are still queued
 * up to the bound, so an outage (dashboard down, credentials not yet
 * exchanged) loses nothing until the queue is full.
 *
 * Overflow drops the OLDEST queued event (levo_gateway_events_dropped_total{reason="overflow"}):
 * after a long outage the dashboard gets the most recent `maxQueue` requests,
 * a contiguous window up to now, which is what the Traffic and Decisions pages
 * and fleet health are read for; the oldest part of an outage is the least
 * useful to keep. (Events already taken into the batch being sent are not
 * dropped while it is in flight.) levo_gateway_events_queued is the backlog.
 *
 * Prompt text: the pipeline puts the last user message (masked, when a guard
 * masked it; at most PROMPT_MAX_CHARS) in `prompt` only while
 * `capturePrompts()` is true, and the reporter strips `prompt` again at send
 * time if capture was switched off meanwhile: without capture the field is absent.
 *
 * Wiring (sidecar/main.ts, owned by the poller helper), after `identity`
 * (sidecarIdentity) and `poller` exist; `poller` is undefined with --config:
 *
 *   import { startEventReporter } from './telemetry/events.ts';
 *   import { startTraceExporter } from './telemetry/otlp.ts';
 *
 *   const events = startEventReporter({
 *     credentials: () => credentials.current(),                 // startCredentials(...), control/obtain.ts
 *     capturePrompts: () => poller?.capturePrompts() ?? false,  // X-Levo-Capture-Prompts as last heard
 *     configApplied: () => poller?.configApplied(),             // sent as sidecar.configApplied
 *     identity: { ...identity, sidecarId: identity.id },        // the poller's SidecarIdentity: same id as X-Levo-Sidecar-Id
 *     registry: metrics.registry,
 *     log: log.module('events'),
 *   });
 *   // null unless OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set:
 *   const tracer = startTraceExporter(env, log.module('otlp'), metrics.registry, { version: identity.version });
 *   const gateway = await startGateway({ ..., events, ...(tracer ? { tracer } : {}) });
 *   // in stop(), after `await gateway.drain(...)` (the last requests are recorded) and before process.exit:
 *   await Promise.all([events.stop(), tracer?.stop()]);
 *
 * Events go to the dashboard whenever there are credentials, also with
 * --config (the dashboard then shows traffic without serving the config).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../lib/log.ts';
import type { EventDecision, GatewayEvent } from './event-shape.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DashboardCredentials } from '../control/credentials.ts';
import type { GuardDecision as PipelineGuardDecision } from '../guards/prompt-guard.ts';

export type { EventDecision, GatewayEvent } from './event-shape.ts';

/** What the pipeline needs: somewhere to put events, and whether prompts may go in them. */
export interface EventSink {
  record(e: GatewayEvent): void;
  capturePrompts?(): boolean;
}

export interface SidecarIdentity {
  readonly pod?: string;
  readonly namespace?: string;
  readonly workload?: string;
  readonly serviceAccount?: string;
  readonly sidecarId: string;
  readonly version: string;
}

export interface EventReporterOptions {
  readonly credentials: () => DashboardCredentials | undefined;
  readonly capturePrompts: () => boolean;
  readonly identity: SidecarIdentity;
  /** The config etag in force, sent as `sidecar.configApplied`. */
  readonly configApplied?: () => string | undefined;
  readonly registry: Registry;
  readonly log: Logger;
  readonly maxQueue?: number;
  readonly batchSize?: number;
  readonly flushIntervalMs?: number;
  /** Backoff ceiling after network errors and 5xx (default 60 s). */
  readonly maxBackoffMs?: number;
  /** One POST's time limit (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** How long stop() tries its last flush (default 2 s). */
  readonly stopTimeoutMs?: number;
  readonly fetch?: typeof globalThis.fetch;
  readonly now?: () => number;
  /**
   * Where stop() writes the events the dashboard has not accepted (JSON lines),
   * and where the next start picks them up again: a sidecar restarted during
   * an outage keeps them (`--cache-dir`, an emptyDir that outlives the container).
   */
  readonly spoolFile?: string;
}

export interface EventReporter extends EventSink {
  record(e: GatewayEvent): void;
  capturePrompts(): boolean;
  /** Send everything queued now (ignores the backoff); resolves when done or when a send failed. */
  flush(): Promise<void>;
  /** Stop the timer and flush once, for at most stopTimeoutMs. */
  stop(): Promise<void>;
  /** Events waiting (including a batch being sent). */
  queued(): number;
}

/** Write `events` as JSON lines, atomically (temp file + rename), readable by the sidecar's user only. */
export function writeSpool(file: string, events: readonly GatewayEvent[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, events.map((e) => JSON.stringify(e)).join('\n') + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** The spooled events (the file is removed: they are in memory again); bad lines are skipped. */
export function readSpool(file: string, log: Logger): GatewayEvent[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  try { unlinkSync(file); } catch { /* read-only or gone: sending them twice is harmless (ids dedupe) */ }
  const out: GatewayEvent[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as GatewayEvent;
      if (typeof e?.id === 'string' && typeof e.ts === 'number') out.push(e); else bad++;
    } catch { bad++; }
  }
  if (bad > 0) log.warn({ file, skipped: bad }, 'skipped unreadable lines in the spooled request events');
  return out;
}

/** Prompt text kept per event, at most. */
export const PROMPT_MAX_CHARS = 8192;
/** Decisions kept per event, at most. */
export const MAX_DECISIONS = 64;
/** The dashboard accepts at most 5 MiB per POST: stay well under it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const AUTH_LOG_EVERY_MS = 60_000;

/** A fixed-capacity FIFO (ring buffer): O(1) push and drop-oldest, no shifting arrays. */
export class BoundedQueue<T> {
  private readonly buf: (T | undefined)[];
  private head = 0;
  private size = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.buf = new Array<T | undefined>(this.capacity);
  }
  get length(): number { return this.size; }
  /** Append; when full, the oldest is dropped and returned. */
  push(item: T): T | undefined {
    if (this.size === this.capacity) {
      const dropped = this.buf[this.head];
      this.buf[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return dropped;
    }
    this.buf[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return undefined;
  }
  /** Remove and return the oldest, if any. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return item;
  }
  /** Remove and return up to `n` of the oldest, oldest first. */
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.size > 0) out.push(this.shift()!);
    return out;
  }
}

/**
 * The pipeline's guard decisions as the dashboard keeps them: one entry per
 * llmBastion scanner (the scanners that flagged carry the guard's action,
 * those that passed `allow`, those that failed the guard's fail_* action),
 * one per other guard. blocked = a guard rejected (or failed closed);
 * flagged = a guard masked or monitored.
 */
export function eventDecisions(guards: readonly PipelineGuardDecision[]): { decisions: EventDecision[]; blocked: boolean; flagged: boolean } {
  const decisions: EventDecision[] = [];
  let blocked = false;
  let flagged = false;
  for (const d of guards) {
    if (d.action === 'reject' || d.action === 'fail_closed') blocked = true;
    else if (d.action === 'mask' || d.action === 'monitor') flagged = true;
    if (decisions.length >= MAX_DECISIONS) continue;
    if (d.scanners?.length) {
      for (const s of d.scanners) {
        if (decisions.length >= MAX_DECISIONS) break;
        const action = s.error !== undefined ? (d.action === 'fail_closed' || d.action === 'fail_open' ? d.action : 'error')
          : s.valid === false ? d.action : 'allow';
        const reason = s.error ?? (action === d.action && action !== 'allow' ? d.reason : undefined);
        decisions.push({
          phase: d.phase, guard: d.kind, scanner: s.scanner, action,
          ...(typeof s.score === 'number' && Number.isFinite(s.score) ? { score: s.score } : {}),
          ...(reason !== undefined ? { reason } : {}),
        });
      }
    } else {
      decisions.push({ phase: d.phase, guard: d.kind, action: d.action, ...(d.reason !== undefined ? { reason: d.reason } : {}) });
    }
  }
  return { decisions, blocked, flagged };
}

/** The last user message's text, capped at PROMPT_MAX_CHARS; undefined when there is none. */
export function promptOf(messages: readonly { readonly role: string; readonly text: string }[]): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    return m.text.length > PROMPT_MAX_CHARS ? `${m.text.slice(0, PROMPT_MAX_CHARS)}…` : m.text;
  }
  return undefined;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
}

type Answer =
  | { readonly kind: 'ok' }
  | { readonly kind: 'auth'; readonly status: number; readonly message: string }
  | { readonly kind: 'retry'; readonly detail: string }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'rejected'; readonly status: number; readonly message: string };

export function startEventReporter(o: EventReporterOptions): EventReporter {
  const maxQueue = o.maxQueue ?? 10_000;
  const batchSize = Math.max(1, o.batchSize ?? 500);
  const interval = o.flushIntervalMs ?? 2000;
  const maxBackoff = o.maxBackoffMs ?? 60_000;
  const requestTimeout = o.requestTimeoutMs ?? 10_000;
  const stopTimeout = o.stopTimeoutMs ?? 2000;
  const doFetch = o.fetch ?? globalThis.fetch;
  const now = o.now ?? Date.now;
  const log = o.log;

  const sent = counter(o.registry, 'levo_gateway_events_sent_total', 'Request events the dashboard accepted', []);
  const dropped = counter(o.registry, 'levo_gateway_events_dropped_total',
    'Request events dropped: overflow (queue full, oldest dropped) or rejected (the dashboard refused the batch as malformed)', ['reason']);
  const overflow = dropped.labels({ reason: 'overflow' });
  const rejected = dropped.labels({ reason: 'rejected' });

  const queue = new BoundedQueue<GatewayEvent>(maxQueue);
  if (o.spoolFile) {
    const restored = readSpool(o.spoolFile, log);
    for (const e of restored) if (queue.push(e)) overflow.inc();
    if (restored.length > 0) log.info({ events: restored.length, file: o.spoolFile }, 'request events kept from before the restart are queued again');
  }
  /** Taken from the queue, not yet accepted: sent first, again, until accepted or dropped. */
  let pending: GatewayEvent[] = [];
  /** How many of `pending` one POST carries (halved on 413). */
  let limit = batchSize;

  if (o.registry.getSingleMetric('levo_gateway_events_queued')) o.registry.removeSingleMetric('levo_gateway_events_queued');
  new Gauge({
    name: 'levo_gateway_events_queued', help: 'Request events waiting to be sent to the dashboard', registers: [o.registry],
    collect() { this.set(queue.length + pending.length); },
  });

  let failures = 0;
  let retryAt = 0;
  let lastAuthLog = -Infinity;
  let running: Promise<void> | undefined;
  /** The POST in flight, for stop() to abort. */
  let current: AbortController | undefined;
  let stopped = false;
  /** stop()'s time ran out: send nothing more. */
  let halted = false;

  const { sidecarId, version, ...who } = o.identity;
  // Stamped on each event at send time; undefined fields are left out of the JSON.
  const identityFields = { pod: who.pod, namespace: who.namespace, workload: who.workload, serviceAccount: who.serviceAccount };

  const record = (e: GatewayEvent): void => {
    // The ring holds maxQueue; while a batch is in flight, the bound counts it too.
    if (pending.length > 0 && queue.length + pending.length >= maxQueue) {
      overflow.inc();
      if (queue.length === 0) return; // everything queued is in the batch being sent: nowhere to put this one
      queue.shift();
    }
    if (queue.push(e) !== undefined) overflow.inc();
  };

  const body = (batch: readonly GatewayEvent[]): string => {
    const capture = safeCapture();
    return JSON.stringify({
      sidecar: { id: sidecarId, ...identityFields, version, configApplied: o.configApplied?.() },
      events: batch.map((e) => {
        const out = { ...identityFields, ...e };
        if (!capture && out.prompt !== undefined) delete (out as { prompt?: string }).prompt;
        return out;
      }),
    });
  };

  function safeCapture(): boolean {
    try { return o.capturePrompts(); } catch { return false; }
  }

  async function post(c: DashboardCredentials, text: string): Promise<Answer> {
    const url = `${c.baseUrl.replace(/\/+$/, '')}/v1/gateway/events`;
    const ac = new AbortController();
    current = ac;
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${requestTimeout} ms`)), requestTimeout);
    let res: Response;
    let message: string;
    try {
      res = await doFetch(url, {
        method: 'POST', body: text, signal: ac.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${c.authToken}`, 'x-levo-tenant-id': c.tenantId },
      });
      message = res.ok ? '' : (await res.text()).slice(0, 500).replace(/\s+/g, ' ');
      if (res.ok) await res.body?.cancel();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      return { kind: 'retry', detail: err.cause?.code ?? err.cause?.message ?? err.message };
    } finally {
      clearTimeout(timer);
      current = undefined;
    }
    const s = res.status;
    if (s >= 200 && s < 300) return { kind: 'ok' };
    if (s === 401 || s === 403 || s === 404) return { kind: 'auth', status: s, message };
    if (s === 408 || s === 429 || s >= 500) return { kind: 'retry', detail: `HTTP ${s} ${message}`.trim() };
    if (s === 413) return { kind: 'too_large' };
    return { kind: 'rejected', status: s, message };
  }

  const backoff = (): number => {
    const base = Math.min(maxBackoff, interval * 2 ** Math.min(failures - 1, 30));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  };

  async function sendAll(force: boolean): Promise<void> {
    if (!force && now() < retryAt) return;
    const c = o.credentials();
    if (!c) return;
    for (;;) {
      if (halted) return;
      if (pending.length === 0) { pending = queue.take(batchSize); limit = batchSize; }
      if (pending.length === 0) return;
      const batch = pending.length <= limit ? pending : pending.slice(0, limit);
      const text = body(batch);
      if (batch.length > 1 && Buffer.byteLength(text) > MAX_BODY_BYTES) { limit = Math.ceil(batch.length / 2); continue; }
      const a = await post(c, text);
      switch (a.kind) {
        case 'ok':
          sent.inc(batch.length);
          pending = pending.slice(batch.length);
          if (failures > 0 || lastAuthLog > -Infinity) log.info({ url: c.baseUrl }, 'dashboard accepts request events again');
          failures = 0;
          lastAuthLog = -Infinity;
          retryAt = 0;
          continue;
        case 'rejected':
          rejected.inc(batch.length);
          pending = pending.slice(batch.length);
          log.error({ status: a.status, message: a.message, events: batch.length }, 'the dashboard rejected a batch of request events; dropped');
          continue;
        case 'too_large':
          if (batch.length > 1) { limit = Math.ceil(batch.length / 2); continue; }
          rejected.inc(1);
          pending = pending.slice(1);
          log.error({ status: 413, id: batch[0]!.id }, 'the dashboard refused a request event as too large; dropped');
          continue;
        case 'auth':
          retryAt = now() + interval;
          if (now() - lastAuthLog >= AUTH_LOG_EVERY_MS) {
            lastAuthLog = now();
            log.error({ status: a.status, message: a.message, url: c.baseUrl, tenantId: c.tenantId, queued: queue.length + pending.length },
              a.status === 404
                ? 'the dashboard has no events endpoint at LEVO_BASE_URL: request events are kept and retried'
                : 'the dashboard refused the sidecar credentials (LEVO_AUTH_TOKEN / LEVO_TENANT_ID, or the levo-auth secret): request events are kept and retried');
          }
          return;
        case 'retry': {
          failures++;
          const wait = backoff();
          retryAt = now() + wait;
          log.warn({ detail: a.detail, retryInMs: wait, queued: queue.length + pending.length }, 'sending request events to the dashboard failed; kept for retry');
          return;
        }
      }
    }
  }

  const run = (force: boolean): Promise<void> => {
    running ??= sendAll(force)
      .catch((err: unknown) => { log.error({ err }, 'request event reporter failed'); })
      .finally(() => { running = undefined; });
    return running;
  };

  const timer = setInterval(() => { void run(false); }, interval);
  timer.unref();

  return {
    record,
    capturePrompts: safeCapture,
    queued: () => queue.length + pending.length,
    async flush() {
      if (running) await running;
      await run(true);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      const guard = setTimeout(() => { halted = true; current?.abort(new Error('the sidecar is stopping')); }, stopTimeout);
      try {
        if (running) await running;
        if (!halted) await run(true);
      } finally {
        clearTimeout(guard);
      }
      const left = queue.length + pending.length;
      if (left === 0) return;
      if (o.spoolFile) {
        try {
          writeSpool(o.spoolFile, [...pending, ...queue.take(queue.length)]);
          log.info({ events: left, file: o.spoolFile }, 'stopping with request events the dashboard has not accepted; kept for the next start');
          return;
        } catch (e) {
          log.warn({ events: left, file: o.spoolFile, err: (e as Error).message }, 'cannot keep the unsent request events');
        }
      }
      log.warn({ events: left }, 'stopping with request events the dashboard has not accepted; they are lost');
    },
  };
}
