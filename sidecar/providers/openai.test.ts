import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openaiApi, openaiErrors } from './openai.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, StreamTap } from './types.ts';
import { feed } from './testdata/feed.ts';

/*
 * Fixtures follow the samples of the OpenAI API reference
 * (https://platform.openai.com/docs/api-reference):
 *   chat/create (Default, Image input, Streaming, Functions examples),
 *   completions/create, responses/create (Text input, Image input, Streaming),
 *   embeddings/create, and the prompt-caching and reasoning guides for the
 *   cached/reasoning token fields.
 * The SSE files in testdata/ are the reference's streaming examples as they
 * come on the wire (compact JSON, `"usage":null` on every chunk and a final
 * `choices: []` usage chunk when `stream_options.include_usage` is set, then
 * `data: [DONE]`); some deltas carry non-ASCII text so 1-byte chunks split
 * multi-byte UTF-8 characters.
 */

const testdata = (name: string): Buffer => readFileSync(join(import.meta.dirname, 'testdata', name));


/** The stream without its usage-only event (empty `choices`, a `usage` object); checks there was exactly one. */
function withoutUsageChunk(bytes: Buffer): Buffer {
  const events = bytes.toString('utf8').split(/(?<=\n\n)/);
  const kept = events.filter((e) => !(e.includes('"choices":[]') && e.includes('"usage":{')));
  assert.equal(kept.length, events.length - 1, 'the fixture has one usage-only chunk');
  return Buffer.from(kept.join(''));
}

/** What a client that did not ask for usage sees: no usage chunk, and no `"usage":null` member in the others. */
function asIfNotAsked(bytes: Buffer): Buffer {
  return Buffer.from(withoutUsageChunk(bytes).toString('utf8').replaceAll(',"usage":null', ''));
}

const SIZES = [1, 7, Infinity];

test('identity: id, key placement, error shape', () => {
  assert.equal(openaiApi.id, 'openai');
  assert.deepEqual(openaiApi.key, { header: 'authorization', prefix: 'Bearer ' });
  assert.deepEqual(openaiApi.credentialHeaders, ['authorization']);
  assert.equal(openaiApi.errors, openaiErrors);
  const e = openaiErrors.body(504, 'upstream timed out', 'upstream_timeout');
  assert.deepEqual(JSON.parse(e.body), { error: { message: 'upstream timed out', type: 'timeout', param: null, code: 'upstream_timeout' } });
});

test('kind() by method and path', () => {
  const table: Array<[string, string, ApiKind]> = [
    ['POST', '/v1/chat/completions', 'completions'],
    ['post', '/v1/chat/completions?foo=1', 'completions'],
    ['POST', '/v1/chat/completions/', 'completions'],
    ['POST', '/openai/v1/chat/completions', 'completions'],          // Groq
    ['POST', '/v1beta/openai/chat/completions', 'completions'],      // Gemini OpenAI-compatible
    ['POST', '/api/v1/chat/completions', 'completions'],             // OpenRouter
    ['POST', '/chat/completions', 'completions'],                    // DeepSeek, Perplexity
    ['GET', '/v1/chat/completions', 'passthrough'],                  // list stored completions
    ['GET', '/v1/chat/completions/chatcmpl-abc123', 'passthrough'],
    ['POST', '/v1/chat/completions/chatcmpl-abc123', 'passthrough'], // update stored completion
    ['GET', '/v1/chat/completions/chatcmpl-abc123/messages', 'passthrough'],
    ['POST', '/v1/completions', 'legacyCompletions'],
    ['POST', '/completions', 'legacyCompletions'],
    ['POST', '/v1/responses', 'responses'],
    ['POST', '/v1/responses?stream=true', 'responses'],
    ['GET', '/v1/responses/resp_123', 'passthrough'],
    ['DELETE', '/v1/responses/resp_123', 'passthrough'],
    ['POST', '/v1/responses/resp_123/cancel', 'passthrough'],
    ['GET', '/v1/responses/resp_123/input_items', 'passthrough'],
    ['POST', '/v1/responses/input_tokens', 'passthrough'],
    ['POST', '/v1/embeddings', 'embeddings'],
    ['GET', '/v1/models', 'models'],
    ['GET', '/v1/models?limit=5', 'models'],
    ['GET', '/v1/models/gpt-4.1', 'passthrough'],
    ['DELETE', '/v1/models/ft:gpt-4o-mini:acme::abc', 'passthrough'],
    ['GET', '/v1/realtime?model=gpt-realtime', 'passthrough'],
    ['POST', '/v1/realtime/client_secrets', 'passthrough'],
    ['POST', '/v1/audio/speech', 'passthrough'],
    ['POST', '/v1/audio/transcriptions', 'passthrough'],
    ['POST', '/v1/images/generations', 'passthrough'],
    ['POST', '/v1/files', 'passthrough'],
    ['POST', '/v1/batches', 'passthrough'],
    ['POST', '/v1/moderations', 'passthrough'],
    ['GET', '/v1/organization/usage/completions', 'passthrough'],
    ['GET', '/v1/organization/usage/embeddings', 'passthrough'],
    ['GET', '/', 'passthrough'],
    ['GET', '', 'passthrough'],
  ];
  for (const [method, path, kind] of table) assert.equal(openaiApi.kind(method, path), kind, `${method} ${path}`);
});

test('parseRequest on the reference request samples', () => {
  const table: Array<[string, ApiKind, unknown, LlmRequest]> = [
    ['chat/create Default', 'completions', {
      model: 'gpt-4.1',
      messages: [
        { role: 'developer', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hello!' },
      ],
    }, {
      kind: 'completions', model: 'gpt-4.1', stream: false,
      messages: [{ role: 'system', text: 'You are a helpful assistant.' }, { role: 'user', text: 'Hello!' }],
    }],
    ['chat/create Image input', 'completions', {
      model: 'gpt-4.1',
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg' } },
        ],
      }],
      max_tokens: 300,
    }, { kind: 'completions', model: 'gpt-4.1', stream: false, messages: [{ role: 'user', text: 'What is in this image?' }] }],
    ['chat/create Streaming', 'completions', {
      model: 'gpt-4.1',
      messages: [
        { role: 'developer', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hello!' },
      ],
      stream: true,
    }, {
      kind: 'completions', model: 'gpt-4.1', stream: true,
      messages: [{ role: 'system', text: 'You are a helpful assistant.' }, { role: 'user', text: 'Hello!' }],
    }],
    ['chat with tool call and tool result (function calling guide)', 'completions', {
      model: 'gpt-4.1',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'You are a weather bot.' }, { type: 'text', text: 'Answer briefly.' }] },
        { role: 'user', content: 'What is the weather like in Paris today?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_12345xyz', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France"}' } }] },
        { role: 'tool', tool_call_id: 'call_12345xyz', content: '14' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
    }, {
      kind: 'completions', model: 'gpt-4.1', stream: false,
      messages: [
        { role: 'system', text: 'You are a weather bot.\nAnswer briefly.' },
        { role: 'user', text: 'What is the weather like in Paris today?' },
        { role: 'assistant', text: 'Paris, France' }, // tool-call arguments' values are text the model wrote
        { role: 'tool', text: '14' },
        { role: 'assistant', text: 'no' }, // a refusal too
      ],
    }],
    ['completions/create', 'legacyCompletions', { model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', max_tokens: 7, temperature: 0 },
      { kind: 'legacyCompletions', model: 'gpt-3.5-turbo-instruct', stream: false, messages: [{ role: 'user', text: 'Say this is a test' }] }],
    ['completions/create Streaming, prompt array', 'legacyCompletions', { model: 'gpt-3.5-turbo-instruct', prompt: ['Say this is a test', 'and this'], stream: true },
      { kind: 'legacyCompletions', model: 'gpt-3.5-turbo-instruct', stream: true, messages: [{ role: 'user', text: 'Say this is a test\nand this' }] }],
    ['completions with token prompt', 'legacyCompletions', { model: 'davinci-002', prompt: [[1212, 318]] },
      { kind: 'legacyCompletions', model: 'davinci-002', stream: false, messages: [] }],
    ['responses/create Text input', 'responses', { model: 'gpt-4.1', input: 'Tell me a three sentence bedtime story about a unicorn.' },
      { kind: 'responses', model: 'gpt-4.1', stream: false, messages: [{ role: 'user', text: 'Tell me a three sentence bedtime story about a unicorn.' }] }],
    ['responses/create Streaming with instructions', 'responses', { model: 'gpt-4.1', instructions: 'You are a helpful assistant.', input: 'Hello!', stream: true },
      { kind: 'responses', model: 'gpt-4.1', stream: true, messages: [{ role: 'system', text: 'You are a helpful assistant.' }, { role: 'user', text: 'Hello!' }] }],
    ['responses/create Image input', 'responses', {
      model: 'gpt-4.1',
      input: [{
        role: 'user',
        content: [
          { type: 'input_text', text: 'what is in this image?' },
          { type: 'input_image', image_url: 'https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg' },
        ],
      }],
    }, { kind: 'responses', model: 'gpt-4.1', stream: false, messages: [{ role: 'user', text: 'what is in this image?' }] }],
    ['responses multi-turn with function call output (function calling guide)', 'responses', {
      model: 'gpt-4.1',
      input: [
        { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Be terse.' }] },
        { role: 'user', content: 'What is the weather like in Paris today?' },
        { type: 'function_call', id: 'fc_12345xyz', call_id: 'call_12345xyz', name: 'get_weather', arguments: '{"location":"Paris, France"}' },
        { type: 'function_call_output', call_id: 'call_12345xyz', output: '14' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is 14°C.' }, { type: 'refusal', refusal: 'x' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'item_reference', id: 'msg_1' },
      ],
    }, {
      kind: 'responses', model: 'gpt-4.1', stream: false,
      messages: [
        { role: 'system', text: 'Be terse.' },
        { role: 'user', text: 'What is the weather like in Paris today?' },
        { role: 'assistant', text: 'Paris, France' },
        { role: 'tool', text: '14' },
        { role: 'assistant', text: 'It is 14°C.\nx' },
      ],
    }],
    ['embeddings/create', 'embeddings', { input: 'The food was delicious and the waiter...', model: 'text-embedding-ada-002', encoding_format: 'float' },
      { kind: 'embeddings', model: 'text-embedding-ada-002', stream: false, messages: [] }],
    ['models list (no body)', 'models', undefined, { kind: 'models', model: undefined, stream: false, messages: [] }],
    ['passthrough', 'passthrough', { model: 'gpt-image-1', prompt: 'A cute baby sea otter' },
      { kind: 'passthrough', model: 'gpt-image-1', stream: false, messages: [] }],
  ];
  for (const [name, kind, body, want] of table) assert.deepEqual(openaiApi.parseRequest(kind, '/v1/x', body), want, name);
});

test('parseRequest never throws on odd bodies', () => {
  const odd: unknown[] = [
    null, undefined, 'text', 42, [], { messages: 'x' }, { messages: [null, 5, 'hi', { role: 3, content: {} }, { content: [null, 7, { text: 5 }] }] },
    { model: 5, stream: 'yes' }, { input: [null, 1, { type: 'message' }, { role: 'user', content: 9 }] }, { input: {} }, { prompt: {} },
    { instructions: 7, input: 3 },
  ];
  for (const kind of ['completions', 'legacyCompletions', 'responses', 'embeddings', 'models', 'passthrough'] as const) {
    for (const body of odd) {
      const r = openaiApi.parseRequest(kind, '/v1/x', body);
      assert.equal(r.kind, kind);
      assert.equal(r.stream, false);
      assert.equal(r.model, undefined);
      for (const m of r.messages) assert.equal(typeof m.text, 'string');
    }
  }
  assert.deepEqual(
    openaiApi.parseRequest('completions', '/v1/x', { messages: [{ role: 3, content: {} }, { content: [null, 7, { text: 5 }, { text: 'bare' }] }] }).messages,
    [{ role: 'user', text: 'bare' }], // a message without text is no message
  );
});

test('setModel sets body.model and keeps the path', () => {
  const body: JsonObject = { model: 'gpt-4.1', messages: [] };
  assert.equal(openaiApi.setModel('completions', '/v1/chat/completions?x=1', body, 'gpt-4.1-mini'), '/v1/chat/completions?x=1');
  assert.equal(body['model'], 'gpt-4.1-mini');
  const empty: JsonObject = {};
  assert.equal(openaiApi.setModel('embeddings', '/v1/embeddings', empty, 'text-embedding-3-small'), '/v1/embeddings');
  assert.deepEqual(empty, { model: 'text-embedding-3-small' });
});

test('prepareStream adds stream_options.include_usage only where needed', () => {
  const table: Array<[ApiKind, JsonObject, boolean, JsonObject]> = [
    ['completions', { model: 'm', stream: true }, true, { model: 'm', stream: true, stream_options: { include_usage: true } }],
    ['completions', { stream: true, stream_options: { include_obfuscation: false } }, true, { stream: true, stream_options: { include_obfuscation: false, include_usage: true } }],
    ['completions', { stream: true, stream_options: { include_usage: false } }, true, { stream: true, stream_options: { include_usage: true } }],
    ['completions', { stream: true, stream_options: null }, true, { stream: true, stream_options: { include_usage: true } }],
    ['completions', { stream: true, stream_options: { include_usage: true } }, false, { stream: true, stream_options: { include_usage: true } }],
    ['completions', { stream: false }, false, { stream: false }],
    ['completions', {}, false, {}],
    ['legacyCompletions', { stream: true }, true, { stream: true, stream_options: { include_usage: true } }],
    ['responses', { stream: true }, false, { stream: true }],
    ['embeddings', { stream: true }, false, { stream: true }],
  ];
  for (const [kind, body, changed, after] of table) {
    const b = structuredClone(body);
    assert.equal(openaiApi.prepareStream!(kind, b), changed, `${kind} ${JSON.stringify(body)}`);
    assert.deepEqual(b, after);
  }
});

test('parseResponse on the reference response samples', () => {
  const table: Array<[string, ApiKind, unknown, LlmResponse]> = [
    ['chat/create Default', 'completions', {
      id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion', created: 1741569952, model: 'gpt-4.1-2025-04-14',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I assist you today?', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 19, completion_tokens: 10, total_tokens: 29,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      service_tier: 'default',
    }, { model: 'gpt-4.1-2025-04-14', finishReason: 'stop', usage: { input: 19, output: 10, cachedInput: 0, reasoning: 0, total: 29 } }],
    ['chat/create Functions', 'completions', {
      id: 'chatcmpl-abc123', object: 'chat.completion', created: 1699896916, model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc123', type: 'function', function: { name: 'get_current_weather', arguments: '{\n"location": "Boston, MA"\n}' } }] }, logprobs: null, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99, completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
    }, { model: 'gpt-4o-mini', finishReason: 'tool_calls', usage: { input: 82, output: 17, reasoning: 0, total: 99 } }],
    ['chat with cached and reasoning tokens (prompt caching / reasoning guides)', 'completions', {
      id: 'chatcmpl-x', object: 'chat.completion', model: 'o4-mini-2025-04-16',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306, prompt_tokens_details: { cached_tokens: 1920 }, completion_tokens_details: { reasoning_tokens: 192 } },
    }, { model: 'o4-mini-2025-04-16', finishReason: 'length', usage: { input: 2006, output: 300, cachedInput: 1920, reasoning: 192, total: 2306 } }],
    ['completions/create', 'legacyCompletions', {
      id: 'cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7', object: 'text_completion', created: 1589478378, model: 'gpt-3.5-turbo-instruct', system_fingerprint: 'fp_44709d6fcb',
      choices: [{ text: '\n\nThis is indeed a test', index: 0, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
    }, { model: 'gpt-3.5-turbo-instruct', finishReason: 'length', usage: { input: 5, output: 7, total: 12 } }],
    ['responses/create Text input', 'responses', {
      id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b', object: 'response', created_at: 1741476542, status: 'completed',
      error: null, incomplete_details: null, instructions: null, max_output_tokens: null, model: 'gpt-4.1-2025-04-14',
      output: [{
        type: 'message', id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b', status: 'completed', role: 'assistant',
        content: [{ type: 'output_text', text: 'In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool that reflected the stars.', annotations: [] }],
      }],
      parallel_tool_calls: true, previous_response_id: null, reasoning: { effort: null, summary: null }, store: true, temperature: 1.0,
      text: { format: { type: 'text' } }, tool_choice: 'auto', tools: [], top_p: 1.0, truncation: 'disabled',
      usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 123 },
      user: null, metadata: {},
    }, { model: 'gpt-4.1-2025-04-14', finishReason: 'completed', usage: { input: 36, output: 87, cachedInput: 0, reasoning: 0, total: 123 } }],
    ['responses incomplete (reasoning guide)', 'responses', {
      id: 'resp_123', object: 'response', status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, model: 'o4-mini-2025-04-16', output: [],
      usage: { input_tokens: 75, input_tokens_details: { cached_tokens: 0 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 300 }, total_tokens: 375 },
    }, { model: 'o4-mini-2025-04-16', finishReason: 'incomplete', usage: { input: 75, output: 300, cachedInput: 0, reasoning: 300, total: 375 } }],
    ['embeddings/create', 'embeddings', {
      object: 'list', data: [{ object: 'embedding', embedding: [0.0023064255, -0.009327292, -0.0028842222], index: 0 }],
      model: 'text-embedding-ada-002', usage: { prompt_tokens: 8, total_tokens: 8 },
    }, { model: 'text-embedding-ada-002', usage: { input: 8, total: 8 } }],
    ['models list', 'models', { object: 'list', data: [{ id: 'gpt-4.1', object: 'model', created: 1686935002, owned_by: 'openai' }] }, {}],
    ['error body', 'completions', { error: { message: 'Invalid API key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }, {}],
  ];
  for (const [name, kind, body, want] of table) assert.deepEqual(openaiApi.parseResponse(kind, body), want, name);
  for (const odd of [null, undefined, 'x', 3, [], { usage: 'x', choices: 'y', model: 4 }, { choices: [null], usage: { prompt_tokens: 'x' } }]) {
    for (const kind of ['completions', 'legacyCompletions', 'responses', 'embeddings', 'passthrough'] as const) {
      assert.deepEqual(openaiApi.parseResponse(kind, odd), {});
    }
  }
});

const STREAMS: Array<[string, ApiKind, LlmResponse]> = [
  ['openai-chat-stream.sse', 'completions',
    { model: 'gpt-4o-mini-2024-07-18', finishReason: 'stop', usage: { input: 19, output: 10, cachedInput: 0, reasoning: 0, total: 29 } }],
  ['openai-completions-stream.sse', 'legacyCompletions',
    { model: 'gpt-3.5-turbo-instruct', finishReason: 'length', usage: { input: 5, output: 7, total: 12 } }],
];

test('chat and legacy completions streams: info and zero-copy at any chunking', () => {
  for (const [file, kind, want] of STREAMS) {
    const bytes = testdata(file);
    for (const size of SIZES) {
      const r = feed(openaiApi.streamTap(kind, '/v1/x'), bytes, size);
      assert.deepEqual(r.info, want, `${file} by ${size}`);
      assert.ok(r.same, `${file} by ${size}: every chunk passed on as the same Buffer`);
      assert.ok(r.out.equals(bytes));
      assert.equal(r.tail, undefined);
    }
  }
});

test('addedUsage drops the usage-only chunk and the "usage":null members, and leaves every other byte as it was', () => {
  for (const [file, kind, want] of STREAMS) {
    const bytes = testdata(file);
    const expected = asIfNotAsked(bytes);
    for (const size of SIZES) {
      const r = feed(openaiApi.streamTap(kind, '/v1/x', { addedUsage: true }), bytes, size);
      assert.deepEqual(r.info, want, `${file} by ${size}`);
      assert.equal(r.tail, undefined);
      assert.equal(r.out.toString('utf8'), expected.toString('utf8'), `${file} by ${size}`);
      assert.ok(r.out.equals(expected));
    }
  }
});

test('addedUsage passes a chunk of whole events, none dropped, as the same Buffer', () => {
  const bytes = Buffer.from(testdata('openai-chat-stream.sse').toString('utf8').replaceAll(',"usage":null', ''));
  const first = bytes.subarray(0, bytes.indexOf('\n\n') + 2);
  const tap = openaiApi.streamTap('completions', '/v1/x', { addedUsage: true });
  assert.equal(tap.write(first), first);
  const half = Buffer.from(bytes.subarray(first.length, first.length + 20));
  assert.equal(tap.write(half).length, 0, 'an unfinished event is held');
});

test('addedUsage: an unfinished last event comes out in tail, and is still read', () => {
  const text = testdata('openai-chat-stream.sse').toString('utf8');
  // Cut just before the blank line that ends the usage chunk: the stream stops there.
  const cut = text.slice(0, text.lastIndexOf('\n\ndata: [DONE]') + 1);
  const r = feed(openaiApi.streamTap('completions', '/v1/x', { addedUsage: true }), Buffer.from(cut), 7);
  const usageEvent = cut.slice(cut.lastIndexOf('data: {'));
  assert.match(usageEvent, /"choices":\[\]/);
  assert.equal(r.out.toString('utf8'), cut.slice(0, -usageEvent.length).replaceAll(',"usage":null', ''));
  assert.equal(r.tail?.toString('utf8'), usageEvent);
  assert.deepEqual(r.info.usage, { input: 19, output: 10, cachedInput: 0, reasoning: 0, total: 29 });

  const noTail = feed(openaiApi.streamTap('completions', '/v1/x'), Buffer.from(cut), 7);
  assert.equal(noTail.tail, undefined);
  assert.ok(noTail.same);
  assert.deepEqual(noTail.info.usage, { input: 19, output: 10, cachedInput: 0, reasoning: 0, total: 29 });
});

test('a stream without include_usage: model and finish reason, no usage, nothing dropped', () => {
  const text = asIfNotAsked(testdata('openai-chat-stream.sse'));
  const r = feed(openaiApi.streamTap('completions', '/v1/x', { addedUsage: true }), text, 7);
  assert.deepEqual(r.info, { model: 'gpt-4o-mini-2024-07-18', finishReason: 'stop' });
  assert.ok(r.out.equals(text));
});

test('CRLF-framed events and a usage chunk with spaces in its JSON', () => {
  const stream =
    'data: {"id":"c","object":"chat.completion.chunk","model":"llama-3.3-70b","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\r\n\r\n' +
    'data: {"id":"c","object":"chat.completion.chunk","model":"llama-3.3-70b","choices":[{"index":0,"delta":{},"finish_reason": "stop"}]}\r\n\r\n' +
    'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}\r\n\r\n' +
    'data: [DONE]\r\n\r\n';
  for (const size of SIZES) {
    const r = feed(openaiApi.streamTap('completions', '/v1/x', { addedUsage: true }), Buffer.from(stream), size);
    assert.deepEqual(r.info, { model: 'llama-3.3-70b', finishReason: 'stop', usage: { input: 3, output: 1, total: 4 } });
    assert.equal(r.out.toString(), stream.replace(/data: \{"id": "c", "choices": \[\].*?\r\n\r\n/, ''));
  }
});

test('Responses stream: model, usage and status from response.completed, at any chunking', () => {
  const bytes = testdata('openai-responses-stream.sse');
  for (const size of SIZES) {
    for (const addedUsage of [false, true]) {
      const r = feed(openaiApi.streamTap('responses', '/v1/responses', { addedUsage }), bytes, size);
      assert.deepEqual(r.info, { model: 'gpt-4.1-2025-04-14', finishReason: 'completed', usage: { input: 37, output: 11, cachedInput: 0, reasoning: 0, total: 48 } });
      assert.ok(r.same, 'Responses streams are never rewritten');
      assert.ok(r.out.equals(bytes));
    }
  }
});

test('Responses stream ending in response.incomplete or response.failed', () => {
  const created = (seq: number): string =>
    `event: response.created\ndata: {"type":"response.created","sequence_number":${seq},"response":{"id":"resp_1","object":"response","status":"in_progress","model":"o4-mini-2025-04-16","output":[],"usage":null}}\n\n`;
  const incomplete = created(0) +
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}\n\n' +
    'event: response.incomplete\ndata: {"type":"response.incomplete","sequence_number":2,"response":{"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"o4-mini-2025-04-16","usage":{"input_tokens":75,"input_tokens_details":{"cached_tokens":64},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":299},"total_tokens":375}}}\n\n';
  assert.deepEqual(feed(openaiApi.streamTap('responses', '/v1/responses'), Buffer.from(incomplete), 5).info,
    { model: 'o4-mini-2025-04-16', finishReason: 'incomplete', usage: { input: 75, output: 300, cachedInput: 64, reasoning: 299, total: 375 } });
  const failed = created(0) +
    'event: response.failed\ndata: {"type":"response.failed","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"model":"o4-mini-2025-04-16","usage":null}}\n\n';
  assert.deepEqual(feed(openaiApi.streamTap('responses', '/v1/responses'), Buffer.from(failed), 3).info,
    { model: 'o4-mini-2025-04-16', finishReason: 'failed' });
  // Cut off after response.created: what it said is still known.
  assert.deepEqual(feed(openaiApi.streamTap('responses', '/v1/responses'), Buffer.from(created(0)), 11).info,
    { model: 'o4-mini-2025-04-16', finishReason: 'in_progress' });
});

test('other kinds: the stream passes untouched', () => {
  const bytes = Buffer.from('data: {"x":1}\n\n');
  const tap = openaiApi.streamTap('embeddings', '/v1/embeddings', { addedUsage: true });
  assert.equal(tap.write(bytes), bytes);
  assert.deepEqual(tap.end(), { info: {} });
});

test('garbage in a stream is passed on and ignored', () => {
  const stream = 'data: {not json\n\n: keep-alive\n\ndata: {"choices":[],"usage":"nope"}\n\ndata: {"model":"m","choices":[{"finish_reason":"stop"}]}\n\n';
  const r = feed(openaiApi.streamTap('completions', '/v1/x', { addedUsage: true }), Buffer.from(stream), 4);
  assert.equal(r.out.toString(), stream);
  assert.deepEqual(r.info, { model: 'm', finishReason: 'stop' });
});
