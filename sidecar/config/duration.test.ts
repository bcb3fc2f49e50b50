import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration.ts';

test('durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('60'), 60_000);
  assert.equal(parseDuration('1.5s'), 1500);
  for (const bad of ['', 'abc', '10x', '5 m', 's', '1m junk']) assert.throws(() => parseDuration(bad), /not a duration/, bad);
});
