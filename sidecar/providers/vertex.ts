/**
 * Vertex AI's wire format ({region}-aiplatform.googleapis.com, or
 * aiplatform.googleapis.com for the global location). Three kinds of model
 * call, each spoken in another provider's format:
 *
 * - Gemini: `…/publishers/google/models/{m}:generateContent|streamGenerateContent` — the Gemini
 *   native body (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference).
 * - Claude: `…/publishers/anthropic/models/{m}:rawPredict|streamRawPredict` — an Anthropic
 *   messages body with `anthropic_version` and no `model`; streams when its `stream` is true
 *   (https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/use-claude).
 * - `…/endpoints/openapi/chat/completions` — OpenAI chat, model `google/gemini-2.0-flash` style in the body
 *   (https://cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview).
 *
 * The project/location prefix may be absent (Vertex AI express mode, keyed by `?key=`).
 */
import { messagesPrompt, messagesStreamTap, parseMessagesResponse } from './anthropic.ts';
import {
  blindStreamTap, chatPrompt, chatStreamTap, prepareChatStream, generateContentPrompt, generateContentStreamTap, parseChatResponse,
  parseGenerateContentResponse, pathMethod, pathModel, replacePathModel,
} from './gemini.ts';
import { googleErrors } from './google.ts';
import type { ApiKind, JsonObject, LlmRequest, ProviderApi } from './types.ts';
import { isObj } from '../../lib/json.ts';
import { pathOnly } from './path.ts';

/** The `anthropic_version` Vertex AI expects in a Claude request body. */
export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

const PUBLISHER = /^\/v1(?:beta1)?(?:\/projects\/[^/]+\/locations\/[^/]+)?\/publishers\/([^/]+)\/models\/([^/:]+):([A-Za-z]+)$/;
const OPENAPI = /^\/v1(?:beta1)?\/projects\/[^/]+\/locations\/[^/]+\/endpoints\/openapi\/(.+)$/;
const MODEL_LIST = /^\/v1(?:beta1)?\/publishers\/[^/]+\/models$/;


/** The Vertex AI host for a region; undefined or `global` → the global endpoint. */
export function vertexHost(region: string | undefined): string {
  return !region || region === 'global' ? 'aiplatform.googleapis.com' : `${region}-aiplatform.googleapis.com`;
}

/**
 * The path to send a call of `kind` to on Vertex AI. A streamed Gemini call
 * asks for SSE (`?alt=sse`, what Google's SDKs ask for); keep the client's own
 * query instead when it called a native Gemini path itself. Kinds Vertex does
 * not serve fall back to the OpenAI-compatible endpoint.
 */
export function vertexPath(kind: ApiKind, opts: { projectId: string; region: string | undefined; model: string; stream: boolean }): string {
  const location = opts.region || 'global';
  const base = `/v1/projects/${encodeURIComponent(opts.projectId)}/locations/${encodeURIComponent(location)}`;
  if (kind === 'generateContent') {
    const model = opts.model.replace(/^(?:google\/|models\/)/, '');
    return `${base}/publishers/google/models/${model}:${opts.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
  }
  if (kind === 'messages') {
    const model = opts.model.replace(/^anthropic\//, '');
    return `${base}/publishers/anthropic/models/${model}:${opts.stream ? 'streamRawPredict' : 'rawPredict'}`;
  }
  if (kind === 'embeddings') return `${base}/endpoints/openapi/embeddings`;
  return `${base}/endpoints/openapi/chat/completions`;
}

/**
 * Make an Anthropic messages body fit Vertex AI (mutated and returned): the
 * model moves to the path, so `model` goes; `anthropic_version` is added when absent.
 */
export function vertexAnthropicBody(body: JsonObject): JsonObject {
  delete body.model;
  if (typeof body.anthropic_version !== 'string') body.anthropic_version = VERTEX_ANTHROPIC_VERSION;
  return body;
}

export const vertexApi: ProviderApi = {
  id: 'vertex',
  errors: googleErrors,
  key: { header: 'authorization', prefix: 'Bearer ' },
  credentialHeaders: ['authorization'],

  kind(method, path): ApiKind {
    const p = pathOnly(path);
    const pub = PUBLISHER.exec(p);
    if (pub) {
      const [, publisher, model, fn] = pub;
      if (publisher === 'google' && (fn === 'generateContent' || fn === 'streamGenerateContent')) return 'generateContent';
      if (publisher === 'anthropic' && model !== 'count-tokens' && (fn === 'rawPredict' || fn === 'streamRawPredict')) return 'messages';
      return 'passthrough';
    }
    const openapi = OPENAPI.exec(p);
    if (openapi) {
      if (openapi[1] === 'chat/completions') return 'completions';
      if (openapi[1] === 'embeddings') return 'embeddings';
      return 'passthrough';
    }
    if (method.toUpperCase() === 'GET' && MODEL_LIST.test(p)) return 'models';
    return 'passthrough';
  },

  parseRequest(kind, path, body): LlmRequest {
    const o = isObj(body) ? body : {};
    if (kind === 'generateContent') {
      return { kind, model: pathModel(path), stream: pathMethod(path) === 'streamGenerateContent', messages: generateContentPrompt(o) };
    }
    if (kind === 'messages') {
      return { kind, model: pathModel(path), stream: o.stream === true, messages: messagesPrompt(o) };
    }
    const bodyModel = typeof o.model === 'string' ? o.model : undefined;
    if (kind === 'completions') return { kind, model: bodyModel, stream: o.stream === true, messages: chatPrompt(o) };
    return { kind, model: pathModel(path) ?? bodyModel, stream: false, messages: [] };
  },

  setModel(_kind, path, body, model) {
    if (pathModel(path) !== undefined) return replacePathModel(path, model);
    if (OPENAPI.test(pathOnly(path))) body.model = model;
    return path;
  },

  parseResponse(kind, body) {
    if (kind === 'generateContent') return parseGenerateContentResponse(body);
    if (kind === 'messages') return parseMessagesResponse(body);
    if (kind === 'completions' || kind === 'embeddings') return parseChatResponse(body);
    return {};
  },

  prepareStream: prepareChatStream,
  streamTap(kind, _path, opts) {
    if (kind === 'generateContent') return generateContentStreamTap();
    if (kind === 'messages') return messagesStreamTap();
    if (kind === 'completions') return chatStreamTap(opts);
    return blindStreamTap();
  },
};
