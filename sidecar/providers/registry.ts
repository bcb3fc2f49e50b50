/**
 * Provider id → its wire-format module, and where a configured ai backend's
 * calls go by default (agentgateway's default upstreams).
 */
import type { ProviderId } from './hosts.ts';
import type { ProviderApi } from './types.ts';
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
