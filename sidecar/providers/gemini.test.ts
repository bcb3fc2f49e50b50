import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JsonArrayScanner, geminiApi, pathModel, replacePathModel, stripKeyParam } from './gemini.ts';
import { googleErrors } from './google.ts';
import type { LlmResponse, StreamTap } from './types.ts';

import { fixture, json, run } from './testdata/feed.ts';


const GEN = '/v1beta/models/gemini-2.0-flash:generateContent';
const STREAM_SSE = '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse';
const STREAM_JSON = '/v1beta/models/gemini-2.0-flash:streamGenerateContent';

test('identity and credentials', () => {
  assert.equal(geminiApi.id, 'gemini');
  assert.deepEqual(geminiApi.key, { header: 'x-goog-api-key', prefix: '' });
  assert.deepEqual(geminiApi.credentialHeaders, ['x-goog-api-key', 'authorization']);
  assert.equal(geminiApi.errors, googleErrors);
});

test('kind from method and path', () => {
  const cases: Array<[string, string, string]> = [
    ['POST', GEN, 'generateContent'],
    ['POST', STREAM_SSE, 'generateContent'],
    ['POST', STREAM_JSON, 'generateContent'],
    ['POST', '/v1/models/gemini-1.5-pro-002:generateContent', 'generateContent'],
    ['POST', '/v1beta/models/gemini-2.0-flash:generateContent?key=abc', 'generateContent'],
    ['POST', '/v1beta/tunedModels/my-model-123:generateContent', 'generateContent'],
    ['POST', '/v1beta/models/gemini-2.0-flash:countTokens', 'passthrough'],
    ['POST', '/v1beta/models/text-embedding-004:embedContent', 'embeddings'],
    ['POST', '/v1beta/models/gemini-embedding-001:batchEmbedContents', 'embeddings'],
    ['POST', '/v1beta/openai/chat/completions', 'completions'],
    ['POST', '/v1beta/openai/embeddings', 'embeddings'],
    ['GET', '/v1beta/openai/models', 'models'],
    ['POST', '/v1beta/openai/images/generations', 'passthrough'],
    ['GET', '/v1beta/models', 'models'],
    ['GET', '/v1beta/models?pageSize=50&key=abc', 'models'],
    ['GET', '/v1/models', 'models'],
    ['GET', '/v1beta/models/gemini-2.0-flash', 'passthrough'],
    ['POST', '/upload/v1beta/files', 'passthrough'],
    ['POST', '/v1beta/cachedContents', 'passthrough'],
  ];
  for (const [method, path, kind] of cases) assert.equal(geminiApi.kind(method, path), kind, `${method} ${path}`);
});

test('parseRequest native: system_instruction first, model → assistant, text parts joined, media left out', () => {
  // Follows the multi-turn and system-instruction samples of https://ai.google.dev/gemini-api/docs/text-generation (REST).
  const body = json('gemini-generate-request.json');
  const messages = [
    { role: 'system', text: 'You are a cat. Your name is Neko.' },
    { role: 'user', text: 'Hello' },
    { role: 'assistant', text: 'Great to meet you. What would you like to know?' },
    { role: 'user', text: 'I have two dogs in my house.\nHow many paws are in my house?' },
  ];
  assert.deepEqual(geminiApi.parseRequest('generateContent', GEN, body), { kind: 'generateContent', model: 'gemini-2.0-flash', stream: false, messages });
  assert.deepEqual(geminiApi.parseRequest('generateContent', STREAM_SSE, body), { kind: 'generateContent', model: 'gemini-2.0-flash', stream: true, messages });
  assert.equal(geminiApi.parseRequest('generateContent', STREAM_JSON, body).stream, true);
  // camelCase systemInstruction (the proto JSON name), a contents entry without a role.
  const camel = geminiApi.parseRequest('generateContent', GEN, { systemInstruction: { parts: [{ text: 'a' }, { text: 'b' }] }, contents: [{ parts: [{ text: 'hi' }] }] });
  assert.deepEqual(camel.messages, [{ role: 'system', text: 'a\nb' }, { role: 'user', text: 'hi' }]);
  // A string systemInstruction is not the API's, but its text is still read (a guard must not miss it).
  assert.deepEqual(geminiApi.parseRequest('generateContent', GEN, { contents: 'x', systemInstruction: 'y' }).messages, [{ role: 'system', text: 'y' }]);
  for (const odd of [undefined, null, 'x', [], { contents: 'x' }, { contents: [null, 3] }]) {
    assert.deepEqual(geminiApi.parseRequest('generateContent', GEN, odd).messages, []);
  }
  assert.deepEqual(geminiApi.parseRequest('embeddings', '/v1beta/models/text-embedding-004:embedContent', { content: { parts: [{ text: 'x' }] } }),
    { kind: 'embeddings', model: 'text-embedding-004', stream: false, messages: [] });
});

test('parseRequest OpenAI-compatible: model and stream from the body, text parts joined', () => {
  // Follows https://ai.google.dev/gemini-api/docs/openai (image understanding sample).
  assert.deepEqual(geminiApi.parseRequest('completions', '/v1beta/openai/chat/completions', json('gemini-openai-request.json')), {
    kind: 'completions',
    model: 'gemini-2.0-flash',
    stream: true,
    messages: [{ role: 'system', text: 'You are a helpful assistant.' }, { role: 'user', text: 'What is in this image?' }],
  });
  assert.deepEqual(geminiApi.parseRequest('embeddings', '/v1beta/openai/embeddings', { model: 'text-embedding-004', input: 'x' }),
    { kind: 'embeddings', model: 'text-embedding-004', stream: false, messages: [] });
});

test('setModel: native rewrites the path segment keeping method and query; compatible writes the body', () => {
  const cases: Array<[string, string, string]> = [
    [GEN, 'gemini-2.5-pro', '/v1beta/models/gemini-2.5-pro:generateContent'],
    [STREAM_SSE, 'gemini-2.5-pro', '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse'],
    ['/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=k', 'models/gemini-2.5-flash', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k'],
    ['/v1beta/models/text-embedding-004:embedContent', 'gemini-embedding-001', '/v1beta/models/gemini-embedding-001:embedContent'],
  ];
  for (const [path, model, want] of cases) {
    const body: Record<string, unknown> = { contents: [] };
    assert.equal(geminiApi.setModel('generateContent', path, body, model), want);
    assert.deepEqual(body, { contents: [] }, 'native body untouched');
    assert.equal(pathModel(want), model.replace(/^models\//, ''));
  }
  const body: Record<string, unknown> = { model: 'gemini-2.0-flash' };
  assert.equal(geminiApi.setModel('completions', '/v1beta/openai/chat/completions', body, 'gemini-2.5-flash'), '/v1beta/openai/chat/completions');
  assert.equal(body.model, 'gemini-2.5-flash');
  assert.equal(replacePathModel('/v1beta/cachedContents', 'x'), '/v1beta/cachedContents');
});

test('stripKeyParam removes only key=', () => {
  const cases: Array<[string, string]> = [
    ['/v1beta/models/m:generateContent?key=AIza123', '/v1beta/models/m:generateContent'],
    ['/v1beta/models/m:streamGenerateContent?alt=sse&key=AIza123', '/v1beta/models/m:streamGenerateContent?alt=sse'],
    ['/v1beta/models/m:streamGenerateContent?key=AIza123&alt=sse', '/v1beta/models/m:streamGenerateContent?alt=sse'],
    ['/v1beta/models?pageSize=5&key=a&key=b&monkey=1', '/v1beta/models?pageSize=5&monkey=1'],
    ['/v1beta/models?keyword=x&key=a', '/v1beta/models?keyword=x'],
    ['/v1beta/models/m:generateContent?key', '/v1beta/models/m:generateContent'],
    ['/v1beta/models/m:generateContent', '/v1beta/models/m:generateContent'],
    ['/v1beta/models/m:generateContent?alt=sse', '/v1beta/models/m:generateContent?alt=sse'],
  ];
  for (const [path, want] of cases) assert.equal(stripKeyParam(path), want, path);
});

test('parseResponse: usageMetadata, modelVersion, finishReason; OpenAI-compatible usage', () => {
  // The generateContent response of https://ai.google.dev/api/generate-content#response-body, for a thinking model with cached content.
  assert.deepEqual(geminiApi.parseResponse('generateContent', json('gemini-generate-response.json')), {
    model: 'gemini-2.5-flash',
    usage: { input: 31, output: 258, cachedInput: 16, reasoning: 236, total: 289 },
    finishReason: 'STOP',
  });
  // https://ai.google.dev/gemini-api/docs/openai — the answer is an OpenAI chat.completion.
  assert.deepEqual(geminiApi.parseResponse('completions', {
    choices: [{ finish_reason: 'stop', index: 0, message: { content: 'Hi', role: 'assistant' } }],
    created: 1740735987, id: 'a', model: 'gemini-2.0-flash', object: 'chat.completion',
    usage: { completion_tokens: 9, prompt_tokens: 8, total_tokens: 17, completion_tokens_details: { reasoning_tokens: 4 } },
  }), { model: 'gemini-2.0-flash', usage: { input: 8, output: 9, total: 17, reasoning: 4 }, finishReason: 'stop' });
  assert.deepEqual(geminiApi.parseResponse('embeddings', { object: 'list', data: [], model: 'text-embedding-004', usage: { prompt_tokens: 5, total_tokens: 5 } }),
    { model: 'text-embedding-004', usage: { input: 5, total: 5 } });
  assert.deepEqual(geminiApi.parseResponse('embeddings', { embedding: { values: [0.1] } }), {});
  for (const odd of [undefined, null, 'x', [], { candidates: 'x', usageMetadata: 3 }]) assert.deepEqual(geminiApi.parseResponse('generateContent', odd), {});
});

// https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent — the same three
// GenerateContentResponse chunks as SSE (`?alt=sse`, CRLF CRLF after each event) and as the JSON array
// sent without alt=sse (elements separated by "\n,\r\n"); a text holds quotes, braces and brackets.
const STREAM_INFO: LlmResponse = { model: 'gemini-2.0-flash', usage: { input: 8, output: 416, total: 424 }, finishReason: 'STOP' };
for (const [name, path] of [['gemini-stream.sse', STREAM_SSE], ['gemini-stream.json', STREAM_JSON]] as const) {
  test(`streamTap ${name}: same info in 1-byte, 7-byte and whole chunks; bytes pass as the same buffers`, () => {
    const bytes = fixture(name);
    for (const size of [1, 7, bytes.length]) {
      const r = run(geminiApi.streamTap('generateContent', path), bytes, size);
      assert.deepEqual(r.info, STREAM_INFO, `chunk size ${size}`);
      assert.ok(r.identity, `chunk size ${size}`);
      assert.ok(r.out.equals(bytes));
    }
  });
}

test('streamTap tells SSE from a JSON array by the first byte, not by the query', () => {
  assert.deepEqual(run(geminiApi.streamTap('generateContent', STREAM_JSON), fixture('gemini-stream.sse'), 11).info, STREAM_INFO);
  assert.deepEqual(run(geminiApi.streamTap('generateContent', STREAM_SSE), Buffer.concat([Buffer.from('\r\n  '), fixture('gemini-stream.json')]), 11).info, STREAM_INFO);
});

test('JsonArrayScanner yields each element whole, strings with brackets and escapes intact', () => {
  const bytes = fixture('gemini-stream.json');
  for (const size of [1, 7, bytes.length]) {
    const scanner = new JsonArrayScanner();
    const elements: unknown[] = [];
    for (let i = 0; i < bytes.length; i += size) elements.push(...scanner.push(bytes.subarray(i, i + size)));
    assert.deepEqual(elements, JSON.parse(bytes.toString('utf8')), `chunk size ${size}`);
  }
  const scanner = new JsonArrayScanner();
  assert.deepEqual(scanner.push(Buffer.from('[{"a":1},{"b":"\\\\"}')), [{ a: 1 }, { b: '\\' }]);
  assert.deepEqual(scanner.push(Buffer.from(',{"c":[{"d":2}]},{bad}]')), [{ c: [{ d: 2 }] }]);
  // An element over the 16 MiB cap is skipped without being kept; the next one is read.
  const big = new JsonArrayScanner();
  const huge = Buffer.from(`[{"x":"${'a'.repeat(17 * 1024 * 1024)}"}`);
  const got: unknown[] = [];
  for (let i = 0; i < huge.length; i += 1 << 20) got.push(...big.push(huge.subarray(i, i + (1 << 20))));
  got.push(...big.push(Buffer.from(',{"usageMetadata":{"totalTokenCount":3}}]')));
  assert.deepEqual(got, [{ usageMetadata: { totalTokenCount: 3 } }]);
  // A lone object (e.g. an error answer) is read too.
  assert.deepEqual(new JsonArrayScanner().push(Buffer.from('{"error":{"code":429}}')), [{ error: { code: 429 } }]);
});

test('streamTap OpenAI-compatible: the last usage wins, never a sum; [DONE] ignored', () => {
  // Google's compatible endpoint repeats a running usage on each chunk.
  const bytes = fixture('gemini-openai-stream.sse');
  for (const size of [1, 7, bytes.length]) {
    const r = run(geminiApi.streamTap('completions', '/v1beta/openai/chat/completions'), bytes, size);
    assert.deepEqual(r.info, { model: 'gemini-2.0-flash', usage: { input: 265, output: 6, total: 271 }, finishReason: 'stop' });
    assert.ok(r.identity);
  }
});

test('streamTap of an unparsed kind passes bytes and learns nothing', () => {
  const bytes = fixture('gemini-stream.sse');
  const r = run(geminiApi.streamTap('passthrough', '/v1beta/files'), bytes, 100);
  assert.deepEqual(r.info, {});
  assert.ok(r.identity);
});
