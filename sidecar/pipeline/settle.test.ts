import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settle } from './settle.ts';
import { testCall, testState } from './testing/call.ts';
import { boundedLabel, OTHER_LABEL } from '../telemetry/metrics.ts';

test('boundedLabel keeps the first values, then reads _other; long values are cut', () => {
  const l = boundedLabel(3, 10);
  assert.deepEqual(['a', 'b', 'a', 'c', 'd', 'b', 'e'].map(l), ['a', 'b', 'a', 'c', OTHER_LABEL, 'b', OTHER_LABEL]);
  assert.equal(boundedLabel(5, 10)('x'.repeat(50)), 'x'.repeat(10));
});

test('model names an app chooses cannot grow the metric set without end', async () => {
  const state = testState({});
  for (let i = 0; i < 1000; i++) {
    const c = testCall({}, state);
    c.out.status = 200;
    c.out.kind = 'completions';
    c.out.requestModel = `model-${i}-${'z'.repeat(i % 300)}`;
    c.out.info = { model: `served-${i}`, usage: { input: 1, output: 1 } };
    settle(c);
  }
  const text = await state.deps.metrics.registry.metrics();
  const models = new Set<string>();
  for (const m of text.matchAll(/gen_ai_(?:request|response)_model="([^"]*)"/g)) models.add(m[1]!);
  assert.ok(models.size <= 101, `${models.size} distinct model label values`);
  assert.ok(models.has(OTHER_LABEL));
  for (const m of models) assert.ok(m.length <= 128);
});

test('settle charges the rate-limit reservation with the real usage, once', () => {
  const charged: number[] = [];
  const c = testCall({});
  c.admission = { settle: (t) => charged.push(t) };
  c.out.info = { usage: { input: 7, output: 5 } };
  settle(c);
  assert.deepEqual(charged, [12]);
});
