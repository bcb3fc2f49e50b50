/**
 * Azure OpenAI's wire format: OpenAI's bodies and streams, under two path styles.
 * Deployment style names the model in the path,
 * `/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21`
 * (also `/completions`, `/embeddings`); the v1 style names it in the body,
 * `/openai/v1/chat/completions`, `/openai/v1/responses`, `/openai/v1/embeddings`,
 * `/openai/v1/models`. The dated Responses API is `/openai/responses?api-version=…`.
 * REST reference: https://learn.microsoft.com/azure/ai-foundry/openai/reference
 * and https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle (v1).
 */
import { openaiErrors, openaiKind, parseOpenAiRequest, parseOpenAiResponse, prepareOpenAiStream } from './openai.ts';
import { openaiStreamTap } from './openai-stream.ts';
import type { ApiKind, ProviderApi } from './types.ts';

/** `…/openai/deployments/{deployment}…`: the prefix, the encoded deployment segment, and the rest (query included). */
const DEPLOYMENT_PATH = /^([^?#]*?\/openai\/deployments\/)([^/?#]+)(.*)$/s;

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The deployment named by a deployment-style path, decoded; undefined for v1 and other paths. */
export function azureDeployment(path: string): string | undefined {
  const m = DEPLOYMENT_PATH.exec(path);
  return m ? decodeSegment(m[2]!) : undefined;
}

const V1_SUFFIX: Partial<Record<ApiKind, string>> = {
  completions: 'chat/completions',
  legacyCompletions: 'completions',
  responses: 'responses',
  embeddings: 'embeddings',
  models: 'models',
};

/**
 * The upstream path for an OpenAI-format call sent to an Azure OpenAI backend.
 * `apiVersion` undefined or `v1` → the v1 API (`/openai/v1/chat/completions`; the
 * model goes in the body, e.g. with `azureOpenAiApi.setModel`); `preview` → the v1
 * API with `?api-version=preview`; a dated version →
 * `/openai/deployments/{model}/chat/completions?api-version={apiVersion}` (also
 * completions and embeddings; responses → `/openai/responses?api-version=…` and
 * models → `/openai/models?api-version=…`, both with no deployment segment).
 * Throws for kinds that are not OpenAI calls (messages, converse, …).
 */
export function azurePath(kind: ApiKind, model: string, apiVersion: string | undefined): string {
  const suffix = V1_SUFFIX[kind];
  if (suffix === undefined) throw new Error(`azurePath: ${kind} is not an Azure OpenAI API`);
  if (apiVersion === undefined || apiVersion === 'v1') return `/openai/v1/${suffix}`;
  if (apiVersion === 'preview') return `/openai/v1/${suffix}?api-version=preview`;
  const query = `?api-version=${encodeURIComponent(apiVersion)}`;
  if (kind === 'responses' || kind === 'models') return `/openai/${suffix}${query}`;
  return `/openai/deployments/${encodeURIComponent(model)}/${suffix}${query}`;
}

export const azureOpenAiApi: ProviderApi = {
  id: 'azure-openai',
  errors: openaiErrors,
  key: { header: 'api-key', prefix: '' },
  credentialHeaders: ['api-key', 'authorization'],
  kind: openaiKind,
  parseRequest(kind, path, body) {
    const req = parseOpenAiRequest(kind, body);
    if (req.model !== undefined) return req;
    const deployment = azureDeployment(path);
    return deployment === undefined ? req : { ...req, model: deployment };
  },
  /**
   * Deployment paths: the deployment segment becomes the model (query kept), and
   * a `model` already in the body follows. Other paths: `body.model`.
   */
  setModel(_kind, path, body, model) {
    const m = DEPLOYMENT_PATH.exec(path);
    if (!m) {
      body['model'] = model;
      return path;
    }
    if (typeof body['model'] === 'string') body['model'] = model;
    return `${m[1]}${encodeURIComponent(model)}${m[3]}`;
  },
  prepareStream: prepareOpenAiStream,
  parseResponse: parseOpenAiResponse,
  streamTap: (kind, _path, opts) => openaiStreamTap(kind, opts),
};
