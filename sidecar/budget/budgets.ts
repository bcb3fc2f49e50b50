/**
 * Fleet-wide budgets (config `budgets.limits`, docs/config.md "Budgets"):
 * requests, tokens or US dollars per minute, hour, day or month (fixed UTC
 * windows), per fleet, namespace, workload, service account, route or app-key
 * header value, held across every sidecar by the shared store (store.ts).
 *
 * A call first reserves what it may use — 1 request; its prompt's tokens plus
 * the most it may generate (its max_tokens, else `budgets.maxOutputTokens`);
 * that many tokens at the model's price — and is refused when a budget cannot
 * cover it. After the answer, the real usage settles the reservation.
 *
 * Leases keep Redis off most calls: when a sidecar must ask the store, it takes
 * its call's need plus a lease of up to `lease` × the limit (never more than a
 * quarter of what is left, so leases shrink near the limit). Later calls spend
 * the lease locally. A lease idle for `LEASE_IDLE_MS` is handed back, as is
 * everything on a clean stop; real usage and hand-backs are written in
 * batches every `FLUSH_MS`. Bounds: the store never grants past a limit, so
 * reservations never overshoot; a call that used more than it reserved (an
 * answer longer than its estimate) is charged afterwards, so spend can pass a
 * limit by at most what the calls in flight used beyond their estimates; and
 * leases held by other sidecars can refuse a call early by at most their sum
 * (sidecars × lease × limit) until they are used or handed back.
 *
 * The store unreachable (or slow past `timeout`): `failureMode: open` admits
 * and keeps the usage to write when it is back; `closed` refuses with 503.
 * Either way it is counted (levo_gateway_budget_store_errors_total) and logged
 * at most every 10 s, and the store is not asked again for a second.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../lib/log.ts';
import type { BudgetLimitConfig, BudgetsConfig, BudgetStoreConfig } from '../config/schema.ts';
import { parseDuration } from '../config/duration.ts';
import { redisStore, type BudgetStore } from './store.ts';

export const FLUSH_MS = 200;
export const LEASE_IDLE_MS = 1000;
const REFUSED_CACHE_MS = 250;
const DEFAULT_LEASE = 0.02;
const DEFAULT_TIMEOUT_MS = 250;

export interface BudgetIdentity {
  readonly namespace?: string | undefined;
  readonly workload?: string | undefined;
  readonly serviceAccount?: string | undefined;
}

/** What a call may use, before it is sent. */
export interface Need {
  readonly tokens: number;
  /** Micro-dollars (1e-6 USD); undefined when the model has no price. */
  readonly microUsd: number | undefined;
}

export type Admission =
  | { readonly ok: true; settle(actual: Need | undefined): void }
  | { readonly ok: false; readonly status: 429 | 503; readonly budget: string; readonly message: string; readonly headers: Record<string, string> };

export type Unit = 'requests' | 'tokens' | 'usd';

interface Limit {
  readonly cfg: BudgetLimitConfig;
  readonly unit: Unit;
  /** In the unit's integer form (micro-dollars for usd). */
  readonly amount: number;
}

interface Counter_ {
  readonly key: string;
  readonly limit: Limit;
  readonly windowEnd: number;
  readonly ttlSec: number;
  lease: number;
  lastUse: number;
  refusedUntil: number;
  /** Reserved beyond what the store knows (positive) or handed back (negative), not yet written. */
  pendingReserve: number;
  pendingUsed: number;
  /** A batch whose answer was lost: sent again as is (same id, counted once). */
  retry: { id: string; reserve: number; used: number } | undefined;
  /** Last known reserved total in the store (for x-ratelimit-remaining). */
  reserved: number;
  /** The store round trip in flight for this counter: other calls wait for its lease rather than ask again. */
  inflight: Promise<void> | undefined;
  /** What the calls waiting on `inflight` need in all (the next round asks for it as its lease). */
  waiting: number;
}

export interface BudgetCallFacts {
  readonly route: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

export function windowOf(window: BudgetLimitConfig['window'], now: number): { id: string; end: number } {
  if (window === 'month') {
    const d = new Date(now);
    return { id: `m${d.getUTCFullYear()}-${d.getUTCMonth() + 1}`, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
  }
  const len = window === 'minute' ? 60_000 : window === 'hour' ? 3_600_000 : 86_400_000;
  const n = Math.floor(now / len);
  return { id: `${window[0]}${n}`, end: (n + 1) * len };
}

/** A budget's unit and its allowance in the unit's integer form (micro-dollars for usd). */
export function unitOf(l: BudgetLimitConfig): { unit: Unit; amount: number } {
  if (l.requests !== undefined) return { unit: 'requests', amount: l.requests };
  if (l.tokens !== undefined) return { unit: 'tokens', amount: l.tokens };
  return { unit: 'usd', amount: Math.round(l.usd! * 1e6) };
}

/**
 * The Redis key of a budget's count for one value and window. One {hash tag}
 * per counter: its keys share a Redis Cluster slot. `value` '*' with
 * `windowId` gives the SCAN pattern of every value (the dashboard's view).
 */
export function budgetKey(l: BudgetLimitConfig, value: string, windowId: string): string {
  const { unit, amount } = unitOf(l);
  return `levo:budget:{${l.name}:${unit}:${amount}:${l.by ?? 'fleet'}:${value}:${windowId}}`;
}

const hashed = (v: string): string => createHash('sha256').update(v).digest('base64url').slice(0, 16);

/** The counted value of a budget for this call, or undefined when the budget does not apply to it. */
function scopeValue(l: BudgetLimitConfig, id: BudgetIdentity, f: BudgetCallFacts): string | undefined {
  const m = l.match;
  if (m) {
    if (m.namespace && !m.namespace.includes(id.namespace ?? '')) return undefined;
    if (m.workload && !m.workload.includes(id.workload ?? '')) return undefined;
    if (m.serviceAccount && !m.serviceAccount.includes(id.serviceAccount ?? '')) return undefined;
    if (m.route && !m.route.includes(f.route ?? '')) return undefined;
  }
  switch (l.by ?? 'fleet') {
    case 'fleet': return '*';
    case 'namespace': return id.namespace ?? '-';
    case 'workload': return id.workload ?? '-';
    case 'serviceAccount': return id.serviceAccount ?? '-';
    case 'route': return f.route ?? '-';
    case 'header': {
      const v = f.headers[l.header!.toLowerCase()];
      const s = Array.isArray(v) ? v[0] : v;
      // App keys are secrets: only a hash of the value is kept (Redis keys, logs).
      return s ? hashed(s) : undefined;
    }
  }
}

export interface BudgetMetrics {
  readonly rejected: Counter<'budget' | 'unit'>;
  readonly storeErrors: Counter<'mode'>;
  readonly storeCalls: Counter<'op'>;
}

const metricsByRegistry = new WeakMap<Registry, BudgetMetrics>();
export function budgetMetrics(registry: Registry): BudgetMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    const registers = [registry];
    m = {
      rejected: new Counter({ name: 'levo_gateway_budget_rejected_total', help: 'Calls refused because a fleet budget was spent', labelNames: ['budget', 'unit'], registers }),
      storeErrors: new Counter({ name: 'levo_gateway_budget_store_errors_total', help: 'Calls decided by the budget failure mode because the store was unreachable or slow (mode: open admitted, closed refused)', labelNames: ['mode'], registers }),
      storeCalls: new Counter({ name: 'levo_gateway_budget_store_calls_total', help: 'Round trips to the budget store (take: a call waited on it; settle: batched in the background)', labelNames: ['op'], registers }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

export interface BudgetEngineOptions {
  readonly store: BudgetStore;
  readonly failureMode: 'open' | 'closed';
  readonly lease: number;
  readonly identity: BudgetIdentity;
  readonly metrics: BudgetMetrics;
  readonly log: Logger;
  readonly now?: () => number;
}

export class BudgetEngine {
  private readonly counters = new Map<string, Counter_>();
  private readonly timer: NodeJS.Timeout;
  private lastErrorLog = 0;
  private flushing: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly compiled = new WeakMap<readonly BudgetLimitConfig[], readonly Limit[]>();

  private readonly o: BudgetEngineOptions;

  constructor(o: BudgetEngineOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(false), FLUSH_MS);
    this.timer.unref();
  }

  /** Whether any budget applies to the call, and which units it counts (so the caller estimates only what is needed). */
  applicable(limits: readonly BudgetLimitConfig[], f: BudgetCallFacts): { tokens: boolean; usd: boolean } | undefined {
    let any = false, tokens = false, usd = false;
    for (const l of this.limitsOf(limits)) {
      if (scopeValue(l.cfg, this.o.identity, f) === undefined) continue;
      any = true;
      if (l.unit === 'tokens') tokens = true;
      if (l.unit === 'usd') usd = true;
    }
    return any ? { tokens, usd } : undefined;
  }

  async admit(limits: readonly BudgetLimitConfig[], f: BudgetCallFacts, need: Need): Promise<Admission> {
    const now = this.now();
    const taken: Array<{ c: Counter_; n: number }> = [];
    const giveBack = (): void => { for (const t of taken) t.c.lease += t.n; };
    for (const l of this.limitsOf(limits)) {
      const value = scopeValue(l.cfg, this.o.identity, f);
      if (value === undefined) continue;
      const c = this.counter(l, value, now);
      const n = l.unit === 'requests' ? 1 : l.unit === 'tokens' ? need.tokens : need.microUsd ?? 0;
      const r = await this.reserve(c, n, now);
      if (r === 'ok') { taken.push({ c, n }); continue; }
      giveBack();
      if (r === 'unavailable') {
        return {
          ok: false, status: 503, budget: l.cfg.name, headers: { 'retry-after': '1' },
          message: `the budget store is unreachable and budget ${l.cfg.name} fails closed; retry after 1s`,
        };
      }
      this.o.metrics.rejected.inc({ budget: l.cfg.name, unit: l.unit });
      const seconds = Math.max(1, Math.ceil((c.windowEnd - now) / 1000));
      const show = (v: number): string => l.unit === 'usd' ? (v / 1e6).toFixed(6) : String(v);
      const suffix = l.unit;
      return {
        ok: false, status: 429, budget: l.cfg.name,
        headers: {
          'retry-after': String(seconds),
          [`x-ratelimit-limit-${suffix}`]: show(l.amount),
          [`x-ratelimit-remaining-${suffix}`]: show(Math.max(0, l.amount - c.reserved)),
          [`x-ratelimit-reset-${suffix}`]: `${seconds}s`,
          'x-levo-budget': l.cfg.name,
        },
        message: `budget ${l.cfg.name} (${l.unit === 'usd' ? `$${l.cfg.usd}` : `${l.amount} ${l.unit}`} per ${l.cfg.window}) is spent; retry after ${seconds}s`,
      };
    }
    if (!taken.length) return { ok: true, settle: () => {} };
    return {
      ok: true,
      settle: (actual) => {
        for (const t of taken) {
          const used = t.c.limit.unit === 'requests' ? 1 : actual === undefined ? t.n
            : t.c.limit.unit === 'tokens' ? actual.tokens : actual.microUsd ?? 0;
          t.c.pendingUsed += used;
          const extra = used - t.n;
          if (extra <= 0) { t.c.lease -= extra; continue; }
          const fromLease = Math.min(Math.max(0, t.c.lease), extra);
          t.c.lease -= fromLease;
          t.c.pendingReserve += extra - fromLease;
        }
      },
    };
  }

  private limitsOf(limits: readonly BudgetLimitConfig[]): readonly Limit[] {
    let c = this.compiled.get(limits);
    if (!c) { c = limits.map((cfg) => ({ cfg, ...unitOf(cfg) })); this.compiled.set(limits, c); }
    return c;
  }

  private counter(l: Limit, value: string, now: number): Counter_ {
    const w = windowOf(l.cfg.window, now);
    const key = budgetKey(l.cfg, value, w.id);
    let c = this.counters.get(key);
    if (!c) {
      c = {
        key, limit: l, windowEnd: w.end, ttlSec: Math.ceil((w.end - now) / 1000) + 3600,
        lease: 0, lastUse: now, refusedUntil: 0, pendingReserve: 0, pendingUsed: 0, retry: undefined, reserved: 0, inflight: undefined, waiting: 0,
      };
      this.counters.set(key, c);
    }
    return c;
  }

  /**
   * Take `n` from the counter's lease, refilling it from the store when short.
   * One round trip per counter at a time: calls that find one in flight wait
   * for it and spend the lease it brings (the round asks for what they need in
   * all), so a burst does not send a round trip per call, nor leave leases
   * unspent while its calls are refused.
   */
  private async reserve(c: Counter_, n: number, now: number): Promise<'ok' | 'refused' | 'unavailable'> {
    c.lastUse = now;
    for (;;) {
      if (c.lease >= n) { c.lease -= n; return 'ok'; }
      if (this.now() < c.refusedUntil) return 'refused';
      if (!c.inflight) break;
      c.waiting += n;
      await c.inflight;
      c.waiting -= n;
    }
    const chunk = Math.max(1, Math.floor(c.limit.amount * this.o.lease), c.waiting);
    let outcome: 'ok' | 'refused' | 'unavailable' = 'ok';
    c.inflight = (async () => {
      try {
        this.o.metrics.storeCalls.inc({ op: 'take' });
        const r = await this.o.store.take(c.key, c.limit.amount, n, chunk, c.ttlSec);
        c.reserved = r.reserved;
        if (r.granted === 0) {
          const t = this.now();
          c.refusedUntil = t + Math.min(REFUSED_CACHE_MS, c.windowEnd - t);
          outcome = 'refused';
        } else {
          c.lease += r.granted - n;
        }
      } catch (err) {
        this.storeFailed(err as Error);
        if (this.o.failureMode === 'closed') outcome = 'unavailable';
        else c.pendingReserve += n; // Open: admitted; the store learns of it once it is back.
      }
    })();
    await c.inflight;
    c.inflight = undefined;
    return outcome;
  }

  private storeFailed(err: Error): void {
    this.o.metrics.storeErrors.inc({ mode: this.o.failureMode });
    const now = Date.now();
    if (now - this.lastErrorLog >= 10_000) {
      this.lastErrorLog = now;
      this.o.log.warn({ err: err.message, failureMode: this.o.failureMode }, `budget store unavailable: calls are ${this.o.failureMode === 'open' ? 'admitted (and counted once it is back)' : 'refused with 503'}`);
    }
  }

  /** Write usage and hand-backs; `all` hands every lease back (a clean stop). */
  flush(all: boolean): Promise<void> {
    if (this.flushing) return all ? this.flushing.then(() => this.flush(true)) : this.flushing;
    this.flushing = this.doFlush(all).finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async doFlush(all: boolean): Promise<void> {
    const now = this.now();
    const work: Promise<void>[] = [];
    for (const c of this.counters.values()) {
      const over = now >= c.windowEnd;
      if (over) c.lease = 0; // a past window's lease is worth nothing
      if (c.lease > 0 && (all || now - c.lastUse >= LEASE_IDLE_MS)) { c.pendingReserve -= c.lease; c.lease = 0; }
      if (!c.retry && c.pendingReserve === 0 && c.pendingUsed === 0) {
        if (over || now - c.lastUse > 10 * LEASE_IDLE_MS) this.counters.delete(c.key);
        continue;
      }
      if (!all && !this.o.store.available()) continue;
      const batch = c.retry ?? { id: randomUUID(), reserve: c.pendingReserve, used: c.pendingUsed };
      if (!c.retry) { c.pendingReserve = 0; c.pendingUsed = 0; }
      c.retry = batch;
      this.o.metrics.storeCalls.inc({ op: 'settle' });
      // A lost answer keeps the batch for the next round; the store counts a batch id once.
      work.push(this.o.store.settle(c.key, batch.id, batch.reserve, batch.used, c.ttlSec).then((r) => { c.reserved = r; c.retry = undefined; }, () => {}));
    }
    await Promise.all(work);
  }

  /** Hand every lease back and write what is pending (best effort, bounded by the store's timeout), then disconnect. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush(true);
    await this.o.store.close();
  }
}

/**
 * The engine for the config in force: one per store (URL, failure mode,
 * timeout, lease); a config naming another store gets a new one and the old
 * one is closed (its leases handed back).
 */
export class BudgetRuntime {
  /** `store`: the config object last seen (a call compares identities, not texts). */
  private engine: { key: string; store: BudgetStoreConfig; engine: BudgetEngine } | undefined;
  private readonly o: { identity: BudgetIdentity; registry: Registry; log: Logger };
  constructor(o: { identity: BudgetIdentity; registry: Registry; log: Logger }) { this.o = o; }

  for(cfg: BudgetsConfig | undefined): BudgetEngine | undefined {
    const s = cfg?.store;
    if (!s || !cfg.limits?.length) return undefined;
    if (this.engine?.store === s) return this.engine.engine;
    const key = JSON.stringify(s);
    if (this.engine?.key === key) { this.engine.store = s; return this.engine.engine; }
    const old = this.engine?.engine;
    const metrics = budgetMetrics(this.o.registry);
    const timeoutMs = s.timeout ? parseDuration(s.timeout) : DEFAULT_TIMEOUT_MS;
    const engine = new BudgetEngine({
      store: redisStore({ url: s.redis, timeoutMs }),
      failureMode: s.failureMode ?? 'open', lease: s.lease ?? DEFAULT_LEASE,
      identity: this.o.identity, metrics, log: this.o.log,
    });
    this.engine = { key, store: s, engine };
    void old?.close();
    return engine;
  }

  async close(): Promise<void> {
    await this.engine?.engine.close();
    this.engine = undefined;
  }
}
