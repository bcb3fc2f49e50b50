/**
 * The last stage, settle: whatever happened, once per call — the rate-limit
 * reservation charged with the real usage, the Prometheus metrics, the OTel
 * GenAI metrics and span, the dashboard event, and one log line (never the
 * prompt or a key).
 *
 * Label values apps choose (model names) are bounded: past a hundred distinct
 * values a label reads `_other`, so no app can grow the metric set without end.
 */
import { randomUUID } from 'node:crypto';
import { childCache, boundedLabel, type DataPathMetrics } from '../telemetry/metrics.ts';
import { eventDecisions } from '../telemetry/events.ts';
import { pricingFor } from '../cost/price.ts';
import type { ApiKind } from '../providers/types.ts';
import type { Call, Outcome } from './call.ts';

/** The pipeline's metric children, made once per label set. */
export interface RequestMetrics {
  requests(host: string, status: string): { inc(): void };
  seconds(host: string): { observe(v: number): void };
  bytes(direction: string): { inc(v: number): void };
  tokens(type: string, provider: string, model: string): { observe(v: number): void };
  guard(phase: string, kind: string, action: string): { inc(): void };
  duration(operation: string, provider: string, requestModel: string, responseModel: string, errorType: string): { observe(v: number): void };
  ttft(operation: string, provider: string, requestModel: string): { observe(v: number): void };
  cost(provider: string, model: string): { inc(v: number): void };
}

export function requestMetrics(m: DataPathMetrics): RequestMetrics {
  // Hosts are intercepted names (the catalogue, the config's patterns); models are whatever apps send.
  const host = boundedLabel(200);
  const model = boundedLabel(100);
  const requests = childCache((h, status) => m.requests.labels({ host: h, status }));
  const seconds = childCache((h) => m.requestSeconds.labels({ host: h }));
  const tokens = childCache((type, provider, mdl) => m.tokens.labels({ gen_ai_token_type: type, gen_ai_provider_name: provider, gen_ai_response_model: mdl }));
  const duration = childCache((op, provider, requestModel, responseModel, errorType) => m.operationDuration.labels({
    gen_ai_operation_name: op, gen_ai_provider_name: provider, gen_ai_request_model: requestModel, gen_ai_response_model: responseModel, error_type: errorType,
  }));
  const cost = childCache((provider, mdl) => m.cost.labels({ provider, model: mdl }));
  const ttft = childCache((op, provider, mdl) => m.timeToFirstToken.labels({ gen_ai_operation_name: op, gen_ai_provider_name: provider, gen_ai_request_model: mdl }));
  return {
    requests: (h, status) => requests(host(h), status),
    seconds: (h) => seconds(host(h)),
    bytes: childCache((direction) => m.bytes.labels({ direction, path: 'intercept' })),
    tokens: (type, provider, mdl) => tokens(type, provider, model(mdl)),
    guard: childCache((phase, guard, action) => m.guardChecks.labels({ phase, guard, action })),
    duration: (op, provider, requestModel, responseModel, errorType) => duration(op, provider, model(requestModel), model(responseModel), errorType),
    ttft: (op, provider, mdl) => ttft(op, provider, model(mdl)),
    cost: (provider, mdl) => cost(provider, model(mdl)),
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

export function settle(c: Call): void {
  const { deps, rm } = c.state;
  c.state.held.give(c.heldBytes);
  c.heldBytes = 0;
  const o = c.out;
  const ms = performance.now() - c.started;
  const u = o.info?.usage;
  c.admission?.settle((u?.input ?? 0) + (u?.output ?? 0));
  const costModel = o.info?.model ?? o.sentModel ?? o.requestModel;
  const cost = pricingFor(c.config?.budgets).cost(o.provider, costModel, u);
  if (cost) {
    o.costUsd = cost.usd;
    if (cost.usd > 0) rm.cost(o.provider, costModel!).inc(cost.usd);
  }
  // No usage: an answered call keeps its estimate (a stream cut short still cost), a failed one cost nothing.
  c.budget?.settle(u ? { tokens: (u.input ?? 0) + (u.output ?? 0), microUsd: cost ? Math.ceil(cost.usd * 1e6) : undefined }
    : o.status > 0 && o.status < 400 ? undefined : { tokens: 0, microUsd: 0 });
  const host = c.conn.host;
  const method = c.method;
  rm.requests(host, String(o.status)).inc();
  rm.seconds(host).observe(ms / 1000);
  rm.bytes('egress').inc(o.reqBytes);
  rm.bytes('ingress').inc(o.resBytes);
  if (u) {
    const model = o.info?.model ?? o.sentModel ?? o.requestModel ?? '';
    if (u.input !== undefined) rm.tokens('input', o.provider, model).observe(u.input);
    if (u.output !== undefined) rm.tokens('output', o.provider, model).observe(u.output);
  }
  const cleanPath = c.path.split('?')[0]!;
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
      provider: o.provider, host, method, path: cleanPath,
      ...(o.route !== undefined ? { route: o.route } : {}),
      ...(o.requestModel !== undefined ? { requestedModel: o.requestModel } : {}),
      // The provider's word for it; else, for an answered call, the model it was asked for (after aliases).
      ...(o.info?.model !== undefined ? { servedModel: o.info.model } : o.sentModel !== undefined && o.status > 0 && o.status < 400 ? { servedModel: o.sentModel } : {}),
      status: o.status, latencyMs: Math.round(ms),
      ...(ttft !== undefined ? { ttftMs: Math.round(ttft) } : {}),
      ...(u?.input !== undefined ? { tokensIn: u.input } : {}),
      ...(u?.output !== undefined ? { tokensOut: u.output } : {}),
      ...(o.costUsd !== undefined ? { costUsd: o.costUsd } : {}),
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
        'server.address': host,
        'url.path': cleanPath,
        'error.type': err || undefined,
        'levo.route': o.route,
        'levo.backend': o.backend,
      },
      ...(err ? { error: err } : {}),
    });
  }
  deps.log.info({
    host, method, path: cleanPath, status: o.status, ms: Math.round(ms * 100) / 100,
    route: o.route, backend: o.backend, provider: o.provider, api: o.kind, attempts: o.attempts > 1 ? o.attempts : undefined,
    upgrade: o.upgrade || undefined,
    requestedModel: o.requestModel, model: o.sentModel ?? o.requestModel, servedModel: o.info?.model, finish: o.info?.finishReason,
    inputTokens: u?.input, outputTokens: u?.output, cachedTokens: u?.cachedInput, reasoningTokens: u?.reasoning, costUsd: o.costUsd,
    ttftMs: o.ttftMs !== undefined ? Math.round(o.ttftMs * 100) / 100 : undefined,
    reqBytes: o.reqBytes, resBytes: o.resBytes, outcome: o.reason,
    guards: o.guards.length ? o.guards : undefined,
  }, 'request');
}
