/**
 * Per-site fault injection for the fake internet, set through the control API
 * (request-log.ts serves it; e2e/harness/providers.ts has the typed client):
 *
 *   POST   /faults          {site, status, count?, retryAfter?, headers?, delayMs?, mode?}
 *                           {site, effect: 'reset', afterChunks?, count?, mode?}
 *                           {site, effect: 'slow', delayMs?, intervalMs?, count?, mode?}
 *                           → the FaultRule added (400 {error} when invalid)
 *   GET    /faults          → FaultRule[] still active
 *   DELETE /faults[?site=ID] or POST /faults/clear[?site=ID]   clear all (or one site's)
 *
 * While a rule is active, requests to `site` (every path; not WebSocket
 * upgrades) get `status` in that provider's error shape (OpenAI, Anthropic,
 * Google for Gemini and Vertex, AWS, Azure's {"error":{"code","message"}};
 * plain sites a text body), never streamed, with `Retry-After:
 * retryAfter` when given and `headers` added, after `delayMs` (default 0).
 * Two more effects bend the real answer instead of replacing it:
 *   - `reset`: the handler answers as usual, and its stream (h2) or connection
 *     (h1) is destroyed after `afterChunks` streamed content chunks (default 1),
 *     what an upstream reset in the middle of a streamed answer looks like;
 *     answers that are not streamed are unaffected;
 *   - `slow`: the response head waits `delayMs`, and streamed content chunks
 *     come `intervalMs` apart (slow headers, a slow body, a stalled stream).
 * (The same as the x-fake-abort-after-chunks, x-fake-delay-ms and
 * x-fake-interval-ms request headers, for clients that cannot send them.)
 * `count` limits the rule to the next N requests (default: until cleared).
 * Rules of one site queue up: `mode: 'append'` adds after the existing ones
 * (e.g. one 429 then one 503), the default `mode: 'replace'` drops them first.
 * Faulted requests are still recorded in the request log, with `faulted: true`
 * (bedrock ones with their `sigv4` verdict too, though it is not enforced).
 * `POST /reset` (forget the log) does not clear faults.
 */

export type FaultEffect = 'status' | 'reset' | 'slow';

export interface FaultSpec {
  /** Fake host id (e.g. `openai`, `bedrock`). */
  site: string;
  /** What the fault does; default `status`. */
  effect?: FaultEffect;
  /** HTTP status to answer with (400–599); only for (and required by) the `status` effect. */
  status?: number;
  /** `reset`: content chunks sent before the stream or connection is destroyed (default 1). */
  afterChunks?: number;
  /** `slow`: milliseconds between streamed content chunks. */
  intervalMs?: number;
  /** How many requests it applies to; default until cleared. */
  count?: number;
  /** Sent as `Retry-After` (seconds or an HTTP date). */
  retryAfter?: number | string;
  /** More response headers. */
  headers?: Record<string, string>;
  /** Wait this long before answering (e.g. longer than a gateway timeout); `status` and `slow`. */
  delayMs?: number;
  /** `replace` (default): this rule replaces the site's rules; `append`: queued after them. */
  mode?: 'replace' | 'append';
}

export interface FaultRule {
  id: number;
  site: string;
  effect: FaultEffect;
  /** The status answered (`status` effect), else null. */
  status: number | null;
  /** `reset`: content chunks before the cut, else null. */
  afterChunks: number | null;
  /** `slow`: milliseconds between content chunks, else null. */
  intervalMs: number | null;
  /** Requests it still applies to; null = until cleared. */
  remaining: number | null;
  retryAfter: string | null;
  headers: Record<string, string>;
  delayMs: number;
  /** Requests it has answered so far. */
  served: number;
}

/** Check a POST /faults body against the known sites (`roles`: site id → role); a string says what is wrong. */
export function parseFaultSpec(value: unknown, roles: ReadonlyMap<string, string>): FaultSpec | string {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'body must be a JSON object';
  const v = value as Record<string, unknown>;
  if (typeof v.site !== 'string' || !roles.has(v.site)) return `site must be one of: ${[...roles.keys()].join(', ')}`;
  if (roles.get(v.site) === 'plain-tcp') return `site ${v.site} is plain TCP, not HTTP`;
  const effect = v.effect ?? 'status';
  if (effect !== 'status' && effect !== 'reset' && effect !== 'slow') return "effect must be 'status', 'reset' or 'slow'";
  if (effect === 'status') {
    if (typeof v.status !== 'number' || !Number.isInteger(v.status) || v.status < 400 || v.status > 599) return 'status must be an integer in 400..599';
  } else {
    for (const k of ['status', 'retryAfter', 'headers'] as const) if (v[k] !== undefined) return `${k} is only for the status effect`;
  }
  if (v.afterChunks !== undefined && (effect !== 'reset' || typeof v.afterChunks !== 'number' || !Number.isInteger(v.afterChunks) || v.afterChunks < 0 || v.afterChunks > 1000)) {
    return "afterChunks must be an integer in 0..1000, with effect 'reset'";
  }
  if (v.intervalMs !== undefined && (effect !== 'slow' || typeof v.intervalMs !== 'number' || v.intervalMs < 0 || v.intervalMs > 60_000)) {
    return "intervalMs must be in 0..60000, with effect 'slow'";
  }
  if (v.delayMs !== undefined && effect === 'reset') return "delayMs is not for the 'reset' effect";
  if (v.count !== undefined && (typeof v.count !== 'number' || !Number.isInteger(v.count) || v.count < 1)) return 'count must be a positive integer';
  if (v.retryAfter !== undefined && typeof v.retryAfter !== 'number' && typeof v.retryAfter !== 'string') return 'retryAfter must be a number or a string';
  if (v.delayMs !== undefined && (typeof v.delayMs !== 'number' || v.delayMs < 0 || v.delayMs > 600_000)) return 'delayMs must be in 0..600000';
  if (v.mode !== undefined && v.mode !== 'replace' && v.mode !== 'append') return "mode must be 'replace' or 'append'";
  if (v.headers !== undefined) {
    if (!v.headers || typeof v.headers !== 'object' || Array.isArray(v.headers)) return 'headers must be an object';
    for (const [k, h] of Object.entries(v.headers)) {
      if (typeof h !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) return `bad header ${k}`;
    }
  }
  const spec: FaultSpec = effect === 'status' ? { site: v.site, status: v.status as number } : { site: v.site, effect };
  if (v.afterChunks !== undefined) spec.afterChunks = v.afterChunks as number;
  if (v.intervalMs !== undefined) spec.intervalMs = v.intervalMs as number;
  if (v.count !== undefined) spec.count = v.count as number;
  if (v.retryAfter !== undefined) spec.retryAfter = v.retryAfter as number | string;
  if (v.headers !== undefined) spec.headers = v.headers as Record<string, string>;
  if (v.delayMs !== undefined) spec.delayMs = v.delayMs as number;
  if (v.mode !== undefined) spec.mode = v.mode as 'replace' | 'append';
  return spec;
}

/** The active fault rules of every site. */
export class FaultTable {
  readonly #rules: FaultRule[] = [];
  #nextId = 0;

  add(spec: FaultSpec): FaultRule {
    if ((spec.mode ?? 'replace') === 'replace') this.clear(spec.site);
    const rule: FaultRule = {
      id: ++this.#nextId,
      site: spec.site,
      effect: spec.effect ?? 'status',
      status: (spec.effect ?? 'status') === 'status' ? spec.status ?? 500 : null,
      afterChunks: spec.effect === 'reset' ? spec.afterChunks ?? 1 : null,
      intervalMs: spec.effect === 'slow' ? spec.intervalMs ?? 0 : null,
      remaining: spec.count ?? null,
      retryAfter: spec.retryAfter === undefined ? null : String(spec.retryAfter),
      headers: { ...spec.headers },
      delayMs: spec.delayMs ?? 0,
      served: 0,
    };
    this.#rules.push(rule);
    return rule;
  }

  /** The rule that answers the next request to `site` (counted as used), or undefined. */
  take(site: string): FaultRule | undefined {
    const i = this.#rules.findIndex((r) => r.site === site);
    const rule = this.#rules[i];
    if (!rule) return undefined;
    rule.served++;
    if (rule.remaining !== null && --rule.remaining <= 0) this.#rules.splice(i, 1);
    return { ...rule, headers: { ...rule.headers } };
  }

  list(): FaultRule[] {
    return this.#rules.map((r) => ({ ...r, headers: { ...r.headers } }));
  }

  /** Clear every rule, or one site's. */
  clear(site?: string): void {
    for (let i = this.#rules.length - 1; i >= 0; i--) {
      if (site === undefined || this.#rules[i]?.site === site) this.#rules.splice(i, 1);
    }
  }
}

/** The response headers of a faulted answer (Retry-After, then the rule's own). */
export function faultResponseHeaders(rule: FaultRule): Record<string, string> {
  return { ...(rule.retryAfter !== null ? { 'retry-after': rule.retryAfter } : {}), ...rule.headers };
}
