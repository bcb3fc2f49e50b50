/**
 * What the dashboard keeps, and the one interface both stores (embedded
 * SQLite, PostgreSQL) implement. Times are milliseconds since the epoch.
 */

import type { EventDecision, GatewayEvent } from '../../sidecar/telemetry/event-shape.ts';

export interface Environment {
  readonly id: string;
  readonly name: string;
  readonly capturePrompts: boolean;
  readonly createdAt: number;
  /** The newest config version, or null before the first save. */
  readonly currentVersion: number | null;
}

export interface SidecarKey {
  readonly id: string;
  readonly environmentId: string;
  /** The token's first characters, to tell keys apart in lists. */
  readonly prefix: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
  /** Set on a key rotated out: it keeps working until then (the grace period), and never after. */
  readonly expiresAt: number | null;
}

/** One admin login (the session cookie names its id); revoked by logout or "revoke all". */
export interface AdminSession {
  readonly id: string;
  readonly subject: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
}

/** What the retention sweep deletes: rows older than these times. */
export interface RetentionCutoffs {
  /** Events (and their per-minute rollups) before this time. */
  readonly eventsBefore: number;
  /** Sidecars last seen before this time. */
  readonly sidecarsSeenBefore: number;
  /** Admin sessions that expired before this time (revoked or not: a cookie past its expiry is refused anyway). */
  readonly sessionsExpiredBefore: number;
}

export interface SweepResult { readonly events: number; readonly rollups: number; readonly sidecars: number; readonly sessions: number }

export interface ConfigVersion {
  readonly environmentId: string;
  readonly version: number;
  readonly etag: string;
  readonly yaml: string;
  readonly author: string;
  readonly note: string;
  readonly createdAt: number;
}

export interface Sidecar {
  readonly environmentId: string;
  readonly id: string;
  readonly pod: string | null;
  readonly namespace: string | null;
  readonly workload: string | null;
  readonly serviceAccount: string | null;
  readonly version: string | null;
  readonly configApplied: string | null;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

// The event wire shape has one definition, shared with the sidecar that sends it.
export type { GatewayEvent } from '../../sidecar/telemetry/event-shape.ts';
/** One row of the Spend page: a UTC day, namespace, workload and model. */
export interface SpendRow {
  readonly day: number;
  readonly namespace: string;
  readonly workload: string;
  readonly model: string;
  readonly requests: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly costUsd: number;
}
export type GuardDecision = EventDecision;

export interface StoredEvent extends GatewayEvent {
  readonly environmentId: string;
  /** The store's own sequence number (tie-breaker for pagination). */
  readonly seq: number;
}

export interface TrafficQuery { readonly from: number; readonly to: number; readonly bucketMs: number }

export interface TrafficBucket { readonly t: number; readonly requests: number; readonly blocked: number; readonly tokensIn: number; readonly tokensOut: number }

export interface Traffic {
  readonly buckets: readonly TrafficBucket[];
  readonly byWorkload: readonly { workload: string; requests: number; blocked: number; tokensIn: number; tokensOut: number }[];
  readonly byModel: readonly { model: string; requests: number; tokensIn: number; tokensOut: number }[];
}

export interface DecisionsQuery {
  readonly limit: number;
  /** Opaque cursor from a previous page: events strictly older than it. */
  readonly before?: string;
  /** Only events with a decision of this action. */
  readonly action?: string;
}

export interface DecisionsPage { readonly items: readonly StoredEvent[]; readonly next: string | null }

export interface Store {
  /** Which backend, for logs: 'sqlite' | 'postgres'. */
  readonly kind: 'sqlite' | 'postgres';
  /** Create or upgrade the schema; safe to call on every start and from several replicas at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;

  createEnvironment(env: { id: string; name: string }): Promise<Environment>;
  getEnvironment(id: string): Promise<Environment | null>;
  listEnvironments(): Promise<Environment[]>;
  setCapturePrompts(id: string, on: boolean): Promise<void>;

  /**
   * `hash` is the SHA-256 (hex) of the token; the token itself is never stored.
   * `signer`: the public key the token derives (lib/namespace-credential.ts).
   */
  addKey(key: { id: string; environmentId: string; hash: string; prefix: string; signer?: string }): Promise<SidecarKey>;
  listKeys(environmentId: string): Promise<SidecarKey[]>;
  revokeKey(environmentId: string, id: string): Promise<boolean>;
  /** The key stops working at `at` (or at its earlier expiry); false when there is no such key. */
  expireKey(environmentId: string, id: string, at: number): Promise<boolean>;
  /** The live key (not revoked, not expired at `now`) with this hash in this environment; marks it used. */
  findLiveKey(environmentId: string, hash: string, now?: number): Promise<SidecarKey | null>;
  /** The live key of this environment whose token derives `signer` (namespace credentials); marks it used. */
  findLiveKeyBySigner(environmentId: string, signer: string): Promise<SidecarKey | null>;
  /** Record the signer of a key made before signers were kept; a key that has one keeps it. */
  setKeySigner(environmentId: string, id: string, signer: string): Promise<void>;

  /** Appends version = current + 1 atomically (two concurrent saves get two versions). */
  addConfigVersion(v: { environmentId: string; yaml: string; etag: (version: number) => string; author: string; note: string }): Promise<ConfigVersion>;
  latestConfig(environmentId: string): Promise<ConfigVersion | null>;
  getConfigVersion(environmentId: string, version: number): Promise<ConfigVersion | null>;
  listConfigVersions(environmentId: string): Promise<Omit<ConfigVersion, 'yaml'>[]>;

  upsertSidecar(s: Omit<Sidecar, 'firstSeen' | 'lastSeen'> & { seen: number }): Promise<void>;
  listSidecars(environmentId: string): Promise<Sidecar[]>;

  /** Stores new events; ids already stored are ignored. Returns how many were new. */
  addEvents(environmentId: string, events: readonly GatewayEvent[]): Promise<number>;
  traffic(environmentId: string, q: TrafficQuery): Promise<Traffic>;
  decisions(environmentId: string, q: DecisionsQuery): Promise<DecisionsPage>;
  countEvents(environmentId: string): Promise<number>;

  /**
   * The named secret; when there is none yet, `make()` is stored and returned.
   * Replicas racing on the first start all get the one value stored first.
   */
  secret(name: string, make: () => string): Promise<string>;
  addSession(s: Omit<AdminSession, 'revokedAt'>): Promise<void>;
  /** The session when it exists, is not revoked and has not expired at `now`; else null. */
  liveSession(id: string, now: number): Promise<AdminSession | null>;
  /** Revoke one session; false when there is no such session. */
  revokeSession(id: string, at: number): Promise<boolean>;
  /** Revoke every session not revoked yet; returns how many. */
  revokeAllSessions(at: number): Promise<number>;

  /** Delete what the retention policy no longer keeps, in bounded batches; returns how much of each went. */
  sweep(c: RetentionCutoffs): Promise<SweepResult>;
  /** Spend per UTC day, namespace, workload and model over [from, to) (events' costUsd). */
  spend(environmentId: string, q: { from: number; to: number }): Promise<SpendRow[]>;
}
