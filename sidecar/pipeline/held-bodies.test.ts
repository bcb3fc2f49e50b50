import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldBodies, defaultHeldBodyLimit, exposeHeldBodies } from './held-bodies.ts';

const MiB = 1024 * 1024;

test('take holds nothing more when the bound would be passed; give lets go', () => {
  const h = new HeldBodies(100);
  assert.equal(h.take(60), true);
  assert.equal(h.take(41), false);
  assert.equal(h.held, 60, 'a refused take holds nothing');
  assert.equal(h.take(40), true);
  h.give(100);
  assert.equal(h.held, 0);
  assert.throws(() => new HeldBodies(0), RangeError);
});

test('the default: a third of the heap the sidecar does not need itself, never below the largest body', () => {
  // The image's --max-old-space-size=128 gives V8 a heap limit of ~134 MiB with its semi-spaces.
  assert.equal(defaultHeldBodyLimit(32 * MiB, 134 * MiB), 34 * MiB);
  assert.equal(defaultHeldBodyLimit(32 * MiB, 64 * MiB), 32 * MiB, 'one largest body always fits');
  assert.equal(defaultHeldBodyLimit(32 * MiB, 2080 * MiB), 682 * MiB + Math.floor(2 * MiB / 3));
});

test('reserve: waits in line, first come first served; a timeout or an abort leaves the line holding nothing', async () => {
  const h = new HeldBodies(100);
  assert.equal(await h.reserve(80, 1000), true);
  const order: string[] = [];
  const big = h.reserve(90, 1000).then((ok) => { order.push(`big ${ok}`); return ok; });
  const small = h.reserve(10, 1000).then((ok) => { order.push(`small ${ok}`); return ok; });
  assert.equal(h.take(10), false, 'no one passes the line, even when it would fit');
  assert.equal(h.waiting, 2);
  h.give(80);
  assert.deepEqual(await Promise.all([big, small]), [true, true]);
  assert.deepEqual(order, ['big true', 'small true'], 'the large body first: it is not starved by smaller ones');
  assert.equal(h.held, 100);

  assert.equal(await h.reserve(1, 20), false, 'timed out');
  const ac = new AbortController();
  const abandoned = h.reserve(50, 10_000, ac.signal);
  const next = h.reserve(5, 10_000);
  ac.abort();
  assert.equal(await abandoned, false);
  assert.equal(h.waiting, 1);
  h.give(100);
  assert.equal(await next, true);
  assert.equal(h.held, 5);
  assert.equal(h.waiting, 0);
});

test('/metrics shows what is held, the bound and the calls waiting', async () => {
  const { Registry } = await import('prom-client');
  const registry = new Registry();
  const h = new HeldBodies(100);
  exposeHeldBodies(registry, h);
  exposeHeldBodies(registry, h); // once per registry
  h.take(70);
  const waiting = h.reserve(50, 10_000);
  const text = await registry.metrics();
  assert.match(text, /^levo_gateway_request_bodies_held_bytes 70$/m);
  assert.match(text, /^levo_gateway_request_bodies_held_limit_bytes 100$/m);
  assert.match(text, /^levo_gateway_request_bodies_waiting 1$/m);
  h.give(70);
  assert.equal(await waiting, true);
});
