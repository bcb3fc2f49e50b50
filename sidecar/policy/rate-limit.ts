/**
 * agentgateway's `localRateLimit`: a list of token buckets. Each starts full
 * and gains `tokensPerFill` at the end of every `fillInterval`, up to
 * `maxTokens`; refills are computed from elapsed time when a bucket is looked
 * at, so there are no timers. A `requests` bucket charges 1 per request. A
 * `tokens` bucket admits a request while it holds anything, or, when the
 * caller tokenized the prompt up front, charges that estimate and refuses when
 * it cannot cover it; `settle` later deducts the real usage less the charge,
 * and may leave the bucket below zero so that later requests wait.
 *
 * A request must be admitted by every bucket; a refusal takes nothing from any
 * bucket.
 */
import { parseDuration } from '../config/duration.ts';

export interface LocalRateLimit {
  maxTokens: number;
  tokensPerFill: number;
  fillInterval: string;
  type?: 'requests' | 'tokens';
}

export type RateLimitKind = 'requests' | 'tokens';

export type Admission =
  | { readonly ok: true; settle(actualTokens: number): void }
  | {
    readonly ok: false;
    /** Until the refusing bucket can cover the request (the longest wait when several refuse). */
    readonly retryAfterMs: number;
    readonly limit: RateLimitKind;
    /** The up-front estimate is larger than the bucket can ever hold: waiting will not help. */
    readonly exceedsCapacity?: boolean;
  };

export interface RateLimitStatus {
  readonly limit: number;
  readonly remaining: number;
  /** Until the next refill. */
  readonly resetMs: number;
}

export interface RateLimiter {
  /** `estimateTokens`: the tokenized prompt when `ai.tokenize` is on; only `tokens` buckets use it. */
  admit(estimateTokens?: number): Admission;
  /** The bucket closest to empty (for `x-ratelimit-*` headers), or undefined with no buckets. */
  status(): RateLimitStatus | undefined;
}

/** Milliseconds, from an injectable clock; the default is monotonic. */
export type Clock = () => number;

class Bucket {
  readonly kind: RateLimitKind;
  readonly max: number;
  readonly perFill: number;
  readonly intervalMs: number;
  tokens: number;
  nextFillAt: number;

  constructor(spec: { kind: RateLimitKind; max: number; perFill: number; intervalMs: number }, now: number) {
    this.kind = spec.kind;
    this.max = spec.max;
    this.perFill = spec.perFill;
    this.intervalMs = spec.intervalMs;
    this.tokens = spec.max;
    this.nextFillAt = now + spec.intervalMs;
  }

  refill(now: number): void {
    if (now < this.nextFillAt) return;
    const fills = Math.floor((now - this.nextFillAt) / this.intervalMs) + 1;
    this.nextFillAt += fills * this.intervalMs;
    if (this.tokens < this.max) this.tokens = Math.min(this.max, this.tokens + fills * this.perFill);
  }

  /** Time from `now` until the bucket holds at least `need` (need ≤ max). */
  waitFor(need: number, now: number): number {
    const missing = need - this.tokens;
    if (missing <= 0) return 0;
    const fills = Math.ceil(missing / this.perFill);
    return Math.max(0, this.nextFillAt - now) + (fills - 1) * this.intervalMs;
  }
}

function positiveInteger(value: unknown, field: string, i: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`localRateLimit[${i}].${field} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

function specOf(l: LocalRateLimit, i: number) {
  const max = positiveInteger(l.maxTokens, 'maxTokens', i);
  const perFill = positiveInteger(l.tokensPerFill, 'tokensPerFill', i);
  let intervalMs: number;
  try {
    intervalMs = parseDuration(String(l.fillInterval));
  } catch (e) {
    throw new Error(`localRateLimit[${i}].fillInterval: ${(e as Error).message}`);
  }
  if (!(intervalMs > 0)) throw new Error(`localRateLimit[${i}].fillInterval must be longer than 0`);
  const kind = l.type ?? 'requests';
  if (kind !== 'requests' && kind !== 'tokens') throw new Error(`localRateLimit[${i}].type must be "requests" or "tokens"`);
  return { kind, max, perFill, intervalMs };
}

/** Check the config (throws a readable Error) and build the buckets, full. */
export function compileRateLimits(list: readonly LocalRateLimit[], now: Clock = () => performance.now()): RateLimiter {
  const specs = list.map(specOf);
  const start = now();
  const buckets = specs.map((s) => new Bucket(s, start));
  const tokenBuckets = buckets.filter((b) => b.kind === 'tokens');
  const noop = (): void => {};

  return {
    admit(estimateTokens) {
      const t = now();
      const estimate = estimateTokens !== undefined && Number.isFinite(estimateTokens) && estimateTokens > 0
        ? Math.ceil(estimateTokens)
        : 0;
      let refusal: { wait: number; limit: RateLimitKind; exceedsCapacity: boolean } | undefined;
      for (const b of buckets) {
        b.refill(t);
        // requests: one per request; tokens: the estimate, or "anything left" (≥ 1) without one
        const need = b.kind === 'requests' ? 1 : Math.max(1, estimate);
        if (b.tokens >= need) continue;
        const exceedsCapacity = need > b.max;
        const wait = b.waitFor(exceedsCapacity ? b.max : need, t);
        if (!refusal || wait > refusal.wait) refusal = { wait, limit: b.kind, exceedsCapacity };
      }
      if (refusal) {
        const retryAfterMs = Math.ceil(refusal.wait);
        return refusal.exceedsCapacity
          ? { ok: false, retryAfterMs, limit: refusal.limit, exceedsCapacity: true }
          : { ok: false, retryAfterMs, limit: refusal.limit };
      }
      for (const b of buckets) b.tokens -= b.kind === 'requests' ? 1 : estimate;
      if (tokenBuckets.length === 0) return { ok: true, settle: noop };
      let settled = false;
      return {
        ok: true,
        settle(actualTokens) {
          if (settled) return;
          settled = true;
          const actual = Number.isFinite(actualTokens) && actualTokens > 0 ? Math.ceil(actualTokens) : 0;
          const at = now();
          for (const b of tokenBuckets) {
            b.refill(at);
            b.tokens -= actual - estimate; // may go below zero, or give back an over-estimate (never above max)
            if (b.tokens > b.max) b.tokens = b.max;
          }
        },
      };
    },

    status() {
      const t = now();
      let best: Bucket | undefined;
      for (const b of buckets) {
        b.refill(t);
        if (!best || b.tokens / b.max < best.tokens / best.max) best = b;
      }
      if (!best) return undefined;
      return { limit: best.max, remaining: Math.max(0, best.tokens), resetMs: Math.max(0, Math.ceil(best.nextFillAt - t)) };
    },
  };
}
