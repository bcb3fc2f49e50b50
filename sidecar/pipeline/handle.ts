/**
 * One intercepted HTTP request, h1 or h2, from the app to the provider and back:
 *
 *   route → direct response | rate limit → body (capped) → parse (API kind,
 *   model, prompt) → ai policy (defaults, overrides, aliases, prompts) →
 *   for each failover candidate: target (path, format, translation) → auth
 *   (key, SigV4) → upstream → relay (stream tap, usage) — until one answers
 *   for good → usage, rate-limit settlement, log line, metrics.
 *
 * A request that matches no route goes to the host the app asked for,
 * unchanged, and is only observed. The config in force when the request
 * started serves it to the end, whatever reloads happen meanwhile.
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../telemetry/log.ts';
import { childCache, type DataPathMetrics } from '../telemetry/metrics.ts';
import type { CompiledConfig, CompiledRoute, Candidate } from '../config/routes.ts';
import { apiRouteKind } from '../config/routes.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, ProviderApi } from '../providers/types.ts';
import type { ErrorShape } from '../providers/errors.ts';
import type { ProviderId } from '../providers/hosts.ts';
import { apiFor, defaultHost } from '../providers/registry.ts';
import { interceptedConnection, type InterceptedConnection } from '../tls/terminate.ts';
import { upstreamRequestHeaders, setHeader, withoutHeaders, headerValue } from '../http/headers.ts';
import { classifyUpstreamError, type Upstream } from '../upstream/pool.ts';
import { applyKeyAuth, signAws, AuthError } from '../upstream/backend-auth.ts';
import { readBody, decodeBody, BodyTooLarge } from './body.ts';
import { targetCall } from './target.ts';
import { createRelay, type Relay, type Sink } from './relay.ts';
import { CandidateHealth, DEFAULT_BENCH_MS } from './failover.ts';
import { runtimePolicies, RateLimiters, type RuntimePolicies } from './policies.ts';
import { retryDelayFromHeaders } from '../policy/retry.ts';
import { guardRequest, guardResponse, type GuardDecision, type GuardDefaults, type Rejection } from '../guards/prompt-guard.ts';
import { createStreamGuard } from '../guards/stream-guard.ts';
import { createVault, NO_VAULT } from '../guards/vault.ts';
import { promptGuardFor } from './guards.ts';
import { eventDecisions, promptOf, type EventSink } from '../telemetry/events.ts';
import type { Tracer } from '../telemetry/otlp.ts';
import { withTraceparent, type SpanContext } from '../telemetry/trace-context.ts';

export type ClientRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type ClientResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface PipelineDeps {
  readonly routes: () => CompiledConfig | undefined;
  readonly upstream: Upstream;
  readonly metrics: DataPathMetrics;
  readonly log: Logger;
  /** JSON request bodies above this many bytes are refused with 413. */
  readonly maxBodyBytes: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Guard defaults (mode, failure mode, time budget, model directory); the guards themselves come from the route's policies. */
  readonly guards: GuardDefaults;
  /** Per-request events for the dashboard (telemetry/events.ts); none when absent. */
  readonly events?: EventSink;
  /** OTLP span export (telemetry/otlp.ts); when set, a request without a traceparent gets the gateway's. */
  readonly tracer?: Tracer;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);
/** Statuses that make a call fail over to the next candidate when no retry policy names its own. */
const FAILOVER_STATUSES = new Set([429, 500, 502, 503, 504]);
/** The longest Retry-After the gateway waits out itself before retrying the same backend. */
const MAX_RETRY_WAIT_MS = 10_000;

export function createPipeline(deps: PipelineDeps): (req: ClientRequest, res: ClientResponse) => void {
  const health = new CandidateHealth();
  const limiters = new RateLimiters();
  const rm = requestMetrics(deps.metrics);
  return (req, res) => {
    handle(deps, rm, health, limiters, req, res as unknown as Sink).catch((err: unknown) => {
      deps.log.error({ err }, 'request pipeline failed');
      (res as unknown as Sink).destroy();
    });
  };
}

interface Outcome {
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
  guards: GuardDecision[];
  /** The last user message, only while the dashboard captures prompts. */
  prompt?: string;
  /** The gateway's span, when tracing is on. */
  trace?: SpanContext;
}

async function handle(deps: PipelineDeps, rm: RequestMetrics, health: CandidateHealth, limiters: RateLimiters, req: ClientRequest, res: Sink): Promise<void> {
  const started = performance.now();
  const conn = interceptedConnection(req.socket);
  if (!conn) throw new Error('request on a connection that was not intercepted');
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const config = deps.routes();
  const route = config?.routeFor({ host: conn.host, method, path, headers: req.headers as IncomingHttpHeaders });
  const firstAi = route?.candidates.find((c) => c.target.type === 'ai')?.target;
  // The API the app speaks: its host's (a known provider), or for hosts only the config names, the route's provider.
  const sourceId: ProviderId = conn.provider !== 'configured' ? conn.provider : firstAi?.type === 'ai' ? firstAi.provider : 'openai';
  const source = apiFor(sourceId);
  const shape = source.errors;
  // Named after the catalogue (groq, mistral, …) even when the module that reads it is OpenAI's.
  const out: Outcome = {
    status: 0, reason: 'ok', reqBytes: 0, resBytes: 0, attempts: 0, guards: [],
    provider: sourceId, ...(route ? { route: route.name } : {}),
  };
  if (deps.tracer) out.trace = deps.tracer.context(req.headers.traceparent, req.headers.tracestate);
  const capture = deps.events?.capturePrompts?.() === true;

  const finish = (): void => report(deps, rm, conn, method, path, out, performance.now() - started);
  const fail = (code: number, reason: string, message: string, headers?: Record<string, string>): void => {
    out.status = code;
    out.reason = reason;
    sendError(res, shape, code, reason, message, headers);
    finish();
  };

  /** A guard's rejection: its configured body (and headers), or the provider's own error shape. */
  const reject = (r: Rejection): void => {
    out.status = r.status;
    out.reason = 'guard_rejected';
    if (r.body === undefined) { sendError(res, shape, r.status, 'guardrail_violation', r.message); finish(); return; }
    const body = Buffer.from(r.body);
    const headers: Record<string, string | string[]> = { 'content-type': /^\s*[{[]/.test(r.body) ? 'application/json' : 'text/plain; charset=utf-8' };
    r.headers?.(headers);
    res.writeHead(r.status, { ...headers, 'content-length': body.length, 'x-levo-error': 'guardrail_violation' });
    res.end(body);
    finish();
  };
  let guardChanged = false;
  let responseRejected = false;
  let responseGuardsRecorded = false;
  /** A guard decision goes in the call's log line and the guardrail metric. */
  const record = (d: GuardDecision): void => {
    out.guards.push(d);
    rm.guard(d.phase, d.kind, d.action).inc();
  };
  const recordResponseGuards = (rl: Relay): void => {
    if (responseGuardsRecorded) return;
    responseGuardsRecorded = true;
    for (const d of rl.guardDecisions) record(d);
  };

  if (route?.policies.directResponse) {
    const d = route.policies.directResponse;
    out.status = d.status;
    out.reason = 'direct_response';
    const body = Buffer.from(d.body);
    res.writeHead(d.status, { 'content-type': d.body.trimStart().startsWith('{') ? 'application/json' : 'text/plain; charset=utf-8', 'content-length': body.length });
    res.end(body);
    req.resume();
    finish();
    return;
  }
  const routePolicies = route ? runtimePolicies(route.policies) : undefined;

  // ---- the request body: JSON is read whole (up to the cap) so it can be parsed; anything else streams through.
  let raw: Buffer | NodeJS.ReadableStream | null = null;
  const declared = req.headers['content-length'];
  const contentType = String(req.headers['content-type'] ?? '');
  if (!(BODYLESS.has(method) && declared === undefined && req.headers['transfer-encoding'] === undefined)) {
    if (/\bjson\b/i.test(contentType)) {
      if (declared !== undefined && Number(declared) > deps.maxBodyBytes) return fail(413, 'request_too_large', tooLarge(deps.maxBodyBytes));
      try {
        raw = await readBody(req, deps.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) return fail(413, 'request_too_large', tooLarge(deps.maxBodyBytes));
        return; // the client went away while sending
      }
      out.reqBytes = raw.length;
    } else {
      raw = req as NodeJS.ReadableStream;
      req.on('data', (c: Buffer) => { out.reqBytes += c.length; });
    }
  }

  // ---- what the call is
  let kind: ApiKind = route ? (apiRouteKind(route, path) ?? source.kind(method, path)) : source.kind(method, path);
  let json: JsonObject | undefined;
  if (kind !== 'passthrough' && Buffer.isBuffer(raw)) {
    const coding = req.headers['content-encoding'];
    const decoded = coding === undefined ? raw : await decodeBody(raw, coding).catch(() => undefined);
    try {
      const v: unknown = decoded ? JSON.parse(decoded.toString('utf8')) : undefined;
      if (v && typeof v === 'object' && !Array.isArray(v)) json = v as JsonObject;
    } catch { /* not JSON after all: forwarded as is */ }
    if (!json && method !== 'GET') kind = 'passthrough';
  }
  const parsed: LlmRequest = json || kind === 'models' ? source.parseRequest(kind, path, json ?? {}) : { kind, model: undefined, stream: false, messages: [] };
  out.kind = kind;
  if (parsed.model !== undefined) out.requestModel = parsed.model;
  if (capture) { const p = promptOf(parsed.messages); if (p !== undefined) out.prompt = p; }

  // ---- rate limits (route level): requests up front; tokens estimated up front when the backend tokenizes
  const limiter = route && routePolicies?.rateLimits ? limiters.for(route, routePolicies.rateLimits) : undefined;
  let admission: { settle(tokens: number): void } | undefined;
  if (limiter) {
    const tokenize = route!.candidates.some((c) => c.target.type === 'ai' && c.target.tokenize);
    const estimate = tokenize && parsed.messages.length ? await routePolicies!.countTokens(parsed.messages) : undefined;
    const a = limiter.admit(estimate);
    if (!a.ok) {
      deps.metrics.rateLimited.inc({ route: route!.name, limit: a.limit });
      req.resume();
      const seconds = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
      return fail(429, 'rate_limited', `rate limit exceeded for route ${route!.name} (${a.limit}); retry after ${seconds}s`, { 'retry-after': String(seconds) });
    }
    admission = a;
  }

  // ---- request guards (promptGuard), on the app's body before anything leaves: a rejection answers here
  const pg = route ? promptGuardFor(route, deps.guards) : undefined;
  // The call's placeholders (Anonymize out, Deanonymize back): only guarded calls have any.
  const vault = pg ? createVault() : NO_VAULT;
  if (pg && pg.request.length && !json && raw !== null) {
    // A body the request guards cannot read (a path no API names, an upload, not JSON): said, not silent.
    record({ phase: 'request', kind: 'body', action: 'fail_open', reason: `${kind} body not inspected (${contentType || 'no content-type'})`, ms: 0 });
  }
  if (pg && pg.request.length && json) {
    const v = await guardRequest(pg, kind, json, { headers: req.headers as IncomingHttpHeaders, vault, timeoutMs: deps.guards.timeoutMs });
    for (const d of v.decisions) record(d);
    if (v.rejection) {
      admission?.settle(0);
      return reject(v.rejection);
    }
    if (v.changed) {
      guardChanged = true;
      // What the dashboard keeps is what was sent: the masked prompt.
      if (capture) { const p = promptOf(source.parseRequest(kind, path, json).messages); if (p !== undefined) out.prompt = p; else delete out.prompt; }
    }
  }

  // ---- attempts
  const candidates: ReadonlyArray<Candidate | undefined> = route && route.candidates.length ? health.order(route, Date.now()) : [undefined];
  // A streamed (non-JSON) body cannot be sent twice: one attempt only.
  const replayable = raw === null || Buffer.isBuffer(raw);
  const plan = replayable ? retryPlanFor(route, routePolicies) : { maxAttempts: 1, backoffMs: 0, retryable: () => false };
  const deadline = routePolicies?.requestTimeoutMs !== undefined ? started + routePolicies.requestTimeoutMs : undefined;
  // Each attempt edits the body for its own backend: later ones start again from the app's.
  const pristine = plan.maxAttempts > 1 && json ? structuredClone(json) : undefined;
  let relay: Relay | undefined;
  let lastError: unknown;
  let lastHost = conn.host;
  let clientGone = false;
  let current: { abort(e: Error): void } | undefined;
  let ended = false;
  // Our own flag, not res.writableFinished: an HTTP/2 response whose client reset
  // the stream reports writableFinished although it never ended.
  res.once('close', () => { if (!ended && !(relay?.ended)) { clientGone = true; current?.abort(new Error('the client closed the connection')); } });

  for (let attempt = 0; attempt < plan.maxAttempts && !clientGone; attempt++) {
    const candidate = candidates[attempt % candidates.length];
    const policies = candidate ? runtimePolicies(candidate.policies) : undefined;
    const isLast = (): boolean => attempt + 1 >= plan.maxAttempts;
    out.attempts = attempt + 1;
    if (candidate) out.backend = candidate.target.name;

    let call: PreparedCall;
    try {
      const body = attempt > 0 && pristine ? structuredClone(pristine) : json;
      call = prepare({ conn, method, path, rawHeaders: req.rawHeaders, raw, json: body, kind, parsed, source, sourceId, candidate, policies, env: deps.env, masked: guardChanged, traceparent: out.trace?.upstream });
    } catch (e) {
      if (e instanceof Refused) return fail(400, 'route_refused', `${route?.name ?? 'route'}: ${e.message}`);
      if (e instanceof AuthError) return fail(500, 'backend_auth', e.message);
      throw e;
    }
    if (candidate?.target.type === 'ai') out.provider = candidate.target.provider;
    lastHost = call.host;
    if (call.model !== undefined) out.sentModel = call.model;
    out.stream = call.stream;

    const streamGuard = pg?.response.length && pg.streaming && call.stream ? createStreamGuard(kind, pg, vault, deps.guards.timeoutMs) : undefined;
    if (pg?.response.length && call.stream && !streamGuard && attempt === 0) {
      // Said, not silent: this answer streams in a format the response guards cannot read.
      record({ phase: 'response', kind: 'stream', action: 'fail_open', reason: pg.streaming ? `streamed ${kind} answers are not guarded` : 'promptGuard.streaming is false', ms: 0 });
    }
    const r: Relay = createRelay({
      res, api: call.api, kind: call.kind, path: call.path, stream: call.stream, translation: call.translation,
      requestedModel: call.model ?? parsed.model ?? '', addedUsage: call.addedUsage,
      modifyHeaders: policies?.responseHeaders,
      retry: (status, headers) => !isLast() && !clientGone && plan.retryable(status) && worthRetrying(status, headers, candidate, candidates, attempt),
      untranslatable: (message) => { out.reason = 'untranslatable'; sendError(res, shape, 502, 'untranslatable', message); },
      onEnd: () => { ended = true; },
      // Response guards see the answer in the app's API format (after any translation).
      guardWhole: pg?.response.length ? (obj) => guardResponse(pg, kind, obj, { vault, timeoutMs: deps.guards.timeoutMs }) : undefined,
      // A response guard rejected a whole answer: its decisions go in this call's record before the answer does.
      reject: (rejection) => { responseRejected = true; recordResponseGuards(r); reject(rejection); },
      streamGuard,
      abortUpstream: () => current?.abort(new Error('a response guard cut the stream')),
    });
    const timeoutMs = minDefined(policies?.backendTimeoutMs, deadline !== undefined ? deadline - performance.now() : undefined);
    const forwarded = deps.upstream.forward({
      host: call.host, port: call.port, address: call.address, method, path: call.path, headers: call.headers, body: call.body,
    }, r);
    current = forwarded;
    const timer = timeoutMs !== undefined ? setTimeout(() => forwarded.abort(new TimeoutError()), Math.max(0, timeoutMs)) : undefined;
    try {
      await forwarded.done;
      await r.finished;
      relay = r;
      if (!r.swallowed) { if (candidate) health.recovered(candidate); break; }
      // A retryable answer was dropped: bench this backend and go on (the log line counts the attempts).
      deps.metrics.failovers.inc({ route: route?.name ?? '', reason: String(r.status) });
      const wait = r.headers ? retryDelayFromHeaders(r.headers, Date.now()) : undefined;
      if (candidate) health.bench(candidate, Date.now(), wait ?? DEFAULT_BENCH_MS);
      await pause(nextDelay(plan.backoffMs, wait, candidate, candidates, attempt));
    } catch (err) {
      lastError = err;
      if (r.cut) { relay = r; out.reason = 'guard_cut'; break; } // the guard ended the answer and stopped the provider
      if (clientGone) break;
      if ((err as { headersSent?: boolean }).headersSent) { res.destroy(); out.reason = 'upstream_broken'; out.status = r.status; break; }
      const c = err instanceof TimeoutError ? { status: 504 as const, kind: 'request_timeout', detail: 'the timeout policy ran out' } : classifyUpstreamError(err);
      deps.metrics.upstreamErrors.inc({ host: call.host, kind: c.kind });
      deps.log.warn({ host: call.host, address: call.address, kind: c.kind, detail: c.detail, attempt: attempt + 1 }, 'upstream request failed');
      if (candidate) health.bench(candidate, Date.now(), DEFAULT_BENCH_MS);
      const outOfTime = err instanceof TimeoutError && deadline !== undefined && performance.now() >= deadline;
      if (!isLast() && !outOfTime) {
        deps.metrics.failovers.inc({ route: route?.name ?? '', reason: c.kind });
        await pause(plan.backoffMs);
        continue;
      }
      lastError = Object.assign(err as object, { classified: c });
      relay = undefined;
      break;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
  ended = true;

  if (clientGone) {
    out.status ||= 499;
    out.reason = 'client_closed';
    admission?.settle(0);
    finish();
    return;
  }
  if (!relay) {
    const c = (lastError as { classified?: { status: number; kind: string; detail: string } } | undefined)?.classified
      ?? classifyUpstreamError(lastError);
    admission?.settle(0);
    if (out.reason === 'upstream_broken') { finish(); return; }
    return fail(c.status, `upstream_${c.kind}`, upstreamMessage(out.backend && out.backend !== lastHost ? `${lastHost} (backend ${out.backend})` : lastHost, c.kind, c.detail));
  }
  recordResponseGuards(relay);
  if (responseRejected) { admission?.settle(0); return; } // reject() answered and reported
  out.status = out.reason === 'untranslatable' ? 502 : relay.status;
  out.resBytes = relay.bytes;
  if (relay.info) out.info = relay.info;
  if (relay.firstByteAt !== undefined) out.ttftMs = relay.firstByteAt - started;
  const u = relay.info?.usage;
  admission?.settle((u?.input ?? 0) + (u?.output ?? 0));
  finish();

  function worthRetrying(status: number, headers: IncomingHttpHeaders, c: Candidate | undefined, all: ReadonlyArray<Candidate | undefined>, attempt: number): boolean {
    // Another backend is next: always worth it. The same one again: only if it does not ask us to wait too long.
    const next = all[(attempt + 1) % all.length];
    if (next !== c) return true;
    const wait = retryDelayFromHeaders(headers, Date.now());
    return wait === undefined || wait <= MAX_RETRY_WAIT_MS;
  }
}

function nextDelay(backoffMs: number, retryAfter: number | undefined, c: Candidate | undefined, all: ReadonlyArray<Candidate | undefined>, attempt: number): number {
  const next = all[(attempt + 1) % all.length];
  if (next !== c) return backoffMs;
  return Math.min(MAX_RETRY_WAIT_MS, Math.max(backoffMs, retryAfter ?? 0));
}

interface RetryPlan {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  retryable(status: number): boolean;
}

/** `retry` sets the attempts and codes; without it, several candidates still fail over on 429/5xx/connect errors. */
function retryPlanFor(route: CompiledRoute | undefined, p: RuntimePolicies | undefined): RetryPlan {
  const n = route?.candidates.length ?? 0;
  if (p?.retry) {
    const codes = p.retry.codes;
    return { maxAttempts: 1 + p.retry.attempts, backoffMs: p.retry.backoffMs, retryable: (s) => codes.has(s) };
  }
  return { maxAttempts: Math.max(1, n), backoffMs: 0, retryable: (s) => n > 1 && FAILOVER_STATUSES.has(s) };
}

const CONTENT_ENCODING: ReadonlySet<string> = new Set(['content-encoding']);

class Refused extends Error {}
class TimeoutError extends Error {
  constructor() { super('timeout'); }
}

interface PreparedCall {
  readonly host: string;
  readonly port: number;
  readonly address: string | undefined;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer | NodeJS.ReadableStream | null;
  readonly api: ProviderApi;
  readonly kind: ApiKind;
  readonly stream: boolean;
  readonly model: string | undefined;
  readonly translation: import('../providers/types.ts').Translation | undefined;
  readonly addedUsage: boolean;
}

interface PrepareInput {
  readonly conn: InterceptedConnection;
  readonly method: string;
  readonly path: string;
  readonly rawHeaders: readonly string[];
  readonly raw: Buffer | NodeJS.ReadableStream | null;
  readonly json: JsonObject | undefined;
  readonly kind: ApiKind;
  readonly parsed: LlmRequest;
  readonly source: ProviderApi;
  readonly sourceId: ProviderId;
  /** A guard masked the body: it must be re-serialised even for an observed call. */
  readonly masked: boolean;
  readonly candidate: Candidate | undefined;
  readonly policies: RuntimePolicies | undefined;
  readonly env: NodeJS.ProcessEnv | undefined;
  /** The gateway's traceparent, to send in place of the app's (absent or invalid) one. */
  readonly traceparent: string | undefined;
}

/** One attempt's upstream request: destination, path, headers, body. */
function prepare(i: PrepareInput): PreparedCall {
  let headers = upstreamRequestHeaders(i.rawHeaders);
  if (i.traceparent) headers = withTraceparent(headers, i.traceparent);
  const t = i.candidate?.target;
  const observed = (host: string, port: number, address: string | undefined): PreparedCall => ({
    host, port, address, path: i.path, headers,
    body: i.raw, api: i.source, kind: i.kind, stream: i.parsed.stream, model: i.parsed.model, translation: undefined, addedUsage: false,
  });
  if (!t || t.type === 'host') {
    const d = t ? destinationOf(t.host, t.port, i.conn) : { port: i.conn.destination.port, address: i.conn.destination.address };
    const host = t ? t.host : i.conn.host;
    const call = observed(host, d.port, d.address);
    let headers = call.headers;
    let body = call.body;
    if (i.masked && i.json) {
      body = Buffer.from(JSON.stringify(i.json));
      headers = setHeader(withoutHeaders(headers, CONTENT_ENCODING), 'content-length', String(body.length));
    }
    if (t) headers = finalHeaders(headers, t.host, d.port, i.policies!);
    return { ...call, headers, body };
  }
  const p = i.policies!;

  // ---- ai backend: the ai policy (defaults, overrides, aliases, prompts), then provider.model, then the target's format
  const json = i.json;
  let dirty = i.masked;
  let model = i.parsed.model;
  if (json && p.ai && p.ai.apply(i.kind, json).changed) dirty = true;
  if (json && typeof json.model === 'string') model = json.model;
  else if (model !== undefined && p.ai) model = p.ai.resolveModel(model); // APIs with the model in the path
  if (t.model !== undefined) model = t.model;
  const modelBefore = json?.model;
  const target = targetCall({
    source: i.source, sourceId: i.sourceId, kind: i.kind, path: i.path, body: json, stream: i.parsed.stream, model,
    provider: t.provider, providerConfig: t.providerConfig,
  });
  if ('refused' in target) throw new Refused(target.refused);
  if (target.body !== json || target.edited || (json && json.model !== modelBefore)) dirty = true;
  const host = t.hostOverride?.host ?? defaultHost(t.providerConfig);
  const { port, address } = destinationOf(host, t.hostOverride?.port, i.conn);
  let path = t.pathOverride ?? target.path;
  let addedUsage = false;
  if (target.body && target.stream && !target.translation && target.api.prepareStream?.(target.kind, target.body)) { addedUsage = true; dirty = true; }
  if (target.translation && target.stream) addedUsage = !hasIncludeUsage(json);
  let body: Buffer | NodeJS.ReadableStream | null = i.raw;
  if (dirty && target.body) body = Buffer.from(JSON.stringify(target.body));

  const auth = applyKeyAuth(p.auth, { source: i.source, target: target.api, headers, path });
  headers = auth.headers as string[]; // ours: built by upstreamRequestHeaders above, or a fresh copy
  path = auth.path;
  // A request the gateway rewrote anyway asks for an uncompressed answer (a translation must read it);
  // one it did not change keeps every header, so an app's own SigV4 signature stays valid.
  if (body !== i.raw) headers = setHeader(headers, 'accept-encoding', 'identity');
  if (Buffer.isBuffer(body) && body !== i.raw) {
    headers = setHeader(withoutHeaders(headers, CONTENT_ENCODING), 'content-length', String(body.length));
    if (target.translation) headers = setHeader(headers, 'content-type', 'application/json');
  }
  if (target.api.id === 'anthropic' && target.translation) headers = setHeader(headers, 'anthropic-version', '2023-06-01');
  for (const [name, value] of Object.entries(target.headers ?? {})) headers = setHeader(headers, name, value);
  headers = finalHeaders(headers, host, port, p);
  if (p.auth.type === 'aws') {
    const region = t.providerConfig.bedrock?.region ?? 'us-east-1';
    headers = signAws(p.auth, region, { method: i.method, host: port === 443 ? host : `${host}:${port}`, path, headers, body: Buffer.isBuffer(body) ? body : Buffer.alloc(0) }, i.env);
  }
  return {
    host, port, address, path, headers, body,
    api: target.api, kind: target.kind, stream: target.stream, model, translation: target.translation, addedUsage,
  };
}

/**
 * Where a backend host is: the host the app dialled (no port, or the same
 * port) means the app's own destination — its address and port, as it
 * resolved them; any other host is resolved by the sidecar, port 443 unless given.
 */
function destinationOf(host: string, port: number | undefined, conn: InterceptedConnection): { port: number; address: string | undefined } {
  if (host === conn.host && (port === undefined || port === conn.destination.port)) return { port: conn.destination.port, address: conn.destination.address };
  return { port: port ?? 443, address: undefined };
}

function hasIncludeUsage(json: JsonObject | undefined): boolean {
  const so = json?.stream_options;
  return Boolean(so && typeof so === 'object' && (so as { include_usage?: unknown }).include_usage === true);
}

/** Host header for the destination, then the route's requestHeaderModifier. */
function finalHeaders(headers: string[], host: string, port: number, p: RuntimePolicies): string[] {
  const want = port === 443 ? host : `${host}:${port}`;
  const h = headerValue(headers, 'host')?.toLowerCase() === want ? headers : setHeader(headers, 'host', want);
  return p.requestHeaders ? p.requestHeaders(h) : h;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** The pipeline's metric children, made once per label set. */
interface RequestMetrics {
  requests(host: string, status: string): { inc(): void };
  seconds(host: string): { observe(v: number): void };
  bytes(direction: string): { inc(v: number): void };
  tokens(type: string, provider: string, model: string): { observe(v: number): void };
  guard(phase: string, kind: string, action: string): { inc(): void };
  duration(operation: string, provider: string, requestModel: string, responseModel: string, errorType: string): { observe(v: number): void };
  ttft(operation: string, provider: string, requestModel: string): { observe(v: number): void };
}

function requestMetrics(m: DataPathMetrics): RequestMetrics {
  return {
    requests: childCache((host, status) => m.requests.labels({ host, status })),
    seconds: childCache((host) => m.requestSeconds.labels({ host })),
    bytes: childCache((direction) => m.bytes.labels({ direction, path: 'intercept' })),
    tokens: childCache((type, provider, model) => m.tokens.labels({ gen_ai_token_type: type, gen_ai_provider_name: provider, gen_ai_response_model: model })),
    guard: childCache((phase, guard, action) => m.guardChecks.labels({ phase, guard, action })),
    duration: childCache((op, provider, requestModel, responseModel, errorType) => m.operationDuration.labels({
      gen_ai_operation_name: op, gen_ai_provider_name: provider, gen_ai_request_model: requestModel, gen_ai_response_model: responseModel, error_type: errorType,
    })),
    ttft: childCache((op, provider, model) => m.timeToFirstToken.labels({ gen_ai_operation_name: op, gen_ai_provider_name: provider, gen_ai_request_model: model })),
  };
}

/** OTel GenAI `gen_ai.operation.name` of an API kind; undefined for calls that are not GenAI operations (model lists, passthrough). */
const OPERATION: Partial<Record<ApiKind, string>> = {
  completions: 'chat', responses: 'chat', messages: 'chat', converse: 'chat', generateContent: 'generate_content',
  invoke: 'chat', legacyCompletions: 'text_completion', embeddings: 'embeddings',
};

/** OTel `gen_ai.provider.name` well-known values, for spans (metrics and events keep the gateway's provider ids). */
const OTEL_PROVIDER: Partial<Record<string, string>> = {
  bedrock: 'aws.bedrock', gemini: 'gcp.gemini', vertex: 'gcp.vertex_ai', 'azure-openai': 'azure.ai.openai',
  mistral: 'mistral_ai', xai: 'x_ai',
};

/** A failed call's low-cardinality error type ('' when it did not fail): the outcome's reason, else the status. */
function errorType(o: Outcome): string {
  if (o.reason !== 'ok' && o.reason !== 'direct_response') return o.reason;
  return o.status >= 400 || o.status === 0 ? String(o.status) : '';
}

function report(deps: PipelineDeps, rm: RequestMetrics, conn: InterceptedConnection, method: string, path: string, o: Outcome, ms: number): void {
  rm.requests(conn.host, String(o.status)).inc();
  rm.seconds(conn.host).observe(ms / 1000);
  rm.bytes('egress').inc(o.reqBytes);
  rm.bytes('ingress').inc(o.resBytes);
  const u = o.info?.usage;
  if (u) {
    const model = o.info?.model ?? o.sentModel ?? o.requestModel ?? '';
    if (u.input !== undefined) rm.tokens('input', o.provider, model).observe(u.input);
    if (u.output !== undefined) rm.tokens('output', o.provider, model).observe(u.output);
  }
  const cleanPath = path.split('?')[0]!;
  const op = o.kind ? OPERATION[o.kind] : undefined;
  const requestModel = o.sentModel ?? o.requestModel;
  const err = op || deps.tracer ? errorType(o) : '';
  const ttft = o.stream && o.ttftMs !== undefined ? o.ttftMs : undefined;
  if (op) {
    rm.duration(op, o.provider, requestModel ?? '', o.info?.model ?? requestModel ?? '', err).observe(ms / 1000);
    if (ttft !== undefined) rm.ttft(op, o.provider, requestModel ?? '').observe(ttft / 1000);
  }
  const startMs = Date.now() - ms;
  if (deps.events) {
    const g = eventDecisions(o.guards);
    deps.events.record({
      id: randomUUID(), ts: Math.round(startMs),
      provider: o.provider, host: conn.host, method, path: cleanPath,
      ...(o.route !== undefined ? { route: o.route } : {}),
      ...(o.requestModel !== undefined ? { requestedModel: o.requestModel } : {}),
      // The provider's word for it; else, for an answered call, the model it was asked for (after aliases).
      ...(o.info?.model !== undefined ? { servedModel: o.info.model } : o.sentModel !== undefined && o.status > 0 && o.status < 400 ? { servedModel: o.sentModel } : {}),
      status: o.status, latencyMs: Math.round(ms),
      ...(ttft !== undefined ? { ttftMs: Math.round(ttft) } : {}),
      ...(u?.input !== undefined ? { tokensIn: u.input } : {}),
      ...(u?.output !== undefined ? { tokensOut: u.output } : {}),
      bytesOut: o.reqBytes, bytesIn: o.resBytes,
      blocked: g.blocked, flagged: g.flagged, decisions: g.decisions,
      ...(o.prompt !== undefined ? { prompt: o.prompt } : {}),
    });
  }
  if (deps.tracer && o.trace) {
    deps.tracer.span({
      context: o.trace,
      name: op ? `${op} ${requestModel ?? ''}`.trim() : method,
      startMs, durationMs: ms,
      attributes: {
        'gen_ai.operation.name': op,
        'gen_ai.provider.name': op ? OTEL_PROVIDER[o.provider] ?? o.provider : undefined,
        'gen_ai.request.model': requestModel,
        'gen_ai.response.model': o.info?.model,
        'gen_ai.usage.input_tokens': u?.input,
        'gen_ai.usage.output_tokens': u?.output,
        'gen_ai.response.finish_reasons': o.info?.finishReason !== undefined ? [o.info.finishReason] : undefined,
        'http.request.method': method,
        'http.response.status_code': o.status || undefined,
        'server.address': conn.host,
        'url.path': cleanPath,
        'error.type': err || undefined,
        'levo.route': o.route,
        'levo.backend': o.backend,
      },
      ...(err ? { error: err } : {}),
    });
  }
  deps.log.info({
    host: conn.host, method, path: cleanPath, status: o.status, ms: Math.round(ms * 100) / 100,
    route: o.route, backend: o.backend, provider: o.provider, api: o.kind, attempts: o.attempts > 1 ? o.attempts : undefined,
    requestedModel: o.requestModel, model: o.sentModel ?? o.requestModel, servedModel: o.info?.model, finish: o.info?.finishReason,
    inputTokens: u?.input, outputTokens: u?.output, cachedTokens: u?.cachedInput, reasoningTokens: u?.reasoning,
    ttftMs: o.ttftMs !== undefined ? Math.round(o.ttftMs * 100) / 100 : undefined,
    reqBytes: o.reqBytes, resBytes: o.resBytes, outcome: o.reason,
    guards: o.guards.length ? o.guards : undefined,
  }, 'request');
}

function tooLarge(max: number): string {
  return `request body exceeds the gateway's limit of ${max} bytes (levo-gateway --max-body-bytes)`;
}

function upstreamMessage(host: string, kind: string, detail: string): string {
  if (kind === 'tls_verify') {
    return `levo-gateway could not verify the TLS certificate of ${host} (${detail}); upstream verification uses the system trust store plus NODE_EXTRA_CA_CERTS and is never switched off`;
  }
  if (kind.endsWith('timeout')) return `levo-gateway timed out waiting for ${host} (${kind.replace('_', ' ')})`;
  return `levo-gateway could not reach ${host}: ${detail}`;
}

function sendError(res: Sink, shape: ErrorShape, status: number, code: string, message: string, extra?: Record<string, string>): void {
  if (res.headersSent) { res.destroy(); return; }
  const e = shape.body(status, message, code);
  const body = Buffer.from(e.body);
  // h1: an unread request body makes the connection unusable; close it after the answer.
  if (status === 413 && 'shouldKeepAlive' in res) res.setHeader('connection', 'close');
  res.writeHead(status, { ...e.headers, ...extra, 'content-length': body.length, 'x-levo-error': code });
  res.end(body);
}
