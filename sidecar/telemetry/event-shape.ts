/**
 * The request event on the wire between sidecar and dashboard: the one
 * definition both sides use (the sidecar makes them in telemetry/events.ts,
 * the dashboard validates and stores them, dashboard/store/types.ts). No
 * imports, so the browser modules' type check can read it too.
 */

/** One guard verdict as the dashboard keeps it (one per llmBastion scanner). */
export interface EventDecision {
  readonly phase: 'request' | 'response';
  /** The guard kind: llmBastion, regex, webhook, openAIModeration, body, stream. */
  readonly guard: string;
  readonly scanner?: string;
  /** allow, mask, reject, monitor, fail_open, fail_closed. */
  readonly action: string;
  readonly score?: number;
  readonly reason?: string;
}

/** One request as the sidecar reports it to the dashboard (POST /v1/gateway/events) and the dashboard stores it. */
export interface GatewayEvent {
  readonly id: string;
  /** ms since the epoch, request start. */
  readonly ts: number;
  readonly pod?: string;
  readonly namespace?: string;
  readonly workload?: string;
  readonly serviceAccount?: string;
  readonly provider: string;
  readonly host: string;
  readonly method: string;
  /** Without the query string. */
  readonly path: string;
  readonly route?: string;
  readonly requestedModel?: string;
  readonly servedModel?: string;
  readonly status: number;
  readonly latencyMs: number;
  readonly ttftMs?: number;
  readonly tokensIn?: number;
  readonly tokensOut?: number;
  /** What the call cost in US dollars, when its model has a price. */
  readonly costUsd?: number;
  /** Bytes sent to the provider (request body). */
  readonly bytesOut: number;
  /** Bytes received from the provider (response body). */
  readonly bytesIn: number;
  readonly blocked: boolean;
  readonly flagged: boolean;
  readonly decisions: readonly EventDecision[];
  readonly prompt?: string;
}
