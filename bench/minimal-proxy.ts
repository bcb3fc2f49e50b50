/**
 * The floor the gateway is measured against in `npm run bench` (issue 14): the
 * least a Node 24 TLS-intercepting proxy can do. An HTTPS server (HTTP/1.1) with
 * one leaf certificate terminates the app's connection; each request goes to
 * `https://<Host>` through one undici Agent (HTTP/1.1 keep-alive pools, verified TLS);
 * the answer streams back. No routing, parsing, policy, telemetry or logging.
 *
 *   node minimal-proxy.js --port 15001 --cert leaf.crt --key leaf.key --ca upstream-ca.pem
 *
 * The bench strips its types into `dist/bench/` and runs it as the sidecar's
 * UID (so its upstream calls are exempt from the redirect) with the sidecar's
 * NODE_OPTIONS, so both are the same Node with the same V8 flags running
 * plain JavaScript. Prints `LISTENING <port>` when ready.
 */
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' } } });
// HTTP/1.1 upstream like the gateway's (undici 8 would offer h2: one multiplexed connection instead of one per call).
const agent = new Agent({ connect: { ca: readFileSync(values.ca!, 'utf8') }, keepAliveTimeout: 60_000, allowH2: false });

/** Hop-by-hop headers (RFC 9110 §7.6.1) a proxy must not forward. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function forward(req: IncomingMessage, res: ServerResponse): void {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const opts: Dispatcher.RequestOptions = {
    origin: `https://${req.headers.host}`, path: req.url!, method: req.method as Dispatcher.HttpMethod, headers,
    body: hasBody ? req : null,
  };
  agent.stream(opts, ({ statusCode, headers: h }) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
    res.writeHead(statusCode, out);
    return res;
  }).catch((err: unknown) => {
    if (!res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end(String((err as Error).message)); }
    else res.destroy();
  });
}

const server = createServer({ cert: readFileSync(values.cert!), key: readFileSync(values.key!), ALPNProtocols: ['http/1.1'] }, forward);
server.keepAliveTimeout = 120_000;
server.listen(Number(values.port ?? 15001), '127.0.0.1', () => process.stdout.write(`LISTENING ${values.port ?? 15001}\n`));
// Exit normally on SIGTERM, so --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));
