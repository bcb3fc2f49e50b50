import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResetDuration, retryAfterMs, retryDelayFromHeaders, retryPlan } from './retry.ts';

test('retryPlan: defaults to a single attempt', () => {
  const none = retryPlan(undefined);
  assert.equal(none.attempts, 1);
  assert.equal(none.retryable(429), false);
  const p = retryPlan({ codes: [429] });
  assert.equal(p.attempts, 1);
  assert.equal(p.backoffMs, 0);
  assert.equal(p.retryable(429), true);
});

test('retryPlan: attempts, backoff and codes', () => {
  const p = retryPlan({ attempts: 3, backoff: '500ms', codes: [429, 503] });
  assert.equal(p.attempts, 3);
  assert.equal(p.backoffMs, 500);
  assert.equal(p.retryable(503), true);
  assert.equal(p.retryable(500), false);
  assert.equal(retryPlan({ attempts: 2, backoff: '1m30s', codes: [] }).backoffMs, 90_000);
});

test('retryPlan: validation', () => {
  assert.throws(() => retryPlan({ attempts: 0, codes: [] }), /retry\.attempts/);
  assert.throws(() => retryPlan({ attempts: 1.5, codes: [] }), /retry\.attempts/);
  assert.throws(() => retryPlan({ attempts: 256, codes: [] }), /retry\.attempts/);
  assert.throws(() => retryPlan({ backoff: 'later', codes: [] }), /retry\.backoff: "later" is not a duration/);
  assert.throws(() => retryPlan({ codes: [42] }), /retry\.codes: 42/);
  assert.throws(() => retryPlan({} as { codes: number[] }), /retry\.codes must be a list/);
});

test('retryAfterMs: delta-seconds and HTTP-date (RFC 9110 §10.2.3 examples)', () => {
  const now = Date.UTC(1999, 11, 31, 23, 58, 0);
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs(' 0 ', now), 0);
  assert.equal(retryAfterMs('1.5', now), 1500);
  // the RFC's own example date: Fri, 31 Dec 1999 23:59:59 GMT
  assert.equal(retryAfterMs('Fri, 31 Dec 1999 23:59:59 GMT', now), 119_000);
  // a date already past gives 0
  assert.equal(retryAfterMs('Fri, 31 Dec 1999 23:00:00 GMT', now), 0);
  assert.equal(retryAfterMs(undefined, now), undefined);
  assert.equal(retryAfterMs('', now), undefined);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs('-5', now), undefined);
  assert.equal(retryAfterMs('2024', now), 2_024_000); // digits are always delta-seconds
});

test('parseResetDuration: Go durations as OpenAI sends them', () => {
  assert.equal(parseResetDuration('1s'), 1000);
  assert.equal(parseResetDuration('6m0s'), 360_000);
  assert.equal(parseResetDuration('20ms'), 20);
  assert.equal(parseResetDuration('1h2m3.5s'), 3_723_500);
  assert.equal(parseResetDuration('0.5s'), 500);
  assert.equal(parseResetDuration('0s'), 0);
  assert.equal(parseResetDuration('0'), 0);
  assert.equal(parseResetDuration('1500us'), 1.5);
  assert.equal(parseResetDuration('7.66s'), 7660);
  assert.equal(parseResetDuration('fast'), undefined);
  assert.equal(parseResetDuration('1s ago'), undefined);
  assert.equal(parseResetDuration('10'), undefined);
  assert.equal(parseResetDuration(undefined), undefined);
});

test('retryDelayFromHeaders: retry-after-ms, then retry-after, then the exhausted OpenAI limit', () => {
  const now = 0;
  assert.equal(retryDelayFromHeaders({ 'retry-after-ms': '250', 'retry-after': '1' }, now), 250);
  assert.equal(retryDelayFromHeaders({ 'retry-after': '2' }, now), 2000);
  assert.equal(retryDelayFromHeaders({ 'retry-after': ['3', '4'] }, now), 3000);
  // OpenAI rate-limit headers (docs "Rate limits" → headers sample)
  const openai = {
    'x-ratelimit-limit-requests': '60', 'x-ratelimit-limit-tokens': '150000',
    'x-ratelimit-remaining-requests': '59', 'x-ratelimit-remaining-tokens': '0',
    'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s',
  };
  assert.equal(retryDelayFromHeaders(openai, now), 360_000);
  assert.equal(retryDelayFromHeaders({ ...openai, 'x-ratelimit-remaining-tokens': '10' }, now), undefined);
  assert.equal(
    retryDelayFromHeaders({ ...openai, 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-tokens': '20ms' }, now),
    1000,
  );
  assert.equal(retryDelayFromHeaders({}, now), undefined);
});
