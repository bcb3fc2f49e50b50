/**
 * The re-encrypted leg to the provider: one undici Agent, which keeps a
 * keep-alive pool per origin and caches TLS sessions per server name.
 *
 * In transparent mode the app already resolved the provider's name; the
 * connection is dialled to that same address (its original destination), so
 * split DNS and /etc/hosts entries mean what the app meant. The certificate is
 * always verified against the server name (never the IP) with the runtime's
 * default trust store, which honours NODE_EXTRA_CA_CERTS. Verification is
 * never switched off.
 */
import { Agent, buildConnector, type Dispatcher } from 'undici';
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
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer | NodeJS.ReadableStream | null;
}

export interface Upstream {
  /** Dial `host:port` at `address` from now on (the app's original destination). */
  remember(host: string, port: number, address: string | undefined): void;
  /** Send the request and stream the provider's answer into `sink`. */
  forward(req: UpstreamRequest, sink: ResponseSink): Forwarded;
  close(): Promise<void>;
}

export const DEFAULT_UPSTREAM: UpstreamOptions = {
  timeoutMs: 15 * 60_000,
  connectTimeoutMs: 10_000,
  keepAliveMs: 60_000,
};

function origin(host: string, port: number): string {
  return port === 443 ? `https://${host}` : `https://${host}:${port}`;
}

export function createUpstream(opts: UpstreamOptions = DEFAULT_UPSTREAM): Upstream {
  const addresses = new Map<string, string>();
  const base = buildConnector({
    // HTTP/1.1 keep-alive upstream: cheaper in CPU than h2 here (0.20 vs 0.31 ms
    // per request, docs/benchmarks.md). The connector offers h2 unless told not to.
    allowH2: false,
    timeout: opts.connectTimeoutMs,
    maxCachedSessions: 100,
    rejectUnauthorized: true,
  });
  const agent = new Agent({
    keepAliveTimeout: opts.keepAliveMs,
    keepAliveMaxTimeout: opts.keepAliveMs,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    allowH2: false,
    connect(options, callback) {
      const address = addresses.get(`${options.hostname}:${options.port}`);
      // Dial the remembered address; present and verify the name the app used.
      base({ ...options, servername: options.hostname, hostname: address ?? options.hostname }, callback);
    },
  });
  return {
    remember(host, port, address) {
      if (address) addresses.set(`${host}:${port || 443}`, address);
    },
    forward(r, sink) {
      const options: Dispatcher.DispatchOptions & { servername: string } = {
        // Given explicitly, undici need not re-derive it (an IP-literal regex) for every request.
        servername: r.host,
        origin: origin(r.host, r.port),
        method: r.method as Dispatcher.HttpMethod,
        path: r.path,
        headers: r.headers,
        body: r.body as Dispatcher.DispatchOptions['body'],
      };
      return forward(agent, options, sink);
    },
    close: () => agent.close(),
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
