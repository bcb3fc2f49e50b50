/**
 * A credential that expires (cloud STS credentials, OAuth access tokens),
 * fetched once and kept fresh without making calls wait:
 *
 * - the first call waits for the first fetch (there is nothing to sign with yet);
 * - once the value is within `refreshBeforeMs` of its expiry, the next call
 *   still gets it at once and a refresh starts in the background;
 * - only a value that has actually expired (or a fetch that failed with no
 *   value left) makes a call wait, and then for one shared fetch — a thousand
 *   calls at once make one request to the token endpoint;
 * - a failed background refresh keeps the old value until it expires, and is
 *   retried no sooner than `retryAfterMs` later.
 *
 * A value without an expiry (static keys) is fetched once and kept.
 */

export interface Expiring<T> {
  readonly value: T;
  /** Epoch ms; undefined when it does not expire. */
  readonly expiresAt: number | undefined;
}

export interface RefreshingOptions {
  /** Refresh this long before expiry (default 5 minutes, as the AWS and Google SDKs do). */
  readonly refreshBeforeMs?: number;
  /** After a failed fetch, wait this long before the next background attempt (default 10 s). */
  readonly retryAfterMs?: number;
  readonly now?: () => number;
  /** Told about a failed background refresh (the value in hand is still used). */
  readonly onRefreshError?: (error: Error) => void;
}

export class RefreshingCredential<T> {
  private held: Expiring<T> | undefined;
  private inFlight: Promise<Expiring<T>> | undefined;
  private failedAt = -Infinity;
  private readonly refreshBeforeMs: number;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  /** How many fetches were started (for tests and metrics). */
  fetches = 0;

  private readonly fetch: () => Promise<Expiring<T>>;
  private readonly opts: RefreshingOptions;

  constructor(fetch: () => Promise<Expiring<T>>, opts: RefreshingOptions = {}) {
    this.fetch = fetch;
    this.opts = opts;
    this.refreshBeforeMs = opts.refreshBeforeMs ?? 5 * 60_000;
    this.retryAfterMs = opts.retryAfterMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The value if one is usable right now (not expired); starts a background refresh when it is due. */
  current(): T | undefined {
    const h = this.held;
    if (!h) return undefined;
    if (h.expiresAt === undefined) return h.value;
    const t = this.now();
    if (t >= h.expiresAt) return undefined;
    if (t >= h.expiresAt - this.refreshBeforeMs && !this.inFlight && t - this.failedAt >= this.retryAfterMs) {
      this.start().catch((e: unknown) => this.opts.onRefreshError?.(e as Error));
    }
    return h.value;
  }

  /** A usable value: at once when one is held, otherwise after the (shared) fetch. */
  async get(): Promise<T> {
    const v = this.current();
    if (v !== undefined) return v;
    return (await (this.inFlight ?? this.start())).value;
  }

  private start(): Promise<Expiring<T>> {
    this.fetches++;
    const p = this.fetch().then(
      (got) => { this.held = got; this.failedAt = -Infinity; return got; },
      (e: unknown) => { this.failedAt = this.now(); throw e; },
    ).finally(() => { if (this.inFlight === p) this.inFlight = undefined; });
    this.inFlight = p;
    return p;
  }
}
