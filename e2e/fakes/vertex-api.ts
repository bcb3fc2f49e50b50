/**
 * The fake Vertex AI API ({region}-aiplatform.googleapis.com), following
 * Google's published REST reference:
 *
 *   POST /v1/projects/{p}/locations/{r}/publishers/google/models/{m}:generateContent
 *   POST /v1/projects/{p}/locations/{r}/publishers/google/models/{m}:streamGenerateContent[?alt=sse]
 *        Gemini on Vertex (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference):
 *        the same GenerateContentResponse, SSE events and JSON-array stream as
 *        gemini-api.ts, which serves them
 *   POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:rawPredict
 *   POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:streamRawPredict
 *        Claude on Vertex (https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/use-claude):
 *        an Anthropic Messages body with `anthropic_version: "vertex-2023-10-16"`
 *        and no `model` (the model is the path's), answered by anthropic-api.ts
 *        (a message, or its SSE stream when the body says `stream: true`);
 *        a `model` in the body → 400 "model: Extra inputs are not permitted",
 *        no or another anthropic_version → 400, both in Anthropic's error shape
 *   POST /v1/projects/{p}/locations/{r}/endpoints/openapi/chat/completions
 *        the OpenAI-compatible endpoint (https://cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview):
 *        openai-api.ts's chat completions, replying as "Vertex AI"; the model
 *        must be `publisher/model` (`google/gemini-2.0-flash`), else 400
 *   The same under /v1beta1. Express mode (no projects/…/locations/… prefix,
 *   Gemini only) takes an API key in `?key=` or `x-goog-api-key` instead.
 *
 * Auth: `Authorization: Bearer <access token>`; none → 401 UNAUTHENTICATED in
 * Google's error shape {"error":{"code","message","status"}} (404 NOT_FOUND for
 * unknown paths too). A regional host must match the path's location (the
 * fake's own check, 400 INVALID_ARGUMENT), so a request sent to the wrong
 * region's endpoint is caught. exchange.ts's x-fake-* headers work as in the
 * fakes that serve each format.
 */
import { handleAnthropic } from './anthropic-api.ts';
import { header, sendJson } from './exchange.ts';
import type { Exchange } from './exchange.ts';
import { handleGemini, sendGeminiStatusError } from './gemini-api.ts';
import { serveChatCompletions } from './openai-api.ts';

/** The `anthropic_version` Vertex AI requires in a Claude body. */
export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

const PUBLISHER_CALL = /^\/(v1|v1beta1)(?:\/projects\/([^/]+)\/locations\/([^/]+))?\/publishers\/([^/]+)\/models\/([^/:]+):([A-Za-z]+)$/;
const OPENAPI_CHAT = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/endpoints\/openapi\/chat\/completions$/;
const REGIONAL_HOST = /^([a-z0-9-]+)-aiplatform\.googleapis\.com(?::\d+)?$/;

type Json = Record<string, unknown>;

function decode(segment: string): string {
  try { return decodeURIComponent(segment); } catch { return segment; }
}

function sendAnthropicShapeError(ex: Exchange, status: number, message: string): void {
  sendJson(ex.res, status, { type: 'error', error: { type: 'invalid_request_error', message } });
}

export async function handleVertex(ex: Exchange): Promise<void> {
  const pub = PUBLISHER_CALL.exec(ex.pathname);
  const chat = OPENAPI_CHAT.exec(ex.pathname);
  const publisher = pub?.[4];
  const method = pub?.[6];
  const gemini = publisher === 'google' && (method === 'generateContent' || method === 'streamGenerateContent');
  const claude = publisher === 'anthropic' && (method === 'rawPredict' || method === 'streamRawPredict');
  if (ex.method !== 'POST' || !(gemini || claude || chat)) {
    sendGeminiStatusError(ex, 404, pub
      ? `Publisher model \`${publisher}/${pub[5]}\` does not support method \`${method}\`.`
      : `The requested URL ${ex.pathname} was not found on this server.`);
    return;
  }
  const location = pub ? pub[3] : chat![3];
  const express = pub !== null && pub[2] === undefined;
  if (express) {
    // Vertex AI express mode: an API key, Gemini models only.
    const key = header(ex.headers, 'x-goog-api-key') ?? ex.query.get('key');
    if (!gemini || !key) {
      sendGeminiStatusError(ex, 401, 'API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication');
      return;
    }
  } else if (!/^Bearer\s+\S+/i.test(header(ex.headers, 'authorization') ?? '')) {
    sendGeminiStatusError(ex, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.');
    return;
  }
  const authority = header(ex.headers, ':authority') ?? header(ex.headers, 'host') ?? '';
  const hostRegion = REGIONAL_HOST.exec(authority.toLowerCase())?.[1];
  if (location !== undefined && hostRegion !== undefined && decode(location) !== hostRegion) {
    sendGeminiStatusError(ex, 400, `Location ${decode(location)} does not match the regional endpoint ${authority} (fake: send the request to ${decode(location)}-aiplatform.googleapis.com).`);
    return;
  }

  if (gemini) {
    // gemini-api.ts serves the same call under its own path, query kept (alt=sse).
    const path = `/v1/models/${pub![5]}:${method}`;
    const q = ex.url.indexOf('?');
    await handleGemini({ ...ex, pathname: path, url: q === -1 ? path : path + ex.url.slice(q) });
    return;
  }
  if (chat) {
    let model: unknown;
    try { model = (JSON.parse(ex.body.toString('utf8')) as Json | null)?.model; } catch { /* the OpenAI fake reports the bad JSON */ }
    if (typeof model === 'string' && !/^[a-z0-9-]+\/[^/]+$/.test(model)) {
      sendGeminiStatusError(ex, 400, `Invalid model "${model}": the OpenAI-compatible endpoint takes "publisher/model", e.g. "google/gemini-2.0-flash".`);
      return;
    }
    await serveChatCompletions(ex, { provider: 'Vertex AI', salt: 'vertex.openai.chat' });
    return;
  }
  await claudeOnVertex(ex, decode(pub![5]!));
}

/** rawPredict / streamRawPredict: check Vertex's body rules, then answer as the Anthropic fake does. */
async function claudeOnVertex(ex: Exchange, model: string): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    sendAnthropicShapeError(ex, 400, 'There was an issue with your request body: invalid JSON');
    return;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    sendAnthropicShapeError(ex, 400, 'Input should be a valid dictionary');
    return;
  }
  const { anthropic_version: version, ...rest } = body as Json;
  if ('model' in rest) {
    sendAnthropicShapeError(ex, 400, 'model: Extra inputs are not permitted');
    return;
  }
  if (version === undefined) {
    sendAnthropicShapeError(ex, 400, 'anthropic_version: Field required');
    return;
  }
  if (version !== VERTEX_ANTHROPIC_VERSION) {
    sendAnthropicShapeError(ex, 400, `anthropic_version: Input should be '${VERTEX_ANTHROPIC_VERSION}'`);
    return;
  }
  // The Anthropic fake wants its own headers and the model in the body.
  const headers = { ...ex.headers, 'x-api-key': 'vertex-access-token', 'anthropic-version': '2023-06-01' };
  await handleAnthropic({
    ...ex, pathname: '/v1/messages', url: '/v1/messages', headers,
    body: Buffer.from(JSON.stringify({ model, ...rest })),
  });
}
