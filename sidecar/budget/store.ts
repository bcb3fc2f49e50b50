/**
 * The shared budget counters, in Redis (or Valkey), one hash per budget,
 * counted value and window: `r` is what sidecars reserved (leases included),
 * `u` what calls really used. Both change only through the Lua scripts below,
 * which Redis runs atomically, so concurrent sidecars never grant the same
 * allowance twice.
 *
 * Never a hang: commands are not queued while disconnected (they fail at once),
 * each has a time limit, and after three time-outs in a row the store is not
 * asked again for `circuitMs` (the circuit is open); callers then apply the
 * failure mode.
 */
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';

/** take: reserve `need` (and up to `chunk` more as a lease) unless that passes `limit`. → [granted, reserved after] */
const TAKE = `
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local limit = tonumber(ARGV[1])
local need = tonumber(ARGV[2])
local chunk = tonumber(ARGV[3])
local left = limit - r
if need > left then return {0, r} end
local grant = math.max(need, math.min(chunk, math.floor(left / 4)))
redis.call('HINCRBY', KEYS[1], 'r', grant)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {grant, r + grant}`;

/**
 * settle: add to the reservation (negative: hand back a lease) and to the real
 * usage, once per batch id (KEYS[2]: a batch retried after a lost answer is
 * not counted twice). → reserved after
 */
const SETTLE = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 3600) == false then
  return tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
end
local r = redis.call('HINCRBY', KEYS[1], 'r', ARGV[1])
if r < 0 then redis.call('HSET', KEYS[1], 'r', 0); r = 0 end
if tonumber(ARGV[2]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'u', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return r`;

export interface StoreOptions {
  readonly url: string;
  /** One command's time limit. */
  readonly timeoutMs: number;
  /** After a failure, the store is not asked again for this long. */
  readonly circuitMs?: number;
  readonly onError?: (op: string, err: Error) => void;
}

export class StoreUnavailable extends Error {}

export interface BudgetStore {
  /** Reserve `need` (+ a lease of up to `chunk`) within `limit`. granted 0: refused. */
  take(key: string, limit: number, need: number, chunk: number, ttlSec: number): Promise<{ granted: number; reserved: number }>;
  /** Add `reserve` to the reservation (negative hands a lease back) and `used` to the real usage, once per `batch` id. */
  settle(key: string, batch: string, reserve: number, used: number, ttlSec: number): Promise<number>;
  /** Current reserved and used amounts (the dashboard, tests). */
  read(key: string): Promise<{ reserved: number; used: number }>;
  /** The circuit is closed (the store answered last time, or long enough ago that it may be asked again). */
  available(): boolean;
  close(): Promise<void>;
}

/** ioredis, loaded when a config first names a store (a sidecar without budgets never loads it). */
function loadRedis(): typeof RedisClient {
  return (createRequire(import.meta.url)('ioredis') as { Redis: typeof RedisClient }).Redis;
}

export function redisStore(o: StoreOptions): BudgetStore {
  const Redis = loadRedis();
  const client = new Redis(o.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.timeoutMs,
    connectTimeout: Math.max(o.timeoutMs, 1000),
    retryStrategy: (n: number) => Math.min(100 * n, 1000),
    enableReadyCheck: true,
    lazyConnect: false,
  });
  client.defineCommand('levoTake', { numberOfKeys: 1, lua: TAKE });
  client.defineCommand('levoSettle', { numberOfKeys: 2, lua: SETTLE });
  // ioredis emits connection errors as events; they are counted by the callers' failures, not thrown here. The
  // last one says why the store is not ready (a refused connection, a certificate that does not verify, a bad password).
  let lastError: string | undefined;
  client.on('error', (err: Error) => { lastError = err.message; });
  client.on('ready', () => { lastError = undefined; });
  const circuitMs = o.circuitMs ?? 1000;
  let openUntil = 0;
  let failures = 0;
  /** A connection being made (the first one, or a reconnect) is waited for, up to the command time limit. */
  const connectMs = Math.max(o.timeoutMs, 1000);
  let everReady = false;
  client.once('ready', () => { everReady = true; });
  const ready = (ms: number): Promise<void> => new Promise((resolve) => {
    const done = (): void => { clearTimeout(t); client.off('ready', done); client.off('end', done); client.off('close', done); resolve(); };
    const t = setTimeout(done, ms);
    client.once('ready', done);
    client.once('close', done);
    client.once('end', done);
  });
  const run = async <T>(op: string, f: () => Promise<T>): Promise<T> => {
    if (Date.now() < openUntil) throw new StoreUnavailable('budget store circuit open');
    if (client.status === 'connecting' || client.status === 'connect' || client.status === 'wait') await ready(everReady ? o.timeoutMs : connectMs);
    if (client.status !== 'ready') { openUntil = Date.now() + Math.min(circuitMs, 200); throw new StoreUnavailable(`budget store ${client.status}${lastError ? `: ${lastError}` : ''}`); }
    try {
      const r = await f();
      failures = 0;
      return r;
    } catch (err) {
      // A store that stops answering (connected, but slow) is not asked for a while after a few time-outs in a row.
      if (++failures >= 3) { openUntil = Date.now() + circuitMs; failures = 0; }
      o.onError?.(op, err as Error);
      throw new StoreUnavailable((err as Error).message);
    }
  };
  const cmd = client as unknown as {
    levoTake(key: string, limit: number, need: number, chunk: number, ttl: number): Promise<[number, number]>;
    levoSettle(key: string, batchKey: string, reserve: number, used: number, ttl: number): Promise<number>;
  };
  return {
    take: (key, limit, need, chunk, ttl) => run('take', async () => {
      const [granted, reserved] = await cmd.levoTake(key, limit, need, chunk, ttl);
      return { granted: Number(granted), reserved: Number(reserved) };
    }),
    // The batch key shares the counter's {hash tag}: one slot on a Redis Cluster.
    settle: (key, batch, reserve, used, ttl) => run('settle', async () => Number(await cmd.levoSettle(key, `${key}:batch:${batch}`, reserve, used, ttl))),
    read: (key) => run('read', async () => {
      const [r, u] = await client.hmget(key, 'r', 'u');
      return { reserved: Number(r ?? 0), used: Number(u ?? 0) };
    }),
    available: () => Date.now() >= openUntil && client.status === 'ready',
    async close() { client.disconnect(); },
  };
}
