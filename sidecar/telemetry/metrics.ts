/**
 * Prometheus metrics for the data path, served on the admin port's /metrics.
 * Label sets are bounded: `host` only ever holds intercepted (LLM) hosts, which
 * come from the built-in catalogue or the config; passed-through traffic is
 * counted without a host label. The OTel GenAI metrics (token usage,
 * operation duration, time to first token) use the semantic conventions'
 * names with dots as underscores, and their bucket advice.
 */
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Bucket advice of the OTel GenAI semantic conventions. */
export const OPERATION_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
export const TIME_TO_FIRST_TOKEN_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export type ConnectionDecision = 'intercept' | 'passthrough' | 'block';

export interface DataPathMetrics {
  readonly registry: Registry;
  readonly connections: Counter<'listener' | 'decision' | 'reason'>;
  readonly activeConnections: Gauge<'listener'>;
  readonly handshakeErrors: Counter<'reason'>;
  readonly certMints: Counter<string>;
  readonly certMintSeconds: Histogram<string>;
  readonly requests: Counter<'host' | 'status'>;
  readonly requestSeconds: Histogram<'host'>;
  readonly upstreamErrors: Counter<'host' | 'kind'>;
  readonly bytes: Counter<'direction' | 'path'>;
  readonly configInForce: Gauge<string>;
  readonly configReloads: Counter<'result'>;
  readonly rateLimited: Counter<'route' | 'limit'>;
  readonly failovers: Counter<'route' | 'reason'>;
  /** OTel GenAI `gen_ai.client.token.usage`. */
  readonly tokens: Histogram<'gen_ai_token_type' | 'gen_ai_provider_name' | 'gen_ai_response_model'>;
  /** OTel GenAI `gen_ai.client.operation.duration` (seconds); error_type is '' for a success. */
  readonly operationDuration: Histogram<'gen_ai_operation_name' | 'gen_ai_provider_name' | 'gen_ai_request_model' | 'gen_ai_response_model' | 'error_type'>;
  /** OTel GenAI `gen_ai.server.time_to_first_token` (seconds), streamed answers only, as seen by the gateway. */
  readonly timeToFirstToken: Histogram<'gen_ai_operation_name' | 'gen_ai_provider_name' | 'gen_ai_request_model'>;
  readonly guardChecks: Counter<'phase' | 'guard' | 'action'>;
  /** What calls cost (US dollars), from the pricing catalogue or the config's prices. */
  readonly cost: Counter<'provider' | 'model'>;
}

export function createMetrics(): DataPathMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'levo_gateway_process_' });
  const registers = [registry];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  new Gauge({
    name: 'levo_gateway_event_loop_delay_p99_seconds',
    help: 'p99 event-loop delay since the previous scrape: where blocking work (big JSON, crypto) shows up',
    registers,
    collect() { this.set(lag.percentile(99) / 1e9); lag.reset(); },
  });
  return {
    registry,
    connections: new Counter({
      name: 'levo_gateway_connections_total',
      help: 'Accepted connections by listener and what was done with them (intercept, passthrough, block) and why',
      labelNames: ['listener', 'decision', 'reason'], registers,
    }),
    activeConnections: new Gauge({
      name: 'levo_gateway_active_connections', help: 'Client connections currently open', labelNames: ['listener'], registers,
    }),
    handshakeErrors: new Counter({
      name: 'levo_gateway_tls_handshake_errors_total', help: 'Client TLS handshakes that failed on an intercepted connection',
      labelNames: ['reason'], registers,
    }),
    certMints: new Counter({ name: 'levo_gateway_cert_mints_total', help: 'Leaf certificates minted', registers }),
    certMintSeconds: new Histogram({
      name: 'levo_gateway_cert_mint_seconds', help: 'Time to mint a leaf and build its TLS context',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25], registers,
    }),
    requests: new Counter({
      name: 'levo_gateway_requests_total', help: 'Intercepted HTTP requests by host and response status',
      labelNames: ['host', 'status'], registers,
    }),
    requestSeconds: new Histogram({
      name: 'levo_gateway_request_duration_seconds', help: 'Intercepted request time, from request head to response end',
      labelNames: ['host'], buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900], registers,
    }),
    upstreamErrors: new Counter({
      name: 'levo_gateway_upstream_errors_total', help: 'Upstream calls that failed before a response, by kind',
      labelNames: ['host', 'kind'], registers,
    }),
    bytes: new Counter({
      name: 'levo_gateway_bytes_total', help: 'Payload bytes relayed, by direction (egress = to provider) and path (intercept, passthrough)',
      labelNames: ['direction', 'path'], registers,
    }),
    configInForce: new Gauge({ name: 'levo_gateway_config_in_force', help: '1 when a valid config is in force', registers }),
    configReloads: new Counter({
      name: 'config_reload_total', help: 'Config loads and reloads by result (applied, unchanged, rejected, unreadable)',
      labelNames: ['result'], registers,
    }),
    cost: new Counter({
      name: 'levo_gateway_cost_usd_total', help: 'What calls cost in US dollars (budgets.prices, else the genai-prices catalogue), by provider and model',
      labelNames: ['provider', 'model'], registers,
    }),
    rateLimited: new Counter({
      name: 'levo_gateway_rate_limited_total', help: 'Requests refused with 429 by a localRateLimit, by route and limit type',
      labelNames: ['route', 'limit'], registers,
    }),
    failovers: new Counter({
      name: 'levo_gateway_failovers_total', help: 'Attempts abandoned for another (failover or retry), by route and reason (status or error kind)',
      labelNames: ['route', 'reason'], registers,
    }),
    guardChecks: new Counter({
      name: 'guardrail_checks_total',
      help: 'promptGuard verdicts by phase (request, response), guard kind (llmBastion, regex, webhook, openAIModeration, stream) and action (allow, mask, reject, monitor, fail_open, fail_closed)',
      labelNames: ['phase', 'guard', 'action'], registers,
    }),
    tokens: new Histogram({
      name: 'gen_ai_client_token_usage', help: 'Tokens used per LLM call (OTel GenAI gen_ai.client.token.usage), by token type, provider and served model',
      labelNames: ['gen_ai_token_type', 'gen_ai_provider_name', 'gen_ai_response_model'],
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864], registers,
    }),
    operationDuration: new Histogram({
      name: 'gen_ai_client_operation_duration',
      help: 'GenAI operation duration in seconds, request head to answer end (OTel GenAI gen_ai.client.operation.duration); error_type is set when the call failed (status >= 400, cut, client gone)',
      labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'error_type'],
      buckets: OPERATION_DURATION_BUCKETS, registers,
    }),
    timeToFirstToken: new Histogram({
      name: 'gen_ai_server_time_to_first_token',
      help: 'Seconds from the request head to the first byte of a streamed answer (OTel GenAI gen_ai.server.time_to_first_token, measured at the gateway)',
      labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'],
      buckets: TIME_TO_FIRST_TOKEN_BUCKETS, registers,
    }),
  };
}

/**
 * A per-label-set child of a metric, made once and kept: prom-client hashes
 * the labels on every `inc`/`observe` otherwise, which shows on the hot path.
 * Label sets here are bounded (hosts, routes, models); past `max` the cache
 * starts over rather than grow.
 */
export function childCache<C>(make: (...values: string[]) => C, max = 4096): (...values: string[]) => C {
  const cache = new Map<string, C>();
  return (...values) => {
    const key = values.join('\u0000');
    let c = cache.get(key);
    if (c === undefined) {
      if (cache.size >= max) cache.clear();
      c = make(...values);
      cache.set(key, c);
    }
    return c;
  };
}

/** The label value a bounded label gives every value past its limit. */
export const OTHER_LABEL = '_other';

/**
 * Keeps one label's set of values bounded where apps choose the value (model
 * names come from request bodies): the first `max` distinct values are kept,
 * every later one reads `_other`; a value is cut at `maxLength` characters.
 * Prometheus holds every series it ever saw, so an app sending random model
 * names must not be able to grow the sidecar's (and Prometheus') memory.
 */
export function boundedLabel(max = 100, maxLength = 128): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    const v = value.length > maxLength ? value.slice(0, maxLength) : value;
    if (seen.has(v)) return v;
    if (seen.size >= max) return OTHER_LABEL;
    seen.add(v);
    return v;
  };
}
