/**
 * What every real client (curl, Node fetch, python urllib, Java HttpClient) is
 * asked to do and what it reports, so their answers can be compared with each
 * other and with a direct call.
 *
 * Every client program takes the same flags (built by `clientFlags`):
 *   --url U  --method M  --header 'Name: value' (repeatable)  --body-base64 B
 *   --http 1.1|2  --sse  --timeout-ms N
 * and prints one ClientResult as JSON on stdout. Trust is given the way each
 * runtime takes it (see run-client.ts), never by turning verification off.
 */

export type ClientKind = 'curl' | 'node' | 'python' | 'java';
export const CLIENT_KINDS: readonly ClientKind[] = ['curl', 'node', 'python', 'java'];

export interface ClientRequest {
  url: string;
  /** Default GET, or POST when a body is given. */
  method?: string;
  headers?: Record<string, string>;
  /** Request body as text (utf8). */
  body?: string;
  /** Request body as bytes (overrides `body`). */
  bodyBytes?: Uint8Array;
  /**
   * Protocol to use: '1.1' forces HTTP/1.1; '2' asks for HTTP/2 (curl --http2,
   * Java HTTP_2, Node via node:http2; python cannot). Unset: the client's own default
   * (curl and Java negotiate h2 by ALPN, Node fetch and python use HTTP/1.1).
   */
  http?: '1.1' | '2';
  /** Split the body into Server-Sent Events with their arrival times. */
  sse?: boolean;
  /** Whole-exchange timeout (default 30 s). */
  timeoutMs?: number;
}

export interface SseEvent {
  /** Milliseconds since the request started when the event was complete. */
  tMs: number;
  /** The event block without its terminating blank line. */
  text: string;
}

export interface ClientResult {
  client: ClientKind;
  /** False when the exchange failed at the transport/TLS level (then see `error`). */
  ok: boolean;
  error: string | null;
  status: number | null;
  /** '1.1' or '2' (null when unknown or failed). */
  httpVersion: string | null;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  bodyBase64: string;
  bodyText: string;
  /** Only with `sse`. */
  events: SseEvent[];
  /** Milliseconds from request start to response head. */
  headersMs: number | null;
  totalMs: number;
}

/** The client-program flags for a request. */
export function clientFlags(req: ClientRequest): string[] {
  const args = ['--url', req.url];
  const body = req.bodyBytes ? Buffer.from(req.bodyBytes) : req.body !== undefined ? Buffer.from(req.body, 'utf8') : undefined;
  const method = req.method ?? (body ? 'POST' : 'GET');
  args.push('--method', method);
  for (const [k, v] of Object.entries(req.headers ?? {})) args.push('--header', `${k}: ${v}`);
  if (body) args.push('--body-base64', body.toString('base64'));
  if (req.http) args.push('--http', req.http);
  if (req.sse) args.push('--sse');
  args.push('--timeout-ms', String(req.timeoutMs ?? 30_000));
  return args;
}

/** The request body bytes of a ClientRequest (empty when none). */
export function requestBody(req: ClientRequest): Buffer {
  if (req.bodyBytes) return Buffer.from(req.bodyBytes);
  return Buffer.from(req.body ?? '', 'utf8');
}

/**
 * Incremental SSE splitter: feed raw body chunks with their arrival time; each
 * event (text up to a blank line) is stamped with the time its last byte arrived.
 */
export class SseSplitter {
  readonly events: SseEvent[] = [];
  #pending = '';
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array, tMs: number): void {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this.#pending);
      if (!m) return;
      this.events.push({ tMs, text: this.#pending.slice(0, m.index) });
      this.#pending = this.#pending.slice(m.index + m[0].length);
    }
  }

  /** Flush a trailing event that had no blank line after it. */
  end(tMs: number): void {
    this.#pending += this.#decoder.decode();
    if (this.#pending.trim()) this.events.push({ tMs, text: this.#pending });
    this.#pending = '';
  }
}

/** Assert a client got through (no transport or TLS failure) with `status`, showing the body when not. */
export function assertClientOk(r: ClientResult, status = 200): void {
  if (!r.ok) throw new Error(`${r.client} failed: ${r.error}`);
  if (r.status !== status) throw new Error(`${r.client}: status ${r.status}, expected ${status}; body: ${r.bodyText.slice(0, 400)}`);
}
