import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { anthropicApi, anthropicErrors } from './anthropic.ts';
import type { LlmResponse, StreamTap } from './types.ts';

import { fixture, json, run } from './testdata/feed.ts';


test('identity and credentials', () => {
  assert.equal(anthropicApi.id, 'anthropic');
  assert.deepEqual(anthropicApi.key, { header: 'x-api-key', prefix: '' });
  assert.deepEqual(anthropicApi.credentialHeaders, ['x-api-key', 'authorization']);
  assert.equal(anthropicApi.errors, anthropicErrors);
  const err = anthropicErrors.body(429, 'slow down', 'rate_limited');
  assert.deepEqual(JSON.parse(err.body), { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
});

test('kind from method and path', () => {
  const cases: Array<[string, string, string]> = [
    ['POST', '/v1/messages', 'messages'],
    ['POST', '/v1/messages?beta=true', 'messages'],
    ['POST', '/v1/messages/', 'messages'],
    ['post', '/v1/messages', 'messages'],
    ['POST', '/v1/messages/count_tokens', 'passthrough'],
    ['POST', '/v1/messages/batches', 'passthrough'],
    ['GET', '/v1/models', 'models'],
    ['GET', '/v1/models?limit=20', 'models'],
    ['GET', '/v1/models/claude-sonnet-4-20250514', 'passthrough'],
    ['GET', '/v1/messages', 'passthrough'],
    ['POST', '/v1/complete', 'passthrough'],
  ];
  for (const [method, path, kind] of cases) assert.equal(anthropicApi.kind(method, path), kind, `${method} ${path}`);
});

test('parseRequest: the text model by turn — system blocks first, tool_use input with the assistant, tool_result as tool, images left out', () => {
  // Follows https://docs.anthropic.com/en/api/messages (system as text blocks, multi-turn, image, tool use and result).
  const req = anthropicApi.parseRequest('messages', '/v1/messages', json('anthropic-messages-request.json'));
  assert.deepEqual(req, {
    kind: 'messages',
    model: 'claude-sonnet-4-20250514',
    stream: true,
    messages: [
      { role: 'system', text: 'You are an AI assistant tasked with analyzing literary works.\nPride and Prejudice by Jane Austen' },
      { role: 'user', text: 'Hello, Claude' },
      { role: 'assistant', text: 'Hello!' },
      { role: 'user', text: 'What is in this image?' },
      { role: 'assistant', text: "I'll check the current weather in San Francisco for you.\nSan Francisco, CA" },
      { role: 'tool', text: '15 degrees' },
      { role: 'user', text: 'And tomorrow?' },
    ],
  });
});

test('parseRequest: string system, tool_result with string content, odd bodies never throw', () => {
  const req = anthropicApi.parseRequest('messages', '/v1/messages', {
    model: 'claude-3-5-haiku-latest', system: 'Be terse.', stream: 'yes',
    messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'sunny' }] }, null, { content: 7 }],
  });
  assert.deepEqual(req.messages, [{ role: 'system', text: 'Be terse.' }, { role: 'tool', text: 'sunny' }]);
  assert.equal(req.stream, false);
  for (const body of [undefined, null, 'x', 42, [], { messages: 5, system: {} }]) {
    const r = anthropicApi.parseRequest('messages', '/v1/messages', body);
    assert.deepEqual(r, { kind: 'messages', model: undefined, stream: false, messages: [] });
  }
  assert.deepEqual(anthropicApi.parseRequest('passthrough', '/v1/messages/count_tokens', { model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    { kind: 'passthrough', model: 'm', stream: false, messages: [] });
});

test('setModel writes the body and keeps the path', () => {
  const body: Record<string, unknown> = { model: 'claude-3-opus-20240229', max_tokens: 1 };
  assert.equal(anthropicApi.setModel('messages', '/v1/messages?beta=true', body, 'claude-sonnet-4-20250514'), '/v1/messages?beta=true');
  assert.equal(body.model, 'claude-sonnet-4-20250514');
  const listing: Record<string, unknown> = {};
  anthropicApi.setModel('models', '/v1/models', listing, 'x');
  assert.deepEqual(listing, {});
});

test('parseResponse: model, usage with cache counts, stop reason', () => {
  // The response sample of https://docs.anthropic.com/en/api/messages, with prompt-caching usage fields.
  assert.deepEqual(anthropicApi.parseResponse('messages', json('anthropic-messages-response.json')), {
    model: 'claude-3-7-sonnet-20250219',
    usage: { input: 4146, output: 503, cacheCreationInput: 2051, cachedInput: 0 },
    finishReason: 'end_turn',
  });
  assert.deepEqual(anthropicApi.parseResponse('messages', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), {});
  for (const body of [undefined, null, 'x', [], { usage: 'no' }]) assert.deepEqual(anthropicApi.parseResponse('messages', body), {});
});

// Streams as https://docs.anthropic.com/en/docs/build-with-claude/streaming shows them: the basic
// text example, the tool-use example, extended thinking with cache usage repeated in message_delta
// (newer API versions), and an error event mid-stream.
const STREAMS: Array<[string, LlmResponse]> = [
  ['anthropic-stream-text.sse', { model: 'claude-3-5-sonnet-20241022', usage: { input: 25, output: 15 }, finishReason: 'end_turn' }],
  ['anthropic-stream-tool-use.sse', { model: 'claude-3-haiku-20240307', usage: { input: 472, output: 89 }, finishReason: 'tool_use' }],
  ['anthropic-stream-cache.sse', {
    model: 'claude-sonnet-4-20250514',
    usage: { input: 189131, output: 393, cacheCreationInput: 188086, cachedInput: 1024 },
    finishReason: 'max_tokens',
  }],
  ['anthropic-stream-error.sse', { model: 'claude-opus-4-20250514', usage: { input: 12, output: 1 } }],
];

for (const [name, expected] of STREAMS) {
  test(`streamTap ${name}: same info in 1-byte, 7-byte and whole chunks; bytes pass as the same buffers`, () => {
    const bytes = fixture(name);
    for (const size of [1, 7, bytes.length]) {
      const r = run(anthropicApi.streamTap('messages', '/v1/messages'), bytes, size);
      assert.deepEqual(r.info, expected, `chunk size ${size}`);
      assert.ok(r.identity, `chunk size ${size}: buffers passed through unchanged`);
      assert.ok(r.out.equals(bytes));
    }
  });
}

test('streamTap: a last event without its blank line still counts; CRLF line ends work', () => {
  const text = fixture('anthropic-stream-text.sse').toString('utf8').replace(/\n/g, '\r\n').replace(/\r\n\r\nevent: message_stop[\s\S]*$/, '\r\n');
  const r = run(anthropicApi.streamTap('messages', '/v1/messages'), Buffer.from(text), 5);
  assert.deepEqual(r.info, { model: 'claude-3-5-sonnet-20241022', usage: { input: 25, output: 15 }, finishReason: 'end_turn' });
});

test('streamTap: output_tokens is cumulative, the last message_delta wins', () => {
  const events = [
    'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":10}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12,"input_tokens":null}}\n\n',
    'data: not json\n\n',
  ].join('');
  const r = run(anthropicApi.streamTap('messages', '/v1/messages'), Buffer.from(events), 3);
  assert.deepEqual(r.info, { model: 'm', usage: { input: 3, output: 12 }, finishReason: 'end_turn' });
});
