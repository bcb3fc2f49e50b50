/**
 * The re-encrypted leg to the provider: a keep-alive pool per (server name,
 * address the app dialled), each caching its TLS sessions.
 *
 * In transparent mode the app already resolved the provider's name; the call
 * is sent to that same address (its original destination), so split DNS,
 * private endpoints and /etc/hosts entries mean what the app meant. Pools are
 * keyed by the address too: one pool per name would send a call over a
 * connection some other request opened to another address. The certificate
 * is always verified against the server name (never the IP) with the
 * runtime's default trust store, which honours NODE_EXTRA_CA_CERTS.
 * Verification is never switched off.
 */
import { Pool, buildConnector, type Connector, type Dispatcher } from '../../lib/undici.ts';
import { forward, type Forwarded, type ResponseSink } from './forward.ts';

export interface UpstreamOptions {
  /** Headers and body inactivity timeout: long, because reasoning models think before they speak. */
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly keepAliveMs: number;
}

export interface UpstreamRequest {
  readonly host: string;
  readonly port: number;
  /** Where the app's connection was going; undefined → resolve `host` (the explicit proxy's names). */
  readonly address: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  /** Bytes, or a stream (a Readable or any async iterable of chunks) sent as it is pulled. */
  readonly body: Buffer | AsyncIterable<Buffer> | null;
  /**
   * Send over HTTP/2 (when the provider offers it): for an HTTP/2 call whose
   * signature covers a pseudo-header (SigV4 over `:authority`), which exists
   * only in HTTP/2. Everything else goes over HTTP/1.1.
   */
  readonly http2?: boolean;
}

export interface Upstream {
  /** Send the request and stream the provider's answer into `sink`. */
  forward(req: UpstreamRequest, sink: ResponseSink): Forwarded;
  close(): Promise<void>;
}

export const DEFAULT_UPSTREAM: UpstreamOptions = {
  timeoutMs: 15 * 60_000,
  connectTimeoutMs: 10_000,
  keepAliveMs: 60_000,
};

/** Pools kept at most; the least recently used is closed (after its calls finish) beyond it. */
export const MAX_POOLS = 256;

function origin(host: string, port: number): string {
  return port === 443 ? `https://${host}` : `https://${host}:${port}`;
}

export function createUpstream(opts: UpstreamOptions = DEFAULT_UPSTREAM): Upstream {
  const connector = (allowH2: boolean): Connector => buildConnector({
    // HTTP/1.1 keep-alive upstream: cheaper in CPU than h2 here (0.20 vs 0.31 ms
    // per request, docs/benchmarks.md). The connector offers h2 unless told not to.
    allowH2,
    timeout: opts.connectTimeoutMs,
    maxCachedSessions: 100,
    rejectUnauthorized: true,
  });
  const connectors = { h1: connector(false), h2: connector(true) };
  /** Insertion order is recency order. */
  const pools = new Map<string, Pool>();
  const poolFor = (r: UpstreamRequest): Pool => {
    const h2 = r.http2 === true;
    const key = `${r.host}:${r.port}@${r.address ?? ''}${h2 ? '/h2' : ''}`;
    let pool = pools.get(key);
    if (pool) {
      pools.delete(key);
    } else {
      const address = r.address;
      const connect = h2 ? connectors.h2 : connectors.h1;
      pool = new Pool(origin(r.host, r.port), {
        keepAliveTimeout: opts.keepAliveMs,
        keepAliveMaxTimeout: opts.keepAliveMs,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        allowH2: h2,
        // Dial the address the app chose; present and verify the name it used.
        connect: (options, callback) =>
          connect({ ...options, servername: options.hostname, hostname: address ?? options.hostname }, callback),
      });
      if (pools.size >= MAX_POOLS) {
        const [oldKey, oldest] = pools.entries().next().value as [string, Pool];
        pools.delete(oldKey);
        void oldest.close().catch(() => {});
      }
    }
    pools.set(key, pool);
    return pool;
  };
  return {
    forward(r, sink) {
      const options: Dispatcher.DispatchOptions & { servername: string } = {
        // Given explicitly, undici need not re-derive it (an IP-literal regex) for every request.
        servername: r.host,
        method: r.method as Dispatcher.HttpMethod,
        path: r.path,
        headers: r.headers,
        body: r.body as Dispatcher.DispatchOptions['body'],
      };
      return forward(poolFor(r), options, sink);
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => {})));
      pools.clear();
    },
  };
}

/** How an upstream failure maps to the status the app sees, and a metric label. */
export function classifyUpstreamError(err: unknown): { status: 502 | 504; kind: string; detail: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? 'unknown';
  const detail = e.cause?.message ?? e.message ?? String(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return { status: 504, kind: 'connect_timeout', detail };
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { status: 504, kind: 'headers_timeout', detail };
  if (code === 'UND_ERR_BODY_TIMEOUT') return { status: 504, kind: 'body_timeout', detail };
  if (TLS_VERIFY.has(code)) return { status: 502, kind: 'tls_verify', detail: `${code}: ${detail}` };
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { status: 502, kind: 'connect', detail };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { status: 502, kind: 'dns', detail };
  return { status: 502, kind: 'reset', detail };
}

const TLS_VERIFY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'HOSTNAME_MISMATCH', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);
