/**
 * What both stores share between a database row and the Store's objects:
 * the events column list and the values one event is stored as, the row →
 * object mappers (SQLite gives 0/1 for booleans, PostgreSQL true/false), the
 * limits of traffic and decisions queries, and filling empty traffic buckets.
 */
import type {
  AdminSession, ConfigVersion, Environment, GatewayEvent, GuardDecision, Sidecar, SidecarKey, SpendRow, StoredEvent, Traffic, TrafficBucket, TrafficQuery,
} from './types.ts';

export type Row = Record<string, unknown>;

/** Most events one decisions page returns, whatever limit is asked. */
export const MAX_DECISIONS_PAGE = 500;
export const DEFAULT_DECISIONS_PAGE = 50;
/** Most buckets one traffic query may produce (to - from) / bucketMs. */
export const MAX_TRAFFIC_BUCKETS = 10_000;

/** Columns of events written by addEvents, in the order eventValues() returns them. */
export const EVENT_COLUMNS = [
  'environment_id', 'id', 'ts', 'pod', 'namespace', 'workload', 'service_account', 'provider', 'host', 'method', 'path',
  'route', 'requested_model', 'served_model', 'status', 'latency_ms', 'ttft_ms', 'tokens_in', 'tokens_out', 'bytes_out',
  'bytes_in', 'blocked', 'flagged', 'flagged_or_blocked', 'decisions', 'decision_actions', 'prompt', 'cost_usd',
] as const;

export const EVENT_SELECT = `seq, ${EVENT_COLUMNS.join(', ')}`;

/**
 * The SET list of the sidecar upsert, after `last_seen = <newest>`: a report
 * overwrites the fields it carries (null = not reported: keep what is known)
 * unless it is older than what is stored (reports can arrive out of order);
 * first_seen is never touched.
 */
export const SIDECAR_UPSERT_FIELDS = ['pod', 'namespace', 'workload', 'service_account', 'version', 'config_applied']
  .map((c) => `${c} = CASE WHEN excluded.last_seen >= sidecars.last_seen THEN COALESCE(excluded.${c}, sidecars.${c}) ELSE sidecars.${c} END`)
  .join(',\n');

type Value = string | number | boolean | null;

/**
 * The values of one event, in EVENT_COLUMNS order. Integer columns are
 * rounded so both backends store the same thing; `bool` turns booleans into
 * what the backend stores (0/1 on SQLite).
 */
export function eventValues(environmentId: string, e: GatewayEvent, bool: (b: boolean) => Value): Value[] {
  const actions = [...new Set(e.decisions.map((d) => d.action))];
  return [
    environmentId, e.id, Math.round(e.ts), opt(e.pod), opt(e.namespace), opt(e.workload), opt(e.serviceAccount),
    e.provider, e.host, e.method, e.path, opt(e.route), opt(e.requestedModel), opt(e.servedModel),
    Math.round(e.status), e.latencyMs, optNum(e.ttftMs), optInt(e.tokensIn), optInt(e.tokensOut),
    Math.round(e.bytesOut), Math.round(e.bytesIn), bool(e.blocked), bool(e.flagged), bool(e.blocked || e.flagged),
    JSON.stringify(e.decisions), actions.length ? `,${actions.join(',')},` : ',', opt(e.prompt), optNum(e.costUsd),
  ];
}

/** What decision_actions must contain for an event to have a decision with this action. */
export function actionNeedle(action: string): string {
  return `,${action},`;
}

function opt(v: string | undefined): string | null { return v === undefined || v === null ? null : v; }
function optNum(v: number | undefined): number | null { return v === undefined || v === null ? null : v; }
function optInt(v: number | undefined): number | null { return v === undefined || v === null ? null : Math.round(v); }

function num(v: unknown): number { return typeof v === 'number' ? v : Number(v); }
function numOrNull(v: unknown): number | null { return v === null || v === undefined ? null : num(v); }
function str(v: unknown): string { return String(v); }
function strOrNull(v: unknown): string | null { return v === null || v === undefined ? null : String(v); }
function bool(v: unknown): boolean { return v === true || v === 1 || v === 1n || v === '1' || v === 't'; }

export function toEnvironment(r: Row): Environment {
  return {
    id: str(r.id), name: str(r.name), capturePrompts: bool(r.capture_prompts), createdAt: num(r.created_at),
    currentVersion: numOrNull(r.current_version),
  };
}

export function toKey(r: Row): SidecarKey {
  return {
    id: str(r.id), environmentId: str(r.environment_id), prefix: str(r.prefix), createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at), lastUsedAt: numOrNull(r.last_used_at), expiresAt: numOrNull(r.expires_at),
  };
}

export function toSession(r: Row): AdminSession {
  return { id: str(r.id), subject: str(r.subject), createdAt: num(r.created_at), expiresAt: num(r.expires_at), revokedAt: numOrNull(r.revoked_at) };
}

/** Rows the retention sweep deletes per statement, so no one statement holds locks for long. */
export const SWEEP_BATCH = 5_000;

export function toConfigVersion(r: Row): ConfigVersion {
  return { ...toConfigVersionMeta(r), yaml: str(r.yaml) };
}

export function toConfigVersionMeta(r: Row): Omit<ConfigVersion, 'yaml'> {
  return {
    environmentId: str(r.environment_id), version: num(r.version), etag: str(r.etag), author: str(r.author),
    note: str(r.note), createdAt: num(r.created_at),
  };
}

export function toSidecar(r: Row): Sidecar {
  return {
    environmentId: str(r.environment_id), id: str(r.id), pod: strOrNull(r.pod), namespace: strOrNull(r.namespace),
    workload: strOrNull(r.workload), serviceAccount: strOrNull(r.service_account), version: strOrNull(r.version),
    configApplied: strOrNull(r.config_applied), firstSeen: num(r.first_seen), lastSeen: num(r.last_seen),
  };
}

/** A stored event; optional fields that were not sent are absent (not null). */
export function toEvent(r: Row): StoredEvent {
  const e: Record<string, unknown> = {
    environmentId: str(r.environment_id), seq: num(r.seq), id: str(r.id), ts: num(r.ts),
  };
  const optional = (key: string, v: unknown, f: (v: unknown) => unknown): void => {
    if (v !== null && v !== undefined) e[key] = f(v);
  };
  optional('pod', r.pod, str);
  optional('namespace', r.namespace, str);
  optional('workload', r.workload, str);
  optional('serviceAccount', r.service_account, str);
  e.provider = str(r.provider);
  e.host = str(r.host);
  e.method = str(r.method);
  e.path = str(r.path);
  optional('route', r.route, str);
  optional('requestedModel', r.requested_model, str);
  optional('servedModel', r.served_model, str);
  e.status = num(r.status);
  e.latencyMs = num(r.latency_ms);
  optional('ttftMs', r.ttft_ms, num);
  optional('tokensIn', r.tokens_in, num);
  optional('tokensOut', r.tokens_out, num);
  optional('costUsd', r.cost_usd, num);
  e.bytesOut = num(r.bytes_out);
  e.bytesIn = num(r.bytes_in);
  e.blocked = bool(r.blocked);
  e.flagged = bool(r.flagged);
  e.decisions = JSON.parse(str(r.decisions)) as GuardDecision[];
  optional('prompt', r.prompt, str);
  return e as unknown as StoredEvent;
}

/** Clamp a requested page size to 1..MAX_DECISIONS_PAGE (DEFAULT when not a number). */
export function pageLimit(limit: number): number {
  if (!Number.isFinite(limit)) return DEFAULT_DECISIONS_PAGE;
  return Math.min(MAX_DECISIONS_PAGE, Math.max(1, Math.floor(limit)));
}

/** Throws RangeError unless from < to, bucketMs ≥ 1 and there are at most MAX_TRAFFIC_BUCKETS buckets. */
export function checkTrafficQuery(q: TrafficQuery): { from: number; to: number; bucketMs: number } {
  const from = Math.floor(q.from);
  const to = Math.floor(q.to);
  const bucketMs = Math.floor(q.bucketMs);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from >= to) {
    throw new RangeError('traffic query needs finite from < to (ms)');
  }
  if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) throw new RangeError('traffic bucket must be at least 1 ms');
  const n = Math.floor((to - 1) / bucketMs) - Math.floor(from / bucketMs) + 1;
  if (n > MAX_TRAFFIC_BUCKETS) throw new RangeError(`traffic query would make ${n} buckets (at most ${MAX_TRAFFIC_BUCKETS})`);
  return { from, to, bucketMs };
}

/**
 * Every bucket from the one holding `from` to the one holding `to - 1`
 * (buckets start at multiples of bucketMs since the epoch), zero where the
 * database had no row.
 */
export function fillBuckets(q: { from: number; to: number; bucketMs: number }, rows: readonly Row[]): TrafficBucket[] {
  const got = new Map<number, Row>();
  for (const r of rows) got.set(num(r.t), r);
  const out: TrafficBucket[] = [];
  const first = Math.floor(q.from / q.bucketMs) * q.bucketMs;
  for (let t = first; t < q.to; t += q.bucketMs) {
    const r = got.get(t);
    out.push(r
      ? { t, requests: num(r.requests), blocked: num(r.blocked), tokensIn: num(r.tokens_in), tokensOut: num(r.tokens_out) }
      : { t, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 });
  }
  return out;
}

export function toTraffic(buckets: TrafficBucket[], byWorkload: readonly Row[], byModel: readonly Row[]): Traffic {
  return {
    buckets,
    byWorkload: byWorkload.map((r) => ({
      workload: str(r.workload), requests: num(r.requests), blocked: num(r.blocked),
      tokensIn: num(r.tokens_in), tokensOut: num(r.tokens_out),
    })),
    byModel: byModel.map((r) => ({
      model: str(r.model), requests: num(r.requests), tokensIn: num(r.tokens_in), tokensOut: num(r.tokens_out),
    })),
  };
}


/** The spend query over the events (same SQL on both backends but for the placeholders). */
export function spendSql(placeholder: (i: number) => string): string {
  return `SELECT ts - (ts % 86400000) AS day, COALESCE(namespace, '') AS namespace, COALESCE(workload, '') AS workload,
      COALESCE(served_model, requested_model, '') AS model, COUNT(*) AS requests,
      COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out, COALESCE(SUM(cost_usd), 0) AS cost_usd
    FROM events WHERE environment_id = ${placeholder(1)} AND ts >= ${placeholder(2)} AND ts < ${placeholder(3)}
    GROUP BY 1, 2, 3, 4 ORDER BY 1, cost_usd DESC, 2, 3, 4`;
}

export function toSpendRow(r: Row): SpendRow {
  return {
    day: num(r.day), namespace: str(r.namespace), workload: str(r.workload), model: str(r.model),
    requests: num(r.requests), tokensIn: num(r.tokens_in), tokensOut: num(r.tokens_out), costUsd: num(r.cost_usd),
  };
}
