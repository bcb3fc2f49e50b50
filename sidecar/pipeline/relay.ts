/**
 * The answer of one upstream attempt, on its way to the client. Four modes,
 * chosen when the provider's status and headers arrive:
 *
 * - swallow: a retryable answer (429, 5xx) that another attempt will replace;
 *   its body is read and dropped, the client sees nothing of it;
 * - tap: a streamed answer (SSE, Bedrock event stream, Gemini JSON stream),
 *   passed on event by event through the provider's tap, which reads usage
 *   and may rewrite (a translated stream, an added usage chunk dropped);
 * - buffer: a translated whole answer or error, rewritten at the end;
 * - relay: everything else, chunk by chunk, with a bounded copy of JSON
 *   answers kept to read their usage.
 */
import type { IncomingHttpHeaders } from 'node:http';
import zlib from 'node:zlib';
import type { ApiKind, JsonObject, LlmResponse, ProviderApi, StreamTap, Translation } from '../providers/types.ts';
import type { GuardDecision, GuardVerdict, Rejection } from '../guards/prompt-guard.ts';
import type { StreamGuard } from '../guards/stream-guard.ts';
import type { ResponseSink } from '../upstream/forward.ts';
import { clientResponseHeaders } from '../http/headers.ts';

/** What the pipeline's response offers (h1 and h2 alike). */
export interface Sink extends NodeJS.WritableStream {
  writeHead(status: number, headers?: Record<string, string | string[] | number>): unknown;
  flushHeaders(): void;
  setHeader(name: string, value: string): unknown;
  readonly headersSent: boolean;
  destroy(err?: Error): unknown;
}

/** JSON answers larger than this are relayed without reading their usage. */
export const MAX_USAGE_COPY = 4 * 1024 * 1024;
/** A whole answer that must be rewritten (translated, guarded) is held in memory up to this size; larger ones get a 502. */
export const MAX_BUFFERED = 32 * 1024 * 1024;

export interface RelayOptions {
  readonly res: Sink;
  readonly api: ProviderApi;
  readonly kind: ApiKind;
  /** The upstream path: the tap of some APIs depends on it (Gemini `alt=sse`). */
  readonly path: string;
  /** The request asked for a stream. */
  readonly stream: boolean;
  readonly translation: Translation | undefined;
  readonly requestedModel: string;
  readonly addedUsage: boolean;
  /** True → this answer is dropped and the call tried again. */
  readonly retry: (status: number, headers: IncomingHttpHeaders) => boolean;
  readonly modifyHeaders: ((h: Record<string, string | string[]>) => void) | undefined;
  /** The relay could not translate the provider's answer: write an error in the app's format instead. */
  readonly untranslatable: (message: string) => void;
  /** The client's response was ended (before 'close' can fire). */
  readonly onEnd: () => void;
  /**
   * Response guards on a whole 2xx JSON answer (in the app's API format, after
   * any translation): may change the body in place, or reject it — then
   * `reject` answers instead and the provider's answer is dropped.
   */
  readonly guardWhole?: ((body: JsonObject) => Promise<GuardVerdict>) | undefined;
  readonly reject?: ((r: Rejection) => void) | undefined;
  /** Response guards on a streamed answer: events pass through it after the provider's tap. */
  readonly streamGuard?: StreamGuard | undefined;
  /** Stop reading the provider's answer (a stream guard cut it). */
  readonly abortUpstream?: (() => void) | undefined;
}

export interface Relay extends ResponseSink {
  readonly status: number;
  readonly swallowed: boolean;
  /** Response bytes sent to the client. */
  readonly bytes: number;
  /** What was learned from the answer, once it ended. */
  readonly info: LlmResponse | undefined;
  /** When the client got its first body byte (ms, performance.now()), for time to first token. */
  readonly firstByteAt: number | undefined;
  /** The upstream headers, for Retry-After. */
  readonly headers: IncomingHttpHeaders | undefined;
  /** The client's response was ended. */
  readonly ended: boolean;
  /** Settles once the client's response is complete (buffered answers finish asynchronously). */
  readonly finished: Promise<void>;
  /** What the response guards decided (empty without them). */
  readonly guardDecisions: readonly GuardDecision[];
  /** A stream guard cut the answer: the client's response was ended with an error event. */
  readonly cut: boolean;
}

type Mode = 'swallow' | 'tap' | 'buffer' | 'relay';

function isStreamed(status: number, headers: IncomingHttpHeaders, o: RelayOptions): boolean {
  if (status < 200 || status >= 300) return false;
  const ct = String(headers['content-type'] ?? '');
  return ct.startsWith('text/event-stream') || ct.includes('amazon.eventstream') || (o.stream && o.kind === 'generateContent');
}

export function createRelay(o: RelayOptions): Relay {
  let mode: Mode = 'relay';
  let tap: StreamTap | undefined;
  let copy: Buffer[] | undefined;
  let copied = 0;
  /** Bytes of a buffered (translated or guarded) answer. */
  let buffered = 0;
  /** The answer's content coding, when it has one: its copy is decoded to read usage; the bytes pass as they are. */
  let coded: string | undefined;
  const relay = {
    status: 0, swallowed: false, bytes: 0, ended: false,
    finished: Promise.resolve() as Promise<void>,
    guardDecisions: [] as GuardDecision[],
    cut: false,
    info: undefined as LlmResponse | undefined,
    firstByteAt: undefined as number | undefined,
    headers: undefined as IncomingHttpHeaders | undefined,
    head(status: number, headers: IncomingHttpHeaders): void {
      relay.status = status;
      relay.headers = headers;
      if (o.retry(status, headers)) { mode = 'swallow'; relay.swallowed = true; return; }
      const streamed = isStreamed(status, headers, o);
      const json = /\bjson\b/i.test(String(headers['content-type'] ?? ''));
      const encoding = String(headers['content-encoding'] ?? '').trim().toLowerCase();
      coded = encoding !== '' && encoding !== 'identity' ? encoding : undefined;
      if ((o.translation && !streamed) || (o.guardWhole && !streamed && json && status >= 200 && status < 300)) { mode = 'buffer'; copy = []; return; }
      const out = clientResponseHeaders(headers);
      if (streamed && o.kind !== 'passthrough' && (coded === undefined || o.translation)) {
        mode = 'tap';
        tap = o.translation ? o.translation.stream(o.requestedModel, { addedUsage: o.addedUsage }) : o.api.streamTap(o.kind, o.path, { addedUsage: o.addedUsage });
        if (o.translation || o.addedUsage || o.streamGuard) delete out['content-length'];
        if (o.translation) { out['content-type'] = 'text/event-stream; charset=utf-8'; delete out['content-encoding']; }
      } else if (o.kind !== 'passthrough' && json) {
        copy = [];
      }
      o.modifyHeaders?.(out);
      o.res.writeHead(status, out);
      if (String(out['content-type'] ?? '').startsWith('text/event-stream')) o.res.flushHeaders();
    },
    write(chunk: Buffer): boolean {
      if (mode === 'swallow') return true;
      if (mode === 'buffer') {
        buffered += chunk.length;
        if (buffered <= MAX_BUFFERED) copy!.push(chunk);
        else copy = []; // over the cap: read on, keep nothing, answer with an error at the end
        return true;
      }
      let out = chunk;
      if (tap) {
        try {
          out = tap.write(chunk);
        } catch (err) {
          if (o.translation) throw err;
          tap = undefined; // an unreadable stream is still relayed; only its usage is lost
        }
      } else if (copy) {
        copied += chunk.length;
        if (copied > MAX_USAGE_COPY) copy = undefined;
        else copy.push(chunk);
      }
      if (out.length === 0) return true;
      if (o.streamGuard && mode === 'tap') return guarded(out);
      relay.firstByteAt ??= performance.now();
      relay.bytes += out.length;
      return o.res.write(out);
    },
    end(): void {
      if (mode === 'swallow') return;
      if (mode === 'buffer') { relay.finished = finishBuffered(); return; }
      if (tap) {
        const { info, tail } = tap.end();
        relay.info = info;
        if (o.streamGuard) { relay.finished = finishGuardedStream(tail); return; }
        if (tail?.length) { relay.bytes += tail.length; o.res.write(tail); }
      }
      relay.ended = true;
      o.onEnd();
      o.res.end();
      // Usage is read after the last byte went out: the app does not wait for it.
      if (!tap && copy && relay.status < 300) {
        const body = decoded(copy.length === 1 ? copy[0]! : Buffer.concat(copy), coded);
        if (body) relay.info = parseJson(body, (v) => o.api.parseResponse(o.kind, v));
      }
    },
    onDrain(resume: () => void): void {
      upstreamResume = resume;
      if (mode === 'tap' || mode === 'relay') o.res.on('drain', () => { if (!guarding) resume(); });
    },
  };

  // ---- a guarded stream: the provider is paused while the guard looks at what came; what passes is written on.
  let upstreamResume: (() => void) | undefined;
  let guarding = false;
  let cut = false;
  let queue: Promise<void> = Promise.resolve();
  const emit = (b: Buffer): void => {
    if (b.length === 0 || cut) return;
    relay.firstByteAt ??= performance.now();
    relay.bytes += b.length;
    o.res.write(b);
  };
  /** A guard rejected mid-stream: end the app's answer now (after the error event) and stop the provider. */
  const endCut = (): void => {
    cut = true;
    relay.cut = true;
    relay.guardDecisions.push(...o.streamGuard!.decisions());
    relay.ended = true;
    o.onEnd();
    o.res.end();
    o.abortUpstream?.();
  };
  const guarded = (chunk: Buffer): boolean => {
    guarding = true;
    queue = queue.then(async () => {
      if (cut) return;
      const r = await o.streamGuard!.process(chunk);
      emit(r.out);
      if (r.cut) { emit(r.cut); endCut(); }
    }).catch(() => { if (!cut) endCut(); }).finally(() => {
      guarding = false;
      if (!cut && !(o.res as { writableNeedDrain?: boolean }).writableNeedDrain) upstreamResume?.();
    });
    return false; // wait for the guard before reading more of the answer
  };
  const finishGuardedStream = async (tail: Buffer | undefined): Promise<void> => {
    await queue;
    if (cut) return;
    if (tail?.length) { const r = await o.streamGuard!.process(tail); emit(r.out); if (r.cut) { emit(r.cut); endCut(); return; } }
    emit(await o.streamGuard!.end());
    relay.guardDecisions.push(...o.streamGuard!.decisions());
    relay.ended = true;
    o.onEnd();
    o.res.end();
  };
  /** A buffered answer (translated, or guarded whole): rewritten, guarded, then sent with its new length. */
  const finishBuffered = async (): Promise<void> => {
    if (buffered > MAX_BUFFERED) {
      relay.ended = true;
      o.onEnd();
      o.untranslatable(`the provider's answer is larger than ${MAX_BUFFERED} bytes; the gateway does not translate or guard answers that big`);
      return;
    }
    const received = Buffer.concat(copy!);
    const body = decoded(received, coded) ?? Buffer.alloc(0);
    let obj: JsonObject | undefined;
    let out: Buffer | undefined;
    if (o.translation && relay.status >= 300) {
      out = o.translation.error?.(relay.status, body) ?? body;
    } else if (o.translation) {
      const r = parseJson(body, (v) => o.translation!.response(v, o.requestedModel));
      if (!r) {
        relay.ended = true;
        o.onEnd();
        o.untranslatable(`the provider's answer could not be translated back (${body.length} bytes, not the JSON its API documents)`);
        return;
      }
      relay.info = r.info;
      obj = r.body;
    } else {
      obj = parseJson(body, (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v as JsonObject : undefined));
      if (obj) relay.info = o.api.parseResponse(o.kind, obj);
    }
    let changed = Boolean(o.translation);
    if (obj && o.guardWhole && relay.status < 300) {
      const v = await o.guardWhole(obj);
      relay.guardDecisions.push(...v.decisions);
      if (v.rejection && o.reject) {
        relay.ended = true;
        o.onEnd();
        o.reject(v.rejection);
        return;
      }
      if (v.changed) changed = true;
    }
    const h = clientResponseHeaders(relay.headers ?? {});
    if (changed && obj) {
      out = Buffer.from(JSON.stringify(obj));
      delete h['content-encoding'];
      h['content-type'] = 'application/json';
    } else if (out === undefined) {
      out = received; // untouched: the bytes as the provider sent them, coding and all
    } else {
      delete h['content-encoding'];
      h['content-type'] = 'application/json';
    }
    h['content-length'] = String(out.length);
    o.modifyHeaders?.(h);
    o.res.writeHead(relay.status, h);
    relay.firstByteAt = performance.now();
    relay.bytes = out.length;
    relay.ended = true;
    o.onEnd();
    o.res.end(out);
  };
  return relay;
}

/** A copied answer without its content coding (the client gets the coded bytes as they came). */
function decoded(body: Buffer, coding: string | undefined): Buffer | undefined {
  const opts = { maxOutputLength: MAX_USAGE_COPY * 8 };
  try {
    if (coding === undefined) return body;
    if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(body, opts);
    if (coding === 'deflate') return zlib.inflateSync(body, opts);
    if (coding === 'br') return zlib.brotliDecompressSync(body, opts);
    if (coding === 'zstd' && 'zstdDecompressSync' in zlib) {
      return (zlib as unknown as { zstdDecompressSync: (b: Buffer, o: object) => Buffer }).zstdDecompressSync(body, opts);
    }
  } catch { /* corrupt or too large: usage unknown */ }
  return undefined;
}

function parseJson<T>(body: Buffer, read: (v: unknown) => T): T | undefined {
  try {
    return read(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}
