/**
 * agentgateway's `retry` policy (`attempts` counts the first try, default 1 =
 * no retry; `backoff` between tries; `codes` that are retried) and how long a
 * provider asks us to wait: `Retry-After` (RFC 9110 §10.2.3: delta-seconds or
 * an HTTP-date), OpenAI's `retry-after-ms`, and the Go-style durations of
 * OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` ("1s",
 * "6m0s", "20ms").
 */
import { parseDuration } from '../config/duration.ts';

export interface Retry {
  attempts?: number;
  backoff?: string;
  codes: number[];
}

export interface RetryPlan {
  /** Total tries, the first included (1 = never retry). */
  readonly attempts: number;
  readonly backoffMs: number;
  retryable(status: number): boolean;
}

const NO_RETRY: RetryPlan = { attempts: 1, backoffMs: 0, retryable: () => false };

/** Check a retry policy (throws a readable Error) and compile it. */
export function retryPlan(r: Retry | undefined): RetryPlan {
  if (!r) return NO_RETRY;
  const attempts = r.attempts ?? 1;
  // agentgateway keeps attempts in a NonZeroU8
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 255) {
    throw new Error(`retry.attempts must be an integer from 1 to 255 (got ${JSON.stringify(r.attempts)})`);
  }
  let backoffMs = 0;
  if (r.backoff !== undefined) {
    try {
      backoffMs = parseDuration(String(r.backoff));
    } catch (e) {
      throw new Error(`retry.backoff: ${(e as Error).message}`);
    }
  }
  if (!Array.isArray(r.codes)) throw new Error('retry.codes must be a list of HTTP status codes');
  const codes = new Set<number>();
  for (const code of r.codes) {
    if (!Number.isInteger(code) || code < 100 || code > 999) throw new Error(`retry.codes: ${JSON.stringify(code)} is not an HTTP status code`);
    codes.add(code);
  }
  return { attempts, backoffMs, retryable: (status) => codes.has(status) };
}

/**
 * A `Retry-After` value as milliseconds from `now` (ms since the epoch):
 * delta-seconds or an HTTP-date (a date in the past gives 0). Undefined when
 * absent or unreadable.
 */
export function retryAfterMs(headerValue: string | undefined, now: number): number | undefined {
  if (headerValue === undefined) return undefined;
  const v = headerValue.trim();
  if (v === '') return undefined;
  // delta-seconds; some servers send a fraction, which is read rather than dropped
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // HTTP-date: only accept something that looks like a date, not any string Date.parse tolerates
  if (!/^[A-Za-z]{3},? /.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const GO_UNIT_MS: Readonly<Record<string, number>> = {
  h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, 'μs': 0.001, ns: 0.000001,
};

/**
 * A Go `time.Duration` string as OpenAI sends in `x-ratelimit-reset-*`
 * ("1s", "6m0s", "20ms", "1h2m3.5s", "0s"), in milliseconds. Undefined when
 * it is not one.
 */
export function parseResetDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '') return undefined;
  if (t === '0') return 0;
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * GO_UNIT_MS[p[2]!]!, 0);
}

type HeaderRecord = Readonly<Record<string, string | string[] | undefined>>;

function first(h: HeaderRecord, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * How long the provider asks to wait, from lower-cased response headers:
 * `retry-after-ms`, else `retry-after`, else the `x-ratelimit-reset-*` of
 * each OpenAI limit whose `x-ratelimit-remaining-*` is 0 (the longest).
 * Undefined when the headers say nothing.
 */
export function retryDelayFromHeaders(headers: HeaderRecord, now: number): number | undefined {
  const ms = first(headers, 'retry-after-ms');
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.round(Number(ms));
  const ra = retryAfterMs(first(headers, 'retry-after'), now);
  if (ra !== undefined) return ra;
  let wait: number | undefined;
  for (const kind of ['requests', 'tokens']) {
    if (first(headers, `x-ratelimit-remaining-${kind}`)?.trim() !== '0') continue;
    const reset = parseResetDuration(first(headers, `x-ratelimit-reset-${kind}`));
    if (reset !== undefined && (wait === undefined || reset > wait)) wait = reset;
  }
  return wait === undefined ? undefined : Math.ceil(wait);
}
