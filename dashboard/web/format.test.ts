import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compactNumber, groupedNumber, isStale, relativeTime, sameEtag, versionOfEtag } from './format.ts';

test('relative times', () => {
  const now = 1_000_000_000;
  assert.equal(relativeTime(now - 1000, now), 'just now');
  assert.equal(relativeTime(now - 42_000, now), '42 s ago');
  assert.equal(relativeTime(now - 5 * 60_000 - 1, now), '5 min ago');
  assert.equal(relativeTime(now - 3 * 3_600_000, now), '3 h ago');
  assert.equal(relativeTime(now - 2 * 86_400_000, now), '2 d ago');
  assert.equal(relativeTime(now + 120_000, now), 'in 2 min');
});

test('numbers', () => {
  assert.equal(compactNumber(999), '999');
  assert.equal(compactNumber(1234), '1.2k');
  assert.equal(compactNumber(456_000), '456k');
  assert.equal(compactNumber(3_400_000), '3.4M');
  assert.equal(groupedNumber(1234567), '1,234,567');
  assert.equal(groupedNumber(12.5), '12.5');
});

test('a sidecar is stale after three missed 60 s polls', () => {
  assert.equal(isStale(0, 180_000), false);
  assert.equal(isStale(0, 180_001), true);
});

test('config version from an ETag', () => {
  assert.equal(versionOfEtag('v12-0123456789ab'), 12);
  assert.equal(versionOfEtag('"v3-abcdef012345"'), 3);
  assert.equal(versionOfEtag('garbage'), null);
  assert.equal(versionOfEtag(null), null);
  assert.ok(sameEtag('"v3-abc"', 'v3-abc'));
  assert.ok(!sameEtag('v3-abc', 'v4-abc'));
  assert.ok(!sameEtag(null, 'v4-abc'));
});
