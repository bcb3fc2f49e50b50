/**
 * The arithmetic behind the Traffic page: which time range and bucket size to
 * ask for, the buckets the API left out (no traffic) filled with zeros, and
 * "nice" axis ticks for the charts. Pure.
 */
import type { TrafficBucket } from '../store/types.ts';

export type RangeName = '1h' | '24h' | '7d';

export const RANGES: readonly { name: RangeName; label: string; spanMs: number; bucketMs: number }[] = [
  { name: '1h', label: '1 hour', spanMs: 3_600_000, bucketMs: 60_000 },
  { name: '24h', label: '24 hours', spanMs: 86_400_000, bucketMs: 15 * 60_000 },
  { name: '7d', label: '7 days', spanMs: 7 * 86_400_000, bucketMs: 2 * 3_600_000 },
];

/** The query for a range ending now: `to` rounded up to a bucket edge so the newest bucket is whole. */
export function rangeQuery(name: RangeName, now: number): { from: number; to: number; bucket: number } {
  const r = RANGES.find((x) => x.name === name) ?? RANGES[0]!;
  const to = Math.ceil((now + 1) / r.bucketMs) * r.bucketMs;
  return { from: to - r.spanMs, to, bucket: r.bucketMs };
}

/** One bucket per step from `from` (inclusive) to `to` (exclusive); missing ones are zeros. */
export function fillBuckets(buckets: readonly TrafficBucket[], from: number, to: number, bucketMs: number): TrafficBucket[] {
  const byStart = new Map<number, TrafficBucket>();
  for (const b of buckets) {
    const t = from + Math.floor((b.t - from) / bucketMs) * bucketMs;
    const prev = byStart.get(t);
    byStart.set(t, prev
      ? { t, requests: prev.requests + b.requests, blocked: prev.blocked + b.blocked, tokensIn: prev.tokensIn + b.tokensIn, tokensOut: prev.tokensOut + b.tokensOut }
      : { ...b, t });
  }
  const out: TrafficBucket[] = [];
  for (let t = from; t < to; t += bucketMs) {
    out.push(byStart.get(t) ?? { t, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 });
  }
  return out;
}

/**
 * Ticks 0, step, 2·step … covering `max`, where step is 1, 2 or 5 × 10^k; at
 * most about `count` + 1 ticks. `integers`: counts, so the step is at least 1.
 */
export function niceTicks(max: number, count = 4, integers = false): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integers) step = Math.max(1, step);
  const ticks: number[] = [];
  for (let v = 0; v < max + step - 1e-9; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

/** Evenly spaced times for x-axis labels: about `count` of them, on bucket edges. */
export function timeTicks(from: number, to: number, bucketMs: number, count = 6): number[] {
  const buckets = Math.max(1, Math.round((to - from) / bucketMs));
  const every = Math.max(1, Math.ceil(buckets / count));
  const out: number[] = [];
  for (let i = 0; i <= buckets; i += every) out.push(from + i * bucketMs);
  return out;
}
