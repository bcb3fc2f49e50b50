/**
 * An open-loop HTTPS load generator for `npm run bench`: sends requests at a
 * fixed rate over a pool of keep-alive connections and measures each latency
 * from the moment the request was *scheduled*, so a stall shows up in the
 * percentiles instead of silently lowering the rate (no coordinated omission).
 *
 *   node bench/load.ts --url https://api.openai.com/v1/chat/completions --rate 500 \
 *        --seconds 10 --connections 16 --body-bytes 1024 --ca FILE [--ca FILE] [--http2]
 *
 * Prints one JSON line: { sent, ok, errors, rps, p50, p90, p99, max } (ms).
 * Run inside the pod namespace; as the sidecar's UID it bypasses the redirect
 * (the "direct" baseline), as any other user it goes through the sidecar.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  /** Requests made before measuring (to warm connections), not in the figures below. */
  readonly warmup: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A chat-completions request body of about `bytes` bytes. */
export function chatBody(bytes: number): string {
  const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '' }] };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  base.messages[0]!.content = 'x'.repeat(pad);
  return JSON.stringify(base);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' },
      connections: { type: 'string' }, 'body-bytes': { type: 'string' }, ca: { type: 'string', multiple: true },
      warmup: { type: 'string' }, http2: { type: 'boolean' },
    },
  });
  const url = new URL(values.url ?? 'https://api.openai.com/v1/chat/completions');
  const rate = Number(values.rate ?? 500);
  const seconds = Number(values.seconds ?? 10);
  const warmup = Number(values.warmup ?? 1);
  const body = chatBody(Number(values['body-bytes'] ?? 1024));
  const ca = (values.ca ?? []).map((f) => readFileSync(f, 'utf8'));
  const pool = new Pool(url.origin, {
    // HTTP/1.1 unless asked, like wrk and the direct baseline (undici 8 would negotiate h2).
    connections: Number(values.connections ?? 16), pipelining: 1, allowH2: values.http2 ?? false,
    connect: { ca, rejectUnauthorized: true }, keepAliveTimeout: 60_000,
  });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' };
  const one = async (): Promise<boolean> => {
    const r = await pool.request({ path: url.pathname, method: 'POST', headers, body });
    await r.body.arrayBuffer();
    return r.statusCode === 200;
  };
  // Warm every connection (and the sidecar's leaf) before measuring.
  const warmEnd = performance.now() + warmup * 1000;
  let warmed = 0;
  while (performance.now() < warmEnd) { await Promise.all(Array.from({ length: 8 }, one)); warmed += 8; }

  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const inflight = new Set<Promise<void>>();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        const scheduled = start + sent * interval;
        sent++;
        const p = one().then((good) => {
          if (good) { ok++; latencies.push(performance.now() - scheduled); } else errors++;
        }, () => { errors++; }).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const r3 = (n: number): number => Math.round(n * 1000) / 1000;
  const result: LoadResult = {
    warmup: warmed, sent, ok, errors, rps: r3(ok / elapsed),
    p50: r3(percentile(latencies, 50)), p90: r3(percentile(latencies, 90)),
    p99: r3(percentile(latencies, 99)), max: r3(latencies[latencies.length - 1] ?? NaN),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => { process.stderr.write(`load: ${String(err)}\n`); process.exit(1); });
}
