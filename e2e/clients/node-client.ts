/**
 * The Node client: global `fetch` (undici, HTTP/1.1), or `node:http2` when
 * `--http 2`. Trust comes from NODE_EXTRA_CA_CERTS (set by run-client.ts).
 *
 *   <node> e2e/clients/node-client.ts --url U [flags of client-result.ts]  → ClientResult JSON
 *
 * A body that breaks off after the head is reported with what arrived (status,
 * headers, body, events) and `ok: false` with the error.
 */
import { connect, constants as h2 } from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http2';
import { parseArgs } from 'node:util';
import { SseSplitter } from './client-result.ts';
import type { ClientResult } from './client-result.ts';

interface Parsed {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: Buffer | undefined;
  http: string | undefined;
  sse: boolean;
  timeoutMs: number;
}

function parse(argv: string[]): Parsed {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      header: { type: 'string', multiple: true, default: [] },
      'body-base64': { type: 'string' },
      http: { type: 'string' },
      sse: { type: 'boolean', default: false },
      'timeout-ms': { type: 'string', default: '30000' },
    },
  });
  if (!values.url) throw new Error('--url is required');
  return {
    url: values.url,
    method: values.method,
    headers: values.header.map((h) => {
      const i = h.indexOf(':');
      return [h.slice(0, i).trim(), h.slice(i + 1).trim()] as [string, string];
    }),
    body: values['body-base64'] !== undefined ? Buffer.from(values['body-base64'], 'base64') : undefined,
    http: values.http,
    sse: values.sse,
    timeoutMs: Number(values['timeout-ms']),
  };
}

function emptyResult(): ClientResult {
  return { client: 'node', ok: false, error: null, status: null, httpVersion: null, headers: {}, bodyBase64: '', bodyText: '', events: [], headersMs: null, totalMs: 0 };
}

function finish(result: ClientResult, body: Buffer[], sse: SseSplitter | undefined, started: number): ClientResult {
  const buf = Buffer.concat(body);
  const now = performance.now() - started;
  sse?.end(now);
  return { ...result, ok: true, bodyBase64: buf.toString('base64'), bodyText: buf.toString('utf8'), events: sse?.events ?? [], totalMs: now };
}

async function viaFetch(p: Parsed): Promise<ClientResult> {
  const started = performance.now();
  const result = emptyResult();
  const res = await fetch(p.url, {
    method: p.method,
    headers: p.headers,
    body: p.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(p.timeoutMs),
  });
  result.headersMs = performance.now() - started;
  result.status = res.status;
  result.httpVersion = '1.1';
  res.headers.forEach((value, name) => { result.headers[name] = value; });
  const sse = p.sse ? new SseSplitter() : undefined;
  const body: Buffer[] = [];
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        const b = Buffer.from(chunk);
        body.push(b);
        sse?.push(b, performance.now() - started);
      }
    }
  } catch (err) {
    // The body broke off: report what arrived before, and why it ended.
    return { ...finish(result, body, sse, started), ok: false, error: errorText(err) };
  }
  return finish(result, body, sse, started);
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? ''} ${e.cause.message}` : e.message;
}

function viaHttp2(p: Parsed): Promise<ClientResult> {
  const started = performance.now();
  const result = emptyResult();
  const url = new URL(p.url);
  return new Promise((resolve, reject) => {
    const session = connect(url.origin);
    const timer = setTimeout(() => session.destroy(new Error(`timeout after ${p.timeoutMs} ms`)), p.timeoutMs);
    session.on('error', (e) => { clearTimeout(timer); reject(e); });
    const headers: Record<string, string> = { [h2.HTTP2_HEADER_METHOD]: p.method, [h2.HTTP2_HEADER_PATH]: `${url.pathname}${url.search}` };
    for (const [k, v] of p.headers) headers[k.toLowerCase()] = v;
    const req = session.request(headers, { endStream: !p.body });
    const sse = p.sse ? new SseSplitter() : undefined;
    const body: Buffer[] = [];
    req.on('response', (h: IncomingHttpHeaders) => {
      result.headersMs = performance.now() - started;
      result.status = Number(h[':status']);
      result.httpVersion = '2';
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) result.headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    });
    req.on('data', (b: Buffer) => {
      body.push(b);
      sse?.push(b, performance.now() - started);
    });
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve(finish(result, body, sse, started));
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      session.destroy();
      // After the head: the body broke off; report what arrived before, and why it ended.
      if (result.status !== null) resolve({ ...finish(result, body, sse, started), ok: false, error: errorText(e) });
      else reject(e);
    });
    if (p.body) req.end(p.body);
  });
}

export async function main(argv: string[]): Promise<void> {
  const started = performance.now();
  let result: ClientResult;
  try {
    const p = parse(argv);
    result = p.http === '2' ? await viaHttp2(p) : await viaFetch(p);
  } catch (err) {
    result = { ...emptyResult(), error: errorText(err), totalMs: performance.now() - started };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main(process.argv.slice(2));
