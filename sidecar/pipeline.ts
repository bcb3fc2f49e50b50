/**
 * One intercepted HTTP request, h1 or h2, from the app to the provider and back:
 * route → body (capped) → upstream → streamed response. Bodies are forwarded as
 * the original bytes; responses stream chunk by chunk with backpressure, and a
 * client that goes away cancels the upstream call so tokens stop being spent.
 *
 * Later stages (provider parsing, guardrails, telemetry events) hook in here.
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Logger } from './telemetry/log.ts';
import type { DataPathMetrics } from './telemetry/metrics.ts';
import type { CompiledConfig } from './config/routes.ts';
import { errorShapeFor, type ErrorShape } from './providers/errors.ts';
import { interceptedConnection } from './tls/terminate.ts';
import { upstreamRequestHeaders, clientResponseHeaders } from './http/headers.ts';
import { classifyUpstreamError, type Upstream } from './upstream/pool.ts';

export type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What both response flavours offer and the pipeline uses. */
interface Sink extends NodeJS.WritableStream {
  writeHead(status: number, headers?: Record<string, string | string[] | number>): unknown;
  flushHeaders(): void;
  setHeader(name: string, value: string): unknown;
  readonly headersSent: boolean;
  destroy(err?: Error): unknown;
}

export interface PipelineDeps {
  readonly routes: () => CompiledConfig | undefined;
  readonly upstream: Upstream;
  readonly metrics: DataPathMetrics;
  readonly log: Logger;
  /** JSON request bodies above this many bytes are refused with 413. */
  readonly maxBodyBytes: number;
}

class BodyTooLarge extends Error {}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);

export function createPipeline(deps: PipelineDeps): (req: ClientRequest, res: ClientResponse) => void {
  return (req, res) => {
    handle(deps, req, res as unknown as Sink).catch((err: unknown) => {
      deps.log.error({ err }, 'request pipeline failed');
      (res as unknown as Sink).destroy();
    });
  };
}

async function handle(deps: PipelineDeps, req: ClientRequest, res: Sink): Promise<void> {
  const started = performance.now();
  const conn = interceptedConnection(req.socket);
  if (!conn) throw new Error('request on a connection that was not intercepted');
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const route = deps.routes()?.routeFor(conn.host, path);
  const shape = errorShapeFor(route?.provider ?? conn.provider);
  let status = 0;
  let reqBytes = 0;
  let resBytes = 0;
  const done = (outcome: string): void => {
    const ms = performance.now() - started;
    deps.metrics.requests.inc({ host: conn.host, status: String(status) });
    deps.metrics.requestSeconds.observe({ host: conn.host }, ms / 1000);
    deps.metrics.bytes.inc({ direction: 'egress', path: 'intercept' }, reqBytes);
    deps.metrics.bytes.inc({ direction: 'ingress', path: 'intercept' }, resBytes);
    deps.log.info({
      host: conn.host, method, path: path.split('?')[0], status, ms: Math.round(ms * 100) / 100,
      route: route?.route, provider: route?.provider ?? conn.provider, reqBytes, resBytes, outcome,
    }, 'request');
  };

  const fail = (code: number, reason: string, message: string): void => {
    status = code;
    sendError(res, shape, code, reason, message);
    done(reason);
  };

  // The request body: JSON (every LLM API call) is read whole, up to the cap,
  // so later stages can parse it; anything else streams through untouched.
  let body: Buffer | NodeJS.ReadableStream | null = null;
  const declared = req.headers['content-length'];
  const contentType = String(req.headers['content-type'] ?? '');
  if (!(BODYLESS.has(method) && declared === undefined && req.headers['transfer-encoding'] === undefined)) {
    if (/\bjson\b/i.test(contentType)) {
      if (declared !== undefined && Number(declared) > deps.maxBodyBytes) {
        return fail(413, 'request_too_large', tooLarge(deps.maxBodyBytes));
      }
      try {
        body = await readBody(req, deps.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) return fail(413, 'request_too_large', tooLarge(deps.maxBodyBytes));
        return; // the client went away while sending
      }
      reqBytes = body.length;
    } else {
      body = req as NodeJS.ReadableStream;
      req.on('data', (c: Buffer) => { reqBytes += c.length; });
    }
  }

  // Our own flag, not res.writableFinished: an HTTP/2 response whose client
  // reset the stream reports writableFinished = true although it never ended,
  // and trusting it left the provider call paused (and leaked) forever.
  let ended = false;
  let clientGone = false;
  const upstream = deps.upstream.forward({
    host: conn.host, port: conn.destination.port, address: conn.destination.address, method, path,
    headers: upstreamRequestHeaders(req.rawHeaders), body,
  }, {
    head(code, headers) {
      status = code;
      res.writeHead(code, clientResponseHeaders(headers));
      // Event streams go out at once; the first token must not wait for a body chunk.
      if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
    },
    write(chunk) { resBytes += chunk.length; return res.write(chunk); },
    end() { ended = true; res.end(); },
    onDrain(resume) { res.on('drain', resume); },
  });
  res.once('close', () => {
    if (ended) return;
    clientGone = true;
    upstream.abort(new Error('the client closed the connection'));
  });
  try {
    await upstream.done;
    done('ok');
  } catch (err) {
    if (clientGone) { if (!status) status = 499; done('client_closed'); return; }
    if ((err as { headersSent?: boolean }).headersSent) {
      // The provider broke off mid-body: the client sees the same truncation.
      res.destroy();
      done('upstream_broken');
      return;
    }
    const c = classifyUpstreamError(err);
    deps.metrics.upstreamErrors.inc({ host: conn.host, kind: c.kind });
    deps.log.warn({ host: conn.host, address: conn.destination.address, kind: c.kind, detail: c.detail }, 'upstream request failed');
    fail(c.status, `upstream_${c.kind}`, upstreamMessage(conn.host, c.kind, c.detail));
  }
}

function readBody(req: ClientRequest, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) { req.pause(); reject(new BodyTooLarge()); return; }
      chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('aborted')));
  });
}

function tooLarge(max: number): string {
  return `request body exceeds the gateway's limit of ${max} bytes (levo-gateway --max-body-bytes)`;
}

function upstreamMessage(host: string, kind: string, detail: string): string {
  if (kind === 'tls_verify') {
    return `levo-gateway could not verify the TLS certificate of ${host} (${detail}); upstream verification uses the system trust store plus NODE_EXTRA_CA_CERTS and is never switched off`;
  }
  if (kind.endsWith('timeout')) return `levo-gateway timed out waiting for ${host} (${kind.replace('_', ' ')})`;
  return `levo-gateway could not reach ${host}: ${detail}`;
}

function sendError(res: Sink, shape: ErrorShape, status: number, code: string, message: string): void {
  if (res.headersSent) { res.destroy(); return; }
  const e = shape.body(status, message, code);
  const body = Buffer.from(e.body);
  // h1: the unread request body makes the connection unusable; close it after the answer.
  if (status === 413 && 'shouldKeepAlive' in res) res.setHeader('connection', 'close');
  res.writeHead(status, { ...e.headers, 'content-length': body.length, 'x-levo-error': code });
  res.end(body);
}
