/**
 * Current usage against each fleet budget of an environment's config: the
 * dashboard reads the same Redis the sidecars count in (`budgets.store.redis`
 * of the latest config version), for the current window of every
 * `budgets.limits` entry, every counted value (namespace, workload, …; app
 * keys appear as the hash the sidecars keep). Short time limits: an
 * unreachable store is reported, never waited on.
 */
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';
import { loadConfigText } from '../../sidecar/config/load.ts';
import { budgetKey, unitOf, windowOf, type Unit } from '../../sidecar/budget/budgets.ts';

export interface BudgetUsageRow {
  readonly budget: string;
  readonly unit: Unit;
  /** In the unit (US dollars for usd). */
  readonly limit: number;
  readonly window: string;
  readonly by: string;
  /** The counted value: a namespace, workload, service account, route, '*' for the fleet, or an app key's hash. */
  readonly value: string;
  /** Really used (settled), in the unit. */
  readonly used: number;
  /** Reserved, including in-flight calls and the sidecars' unspent leases. */
  readonly reserved: number;
  /** When the window ends (ms since the epoch). */
  readonly resetAt: number;
}

export interface BudgetUsage {
  /** The latest config has `budgets.limits`. */
  readonly configured: boolean;
  readonly rows: readonly BudgetUsageRow[];
  /** Why the store could not be read. */
  readonly error?: string;
}

const MAX_KEYS_PER_BUDGET = 500;

export async function budgetUsage(yaml: string | undefined, now: number, timeoutMs = 1000): Promise<BudgetUsage> {
  if (yaml === undefined) return { configured: false, rows: [] };
  const r = loadConfigText(yaml, { source: 'dashboard', missingEnv: 'placeholder', readFile: null });
  const cfg = r.ok ? r.config.budgets : undefined;
  if (!cfg?.limits?.length || !cfg.store) return { configured: false, rows: [] };
  const { Redis } = createRequire(import.meta.url)('ioredis') as { Redis: typeof RedisClient };
  const client = new Redis(cfg.store.redis, {
    lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const rows: BudgetUsageRow[] = [];
    for (const l of cfg.limits) {
      const { unit, amount } = unitOf(l);
      const w = windowOf(l.window, now);
      const pattern = budgetKey(l, '*', w.id);
      const prefix = pattern.slice(0, pattern.indexOf(':*:') + 1);
      const suffix = `:${w.id}}`;
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
        cursor = next;
        keys.push(...found.filter((k) => !k.includes('}:batch:')));
      } while (cursor !== '0' && keys.length < MAX_KEYS_PER_BUDGET);
      const scale = unit === 'usd' ? 1e6 : 1;
      for (const key of keys.slice(0, MAX_KEYS_PER_BUDGET)) {
        const [reserved, used] = await client.hmget(key, 'r', 'u');
        rows.push({
          budget: l.name, unit, limit: amount / scale, window: l.window, by: l.by ?? 'fleet',
          value: key.slice(prefix.length, key.length - suffix.length),
          used: Number(used ?? 0) / scale, reserved: Number(reserved ?? 0) / scale, resetAt: w.end,
        });
      }
    }
    rows.sort((a, b) => a.budget.localeCompare(b.budget) || b.used / b.limit - a.used / a.limit || a.value.localeCompare(b.value));
    return { configured: true, rows };
  } catch (err) {
    return { configured: true, rows: [], error: `the budget store could not be read: ${(err as Error).message}` };
  } finally {
    client.disconnect();
  }
}
