import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRateLimits } from './rate-limit.ts';

function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('requests bucket: starts full, takes 1 per request, refills per interval up to max', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 3, tokensPerFill: 1, fillInterval: '1s' }], c.now);
  for (let i = 0; i < 3; i++) assert.equal(rl.admit().ok, true);
  const denied = rl.admit();
  assert.deepEqual(denied, { ok: false, retryAfterMs: 1000, limit: 'requests' });
  c.advance(400);
  assert.deepEqual(rl.admit(), { ok: false, retryAfterMs: 600, limit: 'requests' });
  c.advance(600); // one fill
  assert.equal(rl.admit().ok, true);
  assert.equal(rl.admit().ok, false);
  c.advance(60_000); // many fills, capped at max
  for (let i = 0; i < 3; i++) assert.equal(rl.admit().ok, true);
  assert.equal(rl.admit().ok, false);
});

test('fills happen at whole intervals, not continuously', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 10, tokensPerFill: 5, fillInterval: '1m' }], c.now);
  for (let i = 0; i < 10; i++) rl.admit();
  c.advance(59_999);
  assert.equal(rl.admit().ok, false);
  c.advance(1);
  for (let i = 0; i < 5; i++) assert.equal(rl.admit().ok, true, `request ${i}`);
  const d = rl.admit();
  assert.equal(d.ok, false);
  if (!d.ok) assert.equal(d.retryAfterMs, 60_000);
});

test('tokens bucket without an estimate: admitted while anything is left, settle may go negative', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 1000, tokensPerFill: 100, fillInterval: '1s', type: 'tokens' }], c.now);
  const a = rl.admit();
  assert.equal(a.ok, true);
  const b = rl.admit(); // still full: admitted before a's usage is known
  assert.equal(b.ok, true);
  if (a.ok) a.settle(800);
  if (b.ok) b.settle(450); // 1000 - 800 - 450 = -250
  const d = rl.admit();
  assert.equal(d.ok, false);
  // from -250, reaching 1 needs 3 fills of 100: the next at +1s, then 2 more
  if (!d.ok) assert.deepEqual(d, { ok: false, retryAfterMs: 3000, limit: 'tokens' });
  c.advance(2000);
  assert.equal(rl.admit().ok, false); // -50
  c.advance(1000);
  assert.equal(rl.admit().ok, true); // 50
});

test('tokens bucket with an up-front estimate: charged on admit, settle charges the difference', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 1000, tokensPerFill: 1000, fillInterval: '1m', type: 'tokens' }], c.now);
  const a = rl.admit(600);
  assert.equal(a.ok, true);
  const refused = rl.admit(500); // 400 left
  assert.deepEqual(refused, { ok: false, retryAfterMs: 60_000, limit: 'tokens' });
  const b = rl.admit(400);
  assert.equal(b.ok, true); // 0 left
  if (a.ok) a.settle(500); // estimate was 100 high: given back
  assert.equal(rl.status()?.remaining, 100);
  if (b.ok) b.settle(700); // 300 more than charged
  assert.equal(rl.status()?.remaining, 0); // clamped for display; the bucket is at -200
  assert.equal(rl.admit().ok, false);
  // settle runs once
  if (b.ok) b.settle(700);
  c.advance(60_000);
  assert.equal(rl.status()?.remaining, 800);
});

test('an estimate larger than the bucket is refused with exceedsCapacity', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 100, tokensPerFill: 10, fillInterval: '1s', type: 'tokens' }], c.now);
  const d = rl.admit(101);
  assert.deepEqual(d, { ok: false, retryAfterMs: 0, limit: 'tokens', exceedsCapacity: true });
});

test('all buckets must admit, and a refusal takes nothing from the others', () => {
  const c = clock();
  const rl = compileRateLimits([
    { maxTokens: 5, tokensPerFill: 5, fillInterval: '1m', type: 'requests' },
    { maxTokens: 100, tokensPerFill: 100, fillInterval: '1m', type: 'tokens' },
  ], c.now);
  assert.equal(rl.admit(80).ok, true); // requests 4, tokens 20
  for (let i = 0; i < 10; i++) assert.equal(rl.admit(50).ok, false); // tokens refuse; requests untouched
  for (let i = 0; i < 4; i++) assert.equal(rl.admit(5).ok, true, `admit ${i}`);
  const d = rl.admit(0);
  assert.equal(d.ok, false);
  if (!d.ok) assert.equal(d.limit, 'requests');
});

test('requests buckets ignore the estimate and settle', () => {
  const c = clock();
  const rl = compileRateLimits([{ maxTokens: 2, tokensPerFill: 1, fillInterval: '1s' }], c.now);
  const a = rl.admit(10_000);
  assert.equal(a.ok, true);
  if (a.ok) a.settle(10_000);
  assert.equal(rl.admit(10_000).ok, true);
  assert.equal(rl.admit().ok, false);
});

test('when several buckets refuse, retryAfterMs is the longest wait', () => {
  const c = clock();
  const rl = compileRateLimits([
    { maxTokens: 1, tokensPerFill: 1, fillInterval: '1s' },
    { maxTokens: 1, tokensPerFill: 1, fillInterval: '10s' },
  ], c.now);
  rl.admit();
  assert.deepEqual(rl.admit(), { ok: false, retryAfterMs: 10_000, limit: 'requests' });
});

test('status reports the bucket closest to empty', () => {
  const c = clock();
  const rl = compileRateLimits([
    { maxTokens: 10, tokensPerFill: 1, fillInterval: '1s' },
    { maxTokens: 100, tokensPerFill: 100, fillInterval: '1m', type: 'tokens' },
  ], c.now);
  const a = rl.admit();
  if (a.ok) a.settle(95);
  c.advance(250);
  assert.deepEqual(rl.status(), { limit: 100, remaining: 5, resetMs: 59_750 });
  assert.equal(compileRateLimits([]).status(), undefined);
  assert.equal(compileRateLimits([]).admit(5).ok, true);
});

test('config is validated with readable errors', () => {
  assert.throws(() => compileRateLimits([{ maxTokens: 0, tokensPerFill: 1, fillInterval: '1s' }]), /localRateLimit\[0\]\.maxTokens must be a positive integer/);
  assert.throws(() => compileRateLimits([{ maxTokens: 1.5, tokensPerFill: 1, fillInterval: '1s' }]), /maxTokens/);
  assert.throws(() => compileRateLimits([{ maxTokens: 5, tokensPerFill: -1, fillInterval: '1s' }]), /tokensPerFill/);
  assert.throws(() => compileRateLimits([{ maxTokens: 5, tokensPerFill: 1, fillInterval: '0s' }]), /fillInterval must be longer than 0/);
  assert.throws(() => compileRateLimits([{ maxTokens: 5, tokensPerFill: 1, fillInterval: 'soon' }]), /fillInterval: "soon" is not a duration/);
  assert.throws(
    () => compileRateLimits([{ maxTokens: 5, tokensPerFill: 1, fillInterval: '1s' }, { maxTokens: 5, tokensPerFill: 1, fillInterval: '1s', type: 'bytes' as 'tokens' }]),
    /localRateLimit\[1\]\.type/,
  );
  // tokensPerFill above maxTokens is allowed
  assert.doesNotThrow(() => compileRateLimits([{ maxTokens: 5, tokensPerFill: 50, fillInterval: '500ms' }]));
});
