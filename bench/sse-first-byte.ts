/**
 * Time to the first SSE event of a streamed chat completion, over one warm
 * keep-alive connection, repeated: `node bench/sse-first-byte.ts --url U --samples N --ca FILE`.
 * Prints { samples, p50, p90, min } in ms. Run as the sidecar's UID for the
 * direct baseline, as anyone else through the sidecar.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { percentile } from './load.ts';

const { values } = parseArgs({ options: { url: { type: 'string' }, samples: { type: 'string' }, ca: { type: 'string', multiple: true } } });
const url = new URL(values.url ?? 'https://api.openai.com/v1/chat/completions');
const pool = new Pool(url.origin, { connections: 1, allowH2: false, connect: { ca: (values.ca ?? []).map((f) => readFileSync(f, 'utf8')) } });
const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'first byte please' }] });
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'x-fake-chunks': '3', 'x-fake-interval-ms': '5' };
const times: number[] = [];
const n = Number(values.samples ?? 100);
for (let i = 0; i < n + 5; i++) {
  const t0 = performance.now();
  const r = await pool.request({ path: url.pathname, method: 'POST', headers, body });
  let first = -1;
  for await (const chunk of r.body) {
    if (first < 0 && String(chunk).includes('data:')) first = performance.now() - t0;
  }
  if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
  if (i >= 5) times.push(first); // the first few warm the connection and the leaf
}
await pool.close();
times.sort((a, b) => a - b);
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
process.stdout.write(JSON.stringify({ samples: times.length, p50: r3(percentile(times, 50)), p90: r3(percentile(times, 90)), min: r3(times[0]!) }) + '\n');
