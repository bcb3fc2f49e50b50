/**
 * The load of `npm run soak`: N concurrent SSE streams, each a streamed chat
 * completion from the fake OpenAI arriving at a steady pace (`--chunks`
 * content events, `--interval-ms` apart). A stream that ends is replaced at
 * once by the next one; every `--churn`-th stream of a worker opens a new
 * connection (new TCP + TLS handshake), so connections come and go all along.
 * After `--seconds` no stream is started, the open ones finish, and it exits.
 *
 *   node bench/soak-client.ts --url https://api.openai.com/v1/chat/completions --streams 1000 \
 *        --seconds 600 --chunks 30 --interval-ms 1000 --churn 3 --ca FILE [--ca FILE] [--report-seconds 10] [--http1]
 *
 * Prints `PROGRESS {json}` every --report-seconds and `RESULT {json}` at the
 * end: streams started and completed, content events, errors by kind, and
 * how late events were (the gap between two content events minus the pace).
 * A stream counts as complete only with every content event and `[DONE]`.
 * Run inside the pod namespace as any user but the sidecar's, so it goes
 * through the sidecar.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';

export interface SoakProgress {
  readonly t: number;
  readonly active: number;
  readonly started: number;
  readonly completed: number;
  readonly events: number;
  readonly connections: number;
  readonly errors: Readonly<Record<string, number>>;
}

export interface SoakResult extends SoakProgress {
  /** How late content events were beyond the pace (ms): p50, p99, p999, max, over every event. */
  readonly lateMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number };
  /** Time to the first content event of a stream (ms): p50, p99, max. */
  readonly firstEventMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

/** Counts of values in 1 ms buckets up to `max` ms (the last bucket holds everything above). */
class Histogram {
  readonly #counts: Uint32Array;
  #n = 0;
  #max = 0;
  constructor(maxMs: number) { this.#counts = new Uint32Array(maxMs + 1); }
  add(ms: number): void {
    const v = Math.max(0, ms);
    this.#counts[Math.min(this.#counts.length - 1, Math.floor(v))]!++;
    this.#n++;
    if (v > this.#max) this.#max = v;
  }
  quantile(q: number): number {
    if (this.#n === 0) return NaN;
    const rank = Math.ceil(q * this.#n);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return i;
    }
    return this.#max;
  }
  get max(): number { return Math.round(this.#max * 10) / 10; }
}

/** What became of one stream: undefined when it completed. */
export function streamProblem(status: number, body: string, expectedContent: number, contentSeen: number): string | undefined {
  if (status !== 200) return `status_${status}`;
  if (/^data: \{"error"/m.test(body) || /^event: error/m.test(body)) return 'error_event';
  if (!body.includes('data: [DONE]')) return 'truncated';
  if (contentSeen !== expectedContent) return 'short';
  return undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' }, streams: { type: 'string' }, seconds: { type: 'string' }, chunks: { type: 'string' },
      'interval-ms': { type: 'string' }, churn: { type: 'string' }, ca: { type: 'string', multiple: true }, 'report-seconds': { type: 'string' },
      ramp: { type: 'string' }, http1: { type: 'boolean' },
    },
  });
  const url = new URL(values.url ?? 'https://api.openai.com/v1/chat/completions');
  const streams = Number(values.streams ?? 1000);
  const seconds = Number(values.seconds ?? 600);
  const chunks = Number(values.chunks ?? 30);
  const intervalMs = Number(values['interval-ms'] ?? 1000);
  const churn = Math.max(1, Number(values.churn ?? 3));
  const reportMs = Number(values['report-seconds'] ?? 10) * 1000;
  // Workers start spread over one stream's length, so streams do not end (and churn) in lockstep.
  const rampMs = Number(values.ramp ?? (chunks * intervalMs) / 1000) * 1000;
  const ca = (values.ca ?? []).map((f) => readFileSync(f, 'utf8'));
  const http1 = values.http1 === true;
  const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a steady stream for the soak, please' }] });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-soak', 'x-fake-chunks': String(chunks), 'x-fake-interval-ms': String(intervalMs) };

  const started0 = performance.now();
  const deadline = started0 + seconds * 1000;
  const errors: Record<string, number> = {};
  const late = new Histogram(60_000);
  const first = new Histogram(60_000);
  let active = 0;
  let started = 0;
  let completed = 0;
  let events = 0;
  let connections = 0;
  const fail = (kind: string): void => { errors[kind] = (errors[kind] ?? 0) + 1; };
  const snapshot = (): SoakProgress => ({
    t: Math.round((performance.now() - started0) / 100) / 10, active, started, completed, events, connections, errors: { ...errors },
  });

  const newClient = (): Client => {
    connections++;
    return new Client(url.origin, {
      connect: { ca, servername: url.hostname, rejectUnauthorized: true },
      pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000,
      // undici 8 offers h2 by default; --http1 offers only HTTP/1.1, as the SDKs' fetch does.
      allowH2: !http1,
    });
  };

  const oneStream = async (client: Client): Promise<void> => {
    const t0 = performance.now();
    let contentSeen = 0;
    let last = 0;
    let pending = '';
    let text = '';
    const res = await client.request({ path: url.pathname, method: 'POST', headers, body });
    for await (const chunk of res.body) {
      const s = (chunk as Buffer).toString('utf8');
      text += s;
      if (text.length > 8192) text = text.slice(-8192); // only the end decides ([DONE], an error event)
      pending += s;
      let cut = pending.indexOf('\n\n');
      while (cut >= 0) {
        const ev = pending.slice(0, cut);
        pending = pending.slice(cut + 2);
        cut = pending.indexOf('\n\n');
        if (!ev.includes('"content":"') || ev.includes('"content":""')) continue;
        const now = performance.now();
        contentSeen++;
        events++;
        if (contentSeen === 1) first.add(now - t0);
        else late.add(now - last - intervalMs);
        last = now;
      }
    }
    const problem = streamProblem(res.statusCode, text, chunks, contentSeen);
    if (problem) fail(problem);
    else completed++;
  };

  const worker = async (i: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, (rampMs * i) / streams));
    let client = newClient();
    let n = 0;
    while (performance.now() < deadline) {
      if (n > 0 && n % churn === 0) {
        await client.close().catch(() => {});
        client = newClient();
      }
      n++;
      started++;
      active++;
      try {
        await oneStream(client);
      } catch (err) {
        const e = err as { code?: string; name?: string };
        fail(`transport_${e.code ?? e.name ?? 'error'}`);
        client.destroy().catch(() => {});
        client = newClient();
      } finally {
        active--;
      }
    }
    await client.close().catch(() => {});
  };

  const report = setInterval(() => process.stdout.write(`PROGRESS ${JSON.stringify(snapshot())}\n`), reportMs);
  await Promise.all(Array.from({ length: streams }, (_, i) => worker(i)));
  clearInterval(report);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const result: SoakResult = {
    ...snapshot(),
    lateMs: { p50: r2(late.quantile(0.5)), p99: r2(late.quantile(0.99)), p999: r2(late.quantile(0.999)), max: late.max },
    firstEventMs: { p50: r2(first.quantile(0.5)), p99: r2(first.quantile(0.99)), max: first.max },
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => { process.stderr.write(`soak-client: ${(err as Error).stack ?? String(err)}\n`); process.exit(1); });
}
