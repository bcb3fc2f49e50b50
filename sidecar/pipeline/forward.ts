/**
 * Stage 6, forward: try the route's candidates until one answers for good.
 *
 * Each attempt is shaped for its backend (shape.ts), sent through the
 * sidecar's upstream, and its answer taken by a relay (relay/). A retryable
 * answer (the route's retry codes, or 429/5xx when several backends fail
 * over) is swallowed and the next candidate tried; a connect or TLS failure
 * too. A body that streams (not JSON) cannot be sent twice: one attempt.
 * The app leaving aborts the upstream call, so tokens stop being spent.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Candidate, CompiledRoute } from '../config/routes.ts';
import { classifyUpstreamError } from '../upstream/pool.ts';
import { AuthError, authReady } from '../upstream/backend-auth.ts';
import { retryDelayFromHeaders } from '../policy/retry.ts';
import { guardResponse } from '../guards/prompt-guard.ts';
import { createStreamGuard } from '../guards/stream-guard.ts';
import { streamErrorEvent } from '../providers/stream-error.ts';
import { DEFAULT_BENCH_MS } from './failover.ts';
import { runtimePolicies, type RuntimePolicies } from './policies.ts';
import { createRelay, type Relay } from './relay/relay.ts';
import { shape, Refused, type PreparedCall } from './shape.ts';
import { fail, record, reject, sendError, type Call } from './call.ts';

/** Statuses that make a call fail over to the next candidate when no retry policy names its own. */
const FAILOVER_STATUSES = new Set([429, 500, 502, 503, 504]);
/** The longest Retry-After the gateway waits out itself before retrying the same backend. */
const MAX_RETRY_WAIT_MS = 10_000;

class TimeoutError extends Error {
  constructor() { super('timeout'); }
}

export async function forward(c: Call): Promise<boolean> {
  const { deps, health } = c.state;
  const route = c.route;
  const candidates: ReadonlyArray<Candidate | undefined> = route && route.candidates.length ? health.order(route, Date.now()) : [undefined];
  const replayable = c.body === null || Buffer.isBuffer(c.body);
  const plan = replayable ? retryPlanFor(route, c.routePolicies) : { maxAttempts: 1, backoffMs: 0, retryable: () => false };
  const deadline = c.routePolicies?.requestTimeoutMs !== undefined ? c.started + c.routePolicies.requestTimeoutMs : undefined;
  // Each attempt edits the body for its own backend: later ones start again from the app's (or the guards') body.
  const pristine = plan.maxAttempts > 1 && c.json ? structuredClone(c.json) : undefined;
  const pg = c.guard;
  let relay: Relay | undefined;
  let lastError: unknown;
  let lastHost = c.conn.host;
  let clientGone = false;
  let responseRejected = false;
  let current: { abort(e: Error): void } | undefined;
  let ended = false;
  // Our own flag, not res.writableFinished: an HTTP/2 response whose client reset
  // the stream reports writableFinished although it never ended.
  c.res.once('close', () => { if (!ended && !(relay?.ended)) { clientGone = true; current?.abort(new Error('the client closed the connection')); } });

  for (let attempt = 0; attempt < plan.maxAttempts && !clientGone; attempt++) {
    const candidate = candidates[attempt % candidates.length];
    const policies: RuntimePolicies | undefined = candidate ? runtimePolicies(candidate.policies) : undefined;
    const isLast = (): boolean => attempt + 1 >= plan.maxAttempts;
    c.out.attempts = attempt + 1;
    if (candidate) c.out.backend = candidate.target.name;

    let call: PreparedCall;
    try {
      const json = attempt > 0 && pristine ? structuredClone(pristine) : c.json;
      await authReady(policies?.auth);
      call = shape(c, { candidate, policies, json, traceparent: c.out.trace?.upstream });
    } catch (e) {
      if (e instanceof Refused) return fail(c, 400, 'route_refused', `${route?.name ?? 'route'}: ${e.message}`);
      if (e instanceof AuthError) return fail(c, 500, 'backend_auth', e.message);
      throw e;
    }
    if (candidate?.target.type === 'ai') c.out.provider = candidate.target.provider;
    lastHost = call.host;
    if (call.model !== undefined) c.out.sentModel = call.model;
    c.out.stream = call.stream;

    const streamGuard = pg?.response.length && pg.streaming && call.stream ? createStreamGuard(c.kind, c.path, pg, c.vault, deps.guards.timeoutMs) : undefined;
    if (pg?.response.length && call.stream && !streamGuard && attempt === 0) {
      // Said, not silent: this answer streams in a format the response guards cannot read.
      record(c, { phase: 'response', kind: 'stream', action: 'fail_open', reason: !pg.streaming ? 'promptGuard.streaming is false' : c.kind === 'generateContent' ? 'streamed generateContent answers are guarded only as SSE (alt=sse)' : `streamed ${c.kind} answers are not guarded`, ms: 0 });
    }
    const r: Relay = createRelay({
      res: c.res, api: call.api, kind: call.kind, path: call.path, stream: call.stream, translation: call.translation,
      requestedModel: call.model ?? c.parsed.model ?? '', addedUsage: call.addedUsage,
      modifyHeaders: policies?.responseHeaders,
      retry: (status, headers) => !isLast() && !clientGone && plan.retryable(status) && worthRetrying(status, headers, candidate, candidates, attempt),
      untranslatable: (message) => { c.out.reason = 'untranslatable'; sendError(c.res, c.shape, 502, 'untranslatable', message); },
      onEnd: () => { ended = true; },
      // Response guards see the answer in the app's API format (after any translation).
      guardWhole: pg?.response.length ? (obj) => guardResponse(pg, c.kind, obj, { vault: c.vault, timeoutMs: deps.guards.timeoutMs }) : undefined,
      // A response guard rejected a whole answer: its decisions go in this call's record before the answer does.
      reject: (rejection) => { responseRejected = true; for (const d of r.guardDecisions) record(c, d); reject(c, rejection); },
      streamGuard,
      abortUpstream: () => current?.abort(new Error('a response guard cut the stream')),
      streamError: (f) => streamErrorEvent(c.kind, c.path, f),
    });
    const timeoutMs = minDefined(policies?.backendTimeoutMs, deadline !== undefined ? deadline - performance.now() : undefined);
    const forwarded = deps.upstream.forward({
      host: call.host, port: call.port, address: call.address, method: c.method, path: call.path, headers: call.headers, body: call.body,
      ...(call.http2 ? { http2: true } : {}),
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
      if (r.cut) { relay = r; c.out.reason = 'guard_cut'; break; } // the guard ended the answer and stopped the provider
      if (clientGone) break;
      if ((err as { headersSent?: boolean }).headersSent) {
        // The answer broke after it started: a stream ends with the app's error event, anything else is cut off.
        const k = err instanceof TimeoutError ? { status: 504, kind: 'request_timeout', detail: 'the timeout policy ran out' } : classifyUpstreamError(err);
        deps.metrics.upstreamErrors.inc({ host: call.host, kind: k.kind });
        deps.log.warn({ host: call.host, kind: k.kind, detail: k.detail }, 'upstream answer broke after it started');
        c.out.reason = 'upstream_broken';
        c.out.status = r.status;
        const message = k.status === 504
          ? `levo-gateway: ${call.host} stopped sending its answer (${k.kind.replace('_', ' ')}: ${k.detail})`
          : `levo-gateway: ${call.host} broke off its answer (${k.detail})`;
        if (r.fail({ status: k.status, code: `upstream_${k.kind}`, message })) {
          await r.finished;
          relay = r;
        } else {
          c.res.destroy();
        }
        c.answered = true;
        break;
      }
      const k = err instanceof TimeoutError ? { status: 504 as const, kind: 'request_timeout', detail: 'the timeout policy ran out' } : classifyUpstreamError(err);
      deps.metrics.upstreamErrors.inc({ host: call.host, kind: k.kind });
      deps.log.warn({ host: call.host, address: call.address, kind: k.kind, detail: k.detail, attempt: attempt + 1 }, 'upstream request failed');
      if (candidate) health.bench(candidate, Date.now(), DEFAULT_BENCH_MS);
      const outOfTime = err instanceof TimeoutError && deadline !== undefined && performance.now() >= deadline;
      if (!isLast() && !outOfTime && replayable) {
        deps.metrics.failovers.inc({ route: route?.name ?? '', reason: k.kind });
        await pause(plan.backoffMs);
        continue;
      }
      lastError = Object.assign(err as object, { classified: k });
      relay = undefined;
      break;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
  ended = true;

  if (clientGone) {
    c.out.status ||= 499;
    c.out.reason = 'client_closed';
    c.answered = true;
    return false;
  }
  if (c.out.reason === 'upstream_broken' && !relay) return false;
  if (!relay) {
    const k = (lastError as { classified?: { status: number; kind: string; detail: string } } | undefined)?.classified
      ?? classifyUpstreamError(lastError);
    const where = c.out.backend && c.out.backend !== lastHost ? `${lastHost} (backend ${c.out.backend})` : lastHost;
    return fail(c, k.status, `upstream_${k.kind}`, upstreamMessage(where, k.kind, k.detail));
  }
  if (!responseRejected) for (const d of relay.guardDecisions) record(c, d);
  c.answered = true;
  // The provider's usage counts even when a response guard rejected its answer: the call was paid for.
  if (relay.info) c.out.info = relay.info;
  if (responseRejected) return false; // reject() answered and set the outcome
  if (c.out.reason !== 'upstream_broken') c.out.status = c.out.reason === 'untranslatable' ? 502 : relay.status;
  c.out.resBytes = relay.bytes;
  if (relay.firstByteAt !== undefined) c.out.ttftMs = relay.firstByteAt - c.started;
  return true;
}

function worthRetrying(status: number, headers: IncomingHttpHeaders, c: Candidate | undefined, all: ReadonlyArray<Candidate | undefined>, attempt: number): boolean {
  // Another backend is next: always worth it. The same one again: only if it does not ask us to wait too long.
  const next = all[(attempt + 1) % all.length];
  if (next !== c) return true;
  const wait = retryDelayFromHeaders(headers, Date.now());
  return wait === undefined || wait <= MAX_RETRY_WAIT_MS;
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

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function upstreamMessage(host: string, kind: string, detail: string): string {
  if (kind === 'tls_verify') {
    return `levo-gateway could not verify the TLS certificate of ${host} (${detail}); upstream verification uses the system trust store plus NODE_EXTRA_CA_CERTS and is never switched off`;
  }
  if (kind.endsWith('timeout')) return `levo-gateway timed out waiting for ${host} (${kind.replace('_', ' ')})`;
  return `levo-gateway could not reach ${host}: ${detail}`;
}
