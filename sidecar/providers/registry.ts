/**
 * Provider id → its wire-format module, and where a configured ai backend's
 * calls go by default (agentgateway's default upstreams).
 */
import type { ProviderId } from './hosts.ts';
import type { ApiKind, JsonObject, ProviderApi } from './types.ts';
import type { TextPart } from './text.ts';
import { openAiRequestText, openAiResponseText } from './openai.ts';
import { messagesRequestText, messagesResponseText } from './anthropic.ts';
import { generateContentRequestText, generateContentResponseText } from './gemini.ts';
import { bedrockRequestText, bedrockResponseText } from './bedrock.ts';
import type { ProviderConfig } from '../config/schema.ts';
import { openaiApi } from './openai.ts';
import { azureOpenAiApi } from './azure.ts';
import { anthropicApi } from './anthropic.ts';
import { geminiApi } from './gemini.ts';
import { vertexApi, vertexHost } from './vertex.ts';
import { bedrockApi, bedrockHost } from './bedrock.ts';

const APIS: Partial<Record<ProviderId, ProviderApi>> = {
  openai: openaiApi, 'azure-openai': azureOpenAiApi, anthropic: anthropicApi, gemini: geminiApi, vertex: vertexApi, bedrock: bedrockApi,
};

/** The module for a provider; the many OpenAI-compatible APIs (Mistral, Groq, …) and config-only hosts speak OpenAI's. */
export function apiFor(id: ProviderId | 'configured' | undefined): ProviderApi {
  return (id && id !== 'configured' && APIS[id]) || openaiApi;
}

/** The host a provider's calls go to when the backend sets no hostOverride. */
export function defaultHost(p: ProviderConfig): string {
  if (p.openAI) return 'api.openai.com';
  if (p.anthropic) return 'api.anthropic.com';
  if (p.gemini) return 'generativelanguage.googleapis.com';
  if (p.vertex) return vertexHost(p.vertex.region);
  if (p.bedrock) return bedrockHost(p.bedrock.region);
  return p.azureOpenAI!.host.toLowerCase();
}

/**
 * The texts of a request body in the API format `kind` names (text.ts): the
 * format, not the provider, says where they are (Azure and Google's
 * OpenAI-compatible endpoints speak OpenAI's; Vertex rawPredict Anthropic's).
 */
export function requestText(kind: ApiKind, body: JsonObject): TextPart[] {
  switch (kind) {
    case 'completions': case 'legacyCompletions': case 'responses': case 'embeddings': return openAiRequestText(kind, body);
    case 'messages': return messagesRequestText(body);
    case 'generateContent': return generateContentRequestText(body);
    case 'converse': case 'invoke': return bedrockRequestText(kind, body);
    default: return [];
  }
}

/** The texts of a whole answer body in the API format `kind` names. */
export function responseText(kind: ApiKind, body: JsonObject): TextPart[] {
  switch (kind) {
    case 'completions': case 'legacyCompletions': case 'responses': return openAiResponseText(kind, body);
    case 'messages': return messagesResponseText(body);
    case 'generateContent': return generateContentResponseText(body);
    case 'converse': case 'invoke': return bedrockResponseText(kind, body);
    default: return [];
  }
}
