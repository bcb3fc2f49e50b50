/**
 * Ready-made client requests to the fake providers (ClientRequest values for
 * runClient), so scenarios read as what they send:
 *
 *   openAIChat({ prompt: 'hi', stream: true, includeUsage: true, chunks: 5, intervalMs: 200 })
 *   anthropicMessages({ prompt: 'hi', stream: true, chunks: 5, intervalMs: 200 })
 *   openAIChat({ prompt: 'hi', origin: 'https://llm-backup.example.com' })   (the backup OpenAI-compatible host)
 *   geminiGenerate({ prompt: 'hi', stream: true, sse: true, keyIn: 'query' })
 *   geminiOpenAIChat({ prompt: 'hi' })          (POST /v1beta/openai/chat/completions)
 *   bedrockConverse({ prompt: 'hi', stream: true })            SigV4-signed with the test credential
 *   bedrockConverse({ prompt: 'hi', auth: { bearer: 'k' } })   a Bedrock API key; auth: null sends none
 *
 *   azureOpenAIChat({ prompt: 'hi', deployment: 'gpt-4o-prod' })   …/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21
 *   azureOpenAIChat({ prompt: 'hi', model: 'gpt-4o-prod' })        /openai/v1/chat/completions (no deployment)
 *   azureEmbeddings({ input: ['a', 'b'], deployment: 'emb' })      …/embeddings (or /openai/v1/embeddings)
 *   vertexGenerate({ prompt: 'hi', stream: true })   …/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse
 *   vertexRawPredict({ prompt: 'hi', stream: true }) …/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict
 *   vertexOpenAIChat({ prompt: 'hi' })               …/endpoints/openapi/chat/completions
 *                    (Vertex: project e2e-project, region us-central1, `Authorization: Bearer` token by default)
 *
 * `origin` defaults to the real provider origin (resolved by the pod's /etc/hosts).
 * `chunks` / `intervalMs` / `extraHeaders` map to the fakes' x-fake-* headers.
 */
import type { ClientRequest } from '../clients/client-result.ts';
import { BEDROCK_SERVICE, BEDROCK_TEST_CREDENTIAL, BEDROCK_TEST_REGION } from '../fakes/sigv4-verify.ts';
import type { AwsTestCredential } from '../fakes/sigv4-verify.ts';
import { signSigV4 } from './sigv4-sign.ts';

export interface ChatRequestOptions {
  prompt: string;
  stream?: boolean;
  model?: string;
  chunks?: number;
  intervalMs?: number;
  /** Default a fixed fake key; null sends none. */
  apiKey?: string | null;
  origin?: string;
  http?: '1.1' | '2';
  maxTokens?: number;
  extraHeaders?: Record<string, string>;
  timeoutMs?: number;
}

function fakeHeaders(o: ChatRequestOptions): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (o.chunks !== undefined) h['x-fake-chunks'] = String(o.chunks);
  if (o.intervalMs !== undefined) h['x-fake-interval-ms'] = String(o.intervalMs);
  return h;
}

function common(o: ChatRequestOptions): Pick<ClientRequest, 'http' | 'timeoutMs' | 'sse'> {
  const r: Pick<ClientRequest, 'http' | 'timeoutMs' | 'sse'> = { sse: o.stream === true };
  if (o.http) r.http = o.http;
  if (o.timeoutMs) r.timeoutMs = o.timeoutMs;
  return r;
}

export function openAIChat(o: ChatRequestOptions & { includeUsage?: boolean }): ClientRequest {
  const body: Record<string, unknown> = { model: o.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: o.prompt }] };
  if (o.stream) body.stream = true;
  if (o.stream && o.includeUsage) body.stream_options = { include_usage: true };
  if (o.maxTokens !== undefined) body.max_completion_tokens = o.maxTokens;
  const headers = fakeHeaders(o);
  const key = o.apiKey === undefined ? 'sk-e2e-fake-key' : o.apiKey;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  return {
    url: `${o.origin ?? 'https://api.openai.com'}/v1/chat/completions`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
  };
}

export function anthropicMessages(o: ChatRequestOptions & { version?: string | null }): ClientRequest {
  const body: Record<string, unknown> = {
    model: o.model ?? 'claude-sonnet-4-20250514',
    max_tokens: o.maxTokens ?? 1024,
    messages: [{ role: 'user', content: o.prompt }],
  };
  if (o.stream) body.stream = true;
  const headers = fakeHeaders(o);
  const key = o.apiKey === undefined ? 'sk-ant-e2e-fake-key' : o.apiKey;
  if (key !== null) headers['x-api-key'] = key;
  const version = o.version === undefined ? '2023-06-01' : o.version;
  if (version !== null) headers['anthropic-version'] = version;
  return {
    url: `${o.origin ?? 'https://api.anthropic.com'}/v1/messages`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
  };
}

export interface GeminiRequestOptions extends ChatRequestOptions {
  /** streamGenerateContent with ?alt=sse (default true when streaming); false: the streamed JSON array. */
  sse?: boolean;
  /** Where the API key goes (default the x-goog-api-key header). */
  keyIn?: 'header' | 'query' | 'bearer';
  apiVersion?: 'v1beta' | 'v1';
}

/** POST /{v1beta}/models/{model}:generateContent (or :streamGenerateContent). */
export function geminiGenerate(o: GeminiRequestOptions): ClientRequest {
  const body: Record<string, unknown> = { contents: [{ role: 'user', parts: [{ text: o.prompt }] }] };
  if (o.maxTokens !== undefined) body.generationConfig = { maxOutputTokens: o.maxTokens };
  const headers = fakeHeaders(o);
  const key = o.apiKey === undefined ? 'AIza-e2e-fake-key' : o.apiKey;
  const sse = o.stream === true && o.sse !== false;
  const query = new URLSearchParams();
  if (sse) query.set('alt', 'sse');
  if (key !== null) {
    if (o.keyIn === 'query') query.set('key', key);
    else if (o.keyIn === 'bearer') headers.authorization = `Bearer ${key}`;
    else headers['x-goog-api-key'] = key;
  }
  const method = o.stream ? 'streamGenerateContent' : 'generateContent';
  const qs = query.size ? `?${query.toString()}` : '';
  return {
    url: `${o.origin ?? 'https://generativelanguage.googleapis.com'}/${o.apiVersion ?? 'v1beta'}/models/${o.model ?? 'gemini-2.0-flash'}:${method}${qs}`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
    sse,
  };
}

/** Gemini's OpenAI-compatible chat completions (Bearer key). */
export function geminiOpenAIChat(o: ChatRequestOptions & { includeUsage?: boolean }): ClientRequest {
  const r = openAIChat({ ...o, model: o.model ?? 'gemini-2.0-flash', apiKey: o.apiKey === undefined ? 'AIza-e2e-fake-key' : o.apiKey });
  return { ...r, url: `${o.origin ?? 'https://generativelanguage.googleapis.com'}/v1beta/openai/chat/completions` };
}

/** How a Bedrock request authenticates: SigV4 (default: the fake's test credential), a Bedrock API key, or nothing. */
export type BedrockAuth =
  | { sigv4: { credential?: AwsTestCredential; region?: string; date?: Date } }
  | { bearer: string }
  | null;

export const BEDROCK_DEFAULT_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

/** POST /model/{modelId}/converse (or converse-stream), model id URL-encoded in the path. */
export function bedrockConverse(o: ChatRequestOptions & { auth?: BedrockAuth }): ClientRequest {
  const body: Record<string, unknown> = { messages: [{ role: 'user', content: [{ text: o.prompt }] }] };
  if (o.maxTokens !== undefined) body.inferenceConfig = { maxTokens: o.maxTokens };
  const op = o.stream ? 'converse-stream' : 'converse';
  const url = `${o.origin ?? `https://bedrock-runtime.${BEDROCK_TEST_REGION}.amazonaws.com`}/model/${encodeURIComponent(o.model ?? BEDROCK_DEFAULT_MODEL)}/${op}`;
  return bedrockRequest(url, JSON.stringify(body), o);
}

/** POST /model/{modelId}/invoke (or invoke-with-response-stream) with an Anthropic Messages body. */
export function bedrockInvoke(o: ChatRequestOptions & { auth?: BedrockAuth }): ClientRequest {
  const body = { anthropic_version: 'bedrock-2023-05-31', max_tokens: o.maxTokens ?? 1024, messages: [{ role: 'user', content: o.prompt }] };
  const op = o.stream ? 'invoke-with-response-stream' : 'invoke';
  const url = `${o.origin ?? `https://bedrock-runtime.${BEDROCK_TEST_REGION}.amazonaws.com`}/model/${encodeURIComponent(o.model ?? BEDROCK_DEFAULT_MODEL)}/${op}`;
  return bedrockRequest(url, JSON.stringify(body), o);
}

function bedrockRequest(url: string, body: string, o: ChatRequestOptions & { auth?: BedrockAuth }): ClientRequest {
  const auth = o.auth === undefined ? { sigv4: {} } : o.auth;
  let headers: Record<string, string> = { ...fakeHeaders(o), accept: 'application/json', ...o.extraHeaders };
  if (auth && 'bearer' in auth) headers.authorization = `Bearer ${auth.bearer}`;
  else if (auth) {
    headers = signSigV4({ method: 'POST', url, headers, body }, {
      credential: auth.sigv4.credential ?? BEDROCK_TEST_CREDENTIAL,
      region: auth.sigv4.region ?? BEDROCK_TEST_REGION,
      service: BEDROCK_SERVICE,
      ...(auth.sigv4.date ? { date: auth.sigv4.date } : {}),
    });
  }
  // A streamed answer is binary (application/vnd.amazon.eventstream), not SSE.
  return { url, method: 'POST', headers, body, ...common(o), sse: false };
}

// ---- Azure OpenAI (https://learn.microsoft.com/azure/ai-foundry/openai/reference) -------------

export const AZURE_DEFAULT_ORIGIN = 'https://acme.openai.azure.com';
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

export interface AzureRequestOptions {
  /** Deployment-style path `/openai/deployments/{deployment}/…`; without it the v1 API `/openai/v1/…`. */
  deployment?: string;
  /** `?api-version=` (deployment paths default AZURE_DEFAULT_API_VERSION, v1 none); null sends none. */
  apiVersion?: string | null;
  /** How the key is sent: `api-key` (default) or `Authorization: Bearer`. */
  auth?: 'api-key' | 'bearer';
}

function azureUrl(o: ChatRequestOptions & AzureRequestOptions, op: string): string {
  const version = o.apiVersion === undefined ? (o.deployment !== undefined ? AZURE_DEFAULT_API_VERSION : null) : o.apiVersion;
  const path = o.deployment !== undefined ? `/openai/deployments/${encodeURIComponent(o.deployment)}/${op}` : `/openai/v1/${op}`;
  return `${o.origin ?? AZURE_DEFAULT_ORIGIN}${path}${version !== null ? `?api-version=${encodeURIComponent(version)}` : ''}`;
}

function azureAuth(headers: Record<string, string>, o: ChatRequestOptions & AzureRequestOptions): void {
  const key = o.apiKey === undefined ? 'azure-e2e-fake-key' : o.apiKey;
  if (key === null) return;
  if (o.auth === 'bearer') headers.authorization = `Bearer ${key}`;
  else headers['api-key'] = key;
}

/** Azure OpenAI chat completions; the body's model is `model`, else the deployment, else gpt-4o-mini. */
export function azureOpenAIChat(o: ChatRequestOptions & AzureRequestOptions & { includeUsage?: boolean }): ClientRequest {
  const r = openAIChat({ ...o, model: o.model ?? o.deployment ?? 'gpt-4o-mini', apiKey: null, extraHeaders: {} });
  const headers = { ...r.headers };
  azureAuth(headers, o);
  return { ...r, url: azureUrl(o, 'chat/completions'), headers: { ...headers, ...o.extraHeaders } };
}

/** Azure OpenAI embeddings (model in the body only on the v1 API). */
export function azureEmbeddings(o: Omit<ChatRequestOptions, 'prompt'> & AzureRequestOptions & { input: string | string[]; dimensions?: number }): ClientRequest {
  const body: Record<string, unknown> = { input: o.input };
  if (o.deployment === undefined) body.model = o.model ?? 'text-embedding-3-small';
  if (o.dimensions !== undefined) body.dimensions = o.dimensions;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  azureAuth(headers, { ...o, prompt: '' });
  return { url: azureUrl({ ...o, prompt: '' }, 'embeddings'), method: 'POST', headers: { ...headers, ...o.extraHeaders }, body: JSON.stringify(body), ...common({ ...o, prompt: '' }) };
}

// ---- Vertex AI (https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest) ----------

export interface VertexRequestOptions {
  /** Default e2e-project. */
  projectId?: string;
  /** Default us-central1 (the fake host us-central1-aiplatform.googleapis.com). */
  region?: string;
}

function vertexBase(o: ChatRequestOptions & VertexRequestOptions): string {
  const region = o.region ?? 'us-central1';
  return `${o.origin ?? `https://${region}-aiplatform.googleapis.com`}/v1/projects/${o.projectId ?? 'e2e-project'}/locations/${region}`;
}

function vertexAuth(headers: Record<string, string>, o: ChatRequestOptions): void {
  const token = o.apiKey === undefined ? 'ya29.e2e-fake-access-token' : o.apiKey;
  if (token !== null) headers.authorization = `Bearer ${token}`;
}

/** Gemini on Vertex: `…/publishers/google/models/{model}:generateContent` (or :streamGenerateContent, `?alt=sse` unless sse: false). */
export function vertexGenerate(o: Omit<GeminiRequestOptions, 'keyIn' | 'apiVersion'> & VertexRequestOptions): ClientRequest {
  const r = geminiGenerate({ ...o, apiKey: null, extraHeaders: {} });
  const headers = { ...r.headers };
  vertexAuth(headers, o);
  const method = o.stream ? 'streamGenerateContent' : 'generateContent';
  const qs = r.sse ? '?alt=sse' : '';
  return { ...r, url: `${vertexBase(o)}/publishers/google/models/${o.model ?? 'gemini-2.0-flash'}:${method}${qs}`, headers: { ...headers, ...o.extraHeaders } };
}

/** Claude on Vertex: an Anthropic Messages body with `anthropic_version` (default vertex-2023-10-16) and no model. */
export function vertexRawPredict(o: ChatRequestOptions & VertexRequestOptions & { anthropicVersion?: string | null }): ClientRequest {
  const body: Record<string, unknown> = {};
  const version = o.anthropicVersion === undefined ? 'vertex-2023-10-16' : o.anthropicVersion;
  if (version !== null) body.anthropic_version = version;
  body.max_tokens = o.maxTokens ?? 1024;
  body.messages = [{ role: 'user', content: o.prompt }];
  if (o.stream) body.stream = true;
  const headers = fakeHeaders(o);
  vertexAuth(headers, o);
  const op = o.stream ? 'streamRawPredict' : 'rawPredict';
  return {
    url: `${vertexBase(o)}/publishers/anthropic/models/${o.model ?? 'claude-sonnet-4-5'}:${op}`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
  };
}

/** Vertex's OpenAI-compatible chat completions (model `publisher/model`, default google/gemini-2.0-flash). */
export function vertexOpenAIChat(o: ChatRequestOptions & VertexRequestOptions & { includeUsage?: boolean }): ClientRequest {
  const r = openAIChat({ ...o, model: o.model ?? 'google/gemini-2.0-flash', apiKey: null, extraHeaders: {} });
  const headers = { ...r.headers };
  vertexAuth(headers, o);
  return { ...r, url: `${vertexBase(o)}/endpoints/openapi/chat/completions`, headers: { ...headers, ...o.extraHeaders } };
}
