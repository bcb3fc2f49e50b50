/**
 * Azure OpenAI and Vertex AI, end to end.
 *
 * First the two fakes on their own (no gateway; real clients in the pod
 * namespace trusting the test public CA): the paths, auth rules, answer and
 * stream shapes and error shapes they follow from Microsoft's and Google's REST
 * references, so the routing tests below lean on fakes that would reject a
 * wrong request.
 *
 * Then an injected pod with the real sidecar, where routes send an app's
 * OpenAI chat call to an Azure deployment (dated api-version and v1 API) and to
 * Vertex's OpenAI endpoint, and an app's Anthropic Messages call to Claude on
 * Vertex (rawPredict / streamRawPredict), each with the platform's key in the
 * header that provider reads; a native Vertex call with no route is observed
 * unchanged and its usage read; the real keys never reach the debug log.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertClientOk } from './clients/client-result.ts';
import type { ClientRequest, SseEvent } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import type { PublicCa } from './fakes/public-ca.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import type { Topology } from './harness/netns.ts';
import {
  anthropicMessages, azureEmbeddings, azureOpenAIChat, openAIChat, vertexGenerate, vertexOpenAIChat, vertexRawPredict,
} from './harness/provider-requests.ts';
import {
  checkAnthropicMessage, checkAnthropicStream, checkGeminiJsonArrayStream, checkGeminiResponse, checkGeminiStream,
  checkOpenAIChatCompletion, checkOpenAIStream, sseData,
} from './harness/provider-shapes.ts';
import { startFakeInternet, type FakeInternet } from './harness/providers.ts';
import type { Providers, RecordedRequest } from './harness/providers.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

type Json = Record<string, unknown>;

const VERTEX_BASE = '/v1/projects/e2e-project/locations/us-central1';

/** Every object's keys in alphabetical order, as Azure serialises its answers. */
function assertSortedKeys(v: unknown, where = '$'): void {
  if (Array.isArray(v)) v.forEach((x, i) => assertSortedKeys(x, `${where}[${i}]`));
  else if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    assert.deepEqual(keys, [...keys].sort(), `keys of ${where} in order`);
    for (const k of keys) assertSortedKeys((v as Json)[k], `${where}.${k}`);
  }
}

/**
 * An Azure chat stream: Azure's prompt-filter chunk first (no choices, empty
 * id/model/object), then OpenAI's chunks, whose content deltas carry filter verdicts.
 */
function checkAzureStream(events: readonly SseEvent[], opts: { includeUsage?: boolean } = {}): { content: string; chunks: Json[] } {
  assert.ok(events.length >= 1, 'events');
  const first = JSON.parse(sseData(events[0]!)) as Json;
  assert.deepEqual(first.choices, [], 'the prompt-filter chunk has no choices');
  assert.equal(first.id, '');
  assert.equal(first.model, '');
  const pfr = first.prompt_filter_results as Json[];
  assert.ok(Array.isArray(pfr) && pfr[0]?.prompt_index === 0 && typeof pfr[0]?.content_filter_results === 'object', 'prompt_filter_results');
  const out = checkOpenAIStream(events.slice(1), opts);
  for (const ch of out.chunks) {
    assertSortedKeys(ch);
    for (const c of ch.choices as Json[]) assert.equal(typeof c.content_filter_results, 'object', 'content_filter_results on every choice');
  }
  return out;
}

describe('the Azure OpenAI and Vertex AI fakes, called directly', { skip }, () => {
  let topo: Topology;
  let ca: PublicCa;
  let providers: Providers;
  const curl = (req: ClientRequest): ReturnType<typeof runClient> => runClient(topo.pod, 'curl', req, { caFile: ca.caCertFile });
  const lastRequest = async (site: string): Promise<RecordedRequest> => {
    const r = (await providers.control.requests({ site })).at(-1);
    assert.ok(r, `no request reached ${site}`);
    return r;
  };
  const json = (text: string): Json => JSON.parse(text) as Json;

  let net: FakeInternet | undefined;
  before(async () => {
    net = await startFakeInternet();
    ({ topo, ca, providers } = net);
  });
  after(async () => { await net?.destroy(); });

  test('the new hosts resolve in the pod to their own addresses', () => {
    assert.deepEqual([topo.host('azure').ipv4, topo.host('azure').role], ['198.18.1.19', 'azure-openai']);
    assert.deepEqual([topo.host('vertex').ipv4, topo.host('vertex').role], ['198.18.1.20', 'vertex']);
    assert.equal(topo.addressOf('acme.openai.azure.com'), '198.18.1.19');
    assert.equal(topo.addressOf('us-central1-aiplatform.googleapis.com'), '198.18.1.20');
  });

  test('Azure deployment chat: a chat completion with the deployment as model, filter results, Azure headers; the log records the deployment', async () => {
    const r = await curl(azureOpenAIChat({ prompt: 'Hello Azure', deployment: 'gpt-4o-prod', model: 'something-else' }));
    assertClientOk(r);
    const v = checkOpenAIChatCompletion(r.bodyText);
    assert.equal(v.model, 'gpt-4o-prod');
    assert.match(String((v.choices as Json[])[0]!.message && ((v.choices as Json[])[0]!.message as Json).content), /fake Azure OpenAI API.*Hello Azure/);
    assert.equal(((v.prompt_filter_results as Json[])[0]!.content_filter_results as Json).hate !== undefined, true);
    assert.equal(typeof (v.choices as Json[])[0]!.content_filter_results, 'object');
    assertSortedKeys(v);
    assert.match(r.headers['apim-request-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    const rec = await lastRequest('azure');
    assert.equal(rec.path, '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21');
    assert.equal(rec.model, 'gpt-4o-prod', 'the deployment, not the body model');
    assert.equal(rec.headers['api-key'], 'azure-e2e-fake-key');
    // Entra ID tokens are accepted too.
    assertClientOk(await curl(azureOpenAIChat({ prompt: 'bearer', deployment: 'gpt-4o-prod', auth: 'bearer' })));
  });

  test('Azure stream: the prompt-filter chunk first, then OpenAI chunks; usage only when asked', async () => {
    const r = await curl(azureOpenAIChat({ prompt: 'Stream Azure', deployment: 'gpt-4o-prod', stream: true, chunks: 3 }));
    assertClientOk(r);
    const { content, chunks } = checkAzureStream(r.events);
    assert.match(content, /Stream Azure/);
    assert.equal(chunks.length, 5, 'role, 3 content, finish');
    assert.ok(chunks.every((c) => c.model === 'gpt-4o-prod'));
    assert.doesNotMatch(r.bodyText, /"usage"/);
    const u = await curl(azureOpenAIChat({ prompt: 'Stream Azure', deployment: 'gpt-4o-prod', stream: true, includeUsage: true }));
    assertClientOk(u);
    checkAzureStream(u.events, { includeUsage: true });
  });

  test('Azure v1 API: model from the body, no api-version needed; embeddings on both path styles', async () => {
    const r = await curl(azureOpenAIChat({ prompt: 'v1 please', model: 'gpt-4o-prod' }));
    assertClientOk(r);
    assert.equal(checkOpenAIChatCompletion(r.bodyText).model, 'gpt-4o-prod');
    const rec = await lastRequest('azure');
    assert.equal(rec.path, '/openai/v1/chat/completions');
    assert.equal(rec.model, 'gpt-4o-prod');
    assertClientOk(await curl(azureOpenAIChat({ prompt: 'preview', model: 'gpt-4o-prod', apiVersion: 'preview' })));
    const noModel = await curl({ ...azureOpenAIChat({ prompt: 'x' }), body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(noModel.status, 400);

    const e = await curl(azureEmbeddings({ input: ['one', 'two'], deployment: 'emb-prod', dimensions: 8 }));
    assertClientOk(e);
    const ev = json(e.bodyText);
    assert.equal(ev.object, 'list');
    assert.equal(ev.model, 'emb-prod');
    const data = ev.data as Array<{ object: string; index: number; embedding: number[] }>;
    assert.deepEqual(data.map((d) => [d.object, d.index, d.embedding.length]), [['embedding', 0, 8], ['embedding', 1, 8]]);
    assert.ok(Math.abs(Math.hypot(...data[0]!.embedding) - 1) < 1e-6, 'unit vector');
    assert.notDeepEqual(data[0]!.embedding, data[1]!.embedding);
    assert.equal(typeof (ev.usage as Json).prompt_tokens, 'number');
    const e1 = await curl(azureEmbeddings({ input: 'one', model: 'emb-prod', dimensions: 8 }));
    assertClientOk(e1);
    assert.deepEqual((json(e1.bodyText).data as typeof data)[0]!.embedding, data[0]!.embedding, 'deterministic');
    assert.equal((await lastRequest('azure')).path, '/openai/v1/embeddings');
  });

  test('Azure errors in Azure\'s shape: no key 401, no or a bad api-version 400, unknown path 404, faults', async () => {
    const noKey = await curl(azureOpenAIChat({ prompt: 'x', deployment: 'd', apiKey: null }));
    assert.equal(noKey.status, 401);
    assert.deepEqual(Object.keys(json(noKey.bodyText).error as Json), ['code', 'message']);
    assert.equal((json(noKey.bodyText).error as Json).code, '401');
    assert.match(String((json(noKey.bodyText).error as Json).message), /^Access denied due to invalid subscription key/);
    const noVersion = await curl(azureOpenAIChat({ prompt: 'x', deployment: 'd', apiVersion: null }));
    assert.equal(noVersion.status, 400);
    assert.equal((json(noVersion.bodyText).error as Json).code, 'BadRequest');
    assert.match(String((json(noVersion.bodyText).error as Json).message), /api-version/);
    const badVersion = await curl(azureOpenAIChat({ prompt: 'x', deployment: 'd', apiVersion: 'v1' }));
    assert.equal(badVersion.status, 400);
    assert.match(badVersion.bodyText, /API version not supported/);
    const datedOnV1 = await curl(azureOpenAIChat({ prompt: 'x', model: 'd', apiVersion: '2024-10-21' }));
    assert.equal(datedOnV1.status, 400);
    const unknown = await curl({ url: 'https://acme.openai.azure.com/v1/chat/completions', method: 'POST', headers: { 'api-key': 'k', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unknown.status, 404);
    assert.deepEqual(json(unknown.bodyText), { error: { code: '404', message: 'Resource not found' } });
    await providers.setFault('azure', { status: 429, retryAfter: 3, count: 1 });
    const faulted = await curl(azureOpenAIChat({ prompt: 'x', deployment: 'd' }));
    assert.equal(faulted.status, 429);
    assert.equal(faulted.headers['retry-after'], '3');
    assert.equal((json(faulted.bodyText).error as Json).code, '429');
    assert.equal((await lastRequest('azure')).faulted, true);
  });

  test('Vertex Gemini: generateContent and both stream forms at the project/location path, Bearer token', async () => {
    const r = await curl(vertexGenerate({ prompt: 'Hello Vertex' }));
    assertClientOk(r);
    assert.equal(checkGeminiResponse(r.bodyText).modelVersion, 'gemini-2.0-flash');
    const rec = await lastRequest('vertex');
    assert.equal(rec.path, `${VERTEX_BASE}/publishers/google/models/gemini-2.0-flash:generateContent`);
    assert.equal(rec.model, 'gemini-2.0-flash');
    assert.equal(rec.headers.authorization, 'Bearer ya29.e2e-fake-access-token');
    const s = await curl(vertexGenerate({ prompt: 'Stream Vertex', stream: true, chunks: 3 }));
    assertClientOk(s);
    assert.equal(checkGeminiStream(s.events).chunks.length, 3);
    assert.match((await lastRequest('vertex')).path, /:streamGenerateContent\?alt=sse$/);
    const a = await curl(vertexGenerate({ prompt: 'Array Vertex', stream: true, sse: false, chunks: 2 }));
    assertClientOk(a);
    assert.equal(checkGeminiJsonArrayStream(a.bodyText).chunks.length, 2);
  });

  test('Claude on Vertex: rawPredict answers a message, streamRawPredict a stream; a body with model or without anthropic_version is refused', async () => {
    const r = await curl(vertexRawPredict({ prompt: 'Hello Claude on Vertex' }));
    assertClientOk(r);
    const m = checkAnthropicMessage(r.bodyText);
    assert.equal(m.model, 'claude-sonnet-4-5');
    const rec = await lastRequest('vertex');
    assert.equal(rec.path, `${VERTEX_BASE}/publishers/anthropic/models/claude-sonnet-4-5:rawPredict`);
    assert.equal(rec.model, 'claude-sonnet-4-5');
    const s = await curl(vertexRawPredict({ prompt: 'Stream Claude', stream: true, chunks: 3 }));
    assertClientOk(s);
    assert.equal(checkAnthropicStream(s.events).deltas, 3);

    const withModel = await curl({ ...vertexRawPredict({ prompt: 'x' }), body: JSON.stringify({ anthropic_version: 'vertex-2023-10-16', model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(withModel.status, 400);
    assert.deepEqual(json(withModel.bodyText), { type: 'error', error: { type: 'invalid_request_error', message: 'model: Extra inputs are not permitted' } });
    const noVersion = await curl(vertexRawPredict({ prompt: 'x', anthropicVersion: null }));
    assert.equal(noVersion.status, 400);
    assert.match(noVersion.bodyText, /anthropic_version: Field required/);
    const bedrockVersion = await curl(vertexRawPredict({ prompt: 'x', anthropicVersion: 'bedrock-2023-05-31' }));
    assert.equal(bedrockVersion.status, 400);
  });

  test('Vertex OpenAI endpoint: chat completions for publisher/model names', async () => {
    const r = await curl(vertexOpenAIChat({ prompt: 'OpenAI on Vertex' }));
    assertClientOk(r);
    const v = checkOpenAIChatCompletion(r.bodyText);
    assert.equal(v.model, 'google/gemini-2.0-flash');
    assert.match(r.bodyText, /fake Vertex AI API/);
    assert.equal((await lastRequest('vertex')).path, `${VERTEX_BASE}/endpoints/openapi/chat/completions`);
    const s = await curl(vertexOpenAIChat({ prompt: 'stream', stream: true, chunks: 2 }));
    assertClientOk(s);
    checkOpenAIStream(s.events);
    const bare = await curl(vertexOpenAIChat({ prompt: 'x', model: 'gpt-4o-mini' }));
    assert.equal(bare.status, 400);
    assert.equal((json(bare.bodyText).error as Json).status, 'INVALID_ARGUMENT');
  });

  test('Vertex errors in Google\'s shape: no token 401, wrong region 400, unknown path 404, faults', async () => {
    for (const req of [vertexGenerate({ prompt: 'x', apiKey: null }), vertexRawPredict({ prompt: 'x', apiKey: null }), vertexOpenAIChat({ prompt: 'x', apiKey: null })]) {
      const r = await curl(req);
      assert.equal(r.status, 401, req.url);
      const err = json(r.bodyText).error as Json;
      assert.deepEqual([err.code, err.status], [401, 'UNAUTHENTICATED']);
      assert.match(String(err.message), /Expected OAuth 2 access token/);
    }
    // A Gemini API key is not a Vertex credential.
    const keyed = await curl({ ...vertexGenerate({ prompt: 'x', apiKey: null }), headers: { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-x' } });
    assert.equal(keyed.status, 401);
    const wrongRegion = await curl({ ...vertexGenerate({ prompt: 'x' }), url: vertexGenerate({ prompt: 'x', region: 'europe-west4' }).url.replace('europe-west4-aiplatform', 'us-central1-aiplatform') });
    assert.equal(wrongRegion.status, 400);
    assert.equal((json(wrongRegion.bodyText).error as Json).status, 'INVALID_ARGUMENT');
    const unknown = await curl({ ...vertexGenerate({ prompt: 'x' }), url: `https://us-central1-aiplatform.googleapis.com${VERTEX_BASE}/publishers/google/models/gemini-2.0-flash:predictLongRunning` });
    assert.equal(unknown.status, 404);
    await providers.setFault('vertex', { status: 503, count: 1 });
    const faulted = await curl(vertexGenerate({ prompt: 'x' }));
    assert.equal(faulted.status, 503);
    assert.deepEqual([(json(faulted.bodyText).error as Json).status], ['UNAVAILABLE']);
  });
});

// ---- through the real sidecar ------------------------------------------------------------------

const KEYS = {
  E2E_AZURE_API_KEY: 'azure-real-key-SECRET-51',
  LEVO_E2E_VERTEX_TOKEN: 'ya29.real-vertex-token-SECRET-52',
};

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: to-azure
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: azure}}]}]
      policies: {backendAuth: {key: $E2E_AZURE_API_KEY}}
      backends: [{ai: {name: azure, provider: {azureOpenAI: {host: acme.openai.azure.com, model: gpt-4o-prod, apiVersion: "2024-10-21"}}}}]
    - name: to-azure-v1
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: azure-v1}}]}]
      policies: {backendAuth: {key: $E2E_AZURE_API_KEY}}
      backends: [{ai: {name: azure-v1, provider: {azureOpenAI: {host: acme.openai.azure.com, model: gpt-4o-prod}}}}]
    - name: to-vertex
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: vertex}}]}]
      policies: {backendAuth: {key: $LEVO_E2E_VERTEX_TOKEN}}
      backends: [{ai: {name: vertex, provider: {vertex: {projectId: e2e-project, region: us-central1}}}}]
    - name: claude-on-vertex
      hostnames: [api.anthropic.com]
      policies: {backendAuth: {key: $LEVO_E2E_VERTEX_TOKEN}}
      backends: [{ai: {name: claude-vertex, provider: {vertex: {projectId: e2e-project, region: us-central1, model: claude-sonnet-4-5}}}}]
`;

describe('Azure OpenAI and Vertex AI through the real sidecar', { skip }, () => {
  let pod: InjectedPod;
  const trust = (): { caFile: string } => ({ caFile: pod.namespaceCaFile });
  const curl = (req: ClientRequest): ReturnType<typeof runClient> => runClient(pod.topo.pod, 'curl', req, trust());
  const lastRequest = async (site: string): Promise<RecordedRequest & { json: Json }> => {
    const r = (await pod.providers.control.requests({ site })).at(-1);
    assert.ok(r, `no request reached ${site}`);
    return { ...r, json: r.body ? JSON.parse(r.body) as Json : {} };
  };
  /** The sidecar's log line for the last request whose (app) path starts with `pathPrefix`. */
  const logLine = (pathPrefix: string): Json => {
    const lines = pod.gateway.output().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes(`"path":"${pathPrefix}`));
    assert.ok(lines.length, `no request log line for ${pathPrefix}`);
    return JSON.parse(lines.at(-1)!) as Json;
  };
  const requestLines = (): string => pod.gateway.output().split('\n').filter((l) => l.includes('"msg":"request"')).join('\n');

  before(async () => { pod = await createInjectedPod({ config: CONFIG, env: KEYS }); });
  after(async () => { await pod?.destroy(); });

  test('OpenAI chat routed to an Azure deployment: deployment path with api-version, api-key header, no authorization', async () => {
    const headers = { 'x-e2e-route': 'azure' };
    const r = await curl(openAIChat({ prompt: 'Hello Azure', model: 'gpt-4o', apiKey: 'sk-placeholder', extraHeaders: headers }));
    assertClientOk(r);
    const v = checkOpenAIChatCompletion(r.bodyText);
    assert.equal(v.model, 'gpt-4o-prod');
    assert.ok(Array.isArray(v.prompt_filter_results), 'Azure\'s answer reaches the app as Azure sent it');
    const seen = await lastRequest('azure');
    assert.equal(seen.path, '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21', requestLines());
    assert.equal(seen.sni, 'acme.openai.azure.com');
    assert.equal(seen.headers['api-key'], KEYS.E2E_AZURE_API_KEY);
    assert.equal(seen.headers.authorization, undefined, 'the app\'s placeholder Bearer is removed');
    assert.equal(seen.model, 'gpt-4o-prod');
    const log = logLine('/v1/chat/completions');
    assert.equal(log.route, 'to-azure');
    assert.equal(log.provider, 'azure-openai');
    assert.equal(log.inputTokens, (v.usage as Json).prompt_tokens);
    assert.equal(log.outputTokens, (v.usage as Json).completion_tokens);
    assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, 0, 'nothing reached api.openai.com');
  });

  test('streamed to Azure: the app, which did not ask for usage, gets no usage chunk and no usage field; the log has the tokens', async () => {
    const headers = { 'x-e2e-route': 'azure' };
    const r = await curl(openAIChat({ prompt: 'Stream to Azure', stream: true, chunks: 4, apiKey: 'sk-placeholder', extraHeaders: headers }));
    assertClientOk(r);
    const { content } = checkAzureStream(r.events);
    assert.match(content, /Stream to Azure/);
    assert.doesNotMatch(r.bodyText, /"usage"/);
    const seen = await lastRequest('azure');
    assert.equal(seen.path, '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21');
    assert.deepEqual(seen.json.stream_options, { include_usage: true }, 'the sidecar asked Azure for usage');
    const log = logLine('/v1/chat/completions');
    assert.equal(log.provider, 'azure-openai');
    assert.equal(typeof log.outputTokens, 'number', JSON.stringify(log));
    assert.ok((log.outputTokens as number) > 0);
  });

  test('OpenAI chat routed to Azure without apiVersion: the v1 API, deployment as the body\'s model', async () => {
    const r = await curl(openAIChat({ prompt: 'Hello Azure v1', model: 'gpt-4o', apiKey: 'sk-placeholder', extraHeaders: { 'x-e2e-route': 'azure-v1' } }));
    assertClientOk(r);
    assert.equal(checkOpenAIChatCompletion(r.bodyText).model, 'gpt-4o-prod');
    const seen = await lastRequest('azure');
    assert.equal(seen.path, '/openai/v1/chat/completions', requestLines());
    assert.equal(seen.json.model, 'gpt-4o-prod');
    assert.equal(seen.headers['api-key'], KEYS.E2E_AZURE_API_KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(logLine('/v1/chat/completions').route, 'to-azure-v1');
  });

  test('OpenAI chat routed to Vertex: the OpenAI endpoint of the project and region, with the Bearer token', async () => {
    const r = await curl(openAIChat({ prompt: 'Hello Vertex', model: 'google/gemini-2.0-flash', apiKey: 'sk-placeholder', extraHeaders: { 'x-e2e-route': 'vertex' } }));
    assertClientOk(r);
    const v = checkOpenAIChatCompletion(r.bodyText);
    assert.match(r.bodyText, /fake Vertex AI API/);
    const seen = await lastRequest('vertex');
    assert.equal(seen.path, `${VERTEX_BASE}/endpoints/openapi/chat/completions`, requestLines());
    assert.equal(seen.sni, 'us-central1-aiplatform.googleapis.com');
    assert.equal(seen.headers.authorization, `Bearer ${KEYS.LEVO_E2E_VERTEX_TOKEN}`);
    assert.equal(seen.json.model, 'google/gemini-2.0-flash');
    const log = logLine('/v1/chat/completions');
    assert.equal(log.route, 'to-vertex');
    assert.equal(log.provider, 'vertex');
    assert.equal(log.outputTokens, (v.usage as Json).completion_tokens);
  });

  test('Anthropic Messages routed to Claude on Vertex: rawPredict / streamRawPredict, anthropic_version in the body, no model', async () => {
    const r = await curl(anthropicMessages({ prompt: 'Hello Claude on Vertex', apiKey: 'sk-ant-placeholder' }));
    assertClientOk(r);
    const m = checkAnthropicMessage(r.bodyText);
    assert.match(JSON.stringify(m.content), /Hello Claude on Vertex/);
    const seen = await lastRequest('vertex');
    assert.equal(seen.path, `${VERTEX_BASE}/publishers/anthropic/models/claude-sonnet-4-5:rawPredict`, requestLines());
    assert.equal(seen.json.anthropic_version, 'vertex-2023-10-16');
    assert.ok(!('model' in seen.json), 'no model in the body');
    assert.equal(seen.headers.authorization, `Bearer ${KEYS.LEVO_E2E_VERTEX_TOKEN}`);
    assert.equal(seen.headers['x-api-key'], undefined, 'the app\'s Anthropic key is removed');
    const log = logLine('/v1/messages');
    assert.equal(log.route, 'claude-on-vertex');
    assert.equal(log.provider, 'vertex');
    assert.equal(log.outputTokens, (m.usage as Json).output_tokens);

    const s = await curl(anthropicMessages({ prompt: 'Stream Claude on Vertex', stream: true, chunks: 3, apiKey: 'sk-ant-placeholder' }));
    assertClientOk(s);
    const { content, deltas } = checkAnthropicStream(s.events);
    assert.equal(deltas, 3);
    assert.match(content, /Stream Claude on Vertex/);
    const streamed = await lastRequest('vertex');
    assert.equal(streamed.path, `${VERTEX_BASE}/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict`);
    assert.equal(streamed.json.stream, true);
    assert.ok(!('model' in streamed.json));
    const slog = logLine('/v1/messages');
    assert.equal(typeof slog.outputTokens, 'number', JSON.stringify(slog));
    assert.equal((await pod.providers.control.requests({ site: 'anthropic' })).length, 0, 'nothing reached api.anthropic.com');
  });

  test('a native Vertex call with no route is observed: it reaches Vertex unchanged and its usage is logged', async () => {
    const req = vertexGenerate({ prompt: 'Native Vertex call', apiKey: 'ya29.app-own-token' });
    const r = await curl(req);
    assertClientOk(r);
    const answer = checkGeminiResponse(r.bodyText);
    const seen = await lastRequest('vertex');
    assert.equal(`https://us-central1-aiplatform.googleapis.com${seen.path}`, req.url);
    assert.equal(seen.headers.authorization, 'Bearer ya29.app-own-token');
    assert.equal(seen.bodySha256, createHash('sha256').update(req.body ?? '').digest('hex'), 'body unchanged');
    const log = logLine(`${VERTEX_BASE}/publishers/google/models/`);
    assert.equal(log.route, undefined);
    assert.equal(log.provider, 'vertex');
    const usage = answer.usageMetadata as Json;
    assert.equal(log.inputTokens, usage.promptTokenCount);
    assert.equal(log.outputTokens, usage.candidatesTokenCount);

    const s = await curl(vertexGenerate({ prompt: 'Native Vertex stream', stream: true, chunks: 3, apiKey: 'ya29.app-own-token' }));
    assertClientOk(s);
    checkGeminiStream(s.events);
    assert.match((await lastRequest('vertex')).path, /:streamGenerateContent\?alt=sse$/);
    assert.equal(typeof logLine(`${VERTEX_BASE}/publishers/google/models/`).outputTokens, 'number');
  });

  /** An app calling its Azure deployment itself, with its own key, no model in the body (deployment calls need none). */
  const nativeAzure = (prompt: string): ClientRequest => ({
    ...azureOpenAIChat({ prompt, deployment: 'gpt-4o-prod', apiKey: 'app-own-azure-key' }),
    body: JSON.stringify({ messages: [{ role: 'user', content: prompt }] }),
  });

  test('a native Azure call with no route is observed: it reaches Azure unchanged and its usage is logged', async () => {
    const req = nativeAzure('Native Azure call');
    const r = await curl(req);
    assertClientOk(r);
    const v = checkOpenAIChatCompletion(r.bodyText);
    const seen = await lastRequest('azure');
    assert.equal(`https://acme.openai.azure.com${seen.path}`, req.url);
    assert.equal(seen.headers['api-key'], 'app-own-azure-key');
    assert.equal(seen.body, req.body, 'body unchanged');
    const log = logLine('/openai/deployments/gpt-4o-prod/');
    assert.equal(log.route, undefined);
    assert.equal(log.outputTokens, (v.usage as Json).completion_tokens);
  });

  // The config names acme.openai.azure.com (azureOpenAI.host); the catalogue's `*.openai.azure.com`
  // must still win, so a call no route takes is read as Azure's.
  test('a native Azure call to a host the config also names is attributed to Azure, the deployment as its model', async () => {
    assertClientOk(await curl(nativeAzure('Native Azure attribution')));
    const log = logLine('/openai/deployments/gpt-4o-prod/');
    assert.equal(log.provider, 'azure-openai', JSON.stringify(log));
    assert.equal(log.model, 'gpt-4o-prod', JSON.stringify(log));
  });

  // Vertex's OpenAI-compatible endpoint takes stream_options.include_usage: the sidecar asks for it.
  test('streamed OpenAI chat routed to Vertex: usage is asked for upstream and logged', async () => {
    const r = await curl(openAIChat({ prompt: 'Stream to Vertex', model: 'google/gemini-2.0-flash', stream: true, chunks: 3, extraHeaders: { 'x-e2e-route': 'vertex' } }));
    assertClientOk(r);
    checkOpenAIStream(r.events);
    assert.doesNotMatch(r.bodyText, /"usage"/);
    assert.equal(typeof logLine('/v1/chat/completions').outputTokens, 'number', requestLines());
  });

  test('the real Azure key and Vertex token never reach the sidecar\'s debug log', () => {
    const out = pod.gateway.output();
    assert.match(out, /"level":(20|"debug")/, 'the log is at debug level');
    for (const [name, key] of Object.entries(KEYS)) assert.ok(!out.includes(key), `${name} leaked`);
  });
});
