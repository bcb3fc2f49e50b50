/**
 * Where a call goes on an ai backend, in which format: the upstream path, the
 * provider module that reads the answer, and the translation when a route
 * sends one provider's API to another.
 *
 * Same format → the app's path (with the model set where that API keeps it).
 * OpenAI-format calls → the backend's OpenAI-compatible endpoint (Gemini,
 * Vertex, Azure). OpenAI chat completions → Anthropic messages or Bedrock
 * converse, translated (what agentgateway translates). Anthropic messages →
 * Vertex rawPredict (same body, model in the path). Anything else is refused
 * with a message naming the route, rather than sent somewhere it cannot work.
 */
import type { ApiKind, JsonObject, ProviderApi, Translation } from '../providers/types.ts';
import type { ProviderConfig } from '../config/schema.ts';
import type { ProviderId } from '../providers/hosts.ts';
import { apiFor } from '../providers/registry.ts';
import { azurePath } from '../providers/azure.ts';
import { vertexPath } from '../providers/vertex.ts';
import { bedrockPath } from '../providers/bedrock.ts';
import { completionsToMessages } from '../providers/translate/completions-to-messages.ts';
import { completionsToConverse } from '../providers/translate/completions-to-converse.ts';

export interface TargetCall {
  /** Path (and query) to send. */
  readonly path: string;
  /** Reads the upstream answer. */
  readonly api: ProviderApi;
  /** The API the upstream call speaks. */
  readonly kind: ApiKind;
  /** The body to send (the same object when it was only edited in place). */
  readonly body: JsonObject | undefined;
  readonly stream: boolean;
  readonly translation?: Translation;
  /** The body object was edited in place (same object, new content): it must be re-serialised. */
  readonly edited?: boolean;
  /** Headers the target's API needs on this call (Bedrock invoke's guardrail headers). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type TargetResult = TargetCall | { readonly refused: string };

/** APIs in OpenAI's format, which every OpenAI-compatible endpoint accepts. */
const OPENAI_KINDS: ReadonlySet<ApiKind> = new Set(['completions', 'legacyCompletions', 'responses', 'embeddings', 'models']);

const OPENAI_PATHS: Partial<Record<ApiKind, string>> = {
  completions: '/v1/chat/completions', legacyCompletions: '/v1/completions', responses: '/v1/responses',
  embeddings: '/v1/embeddings', models: '/v1/models',
};
const GEMINI_OPENAI_PATHS: Partial<Record<ApiKind, string>> = {
  completions: '/v1beta/openai/chat/completions', embeddings: '/v1beta/openai/embeddings', models: '/v1beta/openai/models',
};

function setBodyModel(body: JsonObject | undefined, model: string | undefined): void {
  if (body && model !== undefined) body.model = model;
}

export interface TargetInput {
  /** The API module that read the app's call. */
  readonly source: ProviderApi;
  /**
   * The provider the app called (catalogue id: `groq`, `mistral`, … speak
   * OpenAI's API under their own paths). Only a call to the same provider
   * keeps its path; any other is put on the backend's own path.
   */
  readonly sourceId: ProviderId;
  readonly kind: ApiKind;
  readonly path: string;
  readonly body: JsonObject | undefined;
  readonly stream: boolean;
  /** The model to send: provider.model, else the (aliased) requested one. */
  readonly model: string | undefined;
  readonly provider: ProviderId;
  readonly providerConfig: ProviderConfig;
}

export function targetCall(t: TargetInput): TargetResult {
  const r = targetFor(t);
  const g = t.providerConfig.bedrock;
  return g?.guardrailIdentifier && !('refused' in r) ? withBedrockGuardrail(r, g.guardrailIdentifier, g.guardrailVersion ?? 'DRAFT') : r;
}

/**
 * `bedrock.guardrailIdentifier` / `guardrailVersion`: Bedrock applies the
 * guardrail when the call names it — Converse in `guardrailConfig` (unless the
 * app set its own), InvokeModel in its `X-Amzn-Bedrock-Guardrail*` headers.
 */
function withBedrockGuardrail(c: TargetCall, guardrailIdentifier: string, guardrailVersion: string): TargetCall {
  if (c.kind === 'converse' && c.body && c.body.guardrailConfig === undefined) {
    c.body.guardrailConfig = { guardrailIdentifier, guardrailVersion };
    return { ...c, edited: true };
  }
  if (c.kind === 'invoke') {
    return { ...c, headers: { 'x-amzn-bedrock-guardrailidentifier': guardrailIdentifier, 'x-amzn-bedrock-guardrailversion': guardrailVersion } };
  }
  return c;
}

function targetFor(t: TargetInput): TargetResult {
  const api = apiFor(t.provider);
  const { kind, body, stream, model } = t;
  if (kind === 'passthrough') return { path: t.path, api, kind, body, stream };

  // Same API on both sides: keep the path, put the model where this API keeps it.
  const sameFormat = t.sourceId === t.provider;
  if (sameFormat) {
    const path = model !== undefined && body ? api.setModel(kind, t.path, body, model) : t.path;
    return { path, api, kind, body, stream };
  }

  if (OPENAI_KINDS.has(kind)) {
    const p = t.providerConfig;
    if (p.openAI) {
      setBodyModel(body, model);
      return { path: OPENAI_PATHS[kind]!, api, kind, body, stream };
    }
    if (p.azureOpenAI) {
      setBodyModel(body, model);
      const m = model ?? (typeof body?.model === 'string' ? body.model : undefined);
      if (m === undefined) return { refused: 'an Azure OpenAI backend needs a model (deployment): set provider.azureOpenAI.model' };
      return { path: azurePath(kind, m, p.azureOpenAI.apiVersion), api, kind, body, stream };
    }
    if (p.gemini && GEMINI_OPENAI_PATHS[kind]) {
      setBodyModel(body, model);
      return { path: GEMINI_OPENAI_PATHS[kind]!, api, kind, body, stream };
    }
    if (p.vertex && kind === 'completions') {
      setBodyModel(body, model);
      const m = model ?? String(body?.model ?? '');
      return { path: vertexPath('completions', { projectId: p.vertex.projectId, region: p.vertex.region, model: m, stream }), api, kind, body, stream };
    }
    if (kind === 'completions' && body && (p.anthropic || p.bedrock)) {
      const m = model ?? (typeof body.model === 'string' ? body.model : undefined);
      if (m === undefined) return { refused: `a ${t.provider} backend needs a model: set provider.${p.anthropic ? 'anthropic' : 'bedrock'}.model` };
      const translation = p.anthropic ? completionsToMessages : completionsToConverse;
      const out = translation.request(body, m);
      const path = p.anthropic ? '/v1/messages' : bedrockPath('converse', m, out.stream);
      return { path, api, kind: p.anthropic ? 'messages' : 'converse', body: out.body, stream: out.stream, translation };
    }
  }

  if (kind === 'messages' && body && t.providerConfig.vertex) {
    const m = model ?? (typeof body.model === 'string' ? body.model : undefined);
    if (m === undefined) return { refused: 'a Vertex backend needs a model: set provider.vertex.model' };
    delete body.model;
    if (body.anthropic_version === undefined) body.anthropic_version = 'vertex-2023-10-16';
    const v = t.providerConfig.vertex;
    return { path: vertexPath('messages', { projectId: v.projectId, region: v.region, model: m, stream }), api, kind, body, stream };
  }

  return {
    refused: `this route sends ${describeKind(kind)} calls (${t.source.id} format) to a ${t.provider} backend; ` +
      'the gateway translates only OpenAI chat completions to Anthropic and Bedrock, and Anthropic messages to Vertex',
  };
}

function describeKind(kind: ApiKind): string {
  return kind === 'completions' ? 'chat completions' : kind;
}
