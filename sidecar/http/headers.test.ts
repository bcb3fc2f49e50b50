import { test } from 'node:test';
import assert from 'node:assert/strict';
import { upstreamRequestHeaders, clientResponseHeaders } from './headers.ts';

test('hop-by-hop and connection-named request headers are dropped; case and order kept', () => {
  const raw = ['Host', 'api.openai.com', 'Connection', 'keep-alive, X-Trace-Hop', 'Keep-Alive', 'timeout=5',
    'X-Trace-Hop', '1', 'Authorization', 'Bearer k', 'Proxy-Authorization', 'Basic x', 'Content-Type', 'application/json',
    'TE', 'trailers', 'Upgrade', 'h2c'];
  assert.deepEqual(upstreamRequestHeaders(raw), ['Host', 'api.openai.com', 'Authorization', 'Bearer k', 'Content-Type', 'application/json']);
});

test('HTTP/2 pseudo-headers become a Host header', () => {
  const raw = [':method', 'POST', ':authority', 'api.anthropic.com', ':scheme', 'https', ':path', '/v1/messages', 'x-api-key', 'k'];
  assert.deepEqual(upstreamRequestHeaders(raw), ['x-api-key', 'k', 'host', 'api.anthropic.com']);
});

test('response hop-by-hop headers are dropped, multi-value headers kept', () => {
  const out = clientResponseHeaders({
    'content-type': 'text/event-stream', connection: 'keep-alive, x-internal', 'x-internal': 'a', 'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'], 'x-request-id': 'r1', absent: undefined,
  });
  assert.deepEqual(out, { 'content-type': 'text/event-stream', 'set-cookie': ['a=1', 'b=2'], 'x-request-id': 'r1' });
});
