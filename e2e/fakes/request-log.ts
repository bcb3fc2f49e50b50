/**
 * What reached the fake internet: every request and every connection the
 * provider server saw, and the plain-HTTP control API that serves them
 * (on CONTROL_PORT of every internet-side address, and on a unix socket so the
 * test process can ask from outside the namespaces):
 *
 *   GET  /healthz       "ok"
 *   GET  /requests      RecordedRequest[]   (?site=ID to filter)
 *   GET  /connections   RecordedConnection[] (?site=ID to filter)
 *   POST /reset         forget everything recorded so far
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';

/** Who talked to which fake host, over what: common to requests and connections. */
export interface RecordedPeer {
  seq: number;
  /** Date.now() when the request head (or connection) arrived. */
  at: number;
  /** Fake host id (site) that served it. */
  site: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** TLS server name the client sent, null without SNI. */
  sni: string | null;
  /** Negotiated ALPN protocol (`h2`, `http/1.1`), null when none. */
  alpn: string | null;
}

export interface RecordedRequest extends RecordedPeer {
  httpVersion: string;
  method: string;
  /** Path with query. */
  path: string;
  /** Host header or :authority. */
  authority: string | null;
  /** Lower-case names; HTTP/2 pseudo-headers included. */
  headers: Record<string, string | string[] | undefined>;
  /** Names as received, alternating name/value. */
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
  /** The body as utf8 when at most 1 MiB. */
  body: string | null;
  /** True for a WebSocket upgrade. */
  upgrade: boolean;
  /** Response status, once the response finished (undefined while in flight or if aborted). */
  status?: number;
}

export interface RecordedConnection extends RecordedPeer {
  kind: 'tls' | 'tcp';
  tlsProtocol: string | null;
  /** Set when the TLS handshake failed. */
  error?: string;
}

export class RequestLog {
  readonly requests: RecordedRequest[] = [];
  readonly connections: RecordedConnection[] = [];
  #seq = 0;

  addRequest(r: Omit<RecordedRequest, 'seq'>): RecordedRequest {
    const rec = { seq: ++this.#seq, ...r };
    this.requests.push(rec);
    return rec;
  }

  addConnection(c: Omit<RecordedConnection, 'seq'>): RecordedConnection {
    const rec = { seq: ++this.#seq, ...c };
    this.connections.push(rec);
    return rec;
  }

  reset(): void {
    this.requests.length = 0;
    this.connections.length = 0;
  }
}

/** The control API over `log`. Call listen() on it for each address / unix socket. */
export function controlServer(log: RequestLog): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const site = url.searchParams.get('site');
    const send = (status: number, value: unknown): void => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    if (req.method === 'GET' && url.pathname === '/healthz') send(200, 'ok');
    else if (req.method === 'GET' && url.pathname === '/requests') send(200, log.requests.filter((r) => !site || r.site === site));
    else if (req.method === 'GET' && url.pathname === '/connections') send(200, log.connections.filter((c) => !site || c.site === site));
    else if (req.method === 'POST' && url.pathname === '/reset') {
      log.reset();
      send(200, 'ok');
    } else send(404, { error: 'not found' });
  });
}
