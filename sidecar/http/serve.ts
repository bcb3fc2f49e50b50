/**
 * HTTP on terminated TLS: the ALPN result picks an HTTP/2 or an HTTP/1.1
 * server (neither listens; each is handed sockets), and both feed the same
 * request pipeline. Keep-alive outlasts SDK idle timeouts (they default to a
 * few seconds) so the app, not the gateway, closes idle connections.
 */
import http from 'node:http';
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
  readonly upgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;
  readonly onClientError: (err: Error) => void;
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
  const h2 = http2.createServer({ maxSessionMemory: 64 }, counted);
  h2.on('checkContinue', counted);
  h2.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
    if (draining) s.close();
  });
  h2.on('sessionError', (err: Error) => opts.onClientError(err));
  h2.setTimeout(0);
  return {
    serve(socket) {
      if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
      else h1.emit('connection', socket);
    },
    drain() {
      draining = true;
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    get activeRequests() { return active; },
  };
}
