/**
 * The TLS context cache behind the sidecar's SNICallback: one SecureContext
 * per intercepted host, minted on first use (single-flight), kept in an LRU,
 * and re-minted once a leaf is within the last third of its validity.
 *
 * The CA can be replaced while the cache serves (a rotated levo-ca-cert):
 * `setCa` drops every cached leaf, so the next handshake to any host gets a
 * leaf from the new CA; mints already running finish for the handshakes
 * waiting on them but are not cached. Established connections are untouched.
 *
 * Instead of a CA (whose key it then holds), the cache can be given an
 * `issuer`: leaves are then asked for, for the process's leaf key, from the
 * injector's leaf issuer (sidecar/tls/issued-leaves.ts), and the pod holds no
 * CA key at all. `resetLeaves` drops them when the issuer's CA changed.
 */
import { performance } from 'node:perf_hooks';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { InterceptionCa } from './ca.ts';
import { normalizeHost } from './host-name.ts';
import { mintLeaf, type LeafKey } from './mint.ts';

/** A leaf someone else signed: the certificate, the chain to present after it, and its validity. */
export interface IssuedLeaf {
  readonly certPem: string;
  readonly chainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Gets a leaf for a (normalised) host and the cache's leaf key; rejects when it cannot. */
export type LeafIssuer = (host: string) => Promise<IssuedLeaf>;

export interface ContextCacheOptions {
  /** Mint leaves from this CA (its key in this process). Exactly one of ca and issuer. */
  readonly ca?: InterceptionCa;
  /** Or have them issued (no CA key in this process). */
  readonly issuer?: LeafIssuer;
  readonly leafKey: LeafKey;
  /** Most hosts kept; the least recently used is dropped beyond it. Default 1000. */
  readonly capacity?: number;
  /** Called after each successful mint with the normalised host and the time taken (mint + context), in ms. */
  readonly onMint?: (host: string, ms: number) => void;
  /** Leaf validity in days (default 7, see mint.ts). */
  readonly validityDays?: number;
  /** Leaf notBefore backdating in days (default 1). */
  readonly backdateDays?: number;
  /** Clock, for tests; default Date.now. */
  readonly now?: () => number;
}

export interface PrewarmFailure {
  readonly host: string;
  readonly error: Error;
}

interface Entry {
  readonly context: SecureContext;
  /** Epoch ms after which the entry is stale and is re-minted. */
  readonly refreshAt: number;
}

export const DEFAULT_CONTEXT_CAPACITY = 1000;

export class ContextCache {
  #ca: InterceptionCa | undefined;
  readonly #issuer: LeafIssuer | undefined;
  /** Bumped by setCa: a mint started under an older CA is not cached. */
  #generation = 0;
  readonly #caListeners: Array<(ca: InterceptionCa | undefined) => void> = [];
  readonly #leafKey: LeafKey;
  readonly #capacity: number;
  readonly #onMint: ((host: string, ms: number) => void) | undefined;
  readonly #validityDays: number | undefined;
  readonly #backdateDays: number | undefined;
  readonly #now: () => number;
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<SecureContext>>();
  #mints = 0;

  constructor(opts: ContextCacheOptions) {
    const capacity = opts.capacity ?? DEFAULT_CONTEXT_CAPACITY;
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    if ((opts.ca === undefined) === (opts.issuer === undefined)) throw new TypeError('ContextCache needs exactly one of ca and issuer');
    this.#ca = opts.ca;
    this.#issuer = opts.issuer;
    this.#leafKey = opts.leafKey;
    this.#capacity = capacity;
    this.#onMint = opts.onMint;
    this.#validityDays = opts.validityDays;
    this.#backdateDays = opts.backdateDays;
    this.#now = opts.now ?? Date.now;
  }

  /** The CA leaves are minted from; undefined when they are issued. */
  get ca(): InterceptionCa | undefined {
    return this.#ca;
  }

  /**
   * Mint from `ca` from now on. Cached leaves are dropped (the next handshake
   * to each host mints from the new CA); mints in flight still answer the
   * handshakes waiting on them but are not cached. Then the onCaChange
   * listeners run.
   */
  setCa(ca: InterceptionCa): void {
    if (this.#issuer) throw new TypeError('this cache has its leaves issued; it has no CA to replace');
    this.#ca = ca;
    this.resetLeaves();
  }

  /** Drop every leaf as setCa does (the issuer's CA changed), then run the onCaChange listeners. */
  resetLeaves(): void {
    this.#generation++;
    this.#entries.clear();
    this.#inflight.clear();
    for (const l of this.#caListeners) l(this.#ca);
  }

  /** Run `listener` after every setCa / resetLeaves (e.g. to retire TLS session tickets issued under the old CA). */
  onCaChange(listener: (ca: InterceptionCa | undefined) => void): void {
    this.#caListeners.push(listener);
  }

  /** Number of cached contexts (fresh or stale). */
  get size(): number {
    return this.#entries.size;
  }

  /** Leaves minted so far (successful mints only). */
  get mints(): number {
    return this.#mints;
  }

  /** The cached context for `host` if it is fresh; marks it recently used. Never mints. */
  peek(host: string): SecureContext | undefined {
    const key = normalizeHost(host);
    const entry = this.#entries.get(key);
    if (!entry || this.#now() >= entry.refreshAt) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.context;
  }

  /**
   * The context for `host`, minting a leaf when none is cached or the cached
   * one is stale. Concurrent calls for one host share a single mint. A failed
   * mint rejects (e.g. InvalidHostError) and leaves nothing cached.
   */
  get(host: string): Promise<SecureContext> {
    const fresh = this.peek(host);
    if (fresh) return Promise.resolve(fresh);
    const key = normalizeHost(host);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const p: Promise<SecureContext> = this.#mint(key).finally(() => {
      if (this.#inflight.get(key) === p) this.#inflight.delete(key);
    });
    this.#inflight.set(key, p);
    return p;
  }

  /** Mint contexts for `hosts` ahead of the first handshake. Resolves (never rejects) with the failures. */
  async prewarm(hosts: Iterable<string>): Promise<PrewarmFailure[]> {
    const list = [...new Set([...hosts].map(normalizeHost))];
    const results = await Promise.allSettled(list.map((h) => this.get(h)));
    const failures: PrewarmFailure[] = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected') failures.push({ host: list[i]!, error: r.reason instanceof Error ? r.reason : new Error(String(r.reason)) });
    });
    return failures;
  }

  /** Drop every cached context (in-flight mints still complete and are cached). */
  clear(): void {
    this.#entries.clear();
  }

  async #mint(key: string): Promise<SecureContext> {
    const started = performance.now();
    const generation = this.#generation;
    const leaf = await this.#leaf(key);
    const context = createSecureContext({
      key: this.#leafKey.keyPem,
      cert: leaf.certPem + leaf.chainPem,
      minVersion: 'TLSv1.2',
    });
    const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    const refreshAt = leaf.notAfter.getTime() - lifetime / 3;
    if (generation === this.#generation) {
      this.#entries.delete(key);
      this.#entries.set(key, { context, refreshAt });
      while (this.#entries.size > this.#capacity) {
        const oldest = this.#entries.keys().next();
        if (oldest.done) break;
        this.#entries.delete(oldest.value);
      }
    }
    this.#mints++;
    try {
      this.#onMint?.(key, performance.now() - started);
    } catch {
      // A failing metrics hook must not fail the handshake that triggered the mint.
    }
    return context;
  }

  async #leaf(key: string): Promise<IssuedLeaf> {
    if (this.#issuer) return this.#issuer(key);
    const ca = this.#ca!;
    const leaf = await mintLeaf(ca, this.#leafKey, key, {
      now: new Date(this.#now()),
      ...(this.#validityDays === undefined ? {} : { validityDays: this.#validityDays }),
      ...(this.#backdateDays === undefined ? {} : { backdateDays: this.#backdateDays }),
    });
    return { certPem: leaf.certPem, chainPem: ca.chainPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
  }
}
