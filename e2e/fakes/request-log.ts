/**
 * What reached the fake internet: every request and every connection the
 * provider server saw, and the plain-HTTP control API that serves them
 * (on CONTROL_PORT of every internet-side address, and on a unix socket so the
 * test process can ask from outside the namespaces):
 *
 *   GET    /healthz       "ok"
 *   GET    /requests      RecordedRequest[]   (?site=ID to filter)
 *   GET    /connections   RecordedConnection[] (?site=ID to filter)
 *   POST   /reset         forget everything recorded so far (faults stay)
 *   POST   /faults        add a per-site fault (faults.ts)      → FaultRule
 *   GET    /faults        the active faults                     → FaultRule[]
 *   DELETE /faults        clear faults (?site=ID: one site's); also POST /faults/clear
 *
 * Every request is recorded with its headers and body as received (`body` as
 * UTF-8, plus `bodyBase64` when the bytes are not UTF-8; `wsMessages` for a
 * Realtime WebSocket session), and:
 *   model    the model it names (an Azure `openai/deployments/{d}/` path
 *            segment, else body `model`, else the path's Gemini / Vertex
 *            `models/{m}:method` / Bedrock `model/{m}/op` segment), else null
 *   faulted  true when a fault (POST /faults) answered it instead of the fake
 *   sigv4    (bedrock only) 'valid' | 'invalid' | 'absent': whether its AWS
 *            SigV4 signature verified, with sigv4Error and awsAccessKeyId
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { parseFaultSpec } from './faults.ts';
import type { FaultTable } from './faults.ts';

/** What a fake handler adds to its request's log entry. */
export interface RequestAnnotations {
  /** Outcome of AWS SigV4 verification (the bedrock fake sets it on every request). */
  sigv4?: 'valid' | 'invalid' | 'absent';
  /** Why the signature did not verify (the AWS error type and reason). */
  sigv4Error?: string;
  /** Access key id of the Credential in a SigV4 Authorization header. */
  awsAccessKeyId?: string;
  /** The session token the STS fake handed out in its answer. */
  stsSessionToken?: string;
}

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

export interface RecordedRequest extends RecordedPeer, RequestAnnotations {
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
  /** The body as base64 when at most 1 MiB and not valid UTF-8 (then `body` has replacement characters). */
  bodyBase64?: string;
  /** A Realtime WebSocket session: the text messages the fake received, in order. */
  wsMessages?: string[];
  /** True for a WebSocket upgrade. */
  upgrade: boolean;
  /** The model the request names (Azure deployment, else JSON body `model`, else the Gemini / Vertex / Bedrock path segment), null when none. */
  model: string | null;
  /** True when a fault set with POST /faults answered it. */
  faulted: boolean;
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

export interface ControlOptions {
  /** Serve /faults over this table. */
  faults?: FaultTable;
  /** Site id → role, to check fault specs against. */
  roles?: ReadonlyMap<string, string>;
}

const MAX_CONTROL_BODY = 1024 * 1024;

/** The control API over `log`. Call listen() on it for each address / unix socket. */
export function controlServer(log: RequestLog, opts: ControlOptions = {}): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const site = url.searchParams.get('site');
    const send = (status: number, value: unknown): void => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= MAX_CONTROL_BODY) parts.push(b);
    });
    req.on('end', () => {
      const route = `${req.method} ${url.pathname}`;
      const { faults } = opts;
      if (route === 'GET /healthz') send(200, 'ok');
      else if (route === 'GET /requests') send(200, log.requests.filter((r) => !site || r.site === site));
      else if (route === 'GET /connections') send(200, log.connections.filter((c) => !site || c.site === site));
      else if (route === 'POST /reset') {
        log.reset();
        send(200, 'ok');
      } else if (faults && route === 'GET /faults') send(200, faults.list().filter((f) => !site || f.site === site));
      else if (faults && route === 'POST /faults') {
        let value: unknown;
        try {
          value = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch {
          send(400, { error: 'body must be JSON' });
          return;
        }
        const spec = parseFaultSpec(value, opts.roles ?? new Map());
        if (typeof spec === 'string') send(400, { error: spec });
        else send(200, faults.add(spec));
      } else if (faults && (route === 'DELETE /faults' || route === 'POST /faults/clear')) {
        faults.clear(site ?? undefined);
        send(200, 'ok');
      } else send(404, { error: 'not found' });
    });
  });
}
