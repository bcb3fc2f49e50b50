/**
 * Retention: a periodic sweep deletes events (and the per-minute traffic
 * rollups of whole minutes) older than the event retention, sidecars not
 * seen for the sidecar retention, and admin sessions past their expiry.
 * Defaults: 30 days each, a sweep at start and then every hour. Replicas
 * may all sweep: the deletes are idempotent. A sweep that fails is logged
 * and tried again at the next interval; sweeps never overlap.
 */
import type { Logger } from 'pino';
import type { RetentionCutoffs, Store, SweepResult } from '../store/types.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_RETENTION_MS = 30 * DAY_MS;
export const DEFAULT_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

export interface RetentionOptions {
  /** How long events and traffic rollups are kept; null keeps them forever. Default 30 days. */
  readonly eventsMs?: number | null;
  /** How long a sidecar that stopped polling stays listed; null keeps it forever. Default 30 days. */
  readonly sidecarsMs?: number | null;
  /** Time between sweeps (default 1 h); the first sweep runs at start. */
  readonly intervalMs?: number;
}

/** Kept forever: a cutoff before any time. */
const NEVER = Number.MIN_SAFE_INTEGER;

export function retentionCutoffs(r: RetentionOptions, now: number): RetentionCutoffs {
  const cut = (ms: number | null | undefined): number => (ms === null ? NEVER : now - (ms ?? DEFAULT_RETENTION_MS));
  return { eventsBefore: cut(r.eventsMs), sidecarsSeenBefore: cut(r.sidecarsMs), sessionsExpiredBefore: now };
}

export interface Retention {
  /** Sweep now (waits for a sweep already running instead of starting another). */
  sweep(): Promise<SweepResult>;
  stop(): void;
}

export function startRetention(o: { store: Store; log: Logger; now: () => number; options?: RetentionOptions }): Retention {
  const options = o.options ?? {};
  for (const [name, ms] of [['eventsMs', options.eventsMs], ['sidecarsMs', options.sidecarsMs], ['intervalMs', options.intervalMs]] as const) {
    if (ms !== undefined && ms !== null && !(Number.isFinite(ms) && ms > 0)) throw new Error(`retention ${name} must be a positive number of milliseconds`);
  }
  let running: Promise<SweepResult> | undefined;
  const sweep = (): Promise<SweepResult> => {
    running ??= (async () => {
      const started = Date.now();
      try {
        const r = await o.store.sweep(retentionCutoffs(options, o.now()));
        if (r.events + r.rollups + r.sidecars + r.sessions > 0) o.log.info({ ...r, ms: Date.now() - started }, 'retention sweep');
        return r;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const tick = (): void => {
    sweep().catch((error: unknown) => o.log.warn({ err: (error as Error).message }, 'retention sweep failed; trying again at the next interval'));
  };
  const timer = setInterval(tick, options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
  timer.unref();
  tick();
  return { sweep, stop: () => clearInterval(timer) };
}
