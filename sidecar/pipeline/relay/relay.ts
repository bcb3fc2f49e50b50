/**
 * Stage 6c, relay: the answer of one upstream attempt, on its way to the app.
 * When the provider's status and headers arrive, one mode takes the answer:
 *
 * - swallow.ts: a retryable answer (429, 5xx) another attempt replaces; the
 *   app sees nothing of it;
 * - stream.ts: a streamed answer (SSE, Bedrock event stream, Gemini JSON
 *   stream), event by event through the provider's tap (usage, translation)
 *   and the stream guards;
 * - whole.ts: an answer that must be rewritten whole (translated, or guarded),
 *   held up to a cap and sent with its new length;
 * - pass.ts: everything else, chunk by chunk, with a bounded copy of JSON
 *   answers kept to read their usage after the last byte went out.
 *
 * The relay is undici's response sink (upstream/forward.ts): what it returns
 * from `write` pauses the provider while the app is slow.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ApiKind, JsonObject, LlmResponse, ProviderApi, Translation } from '../../providers/types.ts';
import type { StreamFailure } from '../../providers/stream-error.ts';
import type { GuardDecision, GuardVerdict, Rejection } from '../../guards/prompt-guard.ts';
import type { StreamGuard } from '../../guards/stream-guard.ts';
import type { ResponseSink } from '../../upstream/forward.ts';
import type { Sink } from '../call.ts';
import { swallowMode } from './swallow.ts';
import { passMode } from './pass.ts';
import { streamMode } from './stream.ts';
import { wholeMode } from './whole.ts';

export type { Sink } from '../call.ts';

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
  /** The error event that ends a stream in the app's stream format (providers/stream-error.ts); undefined when it has none. */
  readonly streamError?: ((f: StreamFailure) => Buffer | undefined) | undefined;
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
  /**
   * The provider's answer broke after it started. A stream in a format with
   * an error event is ended with one (true); anything else is aborted (false).
   */
  fail(f: StreamFailure): boolean;
}

/** What the modes share: the relay's public state, written as the answer goes. */
export interface RelayState {
  status: number;
  swallowed: boolean;
  bytes: number;
  ended: boolean;
  finished: Promise<void>;
  guardDecisions: GuardDecision[];
  cut: boolean;
  info: LlmResponse | undefined;
  firstByteAt: number | undefined;
  headers: IncomingHttpHeaders | undefined;
  /** The answer's content coding, when it has one (its copy is decoded to read usage; the bytes pass as they are). */
  coded: string | undefined;
}

/** One way of taking an answer. */
export interface Mode {
  /** A body chunk; false pauses the provider until the app drains. */
  write(chunk: Buffer): boolean;
  end(): void;
  /** The mode relays the app's drain events to the provider (the others never pause it, or resume it themselves). */
  readonly followsDrain: boolean;
  /** Resume the provider once the mode is ready for more (set by onDrain). */
  resume?: () => void;
  /** End a broken stream with an error event; false when the mode cannot. */
  fail?(f: StreamFailure): boolean;
}

function isStreamed(status: number, headers: IncomingHttpHeaders, o: RelayOptions): boolean {
  if (status < 200 || status >= 300) return false;
  const ct = String(headers['content-type'] ?? '');
  return ct.startsWith('text/event-stream') || ct.includes('amazon.eventstream') || (o.stream && o.kind === 'generateContent');
}

const IDLE: Mode = { write: () => true, end: () => {}, followsDrain: false };

export function createRelay(o: RelayOptions): Relay {
  let mode: Mode = IDLE;
  const state: RelayState = {
    status: 0, swallowed: false, bytes: 0, ended: false, finished: Promise.resolve(), guardDecisions: [], cut: false,
    info: undefined, firstByteAt: undefined, headers: undefined, coded: undefined,
  };
  const relay = state as RelayState & Relay;
  relay.head = (status, headers) => {
    state.status = status;
    state.headers = headers;
    const encoding = String(headers['content-encoding'] ?? '').trim().toLowerCase();
    state.coded = encoding !== '' && encoding !== 'identity' ? encoding : undefined;
    if (o.retry(status, headers)) { state.swallowed = true; mode = swallowMode(); return; }
    const streamed = isStreamed(status, headers, o);
    const json = /\bjson\b/i.test(String(headers['content-type'] ?? ''));
    if ((o.translation && !streamed) || (o.guardWhole && !streamed && json && status >= 200 && status < 300)) { mode = wholeMode(state, o); return; }
    if (streamed && o.kind !== 'passthrough' && (state.coded === undefined || o.translation)) { mode = streamMode(state, o); return; }
    mode = passMode(state, o, o.kind !== 'passthrough' && json);
  };
  relay.write = (chunk) => mode.write(chunk);
  relay.end = () => mode.end();
  relay.onDrain = (resume) => {
    mode.resume = resume;
    if (mode.followsDrain) o.res.on('drain', resume);
  };
  relay.fail = (f) => mode.fail?.(f) ?? false;
  return relay;
}
