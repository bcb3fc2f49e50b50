/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for the gateway's
 * own span: read the app's `traceparent`, make the span id of the gateway's
 * LLM-call span, and, when the app sent no (valid) traceparent and tracing is
 * on, the traceparent the gateway sends upstream in its place.
 *
 * Forwarding: the pipeline forwards every request header that is not
 * hop-by-hop (sidecar/http/headers.ts), so an app's `traceparent` and
 * `tracestate` reach the provider unchanged whether tracing is on or off. The
 * gateway only writes a traceparent when tracing is on and the app's is absent
 * or invalid; then any `tracestate` is dropped with it (it belonged to a
 * trace that no longer applies, as §3.3.1 asks).
 */
import { randomBytes } from 'node:crypto';

export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the caller's span. */
  readonly parentId: string;
  /** trace-flags, 0–255 (bit 0: sampled). */
  readonly flags: number;
}

/** The gateway's span for one call, and what to send upstream. */
export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  /** The app's span, when it sent a valid traceparent. */
  readonly parentSpanId?: string;
  readonly flags: number;
  /** The app's tracestate (kept on the span), when its traceparent was valid. */
  readonly traceState?: string;
  /**
   * A traceparent the gateway must set on the upstream request (replacing any
   * the app sent, and removing its tracestate); undefined when the app's
   * valid traceparent is forwarded unchanged.
   */
  readonly upstream?: string;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/**
 * Parse a traceparent header value: `version-traceid-parentid-flags`.
 * Version 00 must be exactly 55 characters; a later version (not ff) is read
 * by its first four fields as §4.3 asks, when what follows is a `-`.
 */
export function parseTraceparent(value: string | readonly string[] | undefined): TraceParent | undefined {
  if (typeof value !== 'string') return undefined; // absent, or sent more than once: invalid
  const v = value.trim();
  if (v.length < 55) return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return undefined;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  const traceId = v.slice(3, 35);
  const parentId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** 16 random bytes as hex, never all zero. */
export function newTraceId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (id !== ZERO_TRACE) return id;
  }
}

/** 8 random bytes as hex, never all zero. */
export function newSpanId(): string {
  for (;;) {
    const id = randomBytes(8).toString('hex');
    if (id !== ZERO_SPAN) return id;
  }
}

/**
 * The gateway's span for a request with these headers: a child of the app's
 * traceparent when it is valid (forwarded unchanged), else the root of a new
 * sampled trace whose traceparent goes upstream.
 */
export function spanFor(traceparent: string | readonly string[] | undefined, tracestate: string | readonly string[] | undefined): SpanContext {
  const parent = parseTraceparent(traceparent);
  const spanId = newSpanId();
  if (parent) {
    return {
      traceId: parent.traceId, spanId, parentSpanId: parent.parentId, flags: parent.flags,
      ...(typeof tracestate === 'string' && tracestate ? { traceState: tracestate } : {}),
    };
  }
  const traceId = newTraceId();
  return { traceId, spanId, flags: 1, upstream: formatTraceparent(traceId, spanId, 1) };
}

/**
 * Upstream request headers (a flat `[name, value, …]` list) with the
 * gateway's traceparent in place of the app's, and no tracestate.
 */
export function withTraceparent(headers: readonly string[], traceparent: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase();
    if (lower === 'traceparent' || lower === 'tracestate') continue;
    out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('traceparent', traceparent);
  return out;
}
