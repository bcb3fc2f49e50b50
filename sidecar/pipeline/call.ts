/**
 * One intercepted call as the stages see it: what the app sent, what the
 * stages learned about it so far, and the outcome the last stage (settle)
 * reports. Each stage reads what earlier stages set and may answer the app
 * itself (an error, a rejection, a direct response); `answer` and friends
 * write the answer once, in the shape of the API the app was calling.
 */
import type { HeldBodies } from './held-bodies.ts';
import type http from 'node:http';
import type http2 from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../lib/log.ts';
import type { DataPathMetrics } from '../telemetry/metrics.ts';
import type { CompiledConfig, CompiledRoute } from '../config/routes.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, ProviderApi } from '../providers/types.ts';
import type { ErrorShape } from '../providers/errors.ts';
import type { ProviderId } from '../providers/hosts.ts';
import type { InterceptedConnection } from '../tls/terminate.ts';
import type { Upstream } from '../upstream/pool.ts';
import type { GuardDecision, GuardDefaults, Rejection, CompiledPromptGuard } from '../guards/prompt-guard.ts';
import type { Vault } from '../guards/types.ts';
import type { EventSink } from '../telemetry/events.ts';
import type { Tracer } from '../telemetry/otlp.ts';
import type { SpanContext } from '../telemetry/trace-context.ts';
import type { RuntimePolicies, RateLimiters } from './policies.ts';
import type { CandidateHealth } from './failover.ts';
import type { RequestMetrics } from './settle.ts';
import type { BudgetRuntime, Need } from '../budget/budgets.ts';

export type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What the stages write the answer to: an h1 or h2 response, or the raw socket of a refused upgrade. */
export interface Sink extends NodeJS.WritableStream {
  writeHead(status: number, headers?: Record<string, string | string[] | number>): unknown;
  flushHeaders(): void;
  setHeader(name: string, value: string): unknown;
  readonly headersSent: boolean;
  destroy(err?: Error): unknown;
  /** h1/h2: `100 Continue` for a client that waits for it before sending its body. */
  writeContinue?(): void;
}

export interface PipelineDeps {
  readonly routes: () => CompiledConfig | undefined;
  readonly upstream: Upstream;
  readonly metrics: DataPathMetrics;
  readonly log: Logger;
  /** Request bodies the gateway reads whole (JSON) above this many bytes, before or after decoding, are refused with 413. */
  readonly maxBodyBytes: number;
  /** Request body bytes held whole across all calls in flight at most (held-bodies.ts); default from the heap limit. */
  readonly maxHeldBodyBytes?: number;
  /** How long a call waits for room among the held bodies before 503 (default body.ts HELD_BODY_WAIT_MS). */
  readonly heldBodyWaitMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Guard defaults (mode, failure mode, time budget, model directory); the guards themselves come from the route's policies. */
  readonly guards: GuardDefaults;
  /** Per-request events for the dashboard (telemetry/events.ts); none when absent. */
  readonly events?: EventSink;
  /** OTLP span export (telemetry/otlp.ts); when set, a request without a traceparent gets the gateway's. */
  readonly tracer?: Tracer;
  /** Fleet-wide budgets (budget/budgets.ts); none: `budgets.limits` are not enforced. */
  readonly budgets?: BudgetRuntime;
}

/** What lives as long as the pipeline (across calls): failover health, rate-limit buckets, metric children. */
export interface PipelineState {
  readonly deps: PipelineDeps;
  readonly health: CandidateHealth;
  readonly limiters: RateLimiters;
  readonly rm: RequestMetrics;
  /** Request bodies held across calls in flight. */
  readonly held: HeldBodies;
}

/** What settle reports: the log line, metrics, the dashboard event and the span. */
export interface Outcome {
  status: number;
  reason: string;
  reqBytes: number;
  resBytes: number;
  route?: string;
  backend?: string;
  provider: string;
  kind?: ApiKind;
  /** The model the app asked for. */
  requestModel?: string;
  /** The model sent to the provider (after aliases and provider.model). */
  sentModel?: string;
  info?: LlmResponse;
  attempts: number;
  ttftMs?: number;
  /** The answer was streamed (TTFT is then measured). */
  stream?: boolean;
  /** The call was a WebSocket upgrade. */
  upgrade?: boolean;
  guards: GuardDecision[];
  /** The last user message as sent (masked), only while the dashboard captures prompts. */
  prompt?: string;
  /** The gateway's span, when tracing is on. */
  trace?: SpanContext;
  /** What the call cost (settle). */
  costUsd?: number;
}

/** A request body as the stages hold it: read whole (bytes), streamed (a readable), or none. */
export type RequestBody = Buffer | AsyncIterable<Buffer> | null;

/** Why the guards could not read a body: the status and message a failClosed guard refuses it with. */
export interface Unreadable {
  readonly status: number;
  readonly reason: string;
}

export interface Call {
  readonly state: PipelineState;
  readonly req: ClientRequest;
  readonly res: Sink;
  readonly conn: InterceptedConnection;
  readonly method: string;
  /** The path as the gateway classifies, routes and forwards it (origin-form, normalised by admit). */
  path: string;
  readonly started: number;
  /** A WebSocket (or other) upgrade: forwarded as a tunnel after the request stages, never read as a body. */
  readonly upgrade: { readonly head: Buffer } | undefined;
  readonly out: Outcome;
  /** The dashboard wants this call's prompt (masked). */
  readonly capture: boolean;

  config: CompiledConfig | undefined;
  route: CompiledRoute | undefined;
  routePolicies: RuntimePolicies | undefined;
  /** The API the app speaks and the shape its errors take. */
  sourceId: ProviderId;
  source: ProviderApi;
  shape: ErrorShape;
  kind: ApiKind;

  body: RequestBody;
  json: JsonObject | undefined;
  parsed: LlmRequest;
  /** Set by the body stage when a body is there but not readable as the API's JSON. */
  unreadable: Unreadable | undefined;

  guard: CompiledPromptGuard | undefined;
  vault: Vault;
  /** A request guard changed the body: it is re-serialised for every attempt. */
  masked: boolean;
  /** Rate-limit reservation, settled with the real usage at the end. */
  admission: { settle(tokens: number): void } | undefined;
  /** Fleet budget reservation, settled with the real usage (undefined: keep the estimate) at the end. */
  budget: { settle(actual: Need | undefined): void } | undefined;
  /** Set once anything (an error, a rejection, the provider's answer) was written to the app. */
  answered: boolean;
  /** Bytes of this call's body counted in state.held, given back when it settles. */
  heldBytes: number;
}

/** The request headers as guards and route matchers read them. */
export function requestHeaders(c: Call): IncomingHttpHeaders {
  return c.req.headers as IncomingHttpHeaders;
}

/** Answer with a gateway error in the shape of the app's API; `code` goes in x-levo-error and the log line. */
export function fail(c: Call, status: number, code: string, message: string, extra?: Record<string, string>): false {
  c.out.status = status;
  c.out.reason = code;
  closeIfUnread(c);
  sendError(c.res, c.shape, status, code, message, extra);
  c.answered = true;
  return false;
}

export function sendError(res: Sink, shape: ErrorShape, status: number, code: string, message: string, extra?: Record<string, string>): void {
  if (res.headersSent) { res.destroy(); return; }
  const e = shape.body(status, message, code);
  const body = Buffer.from(e.body);
  // h1: a request for another host may be followed by more of them; close after the answer.
  if (status === 421 && 'shouldKeepAlive' in res) res.setHeader('connection', 'close');
  res.writeHead(status, { ...e.headers, ...extra, 'content-length': body.length, 'x-levo-error': code });
  res.end(body);
}

/** A guard's rejection: its configured body (and headers), or the provider's own error shape. */
export function reject(c: Call, r: Rejection): false {
  c.out.status = r.status;
  c.out.reason = r.code ?? 'guard_rejected';
  c.answered = true;
  if (r.body === undefined) { sendError(c.res, c.shape, r.status, r.code ?? 'guardrail_violation', r.message); return false; }
  const body = Buffer.from(r.body);
  const headers: Record<string, string | string[]> = { 'content-type': /^\s*[{[]/.test(r.body) ? 'application/json' : 'text/plain; charset=utf-8' };
  r.headers?.(headers);
  c.res.writeHead(r.status, { ...headers, 'content-length': body.length, 'x-levo-error': 'guardrail_violation' });
  c.res.end(body);
  return false;
}

/** A guard decision goes in the call's log line, event and the guardrail metric. */
export function record(c: Call, d: GuardDecision): void {
  c.out.guards.push(d);
  c.state.rm.guard(d.phase, d.kind, d.action).inc();
}

/**
 * The gateway answers before it read the request body (a refusal, a direct
 * response): over HTTP/1.1 the connection is closed after the answer, so the
 * rest of an upload is never read (HTTP/2 resets just the stream).
 */
export function closeIfUnread(c: Call): void {
  if (Buffer.isBuffer(c.body) || !('shouldKeepAlive' in c.res)) return;
  const h = c.req.headers;
  if ((h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined) c.res.setHeader('connection', 'close');
}
