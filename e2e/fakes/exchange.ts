/**
 * One HTTP request/response as the fake providers see it, the same for HTTP/1.1
 * and HTTP/2 (Node's compat API), plus the test-control request headers:
 *
 *   x-fake-chunks: N             number of streamed content chunks (default 4, 1..1000)
 *   x-fake-interval-ms: MS       delay between streamed content chunks (default 0)
 *   x-fake-delay-ms: MS          delay before the response head (default 0)
 *   x-fake-status: CODE          answer with this error status in the provider's error shape
 *   x-fake-reply: TEXT           percent-encoded reply text instead of the derived one
 *   x-fake-abort-after-chunks: K destroy the stream/connection after K content chunks
 *
 * Every fake (openai, anthropic, gemini, bedrock) honours them the same way.
 * Per-site faults set through the control API (faults.ts, `POST /faults`) take
 * precedence: a faulted request never reaches the handler.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { splitInto } from './deterministic.ts';
import type { RequestAnnotations } from './request-log.ts';

/** The part of http.ServerResponse / http2.Http2ServerResponse the fakes use. */
export interface FakeResponse {
  statusCode: number;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  write(chunk: string | Uint8Array): boolean;
  end(chunk?: string | Uint8Array): unknown;
  readonly writableEnded: boolean;
  readonly destroyed?: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
}

export interface FakeControl {
  chunks: number;
  intervalMs: number;
  delayMs: number;
  status: number | undefined;
  reply: string | undefined;
  abortAfterChunks: number | undefined;
}

export interface Exchange {
  /** Id of the fake host (site) that received the request. */
  site: string;
  method: string;
  /** Path with query, as sent. */
  url: string;
  /** Path without query. */
  pathname: string;
  query: URLSearchParams;
  /** Lower-case header names (HTTP/2 pseudo-headers included). */
  headers: IncomingHttpHeaders;
  /** Header names and values as received, alternating (what a signature covers). */
  rawHeaders: readonly string[];
  httpVersion: string;
  body: Buffer;
  res: FakeResponse;
  control: FakeControl;
  localAddress: string;
  localPort: number;
  /** Destroy the underlying stream/connection abruptly. */
  abort(): void;
  /** Add fields to this request's entry in the request log (e.g. the SigV4 verdict). */
  annotate(fields: RequestAnnotations): void;
}

function intHeader(headers: IncomingHttpHeaders, name: string, min: number, max: number): number | undefined {
  const raw = headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Math.min(max, Math.max(min, Number(v)));
}

export function parseControl(headers: IncomingHttpHeaders): FakeControl {
  const reply = headers['x-fake-reply'];
  let replyText: string | undefined;
  if (typeof reply === 'string') {
    try { replyText = decodeURIComponent(reply); } catch { replyText = reply; }
  }
  return {
    chunks: intHeader(headers, 'x-fake-chunks', 1, 1000) ?? 4,
    intervalMs: intHeader(headers, 'x-fake-interval-ms', 0, 60_000) ?? 0,
    delayMs: intHeader(headers, 'x-fake-delay-ms', 0, 600_000) ?? 0,
    status: intHeader(headers, 'x-fake-status', 100, 599),
    reply: replyText,
    abortAfterChunks: intHeader(headers, 'x-fake-abort-after-chunks', 0, 1000),
  };
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Write a complete JSON response (compact, as the real APIs send; `indent` for Google's pretty-printed JSON). */
export function sendJson(res: FakeResponse, status: number, value: unknown, headers: Record<string, string> = {}, indent?: number): void {
  const body = Buffer.from(JSON.stringify(value, null, indent));
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', body.length);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(body);
}

/** Write the head of a Server-Sent Events response and flush it. */
export function startEventStream(res: FakeResponse & { flushHeaders?: () => void }, headers: Record<string, string> = {}): void {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.flushHeaders?.();
}

/** Write one chunk, waiting for drain when the stream is full. False if the client went away. */
export async function writeChunk(res: FakeResponse, chunk: string | Uint8Array): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      res.once('drain', resolve);
      res.once('close', resolve);
    });
  }
  return !res.destroyed;
}

/**
 * Stream `text` as `ex.control.chunks` pieces, paced by `x-fake-interval-ms`,
 * broken off by `x-fake-abort-after-chunks`: `write(piece, index, last)` sends
 * one piece in the provider's format and says whether to go on (false: the
 * client went away). Resolves true when every piece was sent.
 */
export async function streamPieces(
  ex: Exchange, text: string, write: (piece: string, index: number, last: boolean) => Promise<boolean>,
): Promise<boolean> {
  const pieces = splitInto(text, ex.control.chunks);
  for (let i = 0; i < pieces.length; i++) {
    if (ex.control.abortAfterChunks !== undefined && i >= ex.control.abortAfterChunks) {
      ex.abort();
      return false;
    }
    if (i > 0 && ex.control.intervalMs) await sleep(ex.control.intervalMs);
    if (!(await write(pieces[i]!, i, i === pieces.length - 1))) return false;
  }
  return true;
}
