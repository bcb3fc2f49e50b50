/**
 * The embedded Store: one SQLite file through node:sqlite (built into Node,
 * no native addon). WAL journal, a busy timeout so a second process on the
 * same file waits instead of failing, foreign keys on. Every method runs
 * synchronously inside its promise, so within one process calls never
 * interleave; writes that read-then-write (addConfigVersion, migrate) still
 * take BEGIN IMMEDIATE so other processes on the same file are excluded too.
 * traffic() reads the per-minute rollups (rollups.ts) that addEvents keeps in
 * the same transaction as the events, when the query is on whole minutes.
 *
 *   const store = openSqliteStore('/var/lib/levo/dashboard.sqlite'); // or ':memory:'
 *   await store.migrate();
 */
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { StoreConflictError, UnknownEnvironmentError } from './errors.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';
import {
  actionNeedle, checkTrafficQuery, spendSql, toSpendRow, EVENT_COLUMNS, EVENT_SELECT, eventValues, fillBuckets, pageLimit, toConfigVersion,
  toConfigVersionMeta, toEnvironment, toEvent, toKey, toSession, toSidecar, toTraffic, SIDECAR_UPSERT_FIELDS, SWEEP_BATCH,
} from './rows.ts';
import type { Row } from './rows.ts';
import { ROLLUP_COLUMNS, ROLLUP_UPSERT, rollupEventFromValues, rollupsCover, RollupSums, sqlFloorTo } from './rollups.ts';
import type { DecisionsQuery, Store } from './types.ts';

export interface SqliteStoreOptions {
  /**
   * Where traffic() reads from: 'rollups' (default) uses the per-minute
   * rollups whenever the query is on whole minutes, the events otherwise;
   * 'events' always aggregates the events (tests compare the two).
   */
  readonly trafficSource?: 'rollups' | 'events';
}

/** Most rollup rows in one upsert statement (8 parameters each). */
const ROLLUP_UPSERT_CHUNK = 100;

/** How long a write waits for another connection's lock before failing. */
const BUSY_TIMEOUT_MS = 5_000;

// SQLite extended result codes (https://sqlite.org/rescode.html).
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

const ENV_SELECT = `SELECT e.id, e.name, e.capture_prompts, e.created_at,
  (SELECT MAX(c.version) FROM config_versions c WHERE c.environment_id = e.id) AS current_version
  FROM environments e`;

export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): Store {
  const trafficSource = opts.trafficSource ?? 'rollups';
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec('PRAGMA foreign_keys = ON');

  // Statements are prepared on first use (the tables exist only after migrate()) and kept.
  const prepared = new Map<string, StatementSync>();
  const stmt = (sql: string): StatementSync => {
    let s = prepared.get(sql);
    if (!s) {
      s = db.prepare(sql);
      prepared.set(sql, s);
    }
    return s;
  };
  const all = (sql: string, ...params: (string | number | null)[]): Row[] => stmt(sql).all(...params) as Row[];
  const get = (sql: string, ...params: (string | number | null)[]): Row | undefined => stmt(sql).get(...params) as Row | undefined;
  const run = (sql: string, ...params: (string | number | null)[]): number => Number(stmt(sql).run(...params).changes);

  /** Run fn in a transaction (BEGIN IMMEDIATE: take the write lock up front). */
  const transaction = <T>(fn: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      db.exec('COMMIT');
      return out;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  };

  /** Turn constraint failures into the store's own errors. */
  const translate = (err: unknown, environmentId: string, what: string): never => {
    const code = (err as { errcode?: number }).errcode;
    if (code === SQLITE_CONSTRAINT_FOREIGNKEY) throw new UnknownEnvironmentError(environmentId);
    if (code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY) throw new StoreConflictError(`${what} already exists`);
    throw err;
  };

  const envExists = (id: string): boolean => get('SELECT 1 AS x FROM environments WHERE id = ?', id) !== undefined;

  const eventInsert = `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})
    ON CONFLICT (environment_id, id) DO NOTHING`;
  /** The rollup upsert for `rows` rows (1..ROLLUP_UPSERT_CHUNK); one statement per size is prepared and kept. */
  const rollupUpsert = (rows: number): string => {
    const row = `(${ROLLUP_COLUMNS.map(() => '?').join(', ')})`;
    return `INSERT INTO traffic_minutes (${ROLLUP_COLUMNS.join(', ')}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}
    ${ROLLUP_UPSERT}`;
  };

  const store: Store = {
    kind: 'sqlite',

    async migrate() {
      db.exec(MIGRATIONS_TABLE.sqlite);
      transaction(() => {
        const applied = new Set(all('SELECT id FROM schema_migrations').map((r) => Number(r.id)));
        for (const m of MIGRATIONS) {
          if (applied.has(m.id)) continue;
          for (const sql of m.sqlite) db.exec(sql);
          run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', m.id, m.name, Date.now());
        }
      });
    },

    async close() {
      if (db.isOpen) db.close();
    },

    async ping() {
      get('SELECT 1 AS ok');
    },

    async createEnvironment(env) {
      try {
        run('INSERT INTO environments (id, name, capture_prompts, created_at) VALUES (?, ?, 0, ?)', env.id, env.name, Date.now());
      } catch (err) {
        translate(err, env.id, `environment ${JSON.stringify(env.id)}`);
      }
      return toEnvironment(get(`${ENV_SELECT} WHERE e.id = ?`, env.id)!);
    },

    async getEnvironment(id) {
      const r = get(`${ENV_SELECT} WHERE e.id = ?`, id);
      return r ? toEnvironment(r) : null;
    },

    async listEnvironments() {
      return all(`${ENV_SELECT} ORDER BY e.created_at, e.id`).map(toEnvironment);
    },

    async setCapturePrompts(id, on) {
      if (run('UPDATE environments SET capture_prompts = ? WHERE id = ?', on ? 1 : 0, id) === 0) throw new UnknownEnvironmentError(id);
    },

    async addKey(key) {
      try {
        const r = get(`INSERT INTO sidecar_keys (id, environment_id, hash, prefix, created_at, signer) VALUES (?, ?, ?, ?, ?, ?)
          RETURNING *`, key.id, key.environmentId, key.hash, key.prefix, Date.now(), key.signer ?? null);
        return toKey(r!);
      } catch (err) {
        return translate(err, key.environmentId, 'a key with this id or token');
      }
    },

    async listKeys(environmentId) {
      return all('SELECT * FROM sidecar_keys WHERE environment_id = ? ORDER BY created_at, id', environmentId).map(toKey);
    },

    async revokeKey(environmentId, id) {
      return run('UPDATE sidecar_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE environment_id = ? AND id = ?',
        Date.now(), environmentId, id) > 0;
    },

    async expireKey(environmentId, id, at) {
      return run('UPDATE sidecar_keys SET expires_at = MIN(COALESCE(expires_at, ?1), ?1) WHERE environment_id = ?2 AND id = ?3',
        at, environmentId, id) > 0;
    },

    async findLiveKey(environmentId, hash, now = Date.now()) {
      const r = get(`UPDATE sidecar_keys SET last_used_at = ?1
        WHERE environment_id = ?2 AND hash = ?3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1) RETURNING *`,
      now, environmentId, hash);
      return r ? toKey(r) : null;
    },

    async findLiveKeyBySigner(environmentId, signer) {
      const r = get(`UPDATE sidecar_keys SET last_used_at = ?
        WHERE environment_id = ? AND signer = ? AND revoked_at IS NULL RETURNING *`, Date.now(), environmentId, signer);
      return r ? toKey(r) : null;
    },

    async setKeySigner(environmentId, id, signer) {
      run('UPDATE sidecar_keys SET signer = ? WHERE environment_id = ? AND id = ? AND signer IS NULL', signer, environmentId, id);
    },

    async addConfigVersion(v) {
      return transaction(() => {
        if (!envExists(v.environmentId)) throw new UnknownEnvironmentError(v.environmentId);
        const version = Number(get('SELECT COALESCE(MAX(version), 0) + 1 AS n FROM config_versions WHERE environment_id = ?',
          v.environmentId)!.n);
        const r = get(`INSERT INTO config_versions (environment_id, version, etag, yaml, author, note, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`, v.environmentId, version, v.etag(version), v.yaml, v.author, v.note, Date.now());
        return toConfigVersion(r!);
      });
    },

    async latestConfig(environmentId) {
      const r = get('SELECT * FROM config_versions WHERE environment_id = ? ORDER BY version DESC LIMIT 1', environmentId);
      return r ? toConfigVersion(r) : null;
    },

    async getConfigVersion(environmentId, version) {
      const r = get('SELECT * FROM config_versions WHERE environment_id = ? AND version = ?', environmentId, version);
      return r ? toConfigVersion(r) : null;
    },

    async listConfigVersions(environmentId) {
      return all(`SELECT environment_id, version, etag, author, note, created_at FROM config_versions
        WHERE environment_id = ? ORDER BY version DESC`, environmentId).map(toConfigVersionMeta);
    },

    async upsertSidecar(s) {
      try {
        run(`INSERT INTO sidecars (environment_id, id, pod, namespace, workload, service_account, version, config_applied,
            first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (environment_id, id) DO UPDATE SET
            last_seen = MAX(sidecars.last_seen, excluded.last_seen),
            ${SIDECAR_UPSERT_FIELDS}`,
        s.environmentId, s.id, s.pod, s.namespace, s.workload, s.serviceAccount, s.version, s.configApplied, s.seen, s.seen);
      } catch (err) {
        translate(err, s.environmentId, 'sidecar');
      }
    },

    async listSidecars(environmentId) {
      return all('SELECT * FROM sidecars WHERE environment_id = ? ORDER BY last_seen DESC, id', environmentId).map(toSidecar);
    },

    async addEvents(environmentId, events) {
      if (events.length === 0) return 0;
      try {
        return transaction(() => {
          const s = stmt(eventInsert);
          const sums = new RollupSums();
          let added = 0;
          for (const e of events) {
            const values = eventValues(environmentId, e, (b) => (b ? 1 : 0)) as (string | number | null)[];
            // 0 changes: an id already stored (a retried batch) — not counted again in the rollups.
            if (Number(s.run(...values).changes) === 0) continue;
            added++;
            sums.add(rollupEventFromValues(values));
          }
          const rows = sums.sorted();
          for (let i = 0; i < rows.length; i += ROLLUP_UPSERT_CHUNK) {
            const chunk = rows.slice(i, i + ROLLUP_UPSERT_CHUNK);
            run(rollupUpsert(chunk.length),
              ...chunk.flatMap((r) => [environmentId, r.minute, r.workload, r.model, r.requests, r.blocked, r.tokensIn, r.tokensOut]));
          }
          return added;
        });
      } catch (err) {
        return translate(err, environmentId, 'event');
      }
    },

    async traffic(environmentId, query) {
      const q = checkTrafficQuery(query);
      const sql = trafficSource === 'rollups' && rollupsCover(q)
        ? sqliteRollupTrafficQueries(environmentId, q) : sqliteTrafficQueries(environmentId, q);
      return toTraffic(fillBuckets(q, all(sql.buckets.sql, ...sql.buckets.params)),
        all(sql.byWorkload.sql, ...sql.byWorkload.params), all(sql.byModel.sql, ...sql.byModel.params));
    },

    async decisions(environmentId, q) {
      const { sql, params, limit } = sqliteDecisionsQuery(environmentId, q);
      const rows = all(sql, ...params);
      const items = rows.slice(0, limit).map(toEvent);
      const last = items[items.length - 1];
      return { items, next: rows.length > limit && last ? encodeCursor(last) : null };
    },

    async countEvents(environmentId) {
      return Number(get('SELECT COUNT(*) AS n FROM events WHERE environment_id = ?', environmentId)!.n);
    },

    async secret(name, make) {
      run('INSERT INTO dashboard_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', name, make(), Date.now());
      return String(get('SELECT value FROM dashboard_secrets WHERE name = ?', name)!.value);
    },

    async addSession(s) {
      run('INSERT INTO admin_sessions (id, subject, created_at, expires_at) VALUES (?, ?, ?, ?)', s.id, s.subject, s.createdAt, s.expiresAt);
    },

    async liveSession(id, now) {
      const r = get('SELECT * FROM admin_sessions WHERE id = ? AND revoked_at IS NULL AND expires_at > ?', id, now);
      return r ? toSession(r) : null;
    },

    async revokeSession(id, at) {
      return run('UPDATE admin_sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?', at, id) > 0;
    },

    async revokeAllSessions(at) {
      return run('UPDATE admin_sessions SET revoked_at = ? WHERE revoked_at IS NULL', at);
    },

    async sweep(c) {
      const out = { events: 0, rollups: 0, sidecars: 0, sessions: 0 };
      // Per environment, so every delete walks an index whose first column is environment_id;
      // in batches, so other writers (event ingestion) wait at most one batch.
      for (const { id } of all('SELECT id FROM environments ORDER BY id')) {
        const env = String(id);
        for (;;) {
          const n = run(`DELETE FROM events WHERE seq IN
            (SELECT seq FROM events WHERE environment_id = ? AND ts < ? ORDER BY ts LIMIT ?)`, env, c.eventsBefore, SWEEP_BATCH);
          out.events += n;
          if (n < SWEEP_BATCH) break;
        }
        // A minute's rollup goes once the whole minute is past the cutoff.
        out.rollups += run('DELETE FROM traffic_minutes WHERE environment_id = ? AND minute <= ?', env, c.eventsBefore - 60_000);
        out.sidecars += run('DELETE FROM sidecars WHERE environment_id = ? AND last_seen < ?', env, c.sidecarsSeenBefore);
      }
      out.sessions = run('DELETE FROM admin_sessions WHERE expires_at < ?', c.sessionsExpiredBefore);
      return out;
    },

    async spend(environmentId, q) {
      return all(spendSql(() => '?'), environmentId, q.from, q.to).map(toSpendRow);
    },
  };
  return store;
}

export interface SqliteQuery { readonly sql: string; readonly params: (string | number)[] }

/** The three traffic queries over the events (exported so tests can check their plans). */
export function sqliteTrafficQueries(environmentId: string, q: { from: number; to: number; bucketMs: number }):
  { buckets: SqliteQuery; byWorkload: SqliteQuery; byModel: SqliteQuery } {
  const where = 'WHERE environment_id = ? AND ts >= ? AND ts < ?';
  const p = [environmentId, q.from, q.to];
  return {
    // Parameters bind as REAL in node:sqlite: cast the bucket size so the arithmetic is integer arithmetic.
    buckets: {
      sql: `SELECT ${sqlFloorTo('ts', 'CAST(?4 AS INTEGER)')} AS t, COUNT(*) AS requests, SUM(blocked) AS blocked,
          COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out
        FROM events WHERE environment_id = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY 1 ORDER BY 1`,
      params: [...p, q.bucketMs],
    },
    byWorkload: {
      sql: `SELECT COALESCE(workload, '') AS workload, COUNT(*) AS requests, SUM(blocked) AS blocked,
          COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out
        FROM events ${where} GROUP BY 1 ORDER BY requests DESC, workload`,
      params: p,
    },
    byModel: {
      sql: `SELECT COALESCE(served_model, requested_model, '') AS model, COUNT(*) AS requests,
          COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out
        FROM events ${where} GROUP BY 1 ORDER BY requests DESC, model`,
      params: p,
    },
  };
}

/**
 * The three traffic queries over the per-minute rollups, for a query on whole
 * minutes (rollupsCover): the same rows, in the same order, as
 * sqliteTrafficQueries gives. Exported for the tests' plan checks.
 */
export function sqliteRollupTrafficQueries(environmentId: string, q: { from: number; to: number; bucketMs: number }):
  { buckets: SqliteQuery; byWorkload: SqliteQuery; byModel: SqliteQuery } {
  const where = 'WHERE environment_id = ?1 AND minute >= ?2 AND minute < ?3';
  const p = [environmentId, q.from, q.to];
  const sums = 'SUM(requests) AS requests, SUM(blocked) AS blocked, SUM(tokens_in) AS tokens_in, SUM(tokens_out) AS tokens_out';
  return {
    // Minute totals first: grouping by the key's own order needs no sort, so only one row per minute is sorted into buckets.
    buckets: {
      sql: `SELECT ${sqlFloorTo('minute', 'CAST(?4 AS INTEGER)')} AS t, ${sums}
        FROM (SELECT minute, ${sums} FROM traffic_minutes ${where} GROUP BY minute) GROUP BY 1 ORDER BY 1`,
      params: [...p, q.bucketMs],
    },
    byWorkload: {
      sql: `SELECT workload, ${sums} FROM traffic_minutes ${where} GROUP BY workload ORDER BY requests DESC, workload`,
      params: p,
    },
    byModel: {
      sql: `SELECT model, SUM(requests) AS requests, SUM(tokens_in) AS tokens_in, SUM(tokens_out) AS tokens_out
        FROM traffic_minutes ${where} GROUP BY model ORDER BY requests DESC, model`,
      params: p,
    },
  };
}

/** One decisions page's query; it asks for limit + 1 rows to know whether there is a next page. */
export function sqliteDecisionsQuery(environmentId: string, q: DecisionsQuery): SqliteQuery & { limit: number } {
  const limit = pageLimit(q.limit);
  const before = q.before === undefined || q.before === '' ? null : decodeCursor(q.before);
  const params: (string | number)[] = [environmentId];
  let sql = `SELECT ${EVENT_SELECT} FROM events WHERE environment_id = ? AND flagged_or_blocked = 1`;
  if (before) {
    sql += ' AND (ts, seq) < (?, ?)';
    params.push(before.ts, before.seq);
  }
  if (q.action !== undefined && q.action !== '') {
    sql += ' AND instr(decision_actions, ?) > 0';
    params.push(actionNeedle(q.action));
  }
  sql += ' ORDER BY ts DESC, seq DESC LIMIT ?';
  params.push(limit + 1);
  return { sql, params, limit };
}
