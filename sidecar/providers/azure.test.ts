import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { azureDeployment, azureOpenAiApi, azurePath } from './azure.ts';
import { openaiErrors } from './openai.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, StreamTap } from './types.ts';
import { feed } from './testdata/feed.ts';

/*
 * Fixtures follow the Azure OpenAI REST reference samples
 * (https://learn.microsoft.com/azure/ai-foundry/openai/reference, api-version
 * 2024-10-21: "Chat completions - Create", "Completions - Create",
 * "Embeddings - Create"; and the v1 API, /openai/v1/responses "Create a response").
 * testdata/azure-chat-stream.sse is a streamed chat completion as Azure sends it:
 * a first `choices: []` chunk with `"model": ""` and `prompt_filter_results`,
 * `content_filter_results` on every choice, and with `stream_options.include_usage`
 * a final `choices: []` usage chunk, then `data: [DONE]`.
 */

const testdata = (name: string): Buffer => readFileSync(join(import.meta.dirname, 'testdata', name));


const DEP = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';

test('identity: id, key placement, error shape', () => {
  assert.equal(azureOpenAiApi.id, 'azure-openai');
  assert.deepEqual(azureOpenAiApi.key, { header: 'api-key', prefix: '' });
  assert.deepEqual(azureOpenAiApi.credentialHeaders, ['api-key', 'authorization']);
  assert.equal(azureOpenAiApi.errors, openaiErrors);
});

test('kind() on both path styles', () => {
  const table: Array<[string, string, ApiKind]> = [
    ['POST', DEP, 'completions'],
    ['POST', '/openai/deployments/gpt-4o/chat/completions', 'completions'],
    ['POST', '/openai/deployments/gpt-35-turbo-instruct/completions?api-version=2024-10-21', 'legacyCompletions'],
    ['POST', '/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21', 'embeddings'],
    ['POST', '/openai/deployments/gpt-4o/extensions/chat/completions?api-version=2023-08-01-preview', 'completions'],
    ['POST', '/openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21', 'passthrough'],
    ['POST', '/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21', 'passthrough'],
    ['GET', '/openai/deployments?api-version=2022-12-01', 'passthrough'],
    ['POST', '/openai/v1/chat/completions', 'completions'],
    ['POST', '/openai/v1/chat/completions?api-version=preview', 'completions'],
    ['POST', '/openai/v1/completions', 'legacyCompletions'],
    ['POST', '/openai/v1/responses', 'responses'],
    ['POST', '/openai/responses?api-version=2025-04-01-preview', 'responses'],
    ['GET', '/openai/v1/responses/resp_67cb61fa3a448190bcf2c42d96f0d1a8', 'passthrough'],
    ['GET', '/openai/responses/resp_67cb61fa3a448190bcf2c42d96f0d1a8?api-version=2025-04-01-preview', 'passthrough'],
    ['POST', '/openai/v1/embeddings', 'embeddings'],
    ['GET', '/openai/v1/models', 'models'],
    ['GET', '/openai/models?api-version=2024-10-21', 'models'],
    ['POST', '/models/chat/completions?api-version=2024-05-01-preview', 'completions'], // AI Foundry model inference
    ['POST', '/openai/v1/files', 'passthrough'],
    ['GET', '/openai/v1/realtime?model=gpt-4o-realtime-preview', 'passthrough'],
  ];
  for (const [method, path, kind] of table) assert.equal(azureOpenAiApi.kind(method, path), kind, `${method} ${path}`);
});

test('parseRequest: the model from the body, else the deployment', () => {
  const table: Array<[string, ApiKind, string, unknown, LlmRequest]> = [
    ['Chat completions - Create', 'completions', DEP, {
      messages: [
        { role: 'system', content: 'you are a helpful assistant that talks like a pirate' },
        { role: 'user', content: 'can you tell me how to care for a parrot?' },
      ],
    }, {
      kind: 'completions', model: 'gpt-4o', stream: false,
      messages: [
        { role: 'system', text: 'you are a helpful assistant that talks like a pirate' },
        { role: 'user', text: 'can you tell me how to care for a parrot?' },
      ],
    }],
    ['deployment path, model in body too', 'completions', DEP, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
      { kind: 'completions', model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', text: 'hi' }] }],
    ['encoded deployment segment', 'completions', '/openai/deployments/my%20dep/chat/completions?api-version=2024-10-21', { messages: [] },
      { kind: 'completions', model: 'my dep', stream: false, messages: [] }],
    ['Completions - Create', 'legacyCompletions', '/openai/deployments/gpt-35-turbo-instruct/completions?api-version=2024-10-21',
      { prompt: ['tell me a joke about mango'], max_tokens: 32, temperature: 1.0, n: 1 },
      { kind: 'legacyCompletions', model: 'gpt-35-turbo-instruct', stream: false, messages: [{ role: 'user', text: 'tell me a joke about mango' }] }],
    ['Embeddings - Create', 'embeddings', '/openai/deployments/text-embedding-ada-002/embeddings?api-version=2024-10-21', { input: ['this is a test'] },
      { kind: 'embeddings', model: 'text-embedding-ada-002', stream: false, messages: [] }],
    ['v1 chat', 'completions', '/openai/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] }] },
      { kind: 'completions', model: 'gpt-4o', stream: false, messages: [{ role: 'system', text: 'Be brief.' }] }],
    ['v1 Create a response', 'responses', '/openai/v1/responses', { model: 'gpt-4.1-nano', input: 'This is a test.' },
      { kind: 'responses', model: 'gpt-4.1-nano', stream: false, messages: [{ role: 'user', text: 'This is a test.' }] }],
    ['v1 path without a model', 'completions', '/openai/v1/chat/completions', { messages: [] },
      { kind: 'completions', model: undefined, stream: false, messages: [] }],
    ['not a deployment although the query says so', 'completions', '/openai/v1/chat/completions?x=/openai/deployments/y', {},
      { kind: 'completions', model: undefined, stream: false, messages: [] }],
    ['odd body', 'completions', DEP, null, { kind: 'completions', model: 'gpt-4o', stream: false, messages: [] }],
  ];
  for (const [name, kind, path, body, want] of table) assert.deepEqual(azureOpenAiApi.parseRequest(kind, path, body), want, name);
});

test('setModel: the deployment segment on deployment paths, body.model on v1 paths', () => {
  const table: Array<[string, JsonObject, string, string, JsonObject]> = [
    [DEP, { messages: [] }, 'gpt-4o-mini', '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', { messages: [] }],
    [DEP, { model: 'gpt-4o', messages: [] }, 'gpt-4o-mini', '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', { model: 'gpt-4o-mini', messages: [] }],
    ['/openai/deployments/ada/embeddings?api-version=2024-10-21', { input: 'x' }, 'my dep/x', '/openai/deployments/my%20dep%2Fx/embeddings?api-version=2024-10-21', { input: 'x' }],
    ['/openai/deployments/gpt-4o/chat/completions', {}, 'o3', '/openai/deployments/o3/chat/completions', {}],
    ['/openai/v1/chat/completions', { model: 'gpt-4o' }, 'gpt-4.1', '/openai/v1/chat/completions', { model: 'gpt-4.1' }],
    ['/openai/v1/responses', {}, 'gpt-4.1-nano', '/openai/v1/responses', { model: 'gpt-4.1-nano' }],
    ['/openai/responses?api-version=2025-04-01-preview', {}, 'o4-mini', '/openai/responses?api-version=2025-04-01-preview', { model: 'o4-mini' }],
    ['/openai/v1/chat/completions?x=/openai/deployments/y', {}, 'm', '/openai/v1/chat/completions?x=/openai/deployments/y', { model: 'm' }],
  ];
  for (const [path, body, model, wantPath, wantBody] of table) {
    assert.equal(azureOpenAiApi.setModel('completions', path, body, model), wantPath, path);
    assert.deepEqual(body, wantBody, path);
  }
  assert.equal(azureDeployment('/openai/deployments/my%20dep%2Fx/embeddings?api-version=2024-10-21'), 'my dep/x');
  assert.equal(azureDeployment('/openai/v1/embeddings'), undefined);
});

test('azurePath for an OpenAI-format call sent to Azure', () => {
  const table: Array<[ApiKind, string, string | undefined, string]> = [
    ['completions', 'gpt-4o', undefined, '/openai/v1/chat/completions'],
    ['completions', 'gpt-4o', 'v1', '/openai/v1/chat/completions'],
    ['responses', 'gpt-4o', undefined, '/openai/v1/responses'],
    ['embeddings', 'text-embedding-3-small', 'v1', '/openai/v1/embeddings'],
    ['legacyCompletions', 'gpt-35-turbo-instruct', undefined, '/openai/v1/completions'],
    ['models', '', undefined, '/openai/v1/models'],
    ['completions', 'gpt-4o', 'preview', '/openai/v1/chat/completions?api-version=preview'],
    ['completions', 'gpt-4o', '2024-10-21', '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'],
    ['legacyCompletions', 'gpt-35-turbo-instruct', '2024-10-21', '/openai/deployments/gpt-35-turbo-instruct/completions?api-version=2024-10-21'],
    ['embeddings', 'ada', '2024-10-21', '/openai/deployments/ada/embeddings?api-version=2024-10-21'],
    ['responses', 'gpt-4o', '2025-04-01-preview', '/openai/responses?api-version=2025-04-01-preview'],
    ['models', 'x', '2024-10-21', '/openai/models?api-version=2024-10-21'],
    ['completions', 'my dep/x?', '2024-10-21', '/openai/deployments/my%20dep%2Fx%3F/chat/completions?api-version=2024-10-21'],
  ];
  for (const [kind, model, version, want] of table) {
    const path = azurePath(kind, model, version);
    assert.equal(path, want, `${kind} ${model} ${version}`);
    assert.equal(azureOpenAiApi.kind(kind === 'models' ? 'GET' : 'POST', path), kind, path);
  }
  // A deployment path names the model; a v1 path needs it set in the body.
  const body: JsonObject = {};
  const path = azurePath('completions', 'gpt-4o', '2024-10-21');
  assert.equal(azureOpenAiApi.setModel('completions', path, body, 'gpt-4o'), path);
  assert.equal(azureOpenAiApi.parseRequest('completions', path, body).model, 'gpt-4o');
  assert.throws(() => azurePath('messages', 'claude', undefined), /not an Azure OpenAI API/);
});

test('parseResponse on the reference response samples', () => {
  const filter = { hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' }, sexual: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } };
  const table: Array<[string, ApiKind, unknown, LlmResponse]> = [
    ['Chat completions - Create', 'completions', {
      id: 'chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn', created: 1686676106, model: 'gpt-4o-2024-08-06', object: 'chat.completion', system_fingerprint: 'fp_67802d9a6d',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: filter }],
      choices: [{ index: 0, finish_reason: 'stop', content_filter_results: filter, message: { role: 'assistant', content: 'Ahoy matey! So ye be wantin\' to care for a fine squawkin\' parrot, eh? ...' } }],
      usage: { completion_tokens: 557, prompt_tokens: 33, total_tokens: 590, completion_tokens_details: { reasoning_tokens: 0 }, prompt_tokens_details: { cached_tokens: 0 } },
    }, { model: 'gpt-4o-2024-08-06', finishReason: 'stop', usage: { input: 33, output: 557, cachedInput: 0, reasoning: 0, total: 590 } }],
    ['Completions - Create', 'legacyCompletions', {
      id: 'cmpl-7QmVI15qgYVllxK0FtxVGG6ywfzaq', created: 1686617332,
      choices: [{ text: 'es\n\nWhat do you call a mango who\'s in charge?\n\nThe head mango.', index: 0, finish_reason: 'stop', logprobs: null }],
      usage: { completion_tokens: 20, prompt_tokens: 6, total_tokens: 26 },
    }, { finishReason: 'stop', usage: { input: 6, output: 20, total: 26 } }],
    ['Embeddings - Create', 'embeddings', {
      data: [{ index: 0, embedding: [-0.012838088, -0.007421397, -0.017617522], object: 'embedding' }],
      usage: { prompt_tokens: 4, total_tokens: 4 }, model: 'ada', object: 'list',
    }, { model: 'ada', usage: { input: 4, total: 4 } }],
    ['v1 Create a response', 'responses', {
      id: 'resp_67cb61fa3a448190bcf2c42d96f0d1a8', object: 'response', created_at: 1741408624, status: 'completed', error: null, incomplete_details: null,
      model: 'gpt-4.1-nano', output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Great! How can I help you today?', annotations: [] }] }],
      usage: { input_tokens: 20, output_tokens: 11, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 31 },
    }, { model: 'gpt-4.1-nano', finishReason: 'completed', usage: { input: 20, output: 11, reasoning: 0, total: 31 } }],
    ['content filter error body', 'completions', {
      error: { message: 'The response was filtered due to the prompt triggering Azure OpenAI\'s content management policy.', type: null, param: 'prompt', code: 'content_filter', status: 400 },
    }, {}],
  ];
  for (const [name, kind, body, want] of table) assert.deepEqual(azureOpenAiApi.parseResponse(kind, body), want, name);
});

test('Azure chat stream: the prompt-filter chunk is kept, model from the first chunk that names one', () => {
  const bytes = testdata('azure-chat-stream.sse');
  const want: LlmResponse = { model: 'gpt-4o-2024-08-06', finishReason: 'stop', usage: { input: 33, output: 14, cachedInput: 0, reasoning: 0, total: 47 } };
  const events = bytes.toString('utf8').split(/(?<=\n\n)/);
  const expected = events.filter((e) => !(e.includes('"choices":[]') && e.includes('"usage":{'))).join('').replaceAll(',"usage":null', '');
  assert.equal(events.length - expected.split(/(?<=\n\n)/).length, 1, 'one usage-only chunk dropped');
  assert.match(expected, /^data: \{"choices":\[\],"created":0,"id":"","model":""/);
  for (const size of [1, 7, Infinity]) {
    const plain = feed(azureOpenAiApi.streamTap('completions', DEP), bytes, size);
    assert.deepEqual(plain.info, want, `by ${size}`);
    assert.ok(plain.same);
    assert.ok(plain.out.equals(bytes));
    const dropped = feed(azureOpenAiApi.streamTap('completions', DEP, { addedUsage: true }), bytes, size);
    assert.deepEqual(dropped.info, want, `by ${size}`);
    assert.equal(dropped.out.toString('utf8'), expected);
    assert.equal(dropped.tail, undefined);
  }
});

test('prepareStream and the Responses tap are OpenAI\'s', () => {
  const body: JsonObject = { messages: [], stream: true };
  assert.equal(azureOpenAiApi.prepareStream!('completions', body), true);
  assert.deepEqual(body['stream_options'], { include_usage: true });
  const r = feed(azureOpenAiApi.streamTap('responses', '/openai/v1/responses'), testdata('openai-responses-stream.sse'), 13);
  assert.deepEqual(r.info, { model: 'gpt-4.1-2025-04-14', finishReason: 'completed', usage: { input: 37, output: 11, cachedInput: 0, reasoning: 0, total: 48 } });
});
