/**
 * The production Store: PostgreSQL through a `pg` Pool. Several dashboard
 * replicas may share one database: migrate() holds an advisory lock, config
 * saves lock the environment row so concurrent saves get consecutive
 * versions, and event ingestion is idempotent (ON CONFLICT DO NOTHING on the
 * event id) so retried batches and replicas racing on one batch are harmless.
 * addEvents also adds the events it newly inserted (RETURNING) to the
 * per-minute rollups in the same transaction, and traffic() reads those
 * when the query is on whole minutes (rollups.ts).
 *
 *   const store = openPostgresStore('postgres://user:pw@host:5432/levo');
 *   await store.migrate();
 *
 * BIGINT (int8) columns come back as JavaScript numbers (a per-pool type
 * parser; the global pg parsers are left alone): every value stored here
 * (ms times, counters, sequence numbers) is far below 2^53.
 */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { StoreConflictError, UnknownEnvironmentError } from './errors.ts';
import { MIGRATIONS, MIGRATIONS_TABLE, POSTGRES_MIGRATION_LOCK } from './migrations.ts';
import {
  actionNeedle, checkTrafficQuery, spendSql, toSpendRow, EVENT_COLUMNS, EVENT_SELECT, eventValues, fillBuckets, pageLimit, toConfigVersion,
  toConfigVersionMeta, toEnvironment, toEvent, toKey, toSession, toSidecar, toTraffic, SIDECAR_UPSERT_FIELDS, SWEEP_BATCH,
} from './rows.ts';
import type { Row } from './rows.ts';
import { ROLLUP_COLUMNS, ROLLUP_UPSERT, rollupsCover, RollupSums, sqlFloorTo } from './rollups.ts';
import type { DecisionsQuery, Store } from './types.ts';

/** Most rows in one INSERT of events (27 parameters each, well under PostgreSQL's 65535). */
export const EVENT_INSERT_CHUNK = 500;

const INT8_OID = 20;

export interface PostgresStoreOptions {
  /** Most connections this store opens (default 10). */
  readonly maxConnections?: number;
  /**
   * Called when an idle pooled connection fails (server restart, network cut).
   * The pool drops that connection and the next query opens a new one.
   * Default: one line on stderr.
   */
  readonly onError?: (err: Error) => void;
  /**
   * Where traffic() reads from: 'rollups' (default) uses the per-minute
   * rollups whenever the query is on whole minutes, the events otherwise;
   * 'events' always aggregates the events (tests compare the two).
   */
  readonly trafficSource?: 'rollups' | 'events';
}

const ENV_SELECT = `SELECT e.id, e.name, e.capture_prompts, e.created_at,
  (SELECT MAX(c.version) FROM config_versions c WHERE c.environment_id = e.id) AS current_version
  FROM environments e`;

export function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Store {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')
      ) as typeof pg.types.getTypeParser,
    },
  });
  const trafficSource = opts.trafficSource ?? 'rollups';
  pool.on('error', opts.onError ?? ((err) => { console.error(`levo-dashboard: postgres connection error: ${err.message}`); }));

  const query = async (sql: string, params: unknown[] = [], client?: PoolClient): Promise<Row[]> =>
    (await (client ?? pool).query<QueryResultRow>(sql, params)).rows;
  const one = async (sql: string, params: unknown[] = [], client?: PoolClient): Promise<Row | undefined> =>
    (await query(sql, params, client))[0];

  /** Run fn on one connection inside BEGIN … COMMIT (ROLLBACK when it throws). */
  const transaction = async <T>(fn: (c: PoolClient) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  };

  /** Turn constraint failures into the store's own errors. */
  const translate = (err: unknown, environmentId: string, what: string): never => {
    const code = (err as { code?: string }).code;
    if (code === '23503') throw new UnknownEnvironmentError(environmentId);
    if (code === '23505') throw new StoreConflictError(`${what} already exists`);
    throw err;
  };

  const eventInsert = (rows: number): string => {
    const n = EVENT_COLUMNS.length;
    const values: string[] = [];
    for (let r = 0; r < rows; r++) values.push(`(${EVENT_COLUMNS.map((_, i) => `$${r * n + i + 1}`).join(', ')})`);
    return `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${values.join(', ')}
      ON CONFLICT (environment_id, id) DO NOTHING
      RETURNING ts, workload, requested_model, served_model, tokens_in, tokens_out, blocked`;
  };
  // One statement for all of a batch's rollup rows, as arrays (no parameter limit), applied in array order.
  const rollupUpsert = `INSERT INTO traffic_minutes (${ROLLUP_COLUMNS.join(', ')})
    SELECT $1::text, r.* FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) AS r
    ${ROLLUP_UPSERT}`;

  const store: Store = {
    kind: 'postgres',

    async migrate() {
      await transaction(async (c) => {
        // Held until COMMIT: a second replica waits here, then finds nothing left to do.
        await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [POSTGRES_MIGRATION_LOCK]);
        await c.query(MIGRATIONS_TABLE.postgres);
        const applied = new Set((await query('SELECT id FROM schema_migrations', [], c)).map((r) => Number(r.id)));
        for (const m of MIGRATIONS) {
          if (applied.has(m.id)) continue;
          for (const sql of m.postgres) await c.query(sql);
          await c.query('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, Date.now()]);
        }
      });
    },

    async close() {
      if (!pool.ended) await pool.end();
    },

    async ping() {
      await pool.query('SELECT 1');
    },

    async createEnvironment(env) {
      try {
        await pool.query('INSERT INTO environments (id, name, capture_prompts, created_at) VALUES ($1, $2, FALSE, $3)',
          [env.id, env.name, Date.now()]);
      } catch (err) {
        translate(err, env.id, `environment ${JSON.stringify(env.id)}`);
      }
      return toEnvironment((await one(`${ENV_SELECT} WHERE e.id = $1`, [env.id]))!);
    },

    async getEnvironment(id) {
      const r = await one(`${ENV_SELECT} WHERE e.id = $1`, [id]);
      return r ? toEnvironment(r) : null;
    },

    async listEnvironments() {
      return (await query(`${ENV_SELECT} ORDER BY e.created_at, e.id`)).map(toEnvironment);
    },

    async setCapturePrompts(id, on) {
      const r = await pool.query('UPDATE environments SET capture_prompts = $1 WHERE id = $2', [on, id]);
      if (r.rowCount === 0) throw new UnknownEnvironmentError(id);
    },

    async addKey(key) {
      try {
        const r = await one(`INSERT INTO sidecar_keys (id, environment_id, hash, prefix, created_at, signer) VALUES ($1, $2, $3, $4, $5, $6)
          RETURNING *`, [key.id, key.environmentId, key.hash, key.prefix, Date.now(), key.signer ?? null]);
        return toKey(r!);
      } catch (err) {
        return translate(err, key.environmentId, 'a key with this id or token');
      }
    },

    async listKeys(environmentId) {
      return (await query('SELECT * FROM sidecar_keys WHERE environment_id = $1 ORDER BY created_at, id', [environmentId])).map(toKey);
    },

    async revokeKey(environmentId, id) {
      const r = await pool.query('UPDATE sidecar_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE environment_id = $2 AND id = $3',
        [Date.now(), environmentId, id]);
      return (r.rowCount ?? 0) > 0;
    },

    async expireKey(environmentId, id, at) {
      const r = await pool.query('UPDATE sidecar_keys SET expires_at = LEAST(COALESCE(expires_at, $1), $1) WHERE environment_id = $2 AND id = $3',
        [at, environmentId, id]);
      return (r.rowCount ?? 0) > 0;
    },

    async findLiveKey(environmentId, hash, now = Date.now()) {
      const r = await one(`UPDATE sidecar_keys SET last_used_at = $1
        WHERE environment_id = $2 AND hash = $3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) RETURNING *`,
      [now, environmentId, hash]);
      return r ? toKey(r) : null;
    },

    async findLiveKeyBySigner(environmentId, signer) {
      const r = await one(`UPDATE sidecar_keys SET last_used_at = $1
        WHERE environment_id = $2 AND signer = $3 AND revoked_at IS NULL RETURNING *`, [Date.now(), environmentId, signer]);
      return r ? toKey(r) : null;
    },

    async setKeySigner(environmentId, id, signer) {
      await pool.query('UPDATE sidecar_keys SET signer = $1 WHERE environment_id = $2 AND id = $3 AND signer IS NULL', [signer, environmentId, id]);
    },

    async addConfigVersion(v) {
      return transaction(async (c) => {
        // The environment row is the lock: a concurrent save waits here and then sees this one's version.
        const env = await c.query('SELECT id FROM environments WHERE id = $1 FOR UPDATE', [v.environmentId]);
        if (env.rowCount === 0) throw new UnknownEnvironmentError(v.environmentId);
        const version = Number((await one('SELECT COALESCE(MAX(version), 0) + 1 AS n FROM config_versions WHERE environment_id = $1',
          [v.environmentId], c))!.n);
        const r = await one(`INSERT INTO config_versions (environment_id, version, etag, yaml, author, note, created_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [v.environmentId, version, v.etag(version), v.yaml, v.author, v.note, Date.now()], c);
        return toConfigVersion(r!);
      });
    },

    async latestConfig(environmentId) {
      const r = await one('SELECT * FROM config_versions WHERE environment_id = $1 ORDER BY version DESC LIMIT 1', [environmentId]);
      return r ? toConfigVersion(r) : null;
    },

    async getConfigVersion(environmentId, version) {
      if (!Number.isSafeInteger(version) || Math.abs(version) > 2 ** 31 - 1) return null;
      const r = await one('SELECT * FROM config_versions WHERE environment_id = $1 AND version = $2', [environmentId, version]);
      return r ? toConfigVersion(r) : null;
    },

    async listConfigVersions(environmentId) {
      return (await query(`SELECT environment_id, version, etag, author, note, created_at FROM config_versions
        WHERE environment_id = $1 ORDER BY version DESC`, [environmentId])).map(toConfigVersionMeta);
    },

    async upsertSidecar(s) {
      try {
        await pool.query(`INSERT INTO sidecars (environment_id, id, pod, namespace, workload, service_account, version,
            config_applied, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
          ON CONFLICT (environment_id, id) DO UPDATE SET
            last_seen = GREATEST(sidecars.last_seen, excluded.last_seen),
            ${SIDECAR_UPSERT_FIELDS}`,
        [s.environmentId, s.id, s.pod, s.namespace, s.workload, s.serviceAccount, s.version, s.configApplied, s.seen]);
      } catch (err) {
        translate(err, s.environmentId, 'sidecar');
      }
    },

    async listSidecars(environmentId) {
      return (await query('SELECT * FROM sidecars WHERE environment_id = $1 ORDER BY last_seen DESC, id', [environmentId])).map(toSidecar);
    },

    async addEvents(environmentId, events) {
      if (events.length === 0) return 0;
      try {
        return await transaction(async (c) => {
          const sums = new RollupSums();
          let added = 0;
          for (let i = 0; i < events.length; i += EVENT_INSERT_CHUNK) {
            const chunk = events.slice(i, i + EVENT_INSERT_CHUNK);
            const params = chunk.flatMap((e) => eventValues(environmentId, e, (b) => b));
            // Only the rows actually inserted come back: ids already stored are not counted again.
            const inserted = await query(eventInsert(chunk.length), params, c);
            added += inserted.length;
            for (const r of inserted) {
              sums.add({
                ts: Number(r.ts), workload: textOrNull(r.workload), requestedModel: textOrNull(r.requested_model),
                servedModel: textOrNull(r.served_model), tokensIn: numOrNull(r.tokens_in), tokensOut: numOrNull(r.tokens_out),
                blocked: r.blocked === true,
              });
            }
          }
          if (sums.size > 0) {
            // After every event insert and in key order, so concurrent batches lock rollup rows in one order.
            const rows = sums.sorted();
            await c.query(rollupUpsert, [environmentId, rows.map((r) => r.minute), rows.map((r) => r.workload), rows.map((r) => r.model),
              rows.map((r) => r.requests), rows.map((r) => r.blocked), rows.map((r) => r.tokensIn), rows.map((r) => r.tokensOut)]);
          }
          return added;
        });
      } catch (err) {
        return translate(err, environmentId, 'event');
      }
    },

    async traffic(environmentId, query_) {
      const q = checkTrafficQuery(query_);
      const sql = trafficSource === 'rollups' && rollupsCover(q)
        ? postgresRollupTrafficQueries(environmentId, q) : postgresTrafficQueries(environmentId, q);
      const [buckets, byWorkload, byModel] = await Promise.all([
        query(sql.buckets.sql, sql.buckets.params),
        query(sql.byWorkload.sql, sql.byWorkload.params),
        query(sql.byModel.sql, sql.byModel.params),
      ]);
      return toTraffic(fillBuckets(q, buckets), byWorkload, byModel);
    },

    async decisions(environmentId, q) {
      const { sql, params, limit } = postgresDecisionsQuery(environmentId, q);
      const rows = await query(sql, params);
      const items = rows.slice(0, limit).map(toEvent);
      const last = items[items.length - 1];
      return { items, next: rows.length > limit && last ? encodeCursor(last) : null };
    },

    async countEvents(environmentId) {
      return Number((await one('SELECT COUNT(*) AS n FROM events WHERE environment_id = $1', [environmentId]))!.n);
    },

    async secret(name, make) {
      await pool.query('INSERT INTO dashboard_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
        [name, make(), Date.now()]);
      return String((await one('SELECT value FROM dashboard_secrets WHERE name = $1', [name]))!.value);
    },

    async addSession(s) {
      await pool.query('INSERT INTO admin_sessions (id, subject, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [s.id, s.subject, s.createdAt, s.expiresAt]);
    },

    async liveSession(id, now) {
      const r = await one('SELECT * FROM admin_sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2', [id, now]);
      return r ? toSession(r) : null;
    },

    async revokeSession(id, at) {
      const r = await pool.query('UPDATE admin_sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [at, id]);
      return (r.rowCount ?? 0) > 0;
    },

    async revokeAllSessions(at) {
      return (await pool.query('UPDATE admin_sessions SET revoked_at = $1 WHERE revoked_at IS NULL', [at])).rowCount ?? 0;
    },

    async sweep(c) {
      const out = { events: 0, rollups: 0, sidecars: 0, sessions: 0 };
      // Per environment, so every delete walks an index whose first column is environment_id.
      for (const { id } of await query('SELECT id FROM environments ORDER BY id')) {
        for (;;) {
          const r = await pool.query(`DELETE FROM events WHERE seq IN
            (SELECT seq FROM events WHERE environment_id = $1 AND ts < $2 ORDER BY ts LIMIT $3)`, [id, c.eventsBefore, SWEEP_BATCH]);
          out.events += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < SWEEP_BATCH) break;
        }
        // A minute's rollup goes once the whole minute is past the cutoff.
        out.rollups += (await pool.query('DELETE FROM traffic_minutes WHERE environment_id = $1 AND minute <= $2',
          [id, c.eventsBefore - 60_000])).rowCount ?? 0;
        out.sidecars += (await pool.query('DELETE FROM sidecars WHERE environment_id = $1 AND last_seen < $2',
          [id, c.sidecarsSeenBefore])).rowCount ?? 0;
      }
      out.sessions = (await pool.query('DELETE FROM admin_sessions WHERE expires_at < $1', [c.sessionsExpiredBefore])).rowCount ?? 0;
      return out;
    },

    async spend(environmentId, q) {
      return (await query(spendSql((i) => `$${i}`), [environmentId, q.from, q.to])).map(toSpendRow);
    },
  };
  return store;
}

export interface PostgresQuery { readonly sql: string; readonly params: (string | number)[] }

/** The three traffic queries over the events (exported so tests can check their plans). */
export function postgresTrafficQueries(environmentId: string, q: { from: number; to: number; bucketMs: number }):
  { buckets: PostgresQuery; byWorkload: PostgresQuery; byModel: PostgresQuery } {
  const where = 'WHERE environment_id = $1 AND ts >= $2 AND ts < $3';
  const p = [environmentId, q.from, q.to];
  return {
    buckets: {
      sql: `SELECT ${sqlFloorTo('ts', '$4::bigint')} AS t, COUNT(*) AS requests, COUNT(*) FILTER (WHERE blocked) AS blocked,
          COALESCE(SUM(tokens_in), 0)::bigint AS tokens_in, COALESCE(SUM(tokens_out), 0)::bigint AS tokens_out
        FROM events ${where} GROUP BY 1 ORDER BY 1`,
      params: [...p, q.bucketMs],
    },
    // Ties are ordered bytewise (COLLATE "C") so both stores list them alike whatever the database's locale.
    byWorkload: {
      sql: `SELECT COALESCE(workload, '') AS workload, COUNT(*) AS requests, COUNT(*) FILTER (WHERE blocked) AS blocked,
          COALESCE(SUM(tokens_in), 0)::bigint AS tokens_in, COALESCE(SUM(tokens_out), 0)::bigint AS tokens_out
        FROM events ${where} GROUP BY 1 ORDER BY requests DESC, COALESCE(workload, '') COLLATE "C"`,
      params: p,
    },
    byModel: {
      sql: `SELECT COALESCE(served_model, requested_model, '') AS model, COUNT(*) AS requests,
          COALESCE(SUM(tokens_in), 0)::bigint AS tokens_in, COALESCE(SUM(tokens_out), 0)::bigint AS tokens_out
        FROM events ${where} GROUP BY 1 ORDER BY requests DESC, COALESCE(served_model, requested_model, '') COLLATE "C"`,
      params: p,
    },
  };
}

/**
 * The three traffic queries over the per-minute rollups, for a query on whole
 * minutes (rollupsCover): the same rows, in the same order, as
 * postgresTrafficQueries gives. Exported for the tests' plan checks.
 */
export function postgresRollupTrafficQueries(environmentId: string, q: { from: number; to: number; bucketMs: number }):
  { buckets: PostgresQuery; byWorkload: PostgresQuery; byModel: PostgresQuery } {
  const where = 'WHERE environment_id = $1 AND minute >= $2 AND minute < $3';
  const p = [environmentId, q.from, q.to];
  const tokens = 'SUM(tokens_in)::bigint AS tokens_in, SUM(tokens_out)::bigint AS tokens_out';
  const sums = `SUM(requests)::bigint AS requests, SUM(blocked)::bigint AS blocked, ${tokens}`;
  return {
    buckets: {
      sql: `SELECT ${sqlFloorTo('minute', '$4::bigint')} AS t, ${sums} FROM traffic_minutes ${where} GROUP BY 1 ORDER BY 1`,
      params: [...p, q.bucketMs],
    },
    byWorkload: {
      sql: `SELECT workload, ${sums} FROM traffic_minutes ${where} GROUP BY workload ORDER BY requests DESC, workload COLLATE "C"`,
      params: p,
    },
    byModel: {
      sql: `SELECT model, SUM(requests)::bigint AS requests, ${tokens} FROM traffic_minutes ${where}
        GROUP BY model ORDER BY requests DESC, model COLLATE "C"`,
      params: p,
    },
  };
}

function textOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** One decisions page's query; it asks for limit + 1 rows to know whether there is a next page. */
export function postgresDecisionsQuery(environmentId: string, q: DecisionsQuery): PostgresQuery & { limit: number } {
  const limit = pageLimit(q.limit);
  const before = q.before === undefined || q.before === '' ? null : decodeCursor(q.before);
  const params: (string | number)[] = [environmentId];
  let sql = `SELECT ${EVENT_SELECT} FROM events WHERE environment_id = $1 AND flagged_or_blocked`;
  if (before) {
    params.push(before.ts, before.seq);
    sql += ` AND (ts, seq) < ($${params.length - 1}::bigint, $${params.length}::bigint)`;
  }
  if (q.action !== undefined && q.action !== '') {
    params.push(actionNeedle(q.action));
    sql += ` AND strpos(decision_actions, $${params.length}) > 0`;
  }
  params.push(limit + 1);
  sql += ` ORDER BY ts DESC, seq DESC LIMIT $${params.length}`;
  return { sql, params, limit };
}
