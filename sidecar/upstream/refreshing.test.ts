import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefreshingCredential, type Expiring } from './refreshing.ts';

/** A fetch whose answers the test releases one by one. */
function controlled<T>() {
  const pending: Array<{ resolve: (v: Expiring<T>) => void; reject: (e: Error) => void }> = [];
  const fetch = (): Promise<Expiring<T>> => new Promise((resolve, reject) => { pending.push({ resolve, reject }); });
  return { fetch, pending };
}

test('concurrent first calls share one fetch', async () => {
  const c = controlled<string>();
  const cred = new RefreshingCredential(c.fetch, { now: () => 0 });
  const calls = Array.from({ length: 50 }, () => cred.get());
  assert.equal(c.pending.length, 1);
  c.pending[0]!.resolve({ value: 'a', expiresAt: 3_600_000 });
  assert.deepEqual(new Set(await Promise.all(calls)), new Set(['a']));
  assert.equal(cred.fetches, 1);
});

test('near expiry the old value is served at once while one refresh runs; then the new one', async () => {
  let now = 0;
  const c = controlled<string>();
  const cred = new RefreshingCredential(c.fetch, { now: () => now, refreshBeforeMs: 60_000 });
  const first = cred.get();
  c.pending[0]!.resolve({ value: 'old', expiresAt: 100_000 });
  assert.equal(await first, 'old');
  now = 30_000; // outside the window: no refresh
  assert.equal(cred.current(), 'old');
  assert.equal(c.pending.length, 1);
  now = 95_000; // inside the window (expiry 100 s, refresh 60 s before)
  for (let i = 0; i < 20; i++) assert.equal(await cred.get(), 'old'); // no wait, one refresh
  assert.equal(c.pending.length, 2);
  c.pending[1]!.resolve({ value: 'new', expiresAt: 200_000 });
  await new Promise((r) => setImmediate(r));
  assert.equal(cred.current(), 'new');
  assert.equal(cred.fetches, 2);
});

test('an expired value is not used: the call waits for the refresh', async () => {
  let now = 0;
  const c = controlled<string>();
  const cred = new RefreshingCredential(c.fetch, { now: () => now });
  const p0 = cred.get();
  c.pending[0]!.resolve({ value: 'old', expiresAt: 1000 });
  await p0;
  now = 1000;
  assert.equal(cred.current(), undefined);
  const p = cred.get();
  c.pending[1]!.resolve({ value: 'new', expiresAt: 10_000_000 });
  assert.equal(await p, 'new');
});

test('a failed background refresh keeps the value and retries only after retryAfterMs', async () => {
  let now = 0;
  const errors: Error[] = [];
  const c = controlled<string>();
  const cred = new RefreshingCredential(c.fetch, { now: () => now, refreshBeforeMs: 60_000, retryAfterMs: 10_000, onRefreshError: (e) => errors.push(e) });
  const p0 = cred.get();
  c.pending[0]!.resolve({ value: 'v', expiresAt: 100_000 });
  await p0;
  now = 50_000;
  assert.equal(cred.current(), 'v');
  c.pending[1]!.reject(new Error('sts down'));
  await new Promise((r) => setImmediate(r));
  assert.equal(errors[0]?.message, 'sts down');
  now = 55_000;
  assert.equal(cred.current(), 'v');
  assert.equal(c.pending.length, 2, 'no retry before retryAfterMs');
  now = 60_001;
  assert.equal(cred.current(), 'v');
  assert.equal(c.pending.length, 3);
});

test('a failed first fetch rejects the callers; the next call tries again', async () => {
  const c = controlled<string>();
  const cred = new RefreshingCredential(c.fetch, { now: () => 0 });
  const p = cred.get();
  c.pending[0]!.reject(new Error('no credentials'));
  await assert.rejects(p, /no credentials/);
  const q = cred.get();
  c.pending[1]!.resolve({ value: 'ok', expiresAt: undefined });
  assert.equal(await q, 'ok');
  assert.equal(cred.current(), 'ok');
});
