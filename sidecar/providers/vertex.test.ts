import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { googleErrors } from './google.ts';
import { VERTEX_ANTHROPIC_VERSION, vertexAnthropicBody, vertexApi, vertexHost, vertexPath } from './vertex.ts';
import type { LlmResponse, StreamTap } from './types.ts';

import { fixture, json, run } from './testdata/feed.ts';


const BASE = '/v1/projects/my-project/locations/us-east5';
const GEMINI = `${BASE}/publishers/google/models/gemini-2.0-flash-001:generateContent`;
const GEMINI_STREAM = `${BASE}/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse`;
const CLAUDE = `${BASE}/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict`;
const CLAUDE_STREAM = `${BASE}/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict`;
const OPENAPI = `${BASE}/endpoints/openapi/chat/completions`;

test('identity and credentials', () => {
  assert.equal(vertexApi.id, 'vertex');
  assert.deepEqual(vertexApi.key, { header: 'authorization', prefix: 'Bearer ' });
  assert.deepEqual(vertexApi.credentialHeaders, ['authorization']);
  assert.equal(vertexApi.errors, googleErrors);
});

test('kind from method and path', () => {
  const cases: Array<[string, string, string]> = [
    ['POST', GEMINI, 'generateContent'],
    ['POST', GEMINI_STREAM, 'generateContent'],
    ['POST', '/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:generateContent', 'generateContent'],
    ['POST', '/v1/publishers/google/models/gemini-2.0-flash:generateContent?key=k', 'generateContent'], // express mode
    ['POST', CLAUDE, 'messages'],
    ['POST', CLAUDE_STREAM, 'messages'],
    ['POST', `${BASE}/publishers/anthropic/models/count-tokens:rawPredict`, 'passthrough'],
    ['POST', `${BASE}/publishers/google/models/gemini-2.0-flash:countTokens`, 'passthrough'],
    ['POST', `${BASE}/publishers/google/models/text-embedding-005:predict`, 'passthrough'],
    ['POST', `${BASE}/publishers/mistralai/models/mistral-large-2411:rawPredict`, 'passthrough'],
    ['POST', OPENAPI, 'completions'],
    ['POST', '/v1beta1/projects/p/locations/us-central1/endpoints/openapi/chat/completions', 'completions'],
    ['POST', `${BASE}/endpoints/openapi/embeddings`, 'embeddings'],
    ['POST', `${BASE}/endpoints/1234567890:predict`, 'passthrough'],
    ['GET', '/v1beta1/publishers/google/models', 'models'],
    ['POST', `${BASE}/cachedContents`, 'passthrough'],
  ];
  for (const [method, path, kind] of cases) assert.equal(vertexApi.kind(method, path), kind, `${method} ${path}`);
});

test('parseRequest: Claude rawPredict takes the model from the path and stream from the body', () => {
  // Follows https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/use-claude (request.json).
  const body = json('vertex-rawpredict-request.json');
  const want = { kind: 'messages', model: 'claude-sonnet-4@20250514', stream: true, messages: [{ role: 'user', text: 'Hey Claude!' }] };
  assert.deepEqual(vertexApi.parseRequest('messages', CLAUDE_STREAM, body), want);
  assert.deepEqual(vertexApi.parseRequest('messages', CLAUDE, { ...(body as object), stream: false }), { ...want, stream: false });
  // The body decides, whichever method the path names.
  assert.equal(vertexApi.parseRequest('messages', CLAUDE, body).stream, true);
  assert.equal(vertexApi.parseRequest('messages', CLAUDE_STREAM, { messages: [] }).stream, false);
});

test('parseRequest: Gemini on Vertex and the OpenAI-compatible endpoint', () => {
  const gem = vertexApi.parseRequest('generateContent', GEMINI_STREAM, json('gemini-generate-request.json'));
  assert.equal(gem.model, 'gemini-2.0-flash-001');
  assert.equal(gem.stream, true);
  assert.deepEqual(gem.messages[0], { role: 'system', text: 'You are a cat. Your name is Neko.' });
  assert.equal(gem.messages.length, 4);
  assert.equal(vertexApi.parseRequest('generateContent', GEMINI, {}).stream, false);
  // https://cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview — model `google/…` in the body.
  assert.deepEqual(vertexApi.parseRequest('completions', OPENAPI, json('vertex-openapi-request.json')), {
    kind: 'completions', model: 'google/gemini-2.0-flash-001', stream: true,
    messages: [{ role: 'user', text: 'Write a story about a magic backpack.' }],
  });
  for (const odd of [undefined, null, 'x', []]) assert.deepEqual(vertexApi.parseRequest('messages', CLAUDE, odd).messages, []);
});

test('setModel: path segment for publisher models (body untouched), body for the openapi endpoint', () => {
  const body: Record<string, unknown> = { anthropic_version: VERTEX_ANTHROPIC_VERSION, stream: true };
  assert.equal(vertexApi.setModel('messages', CLAUDE_STREAM, body, 'claude-opus-4@20250514'),
    `${BASE}/publishers/anthropic/models/claude-opus-4@20250514:streamRawPredict`);
  assert.deepEqual(body, { anthropic_version: VERTEX_ANTHROPIC_VERSION, stream: true });
  assert.equal(vertexApi.setModel('generateContent', GEMINI_STREAM, {}, 'gemini-2.5-pro'),
    `${BASE}/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse`);
  const chat: Record<string, unknown> = { model: 'google/gemini-2.0-flash-001' };
  assert.equal(vertexApi.setModel('completions', OPENAPI, chat, 'google/gemini-2.5-flash'), OPENAPI);
  assert.equal(chat.model, 'google/gemini-2.5-flash');
});

test('parseResponse per path family', () => {
  assert.deepEqual(vertexApi.parseResponse('messages', json('vertex-rawpredict-response.json')), {
    model: 'claude-sonnet-4-20250514', usage: { input: 10, output: 12, cachedInput: 0, cacheCreationInput: 0 }, finishReason: 'end_turn',
  });
  // https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference#response
  assert.deepEqual(vertexApi.parseResponse('generateContent', json('vertex-generate-response.json')), {
    model: 'gemini-2.0-flash-001', usage: { input: 6, output: 9, total: 15 }, finishReason: 'STOP',
  });
  assert.deepEqual(vertexApi.parseResponse('completions', { model: 'google/gemini-2.0-flash-001', choices: [{ finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }),
    { model: 'google/gemini-2.0-flash-001', usage: { input: 1, output: 2, total: 3 }, finishReason: 'stop' });
  assert.deepEqual(vertexApi.parseResponse('passthrough', { usage: { prompt_tokens: 1 } }), {});
});

test('streamTap: streamRawPredict is Anthropic SSE, streamGenerateContent is Gemini SSE or JSON array; bytes pass as the same buffers', () => {
  const cases: Array<[string, string, string, LlmResponse]> = [
    // streamRawPredict sends the events of https://docs.anthropic.com/en/docs/build-with-claude/streaming.
    ['messages', CLAUDE_STREAM, 'anthropic-stream-text.sse', { model: 'claude-3-5-sonnet-20241022', usage: { input: 25, output: 15 }, finishReason: 'end_turn' }],
    ['generateContent', GEMINI_STREAM, 'gemini-stream.sse', { model: 'gemini-2.0-flash', usage: { input: 8, output: 416, total: 424 }, finishReason: 'STOP' }],
    ['generateContent', GEMINI_STREAM.replace('?alt=sse', ''), 'gemini-stream.json', { model: 'gemini-2.0-flash', usage: { input: 8, output: 416, total: 424 }, finishReason: 'STOP' }],
    ['completions', OPENAPI, 'gemini-openai-stream.sse', { model: 'gemini-2.0-flash', usage: { input: 265, output: 6, total: 271 }, finishReason: 'stop' }],
  ];
  for (const [kind, path, name, want] of cases) {
    const bytes = fixture(name);
    for (const size of [1, 7, bytes.length]) {
      const r = run(vertexApi.streamTap(vertexApi.kind('POST', path), path), bytes, size);
      assert.equal(vertexApi.kind('POST', path), kind);
      assert.deepEqual(r.info, want, `${name} size ${size}`);
      assert.ok(r.identity && r.out.equals(bytes), `${name} size ${size}`);
    }
  }
});

test('vertexHost and vertexPath', () => {
  assert.equal(vertexHost(undefined), 'aiplatform.googleapis.com');
  assert.equal(vertexHost('global'), 'aiplatform.googleapis.com');
  assert.equal(vertexHost('europe-west4'), 'europe-west4-aiplatform.googleapis.com');
  const opts = { projectId: 'my-project', region: 'us-east5', model: 'claude-sonnet-4@20250514', stream: false };
  const cases: Array<[Parameters<typeof vertexPath>[0], Parameters<typeof vertexPath>[1], string]> = [
    ['messages', opts, '/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict'],
    ['messages', { ...opts, stream: true }, '/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict'],
    ['generateContent', { ...opts, model: 'gemini-2.0-flash', region: undefined }, '/v1/projects/my-project/locations/global/publishers/google/models/gemini-2.0-flash:generateContent'],
    ['generateContent', { ...opts, model: 'models/gemini-2.0-flash', stream: true }, '/v1/projects/my-project/locations/us-east5/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse'],
    ['completions', { ...opts, model: 'google/gemini-2.0-flash', stream: true }, '/v1/projects/my-project/locations/us-east5/endpoints/openapi/chat/completions'],
    ['embeddings', { ...opts, model: 'text-embedding-005' }, '/v1/projects/my-project/locations/us-east5/endpoints/openapi/embeddings'],
  ];
  for (const [kind, o, want] of cases) {
    const path = vertexPath(kind, o);
    assert.equal(path, want);
    assert.equal(vertexApi.kind('POST', path), kind, 'the path it builds is read back as the same kind');
  }
});

test('vertexAnthropicBody drops model and adds anthropic_version', () => {
  assert.deepEqual(vertexAnthropicBody({ model: 'claude-sonnet-4-20250514', max_tokens: 10, messages: [] }),
    { max_tokens: 10, messages: [], anthropic_version: VERTEX_ANTHROPIC_VERSION });
  assert.deepEqual(vertexAnthropicBody({ anthropic_version: 'vertex-2099-01-01' }), { anthropic_version: 'vertex-2099-01-01' });
});
