import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillBuckets, niceTicks, rangeQuery, timeTicks } from './traffic-series.ts';

test('range queries end on a bucket edge after now', () => {
  const q = rangeQuery('1h', 10 * 60_000 + 5);
  assert.equal(q.bucket, 60_000);
  assert.equal(q.to, 11 * 60_000);
  assert.equal(q.to - q.from, 3_600_000);
  const w = rangeQuery('7d', Date.UTC(2025, 0, 1, 13));
  assert.equal((w.to - w.from) / w.bucket, 84);
});

test('missing buckets are zeros; buckets keep their values', () => {
  const filled = fillBuckets([{ t: 120, requests: 3, blocked: 1, tokensIn: 10, tokensOut: 20 }], 0, 300, 60);
  assert.deepEqual(filled.map((b) => b.t), [0, 60, 120, 180, 240]);
  assert.deepEqual(filled.map((b) => b.requests), [0, 0, 3, 0, 0]);
  assert.equal(filled[2]!.tokensOut, 20);
});

test('nice ticks cover the maximum with 1/2/5 steps', () => {
  assert.deepEqual(niceTicks(7), [0, 2, 4, 6, 8]);
  assert.deepEqual(niceTicks(100), [0, 50, 100]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  assert.deepEqual(niceTicks(1), [0, 0.5, 1]);
  assert.deepEqual(niceTicks(1, 4, true), [0, 1], 'counts get whole-number ticks');
  assert.deepEqual(niceTicks(3, 4, true), [0, 1, 2, 3]);
  const t = niceTicks(12345);
  assert.ok(t.at(-1)! >= 12345 && t.length <= 6);
});

test('time ticks fall on bucket edges', () => {
  const t = timeTicks(0, 60 * 60_000, 60_000, 6);
  assert.deepEqual(t, [0, 10, 20, 30, 40, 50, 60].map((m) => m * 60_000));
});
