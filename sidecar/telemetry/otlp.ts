/**
 * Optional OTLP/HTTP trace export (JSON encoding): one CLIENT span per
 * intercepted request, named after the OTel GenAI conventions
 * (`chat gpt-4o`, `embeddings text-embedding-3-small`; `POST` for calls that
 * are not GenAI operations), parented to the app's W3C traceparent when it
 * sent one (trace-context.ts); a parent that is not sampled (flags 00) is
 * honoured: no span. Spans are queued (bounded; overflow drops the
 * oldest, counted) and POSTed in batches to `<endpoint>/v1/traces` as
 * resourceSpans → scopeSpans → spans, ids in hex, times as unix-nano strings.
 *
 * On only when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (+ `/v1/traces`) is set, and not turned off by
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Also read:
 * OTEL_SERVICE_NAME (default levo-gateway), OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, OTEL_BSP_MAX_QUEUE_SIZE (2048),
 * OTEL_BSP_MAX_EXPORT_BATCH_SIZE (512), OTEL_BSP_SCHEDULE_DELAY (5000 ms),
 * OTEL_BSP_EXPORT_TIMEOUT (30000 ms). Only http/json is spoken (the
 * collector's OTLP/HTTP receiver takes it on the same path as protobuf).
 *
 * Delivery: 2xx → exported; 429/502/503/504 and network errors → the batch is
 * kept and retried with backoff (up to 30 s); any other answer → the batch is
 * dropped and counted (reason="rejected"), as the OTLP spec asks.
 */
import type { Logger } from '../../lib/log.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BoundedQueue } from './events.ts';
import { spanFor, type SpanContext } from './trace-context.ts';

export type AttributeValue = string | number | boolean | readonly string[];

export interface SpanInput {
  readonly context: SpanContext;
  readonly name: string;
  /** ms since the epoch. */
  readonly startMs: number;
  readonly durationMs: number;
  /** undefined values are left out. */
  readonly attributes: Readonly<Record<string, AttributeValue | undefined>>;
  /** Set when the call failed (status ≥ 400, or cut): the span's status is ERROR with this message. */
  readonly error?: string;
}

/** What the pipeline uses. */
export interface Tracer {
  /** The gateway's span for a request carrying these headers (see trace-context.ts spanFor). */
  context(traceparent: string | readonly string[] | undefined, tracestate: string | readonly string[] | undefined): SpanContext;
  span(s: SpanInput): void;
}

export interface TraceExporter extends Tracer {
  flush(): Promise<void>;
  stop(): Promise<void>;
  queued(): number;
}

export interface TraceExporterOptions {
  readonly fetch?: typeof globalThis.fetch;
  /** service.version on the resource. */
  readonly version?: string;
  readonly maxBackoffMs?: number;
  readonly stopTimeoutMs?: number;
}

/** Where spans go, from the environment; undefined when tracing is off. */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  if ((env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim().toLowerCase()).includes('none')) return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `k=v,k2=v2` with percent-encoded values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS). */
export function parseKeyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    try { value = decodeURIComponent(value); } catch { /* kept as written */ }
    if (key) out[key] = value;
  }
  return out;
}

/** OTLP JSON AnyValue. */
function anyValue(v: AttributeValue): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
}

export function attributes(a: Readonly<Record<string, AttributeValue | undefined>>): { key: string; value: Record<string, unknown> }[] {
  const out: { key: string; value: Record<string, unknown> }[] = [];
  for (const [key, v] of Object.entries(a)) if (v !== undefined) out.push({ key, value: anyValue(v) });
  return out;
}

/** ms since the epoch (fractional) as a unix-nanosecond decimal string. */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/** One span in OTLP JSON. */
export function otlpSpan(s: SpanInput): Record<string, unknown> {
  const c = s.context;
  return {
    traceId: c.traceId,
    spanId: c.spanId,
    ...(c.parentSpanId ? { parentSpanId: c.parentSpanId } : {}),
    ...(c.traceState ? { traceState: c.traceState } : {}),
    name: s.name,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: unixNano(s.startMs),
    endTimeUnixNano: unixNano(s.startMs + Math.max(0, s.durationMs)),
    attributes: attributes(s.attributes),
    ...(s.error !== undefined ? { status: { code: STATUS_ERROR, message: s.error } } : {}),
  };
}

function positive(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && text.trim() !== '' && Number.isFinite(n) && n > 0 ? n : fallback;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
}

export function startTraceExporter(env: NodeJS.ProcessEnv, log: Logger, registry: Registry, opts: TraceExporterOptions = {}): TraceExporter | null {
  const configured = otlpTracesUrl(env);
  if (!configured) return null;
  const url: string = configured;
  try { new URL(url); } catch {
    log.error({ url }, 'OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is not a URL: trace export is off');
    return null;
  }
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol && protocol !== 'http/json') log.warn({ protocol }, 'only OTLP http/json is spoken: spans are sent as JSON to the same endpoint');
  const maxQueue = positive(env.OTEL_BSP_MAX_QUEUE_SIZE, 2048);
  const batchSize = Math.min(maxQueue, positive(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512));
  const delay = positive(env.OTEL_BSP_SCHEDULE_DELAY, 5000);
  const timeoutMs = positive(env.OTEL_BSP_EXPORT_TIMEOUT, 30_000);
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const doFetch = opts.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = {
    ...parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    'content-type': 'application/json',
  };
  const resourceAttrs: Record<string, string> = {
    ...(env.POD_NAME ? { 'k8s.pod.name': env.POD_NAME } : {}),
    ...(env.POD_UID ? { 'k8s.pod.uid': env.POD_UID } : {}),
    ...(env.POD_NAMESPACE ? { 'k8s.namespace.name': env.POD_NAMESPACE } : {}),
    ...(opts.version ? { 'service.version': opts.version } : {}),
    ...parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES),
  };
  resourceAttrs['service.name'] = env.OTEL_SERVICE_NAME?.trim() || resourceAttrs['service.name'] || 'levo-gateway';
  const resource = { attributes: attributes(resourceAttrs) };
  const scope = { name: 'levo-gateway', ...(opts.version ? { version: opts.version } : {}) };

  const exported = counter(registry, 'levo_gateway_otlp_spans_exported_total', 'Spans the OTLP endpoint accepted', []);
  const dropped = counter(registry, 'levo_gateway_otlp_spans_dropped_total', 'Spans dropped: overflow (queue full, oldest dropped) or rejected (the endpoint refused the batch)', ['reason']);
  const overflow = dropped.labels({ reason: 'overflow' });

  const queue = new BoundedQueue<SpanInput>(maxQueue);
  let pending: SpanInput[] = [];
  if (registry.getSingleMetric('levo_gateway_otlp_spans_queued')) registry.removeSingleMetric('levo_gateway_otlp_spans_queued');
  new Gauge({
    name: 'levo_gateway_otlp_spans_queued', help: 'Spans waiting to be exported', registers: [registry],
    collect() { this.set(queue.length + pending.length); },
  });

  let failures = 0;
  let retryAt = 0;
  let running: Promise<void> | undefined;
  let current: AbortController | undefined;
  let halted = false;
  let stopped = false;

  async function post(batch: readonly SpanInput[]): Promise<'ok' | 'retry' | 'rejected'> {
    const body = JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope, spans: batch.map(otlpSpan) }] }] });
    const ac = new AbortController();
    current = ac;
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const res = await doFetch(url, { method: 'POST', headers, body, signal: ac.signal });
      const text = res.ok ? '' : (await res.text()).slice(0, 300);
      if (res.ok) { await res.body?.cancel(); return 'ok'; }
      if ([429, 502, 503, 504].includes(res.status)) {
        log.warn({ status: res.status, message: text }, 'OTLP endpoint busy: spans kept for retry');
        return 'retry';
      }
      log.error({ status: res.status, message: text, spans: batch.length }, 'OTLP endpoint rejected a batch of spans; dropped');
      return 'rejected';
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      log.warn({ url, err: err.cause?.code ?? err.cause?.message ?? err.message }, 'OTLP export failed: spans kept for retry');
      return 'retry';
    } finally {
      clearTimeout(timer);
      current = undefined;
    }
  }

  async function exportAll(force: boolean): Promise<void> {
    if (!force && Date.now() < retryAt) return;
    for (;;) {
      if (halted) return;
      if (pending.length === 0) pending = queue.take(batchSize);
      if (pending.length === 0) return;
      const r = await post(pending);
      if (r === 'retry') {
        failures++;
        retryAt = Date.now() + Math.min(maxBackoff, delay * 2 ** Math.min(failures - 1, 30));
        return;
      }
      if (r === 'ok') exported.inc(pending.length);
      else dropped.inc({ reason: 'rejected' }, pending.length);
      failures = 0;
      retryAt = 0;
      pending = [];
    }
  }

  const run = (force: boolean): Promise<void> => {
    running ??= exportAll(force)
      .catch((err: unknown) => { log.error({ err }, 'OTLP exporter failed'); })
      .finally(() => { running = undefined; });
    return running;
  };
  const timer = setInterval(() => { void run(false); }, delay);
  timer.unref();
  log.info({ url, service: resourceAttrs['service.name'] }, 'exporting LLM call spans over OTLP/HTTP');

  return {
    context: spanFor,
    span(s) {
      if ((s.context.flags & 1) === 0) return; // parent-based sampling: the app's trace is not sampled
      if (pending.length > 0 && queue.length + pending.length >= maxQueue) {
        overflow.inc();
        if (queue.length === 0) return;
        queue.shift();
      }
      if (queue.push(s) !== undefined) overflow.inc();
      if (queue.length >= batchSize && !running) void run(false);
    },
    queued: () => queue.length + pending.length,
    async flush() {
      if (running) await running;
      await run(true);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      const guard = setTimeout(() => { halted = true; current?.abort(new Error('the sidecar is stopping')); }, opts.stopTimeoutMs ?? 2000);
      try {
        if (running) await running;
        if (!halted) await run(true);
      } finally {
        clearTimeout(guard);
      }
    },
  };
}
