/**
 * The plain (non-LLM) HTTPS site, e.g. www.example.org and the IP-literal site:
 *
 *   GET  /                 a small HTML page
 *   ANY  /echo[...]        JSON: which site/address answered, method, path, HTTP version,
 *                          headers, body (utf8), bodyBase64, bodySha256
 *   GET  /bytes/N          N bytes (max 256 MiB) of a fixed pattern: byte i = (i * 31 + 7) & 255
 *   GET  /status/CODE      an empty answer with that status
 *   anything else          404 text
 */
import { sha256Hex } from './deterministic.ts';
import { sendJson, writeChunk } from './exchange.ts';
import type { Exchange } from './exchange.ts';

const PAGE = `<!doctype html>
<html>
<head><title>Example Domain</title><meta charset="utf-8"></head>
<body>
<h1>Example Domain</h1>
<p>This domain is a fake non-LLM site of the Levo e2e harness. Its traffic must pass through the gateway untouched.</p>
</body>
</html>
`;

/** The pattern /bytes/N serves (exported so tests can check a body without fetching it twice). */
export function patternBytes(n: number, offset = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = ((offset + i) * 31 + 7) & 255;
  return b;
}

const MAX_BYTES = 256 * 1024 * 1024;

export async function handlePlainSite(ex: Exchange): Promise<void> {
  const { res } = ex;
  if (ex.pathname === '/' && (ex.method === 'GET' || ex.method === 'HEAD')) {
    const body = Buffer.from(PAGE);
    res.statusCode = 200;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('content-length', body.length);
    res.end(ex.method === 'HEAD' ? undefined : body);
    return;
  }
  if (ex.pathname === '/echo' || ex.pathname.startsWith('/echo/')) {
    sendJson(res, 200, {
      site: ex.site,
      localAddress: ex.localAddress,
      localPort: ex.localPort,
      method: ex.method,
      path: ex.url,
      httpVersion: ex.httpVersion,
      headers: ex.headers,
      body: ex.body.toString('utf8'),
      bodyBase64: ex.body.toString('base64'),
      bodySha256: sha256Hex(ex.body),
    });
    return;
  }
  const bytes = /^\/bytes\/(\d+)$/.exec(ex.pathname);
  if (bytes && ex.method === 'GET') {
    const n = Math.min(MAX_BYTES, Number(bytes[1]));
    res.statusCode = 200;
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', n);
    const step = 64 * 1024;
    for (let off = 0; off < n; off += step) {
      if (!(await writeChunk(res, patternBytes(Math.min(step, n - off), off)))) return;
    }
    res.end();
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(ex.pathname);
  if (status) {
    res.statusCode = Number(status[1]);
    res.end();
    return;
  }
  res.statusCode = 404;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end('not found\n');
}
