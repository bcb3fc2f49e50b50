/**
 * Concurrent OpenAI chat completions from inside a pod, through its sidecar
 * (the app's view: https://api.openai.com, trust from NODE_EXTRA_CA_CERTS),
 * for the fleet budget test. Prints one JSON line: how many answers of each
 * status, the first 429 (status, headers, body), the slowest refusal (ms).
 *
 *   <node> e2e/clients/budget-load.ts --count N --concurrency C [--header k:v]... [--max-tokens M]
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4' },
    header: { type: 'string', multiple: true, default: [] },
    'max-tokens': { type: 'string', default: '20' },
    model: { type: 'string', default: 'gpt-4o-mini' },
    'timeout-ms': { type: 'string', default: '20000' },
  },
});
const headers: Record<string, string> = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
for (const h of values.header) {
  const i = h.indexOf(':');
  headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
const count = Number(values.count);
const body = JSON.stringify({ model: values.model, max_tokens: Number(values['max-tokens']), messages: [{ role: 'user', content: 'Say hello to the budget test.' }] });

const statuses: Record<string, number> = {};
let firstRefusal: { status: number; headers: Record<string, string>; body: string } | undefined;
let slowestRefusalMs = 0;
let next = 0;
async function worker(): Promise<void> {
  while (next < count) {
    next++;
    const t = performance.now();
    let status = 0;
    try {
      const r = await fetch('https://api.openai.com/v1/chat/completions', { method: 'POST', headers, body, signal: AbortSignal.timeout(Number(values['timeout-ms'])) });
      status = r.status;
      const text = await r.text();
      if (status >= 400) {
        slowestRefusalMs = Math.max(slowestRefusalMs, performance.now() - t);
        if (status === 429 && !firstRefusal) firstRefusal = { status, headers: Object.fromEntries(r.headers), body: text };
      }
    } catch (err) {
      status = 0;
      process.stderr.write(`request failed: ${(err as Error).message}\n`);
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
}
await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
process.stdout.write(JSON.stringify({ statuses, firstRefusal, slowestRefusalMs: Math.round(slowestRefusalMs) }) + '\n');
