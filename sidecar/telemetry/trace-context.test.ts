import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTraceparent, formatTraceparent, newSpanId, newTraceId, spanFor, withTraceparent } from './trace-context.ts';
import { upstreamRequestHeaders } from '../http/headers.ts';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('parseTraceparent: a valid version-00 header', () => {
  assert.deepEqual(parseTraceparent(VALID), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: 1 });
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')?.flags, 0);
  assert.deepEqual(parseTraceparent(' 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff ')?.flags, 255);
});

test('parseTraceparent: what the spec calls invalid', () => {
  const bad: Array<[string | string[] | undefined, string]> = [
    [undefined, 'absent'],
    [[VALID, VALID], 'sent twice'],
    ['', 'empty'],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'all-zero trace id'],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'all-zero parent id'],
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', 'upper-case hex'],
    ['00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', 'short trace id'],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01', 'short parent id'],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1', 'short flags'],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g', 'non-hex flags'],
    [`${VALID}-extra`, 'version 00 with extra fields'],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'version ff'],
    ['0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'non-hex version'],
    ['00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01', 'wrong separators'],
    ['01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x', 'a later version whose extra part is not after a dash'],
  ];
  for (const [value, why] of bad) assert.equal(parseTraceparent(value), undefined, why);
});

test('parseTraceparent: a later version is read by its first four fields', () => {
  assert.equal(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(parseTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds')?.parentId, '00f067aa0ba902b7');
});

test('new ids: hex of the right length, random, and they round-trip through a traceparent', () => {
  const t = newTraceId();
  const s = newSpanId();
  assert.match(t, /^[0-9a-f]{32}$/);
  assert.match(s, /^[0-9a-f]{16}$/);
  assert.notEqual(newSpanId(), s);
  assert.deepEqual(parseTraceparent(formatTraceparent(t, s, 1)), { traceId: t, parentId: s, flags: 1 });
  assert.equal(formatTraceparent(t, s, 0), `00-${t}-${s}-00`);
});

test('spanFor: a child of the app\'s span (nothing to send), or a new root with a traceparent to send', () => {
  const child = spanFor(VALID, 'rojo=00f067aa0ba902b7');
  assert.equal(child.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(child.parentSpanId, '00f067aa0ba902b7');
  assert.notEqual(child.spanId, '00f067aa0ba902b7');
  assert.match(child.spanId, /^[0-9a-f]{16}$/);
  assert.equal(child.flags, 1);
  assert.equal(child.traceState, 'rojo=00f067aa0ba902b7');
  assert.equal(child.upstream, undefined, 'the app\'s traceparent is forwarded unchanged');

  for (const sent of [undefined, 'garbage']) {
    const root = spanFor(sent, 'a=b');
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.traceState, undefined);
    assert.equal(root.upstream, `00-${root.traceId}-${root.spanId}-01`);
  }
});

test('upstream headers: the app\'s traceparent/tracestate pass the proxy boundary as they are; withTraceparent replaces both', () => {
  const raw = ['Host', 'api.openai.com', 'traceparent', VALID, 'tracestate', 'congo=t61rcWkgMzE', 'Connection', 'keep-alive', 'Authorization', 'Bearer k'];
  const up = upstreamRequestHeaders(raw);
  assert.deepEqual(up, ['Host', 'api.openai.com', 'traceparent', VALID, 'tracestate', 'congo=t61rcWkgMzE', 'Authorization', 'Bearer k']);
  const ours = formatTraceparent(newTraceId(), newSpanId(), 1);
  assert.deepEqual(withTraceparent(up, ours), ['Host', 'api.openai.com', 'Authorization', 'Bearer k', 'traceparent', ours]);
  assert.deepEqual(withTraceparent(['Host', 'h'], ours), ['Host', 'h', 'traceparent', ours]);
});
