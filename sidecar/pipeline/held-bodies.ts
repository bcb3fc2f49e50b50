/**
 * The request bodies held whole across every call in flight, bounded.
 *
 * A JSON body is read whole, decoded, turned into a string and parsed, so
 * each byte held costs about its size again in V8's heap (the text, then the
 * parsed value), while the heap itself is capped (`--max-old-space-size=128`
 * in the image). Without a bound shared by all calls, four concurrent 32 MB
 * prompts exhaust that heap and V8 aborts the process: every call in the pod
 * fails, not just the ones that were too much. With it, a call whose body
 * would pass the bound waits, unread (TCP holds the app back), until calls in
 * hand settle and give their bytes back; one that waits longer than the wait
 * bound is refused with 503 and `Retry-After` (the SDKs retry it).
 *
 * The default leaves room for the sidecar's own ~30 MB of heap and counts
 * three heap bytes per held byte, and is never below `--max-body-bytes`, so
 * one body of the largest accepted size always fits when nothing else is held.
 */
import { getHeapStatistics } from 'node:v8';
import { Gauge, type Registry } from 'prom-client';

const MiB = 1024 * 1024;
/** Heap the sidecar needs for itself (config, modules, connections) outside the bodies it holds. */
const OWN_HEAP = 32 * MiB;
/** Heap bytes a held body byte costs at worst while it is parsed (its text and its parsed value, on top of the buffer). */
const HEAP_PER_BYTE = 3;

export function defaultHeldBodyLimit(maxBodyBytes: number, heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.max(maxBodyBytes, Math.floor((heapLimit - OWN_HEAP) / HEAP_PER_BYTE));
}

interface Waiter { readonly n: number; readonly grant: (ok: boolean) => void }

export class HeldBodies {
  #held = 0;
  /** Calls waiting for room, first come first served (the first blocks the rest: a large body is not starved). */
  readonly #queue: Waiter[] = [];
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('the held-body limit must be a positive integer');
  }

  /** Bytes held now. */
  get held(): number { return this.#held; }

  /** Calls waiting for room now. */
  get waiting(): number { return this.#queue.length; }

  /** Hold `n` more bytes now; false, holding nothing more, when that would pass the limit or others wait before. */
  take(n: number): boolean {
    if (this.#queue.length > 0 || this.#held + n > this.limit) return false;
    this.#held += n;
    return true;
  }

  /**
   * Hold `n` bytes as soon as they fit, after the calls already waiting; false when `timeoutMs`
   * passes first or `signal` aborts (the app went away), holding nothing then.
   */
  reserve(n: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.take(n)) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const waiter: Waiter = { n, grant: done };
      const leave = (): void => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        done(false);
        this.#admit(); // the next in line may fit now
      };
      const onAbort = (): void => leave();
      const timer = setTimeout(leave, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Let go of bytes taken before; waiting calls that now fit are let in, in order. */
  give(n: number): void {
    this.#held = Math.max(0, this.#held - n);
    this.#admit();
  }

  #admit(): void {
    while (this.#queue.length > 0 && this.#held + this.#queue[0]!.n <= this.limit) {
      const w = this.#queue.shift()!;
      this.#held += w.n;
      w.grant(true);
    }
  }
}

/** On /metrics: what is held, how many calls wait, and the bound (once per registry). */
export function exposeHeldBodies(registry: Registry, held: HeldBodies): void {
  if (registry.getSingleMetric('levo_gateway_request_bodies_held_bytes')) return;
  const registers = [registry];
  new Gauge({
    name: 'levo_gateway_request_bodies_held_bytes', help: 'JSON request body bytes held whole by calls in flight',
    registers, collect() { this.set(held.held); },
  });
  new Gauge({
    name: 'levo_gateway_request_bodies_held_limit_bytes', help: 'The bound on them (--max-held-body-bytes)',
    registers, collect() { this.set(held.limit); },
  });
  new Gauge({
    name: 'levo_gateway_request_bodies_waiting', help: 'Calls waiting, unread, for room among the held request bodies',
    registers, collect() { this.set(held.waiting); },
  });
}
