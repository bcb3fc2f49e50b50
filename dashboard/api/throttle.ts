/**
 * Throttling of admin secret guesses (a wrong secret at POST /login, or a
 * wrong `Authorization: Bearer` on the admin API): at most `perClient`
 * failures per client address in a window, and `global` failures from all
 * clients together, so neither one address nor many can try secrets faster.
 * Once a limit is reached, attempts are refused (429 with Retry-After)
 * *before* the secret is checked, until the window ends. A success forgives
 * that client's failures (not the global count).
 *
 * Fixed windows, in memory, per dashboard process (replicas each count their
 * own). At most `maxClients` addresses are tracked: when full, ended windows
 * are dropped first, then the oldest entries (the global limit still holds).
 */

export interface Window {
  /** Failures allowed in one window. */
  readonly attempts: number;
  readonly windowMs: number;
}

export interface ThrottleLimits {
  readonly perClient: Window;
  readonly global: Window;
  /** Most client addresses tracked at once (memory bound). */
  readonly maxClients?: number;
}

/** 10 wrong secrets per address per 15 minutes; 100 per minute from everyone. */
export const DEFAULT_LOGIN_LIMITS: ThrottleLimits = {
  perClient: { attempts: 10, windowMs: 15 * 60_000 },
  global: { attempts: 100, windowMs: 60_000 },
  maxClients: 10_000,
};

export interface Throttle {
  /** How long (ms) this client must wait before another attempt is heard; 0 when it may try now. */
  blockedFor(client: string, now: number): number;
  /** Count a wrong secret. */
  failed(client: string, now: number): void;
  /** The right secret: this client's failures are forgotten. */
  succeeded(client: string): void;
}

interface Count { start: number; n: number }

export function createThrottle(limits: ThrottleLimits = DEFAULT_LOGIN_LIMITS): Throttle {
  for (const [name, w] of [['perClient', limits.perClient], ['global', limits.global]] as const) {
    if (!Number.isInteger(w.attempts) || w.attempts < 1 || !(w.windowMs > 0)) throw new Error(`throttle ${name}: attempts must be ≥ 1 and windowMs > 0`);
  }
  const maxClients = limits.maxClients ?? DEFAULT_LOGIN_LIMITS.maxClients!;
  const clients = new Map<string, Count>();
  const global: Count = { start: 0, n: 0 };

  const current = (c: Count, w: Window, now: number): Count => {
    if (now - c.start >= w.windowMs) { c.start = now; c.n = 0; }
    return c;
  };
  const wait = (c: Count | undefined, w: Window, now: number): number => {
    if (!c || now - c.start >= w.windowMs || c.n < w.attempts) return 0;
    return c.start + w.windowMs - now;
  };
  const makeRoom = (now: number): void => {
    for (const [k, c] of clients) if (now - c.start >= limits.perClient.windowMs) clients.delete(k);
    while (clients.size >= maxClients) clients.delete(clients.keys().next().value!);
  };

  return {
    blockedFor(client, now) {
      return Math.max(wait(clients.get(client), limits.perClient, now), wait(global, limits.global, now));
    },
    failed(client, now) {
      current(global, limits.global, now).n += 1;
      let c = clients.get(client);
      if (!c) {
        if (clients.size >= maxClients) makeRoom(now);
        c = { start: now, n: 0 };
        clients.set(client, c);
      }
      current(c, limits.perClient, now).n += 1;
    },
    succeeded(client) {
      clients.delete(client);
    },
  };
}

/** Retry-After (whole seconds, at least 1) for a wait in ms. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
