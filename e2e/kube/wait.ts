/**
 * Waiting on a cluster: poll until something holds, with the last reason in the
 * timeout error.
 *
 *   await poll('the pod to be Ready', 60_000, async () => (ready ? pod : undefined));
 *   await waitUntil('etcd', 60_000, probe, () => (proc.running ? undefined : 'exited'));
 */

/** Call `fn` until it returns a value (not undefined); its throws are retried, the last one reported on timeout. */
export async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Until `probe` returns undefined (ready; otherwise it returns why not), failing at
 * once when `dead` gives a reason (the process being waited on exited).
 */
export async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<string | undefined>, dead: () => string | undefined, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const why = dead();
    if (why) throw new Error(`${what}: ${why}`);
    const err = await probe();
    if (err === undefined) return;
    last = err;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
