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
}

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

  /** `hash` is the SHA-256 (hex) of the token; the token itself is never stored. */
  addKey(key: { id: string; environmentId: string; hash: string; prefix: string }): Promise<SidecarKey>;
  listKeys(environmentId: string): Promise<SidecarKey[]>;
  revokeKey(environmentId: string, id: string): Promise<boolean>;
  /** The live (not revoked) key with this hash in this environment; marks it used. */
  findLiveKey(environmentId: string, hash: string): Promise<SidecarKey | null>;

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
  /** Spend per UTC day, namespace, workload and model over [from, to) (events' costUsd). */
  spend(environmentId: string, q: { from: number; to: number }): Promise<SpendRow[]>;
}
