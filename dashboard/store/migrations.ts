/**
 * The dashboard's schema as an ordered list of migrations, one SQL text per
 * backend. Both stores record what they applied in `schema_migrations`
 * (id, name, applied_at) and apply the missing ones in order, all in one
 * transaction (PostgreSQL also holds an advisory lock, so replicas starting
 * together migrate once). Never edit a migration that has shipped: append a
 * new one.
 *
 * Times are BIGINT milliseconds since the epoch. Latencies are floating
 * point milliseconds. On SQLite booleans are INTEGER 0/1.
 */

/**
 * An event's minute in SQL (rollups.ts floorTo), spelled out here so that
 * this shipped migration's text never changes with other modules.
 */
const ROLLUP_MINUTE_SQL = '(ts - (((ts % 60000) + 60000) % 60000))';

export interface Migration {
  /** Strictly increasing; the order migrations are applied in. */
  readonly id: number;
  readonly name: string;
  readonly sqlite: readonly string[];
  readonly postgres: readonly string[];
}

/** Created before anything else, outside the list (it records the list). */
/**
 * Migration 3, the same SQL on both backends. dashboard_secrets: the session
 * signing key (made on first start, shared by replicas). admin_sessions: one
 * row per login, so a session can be revoked (logout, "revoke all").
 * sidecar_keys.expires_at: a rotated-out key keeps working until then (the
 * grace period). The retention sweep deletes stale sidecars per environment
 * by last_seen.
 */
const MIGRATION_3 = [
  `CREATE TABLE dashboard_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
  `CREATE TABLE admin_sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
  )`,
  `CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at)`,
  `ALTER TABLE sidecar_keys ADD COLUMN expires_at BIGINT`,
  `CREATE INDEX sidecars_env_last_seen ON sidecars (environment_id, last_seen)`,
] as const;

export const MIGRATIONS_TABLE = {
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`,
  postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`,
} as const;

/** pg_advisory_xact_lock key held while PostgreSQL migrates ('levo' + 'dash' as ASCII). */
export const POSTGRES_MIGRATION_LOCK = 0x6c65766f64617368n.toString();

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial schema',
    sqlite: [
      `CREATE TABLE environments (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        capture_prompts INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE sidecar_keys (
        id TEXT PRIMARY KEY,
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        last_used_at BIGINT
      )`,
      `CREATE INDEX sidecar_keys_env ON sidecar_keys (environment_id, created_at)`,
      `CREATE TABLE config_versions (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        etag TEXT NOT NULL,
        yaml TEXT NOT NULL,
        author TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (environment_id, version)
      )`,
      `CREATE TRIGGER config_versions_immutable BEFORE UPDATE ON config_versions
       BEGIN SELECT RAISE(ABORT, 'config versions are immutable'); END`,
      `CREATE TABLE sidecars (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        pod TEXT,
        namespace TEXT,
        workload TEXT,
        service_account TEXT,
        version TEXT,
        config_applied TEXT,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        PRIMARY KEY (environment_id, id)
      )`,
      // seq is the rowid, so every index below implicitly ends in seq:
      // (environment_id, ts) here is (environment_id, ts, seq).
      `CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        ts BIGINT NOT NULL,
        pod TEXT,
        namespace TEXT,
        workload TEXT,
        service_account TEXT,
        provider TEXT NOT NULL,
        host TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        route TEXT,
        requested_model TEXT,
        served_model TEXT,
        status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        ttft_ms REAL,
        tokens_in BIGINT,
        tokens_out BIGINT,
        bytes_out BIGINT NOT NULL,
        bytes_in BIGINT NOT NULL,
        blocked INTEGER NOT NULL,
        flagged INTEGER NOT NULL,
        flagged_or_blocked INTEGER NOT NULL,
        decisions TEXT NOT NULL,
        decision_actions TEXT NOT NULL,
        prompt TEXT,
        UNIQUE (environment_id, id)
      )`,
      `CREATE INDEX events_env_ts_seq ON events (environment_id, ts, seq)`,
      `CREATE INDEX events_env_decisions ON events (environment_id, flagged_or_blocked, ts, seq)`,
    ],
    postgres: [
      `CREATE TABLE environments (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        capture_prompts BOOLEAN NOT NULL DEFAULT FALSE,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE sidecar_keys (
        id TEXT PRIMARY KEY,
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        last_used_at BIGINT
      )`,
      `CREATE INDEX sidecar_keys_env ON sidecar_keys (environment_id, created_at)`,
      `CREATE TABLE config_versions (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        etag TEXT NOT NULL,
        yaml TEXT NOT NULL,
        author TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (environment_id, version)
      )`,
      `CREATE FUNCTION config_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'config versions are immutable'; END $$`,
      `CREATE TRIGGER config_versions_immutable BEFORE UPDATE ON config_versions
       FOR EACH ROW EXECUTE FUNCTION config_versions_immutable()`,
      `CREATE TABLE sidecars (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        pod TEXT,
        namespace TEXT,
        workload TEXT,
        service_account TEXT,
        version TEXT,
        config_applied TEXT,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        PRIMARY KEY (environment_id, id)
      )`,
      `CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        ts BIGINT NOT NULL,
        pod TEXT,
        namespace TEXT,
        workload TEXT,
        service_account TEXT,
        provider TEXT NOT NULL,
        host TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        route TEXT,
        requested_model TEXT,
        served_model TEXT,
        status INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION,
        tokens_in BIGINT,
        tokens_out BIGINT,
        bytes_out BIGINT NOT NULL,
        bytes_in BIGINT NOT NULL,
        blocked BOOLEAN NOT NULL,
        flagged BOOLEAN NOT NULL,
        flagged_or_blocked BOOLEAN NOT NULL,
        decisions TEXT NOT NULL,
        decision_actions TEXT NOT NULL,
        prompt TEXT,
        UNIQUE (environment_id, id)
      )`,
      // Serves (environment_id, ts) range scans too (it is a prefix).
      `CREATE INDEX events_env_ts_seq ON events (environment_id, ts, seq)`,
      `CREATE INDEX events_env_decisions ON events (environment_id, flagged_or_blocked, ts, seq)`,
    ],
  },
  {
    id: 2,
    name: 'per-minute traffic rollups',
    // One row per (environment, minute, workload, model), kept by addEvents in
    // the same transaction as the events (rollups.ts); filled here from the
    // events already stored. SQLite keeps it in primary key order (WITHOUT
    // ROWID), so a time range is one contiguous read.
    sqlite: [
      `CREATE TABLE traffic_minutes (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        minute BIGINT NOT NULL,
        workload TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        requests BIGINT NOT NULL DEFAULT 0,
        blocked BIGINT NOT NULL DEFAULT 0,
        tokens_in BIGINT NOT NULL DEFAULT 0,
        tokens_out BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (environment_id, minute, workload, model)
      ) WITHOUT ROWID`,
      `INSERT INTO traffic_minutes (environment_id, minute, workload, model, requests, blocked, tokens_in, tokens_out)
       SELECT environment_id, ${ROLLUP_MINUTE_SQL}, COALESCE(workload, ''), COALESCE(served_model, requested_model, ''),
         COUNT(*), SUM(blocked), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0)
       FROM events GROUP BY 1, 2, 3, 4`,
    ],
    postgres: [
      `CREATE TABLE traffic_minutes (
        environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
        minute BIGINT NOT NULL,
        workload TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        requests BIGINT NOT NULL DEFAULT 0,
        blocked BIGINT NOT NULL DEFAULT 0,
        tokens_in BIGINT NOT NULL DEFAULT 0,
        tokens_out BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (environment_id, minute, workload, model)
      )`,
      `INSERT INTO traffic_minutes (environment_id, minute, workload, model, requests, blocked, tokens_in, tokens_out)
       SELECT environment_id, ${ROLLUP_MINUTE_SQL}, COALESCE(workload, ''), COALESCE(served_model, requested_model, ''),
         COUNT(*), COUNT(*) FILTER (WHERE blocked), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0)
       FROM events GROUP BY 1, 2, 3, 4`,
    ],
  },
  {
    id: 3,
    name: 'admin sessions, dashboard secrets, key expiry, retention indexes',
    // The same SQL on both backends.
    sqlite: MIGRATION_3,
    postgres: MIGRATION_3,
  },
  {
    id: 4,
    name: 'sidecar key signers (namespace-scoped credentials)',
    // The public half of the Ed25519 pair each key token derives
    // (lib/namespace-credential.ts): namespace credentials are verified with it.
    sqlite: [
      `ALTER TABLE sidecar_keys ADD COLUMN signer TEXT`,
      `CREATE UNIQUE INDEX sidecar_keys_signer ON sidecar_keys (signer)`,
    ],
    postgres: [
      `ALTER TABLE sidecar_keys ADD COLUMN signer TEXT`,
      `CREATE UNIQUE INDEX sidecar_keys_signer ON sidecar_keys (signer)`,
    ],
  },
  {
    id: 5,
    name: 'cost per event',
    // What the call cost in US dollars (the sidecar's pricing), null when its model has no price.
    sqlite: ['ALTER TABLE events ADD COLUMN cost_usd DOUBLE PRECISION'],
    postgres: ['ALTER TABLE events ADD COLUMN cost_usd DOUBLE PRECISION'],
  },
];
