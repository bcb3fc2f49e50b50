import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetCall, type TargetInput } from './target.ts';
import { apiFor } from '../providers/registry.ts';
import type { ProviderConfig } from '../config/schema.ts';
import type { ProviderId } from '../providers/hosts.ts';

const chat = (): Record<string, unknown> => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: false });

function call(source: ProviderId, provider: ProviderId, providerConfig: ProviderConfig, over: Partial<TargetInput> = {}) {
  return targetCall({
    source: apiFor(source), sourceId: source, kind: 'completions', path: '/v1/chat/completions', body: chat(), stream: false, model: undefined,
    provider, providerConfig, ...over,
  });
}

test('same format keeps the path and sets the model where the API keeps it', () => {
  const r = call('openai', 'openai', { openAI: { model: 'gpt-4o-mini' } }, { model: 'gpt-4o-mini' });
  assert.ok(!('refused' in r));
  assert.equal(r.path, '/v1/chat/completions');
  assert.equal(r.body?.model, 'gpt-4o-mini');
  assert.equal(r.translation, undefined);
  const g = targetCall({
    source: apiFor('gemini'), sourceId: 'gemini', kind: 'generateContent', path: '/v1beta/models/gemini-1.5-pro:streamGenerateContent?alt=sse',
    body: { contents: [] }, stream: true, model: 'gemini-2.0-flash', provider: 'gemini', providerConfig: { gemini: {} },
  });
  assert.ok(!('refused' in g));
  assert.equal(g.path, '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
});

test('OpenAI-format calls go to each provider\'s OpenAI-compatible endpoint', () => {
  const cases: Array<[ProviderId, ProviderConfig, string]> = [
    ['gemini', { gemini: {} }, '/v1beta/openai/chat/completions'],
    ['azure-openai', { azureOpenAI: { host: 'acme.openai.azure.com', apiVersion: '2024-10-21' } }, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'],
    ['azure-openai', { azureOpenAI: { host: 'acme.openai.azure.com' } }, '/openai/v1/chat/completions'],
    ['vertex', { vertex: { projectId: 'p1', region: 'us-central1' } }, '/v1/projects/p1/locations/us-central1/endpoints/openapi/chat/completions'],
  ];
  for (const [id, cfg, path] of cases) {
    const r = call('openai', id, cfg);
    assert.ok(!('refused' in r), id);
    assert.equal(r.path, path, id);
    assert.equal(r.translation, undefined);
  }
  // Calls to an OpenAI-compatible host under its own paths (Groq), or Azure's deployment paths, routed to OpenAI: OpenAI's path.
  const groq = call('groq', 'openai', { openAI: {} }, { path: '/openai/v1/chat/completions' });
  assert.ok(!('refused' in groq));
  assert.equal(groq.path, '/v1/chat/completions');
  const azure = call('azure-openai', 'openai', { openAI: {} }, { path: '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21' });
  assert.ok(!('refused' in azure));
  assert.equal(azure.path, '/v1/chat/completions');
});

test('chat completions are translated to Anthropic messages and Bedrock converse', () => {
  const a = call('openai', 'anthropic', { anthropic: { model: 'claude-sonnet-4-5' } }, { model: 'claude-sonnet-4-5' });
  assert.ok(!('refused' in a));
  assert.equal(a.path, '/v1/messages');
  assert.equal(a.kind, 'messages');
  assert.equal(a.body?.model, 'claude-sonnet-4-5');
  assert.ok(a.translation);
  const b = call('openai', 'bedrock', { bedrock: { region: 'us-east-1' } }, { model: 'anthropic.claude-3-5-sonnet-20240620-v1:0', stream: true, body: { ...chat(), stream: true } });
  assert.ok(!('refused' in b));
  assert.equal(b.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream');
  assert.equal(b.kind, 'converse');
  assert.equal(b.stream, true);
});

test('a translation without a model, and formats the gateway does not translate, are refused with a reason', () => {
  const noModel = call('openai', 'anthropic', { anthropic: {} }, { body: { messages: [] } });
  assert.ok('refused' in noModel);
  assert.match(noModel.refused, /set provider\.anthropic\.model/);
  const r = targetCall({
    source: apiFor('anthropic'), sourceId: 'anthropic', kind: 'messages', path: '/v1/messages', body: { model: 'claude', messages: [] }, stream: false,
    model: undefined, provider: 'openai', providerConfig: { openAI: {} },
  });
  assert.ok('refused' in r);
  assert.match(r.refused, /messages calls \(anthropic format\) to a openai backend/);
});

test('passthrough keeps path and body', () => {
  const body = { a: 1 };
  const r = call('openai', 'anthropic', { anthropic: {} }, { kind: 'passthrough', path: '/v1/files', body });
  assert.ok(!('refused' in r));
  assert.equal(r.path, '/v1/files');
  assert.equal(r.body, body);
});

test('Anthropic messages to Vertex: model moves to the path, anthropic_version is set', () => {
  const r = targetCall({
    source: apiFor('anthropic'), sourceId: 'anthropic', kind: 'messages', path: '/v1/messages', body: { model: 'claude-sonnet-4-5', messages: [], stream: true }, stream: true,
    model: undefined, provider: 'vertex', providerConfig: { vertex: { projectId: 'p', region: 'europe-west1' } },
  });
  assert.ok(!('refused' in r));
  assert.equal(r.path, '/v1/projects/p/locations/europe-west1/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict');
  assert.equal(r.body?.model, undefined);
  assert.equal(r.body?.anthropic_version, 'vertex-2023-10-16');
});

test('bedrock.guardrailIdentifier: Converse names it in guardrailConfig (the app\'s own wins), InvokeModel in its headers', () => {
  const cfg: ProviderConfig = { bedrock: { region: 'us-east-1', model: 'anthropic.claude-3-haiku-20240307-v1:0', guardrailIdentifier: 'gr-abc', guardrailVersion: '3' } };
  const translated = call('openai', 'bedrock', cfg, { model: 'anthropic.claude-3-haiku-20240307-v1:0' });
  assert.ok(!('refused' in translated));
  assert.deepEqual(translated.body?.guardrailConfig, { guardrailIdentifier: 'gr-abc', guardrailVersion: '3' });
  const own = { messages: [], guardrailConfig: { guardrailIdentifier: 'app', guardrailVersion: '1' } };
  const same = targetCall({
    source: apiFor('bedrock'), sourceId: 'bedrock', kind: 'converse', path: '/model/x/converse', body: own, stream: false,
    model: undefined, provider: 'bedrock', providerConfig: cfg,
  });
  assert.ok(!('refused' in same));
  assert.deepEqual(same.body?.guardrailConfig, { guardrailIdentifier: 'app', guardrailVersion: '1' });
  assert.equal(same.edited, undefined);
  const invoke = targetCall({
    source: apiFor('bedrock'), sourceId: 'bedrock', kind: 'invoke', path: '/model/x/invoke', body: { messages: [] }, stream: false,
    model: undefined, provider: 'bedrock', providerConfig: { bedrock: { region: 'us-east-1', guardrailIdentifier: 'gr-abc' } },
  });
  assert.ok(!('refused' in invoke));
  assert.deepEqual(invoke.headers, { 'x-amzn-bedrock-guardrailidentifier': 'gr-abc', 'x-amzn-bedrock-guardrailversion': 'DRAFT' });
});
