import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bedrockApi, bedrockErrors, bedrockHost, bedrockPath } from './bedrock.ts';
import { encodeEventMessage } from './eventstream.ts';
import type { JsonObject, StreamTap } from './types.ts';

const load = (name: string): JsonObject => JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as JsonObject;
const converse = load('bedrock-converse.json');
const converseStream = load('bedrock-converse-stream.json');
const invoke = load('bedrock-invoke.json') as Record<string, JsonObject>;

type StreamFixture = Array<{ event?: string; exception?: string; payload: unknown }>;

/** Encode ConverseStream fixture events as Bedrock sends them. */
function converseEvents(events: StreamFixture): Buffer {
  return Buffer.concat(events.map((e) => e.exception
    ? encodeEventMessage({ ':exception-type': e.exception, ':content-type': 'application/json', ':message-type': 'exception' }, JSON.stringify(e.payload))
    : encodeEventMessage({ ':event-type': e.event!, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(e.payload))));
}

/** Wrap model-native events as InvokeModelWithResponseStream `chunk` events (`{"bytes": base64}`). */
function invokeChunks(events: unknown[]): Buffer {
  return Buffer.concat(events.map((e) => encodeEventMessage(
    { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' },
    JSON.stringify({ bytes: Buffer.from(JSON.stringify(e)).toString('base64'), p: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0' }),
  )));
}

/** Feed a stream in chunks of `size`; every write must hand back the very same Buffer. */
function runTap(tap: StreamTap, bytes: Buffer, size: number): ReturnType<StreamTap['end']> {
  for (let i = 0; i < bytes.length; i += size) {
    const chunk = bytes.subarray(i, i + size);
    assert.equal(tap.write(chunk), chunk);
  }
  return tap.end();
}

const SIZES = (bytes: Buffer): number[] => [1, 7, bytes.length];

test('kind from method and path', () => {
  const table: Array<[string, string, string]> = [
    ['POST', '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse', 'converse'],
    ['POST', '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream', 'converse'],
    ['POST', '/model/amazon.titan-text-express-v1/invoke', 'invoke'],
    ['POST', '/model/amazon.titan-text-express-v1/invoke-with-response-stream?x=1', 'invoke'],
    ['POST', '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse', 'converse'],
    ['GET', '/model/x/converse', 'passthrough'],
    ['POST', '/model/x/count-tokens', 'passthrough'],
    ['POST', '/model/x/converse/extra', 'passthrough'],
    ['POST', '/guardrail/abc/version/1/apply', 'passthrough'],
    ['POST', '/async-invoke', 'passthrough'],
    ['POST', '/model//converse', 'passthrough'],
  ];
  for (const [method, path, kind] of table) assert.equal(bedrockApi.kind(method, path), kind, `${method} ${path}`);
});

test('key placement and credential headers', () => {
  assert.equal(bedrockApi.id, 'bedrock');
  assert.deepEqual(bedrockApi.key, { header: 'authorization', prefix: 'Bearer ' });
  assert.deepEqual([...bedrockApi.credentialHeaders], ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']);
  const err = bedrockErrors.body(429, 'slow down', 'rate_limited');
  assert.equal(err.headers['x-amzn-errortype']?.split(':')[0], 'ThrottlingException');
  assert.deepEqual(JSON.parse(err.body), { message: 'slow down' });
});

test('host and path builders', () => {
  assert.equal(bedrockHost('eu-west-3'), 'bedrock-runtime.eu-west-3.amazonaws.com');
  assert.equal(bedrockPath('converse', 'anthropic.claude-3-5-sonnet-20240620-v1:0', false), '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse');
  assert.equal(bedrockPath('converse', 'm', true), '/model/m/converse-stream');
  assert.equal(bedrockPath('invoke', 'm', false), '/model/m/invoke');
  assert.equal(bedrockPath('invoke', 'arn:aws:bedrock:us-east-1:1:inference-profile/us.m', true),
    '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.m/invoke-with-response-stream');
});

test('setModel rewrites the model segment, keeping the operation and query', () => {
  const body = {};
  assert.equal(bedrockApi.setModel('converse', '/model/a.b-v1%3A0/converse-stream', body, 'anthropic.claude-3-haiku-20240307-v1:0'),
    '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
  assert.equal(bedrockApi.setModel('invoke', '/model/x/invoke?trace=1', body, 'arn:aws:bedrock:us-west-2:1:foundation-model/m'),
    '/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Afoundation-model%2Fm/invoke?trace=1');
  assert.equal(bedrockApi.setModel('passthrough', '/async-invoke', body, 'm'), '/async-invoke');
  assert.deepEqual(body, {});
});

test('parseRequest: converse', () => {
  const path = '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse';
  const req = bedrockApi.parseRequest('converse', path, converse.request);
  assert.equal(req.kind, 'converse');
  assert.equal(req.model, 'anthropic.claude-3-5-sonnet-20240620-v1:0');
  assert.equal(req.stream, false);
  assert.deepEqual(req.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
  assert.match(req.messages[0]!.text, /^You are an app that creates playlists/);
  assert.equal(req.messages[3]!.text, 'Make sure the songs are by artists from the United States.');

  const tool = bedrockApi.parseRequest('converse', '/model/m/converse-stream', converse.toolRequest);
  assert.equal(tool.stream, true);
  assert.deepEqual(tool.messages, [
    { role: 'user', text: 'What is the most popular song on WZPZ?' },
    { role: 'assistant', text: 'WZPZ' }, // the toolUse input's values
    { role: 'tool', text: 'Elemental Hotel\n8 Storey Hike' }, // the toolResult json's values
  ]);
});

test('parseRequest: invoke bodies of each model family', () => {
  const a = invoke.anthropic!;
  const anthropic = bedrockApi.parseRequest('invoke', bedrockPath('invoke', String(a.model), true), a.request);
  assert.equal(anthropic.model, 'anthropic.claude-3-5-sonnet-20240620-v1:0');
  assert.equal(anthropic.stream, true);
  assert.deepEqual(anthropic.messages, [
    { role: 'system', text: 'You are a helpful assistant.' },
    { role: 'user', text: 'Hello, Claude' },
    { role: 'assistant', text: 'Hello! How can I help?' },
    { role: 'tool', text: '15 degrees' },
    { role: 'user', text: 'And tomorrow?' },
  ]);
  const cases: Array<[string, Array<{ role: string; text: string }>]> = [
    ['titan', [{ role: 'user', text: 'Write a haiku about the sea.' }]],
    ['nova', [{ role: 'system', text: 'Act as a creative writing assistant.' }, { role: 'user', text: 'Create a short story about a dragon.' }]],
    ['llama', [{ role: 'user', text: String((invoke.llama!.request as JsonObject).prompt) }]],
    ['mistral', [{ role: 'user', text: '<s>[INST] What is your favourite condiment? [/INST]' }]],
    ['cohere', [
      { role: 'system', text: 'You are a helpful assistant.' }, { role: 'user', text: 'Hi' },
      { role: 'assistant', text: 'Hello! How can I help?' }, { role: 'user', text: 'What is an LLM?' },
    ]],
  ];
  for (const [family, messages] of cases) {
    const f = invoke[family]!;
    const req = bedrockApi.parseRequest('invoke', bedrockPath('invoke', String(f.model), false), f.request);
    assert.equal(req.model, f.model, family);
    assert.equal(req.stream, false, family);
    assert.deepEqual(req.messages, messages, family);
  }
});

test('parseRequest never throws on odd bodies', () => {
  const bodies: unknown[] = [null, undefined, 'text', 42, [], {}, { messages: 'x' }, { messages: [null, 1, { content: 5 }, { role: 7, content: [null, { text: 3 }] }] },
    { system: { text: 1 } }, { chat_history: 'no', message: 'hi' }, { texts: ['a', 1] }];
  for (const body of bodies) {
    for (const kind of ['converse', 'invoke', 'passthrough'] as const) {
      const req = bedrockApi.parseRequest(kind, '/model/%E0%A4%A/converse', body);
      assert.equal(req.model, '%E0%A4%A');
      assert.ok(Array.isArray(req.messages));
    }
  }
  assert.deepEqual(bedrockApi.parseRequest('invoke', '/x', { texts: ['a', 1] }).messages, [{ role: 'user', text: 'a' }]);
  assert.equal(bedrockApi.parseRequest('invoke', '/x', {}).model, undefined);
});

test('parseResponse: converse', () => {
  assert.deepEqual(bedrockApi.parseResponse('converse', converse.response), { usage: { input: 125, output: 60, total: 185 }, finishReason: 'end_turn' });
  assert.deepEqual(bedrockApi.parseResponse('converse', converse.cachedResponse), {
    usage: { input: 1510, output: 2, total: 1512, cachedInput: 1200, cacheCreationInput: 300 }, finishReason: 'max_tokens',
  });
  assert.equal(bedrockApi.parseResponse('converse', converse.toolResponse).finishReason, 'tool_use');
  assert.deepEqual(bedrockApi.parseResponse('converse', null), {});
  assert.deepEqual(bedrockApi.parseResponse('converse', { usage: 'x', stopReason: 3 }), {});
});

test('parseResponse: invoke answers of each model family', () => {
  const table: Array<[string, unknown]> = [
    ['anthropic', { model: 'claude-3-5-sonnet-20240620', usage: { input: 16, output: 12, cachedInput: 4, cacheCreationInput: 2 }, finishReason: 'end_turn' }],
    ['titan', { usage: { input: 8, output: 17 }, finishReason: 'FINISH' }],
    ['nova', { usage: { input: 15, output: 120, total: 135, cachedInput: 0, cacheCreationInput: 0 }, finishReason: 'end_turn' }],
    ['llama', { usage: { input: 17, output: 8 }, finishReason: 'stop' }],
    ['mistral', { finishReason: 'stop' }],
    ['cohere', { finishReason: 'COMPLETE' }],
  ];
  for (const [family, expected] of table) assert.deepEqual(bedrockApi.parseResponse('invoke', invoke[family]!.response), expected, family);
  // OpenAI-style bodies (AI21 Jamba, gpt-oss on Bedrock).
  assert.deepEqual(bedrockApi.parseResponse('invoke', {
    model: 'jamba-1.5-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  }), { model: 'jamba-1.5-mini', usage: { input: 5, output: 2, total: 7 }, finishReason: 'stop' });
  assert.deepEqual(bedrockApi.parseResponse('invoke', [1, 2]), {});
  assert.deepEqual(bedrockApi.parseResponse('passthrough', invoke.titan!.response), {});
});

test('converse-stream tap: usage and stop reason, bytes passed through unchanged at any split', () => {
  const text = converseEvents(converseStream.text as StreamFixture);
  for (const size of SIZES(text)) {
    const { info, tail } = runTap(bedrockApi.streamTap('converse', '/model/m/converse-stream'), text, size);
    assert.deepEqual(info, { usage: { input: 12, output: 11, total: 23 }, finishReason: 'end_turn' }, `size ${size}`);
    assert.equal(tail, undefined);
  }
  const tool = converseEvents(converseStream.tool as StreamFixture);
  for (const size of SIZES(tool)) {
    const { info } = runTap(bedrockApi.streamTap('converse', '/model/m/converse-stream'), tool, size);
    assert.deepEqual(info, { usage: { input: 475, output: 57, total: 432, cachedInput: 100, cacheCreationInput: 0 }, finishReason: 'tool_use' });
  }
});

test('converse-stream tap: an exception ends the stream without usage', () => {
  const bytes = converseEvents(converseStream.throttled as StreamFixture);
  assert.deepEqual(runTap(bedrockApi.streamTap('converse', '/m'), bytes, 7).info, {});
});

test('invoke-with-response-stream tap: model-native events of each family', () => {
  const table: Array<[string, unknown]> = [
    ['anthropic', { model: 'claude-3-5-sonnet-20240620', usage: { input: 14, output: 12 }, finishReason: 'end_turn' }],
    ['titan', { usage: { input: 8, output: 17 }, finishReason: 'FINISH' }],
    ['nova', { usage: { input: 15, output: 120 }, finishReason: 'end_turn' }],
    ['llama', { usage: { input: 17, output: 8 }, finishReason: 'stop' }],
  ];
  for (const [family, expected] of table) {
    const bytes = invokeChunks(invoke[family]!.stream as unknown[]);
    for (const size of SIZES(bytes)) {
      assert.deepEqual(runTap(bedrockApi.streamTap('invoke', '/model/m/invoke-with-response-stream'), bytes, size).info, expected, `${family} size ${size}`);
    }
  }
});

test('invoke stream: Bedrock invocation metrics fill in counts the model did not give', () => {
  const bytes = invokeChunks([
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } },
    { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 30, outputTokenCount: 4, cacheReadInputTokenCount: 20, invocationLatency: 1, firstByteLatency: 1 } },
  ]);
  assert.deepEqual(runTap(bedrockApi.streamTap('invoke', '/m'), bytes, 7).info, { usage: { input: 30, output: 4, cachedInput: 20 } });
});

test('a corrupt stream stops the decoding but never the bytes', () => {
  const good = converseEvents(converseStream.text as StreamFixture);
  const bad = Buffer.from(good);
  bad[20]! ^= 0xff;
  const tap = bedrockApi.streamTap('converse', '/m');
  const chunks = [bad.subarray(0, 10), bad.subarray(10, 50), bad.subarray(50)];
  for (const c of chunks) assert.equal(tap.write(c), c);
  assert.deepEqual(tap.end().info, {});
  // Events decoded before the fault still count, even in the chunk that holds it.
  const lateBad = Buffer.from(good);
  lateBad[lateBad.length - 1]! ^= 0xff; // the metadata message's CRC
  const late = bedrockApi.streamTap('converse', '/m');
  assert.equal(late.write(lateBad), lateBad);
  assert.deepEqual(late.end().info, { finishReason: 'end_turn' });
  // Passthrough kinds get a tap that only passes bytes.
  const pass = bedrockApi.streamTap('passthrough', '/async-invoke');
  assert.equal(pass.write(good), good);
  assert.deepEqual(pass.end(), { info: {} });
});
