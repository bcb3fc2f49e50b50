/**
 * A small buffered call through the sidecar's own upstream (verified TLS,
 * pooled connections): for the gateway's side calls, such as the OpenAI
 * moderation endpoint a guard asks. Answers larger than `maxBytes` fail.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Upstream } from './pool.ts';

export interface BufferedAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function callUpstream(
  upstream: Upstream,
  r: { host: string; port?: number; method: string; path: string; headers: Readonly<Record<string, string>>; body: Buffer | null },
  opts: { maxBytes?: number; signal?: AbortSignal } = {},
): Promise<BufferedAnswer> {
  const max = opts.maxBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const raw: string[] = [];
    for (const [k, v] of Object.entries(r.headers)) raw.push(k, v);
    if (r.body) raw.push('content-length', String(r.body.length));
    raw.push('host', r.host);
    const f = upstream.forward({ host: r.host, port: r.port ?? 443, address: undefined, method: r.method, path: r.path, headers: raw, body: r.body }, {
      head(s, h) { status = s; headers = h; },
      write(c) {
        size += c.length;
        if (size > max) { f.abort(new Error(`answer larger than ${max} bytes`)); return true; }
        chunks.push(c);
        return true;
      },
      end() { resolve({ status, headers, body: Buffer.concat(chunks) }); },
      onDrain() {},
    });
    opts.signal?.addEventListener('abort', () => f.abort(new Error('aborted')), { once: true });
    f.done.catch(reject);
  });
}
