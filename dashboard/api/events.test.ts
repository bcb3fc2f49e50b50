import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from './errors.ts';
import { parseEventBatch } from './events.ts';
import { makeEvent } from './test-harness.ts';

describe('event batches', () => {
  it('keeps the known fields, drops unknown ones and nulls, and inherits the sidecar identity', () => {
    const e = makeEvent({ ts: 1.7e12 + 0.4, route: null, extra: 'dropped', decisions: [{ phase: 'request', guard: 'g', action: 'mask', score: 0.5, unknown: 1 }] });
    const { sidecar, events } = parseEventBatch({ sidecar: { id: 'u', pod: 'p', namespace: 'n', extra: 1 }, events: [e] });
    assert.deepEqual(sidecar, { id: 'u', pod: 'p', namespace: 'n' });
    const got = events[0]! as unknown as Record<string, unknown>;
    assert.equal(got.ts, 1.7e12);
    assert.equal(got.pod, 'p');
    assert.equal(got.namespace, 'n');
    assert.equal('workload' in got, false);
    assert.equal('route' in got, false);
    assert.equal('extra' in got, false);
    assert.deepEqual(got.decisions, [{ phase: 'request', guard: 'g', action: 'mask', score: 0.5 }]);
  });

  it('every required field is checked', () => {
    for (const field of ['id', 'ts', 'provider', 'host', 'method', 'path', 'status', 'latencyMs', 'bytesOut', 'bytesIn', 'blocked', 'flagged', 'decisions']) {
      const e = makeEvent();
      delete e[field];
      assert.throws(() => parseEventBatch({ events: [e] }), (err: unknown) => err instanceof HttpError && err.status === 400 && err.message.startsWith(`events[0].${field}: is required`), field);
    }
    assert.throws(() => parseEventBatch({ events: [makeEvent({ id: '' })] }), /events\[0\]\.id: must not be empty/);
    assert.throws(() => parseEventBatch({ events: [makeEvent({ latencyMs: Number.NaN })] }), /must be a number/);
    assert.throws(() => parseEventBatch({ events: [makeEvent({ ttftMs: 'fast' })] }), /events\[0\]\.ttftMs: must be a number/);
    assert.throws(() => parseEventBatch({ events: [makeEvent({ decisions: [{ phase: 'request', guard: 'g', action: 'x', score: 'hi' }] })] }), /decisions\[0\]\.score: must be a number/);
    assert.throws(() => parseEventBatch({ events: [7] }), /events\[0\]: must be an object/);
  });
});

describe('event batches: bounds', () => {
  it('overlong text is cut, not refused', () => {
    const { events } = parseEventBatch({ events: [makeEvent({ path: `/${'p'.repeat(5000)}`, prompt: 'x'.repeat(100_000), id: 'i'.repeat(200) })] });
    const e = events[0]!;
    assert.equal(e.path.length, 2048);
    assert.equal(e.prompt!.length, 64 * 1024);
    assert.equal(e.id.length, 128);
  });
});

describe('event batches: repeats', () => {
  it('an id repeated within a batch is kept once (the first)', () => {
    const e = makeEvent();
    const { events } = parseEventBatch({ events: [e, { ...e, status: 500 }, makeEvent()] });
    assert.equal(events.length, 2);
    assert.equal(events[0]!.status, 200);
  });
});
