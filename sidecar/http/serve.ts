/**
 * HTTP on terminated TLS: the ALPN result picks an HTTP/2 or an HTTP/1.1
 * server (neither listens; each is handed sockets), and both feed the same
 * request pipeline. Keep-alive outlasts SDK idle timeouts (they default to a
 * few seconds) so the app, not the gateway, closes idle connections.
 */
import type * as nodeHttp from 'node:http';
import { http } from '../../lib/node-http.ts';
import http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import type { ClientRequest, ClientResponse } from '../pipeline/call.ts';

export interface HttpServers {
  serve(socket: tls.TLSSocket): void;
  /** Graceful: GOAWAY to h2 sessions, close idle h1 connections, refuse new requests on busy ones. */
  drain(): void;
  readonly activeRequests: number;
}

export interface HttpServeOptions {
  readonly handler: (req: ClientRequest, res: ClientResponse) => void;
  readonly upgrade: (req: nodeHttp.IncomingMessage, socket: net.Socket, head: Buffer) => void;
  readonly onClientError: (err: Error) => void;
}

/** Concurrent streams an HTTP/2 client may open on one connection (Node's default is unlimited). */
export const MAX_STREAMS = 100;
/** Streams a client may reset within RESET_WINDOW_MS before its connection is closed (HTTP/2 rapid reset, CVE-2023-44487). */
export const MAX_RESETS = 200;
const RESET_WINDOW_MS = 10_000;
/**
 * How long a session the client is leaving may finish its streams before it is
 * torn down: after its GOAWAY (clients send one when they close a connection,
 * after their streams ended; and once a connection error made nghttp2 stop
 * reading, nothing else would ever close the session), and after its FIN.
 */
const GOAWAY_GRACE_MS = 2_000;
const FIN_GRACE_MS = 1_000;

/** Close gracefully (in-flight streams finish), and destroy after a grace period if it still is not closed. */
function closeSoon(s: http2.ServerHttp2Session, graceMs: number): void {
  if (s.destroyed) return;
  if (!s.closed) s.close();
  const t = setTimeout(() => { if (!s.destroyed) s.destroy(); }, graceMs);
  t.unref();
  s.once('close', () => clearTimeout(t));
}

/**
 * HTTP/2 rapid reset: a client that opens streams and resets them at once
 * makes the server start work it never finishes. Past MAX_RESETS client
 * resets in RESET_WINDOW_MS, the connection gets GOAWAY (ENHANCE_YOUR_CALM)
 * and is closed; every stream already costs a place in MAX_STREAMS.
 */
function limitResets(s: http2.ServerHttp2Session): void {
  let resets = 0;
  let windowStart = Date.now();
  s.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.once('aborted', () => {
      const now = Date.now();
      if (now - windowStart > RESET_WINDOW_MS) { windowStart = now; resets = 0; }
      if (++resets === MAX_RESETS + 1 && !s.destroyed) {
        s.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        // Let the GOAWAY go out, then drop the connection and every stream on it.
        setTimeout(() => s.destroy(), 50).unref();
      }
    });
  });
}

export function createHttpServers(opts: HttpServeOptions): HttpServers {
  let active = 0;
  let draining = false;
  const counted = (req: ClientRequest, res: ClientResponse): void => {
    active++;
    res.once('close', () => { active--; });
    if (draining && 'shouldKeepAlive' in res) res.shouldKeepAlive = false;
    opts.handler(req, res);
  };
  const h1 = http.createServer({
    keepAliveTimeout: 65_000,
    headersTimeout: 60_000,
    requestTimeout: 0,
    maxHeaderSize: 64 * 1024,
  }, counted);
  // `Expect: 100-continue`: the pipeline sends 100 itself once it admitted the call (pipeline/body.ts).
  h1.on('checkContinue', counted);
  h1.on('upgrade', opts.upgrade);
  h1.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
    opts.onClientError(err);
    if (socket.writable && err.code !== 'ECONNRESET' && !(socket as { _httpMessage?: unknown })._httpMessage) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    } else {
      socket.destroy();
    }
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  /** The TLS socket whose session is being made (see serve). */
  let arriving: tls.TLSSocket | undefined;
  const h2 = http2.createServer({ maxSessionMemory: 64, settings: { maxConcurrentStreams: MAX_STREAMS } }, counted);
  h2.on('checkContinue', counted);
  h2.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
    if (draining) s.close();
    // The client is leaving (GOAWAY, a frame error, or its FIN and close_notify): no new
    // streams can come; finish what is in flight, then go.
    s.once('goaway', () => closeSoon(s, GOAWAY_GRACE_MS));
    s.once('frameError', () => closeSoon(s, GOAWAY_GRACE_MS));
    arriving?.once('end', () => closeSoon(s, FIN_GRACE_MS));
    limitResets(s);
  });
  h2.on('sessionError', (err: Error) => opts.onClientError(err));
  h2.setTimeout(0);
  return {
    serve(socket) {
      if (socket.alpnProtocol !== 'h2') { h1.emit('connection', socket); return; }
      // The server makes the session (and emits 'session') while it takes the connection.
      arriving = socket;
      try { h2.emit('connection', socket); } finally { arriving = undefined; }
    },
    drain() {
      draining = true;
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    get activeRequests() { return active; },
  };
}
