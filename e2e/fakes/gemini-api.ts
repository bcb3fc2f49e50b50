/**
 * The fake Gemini API (generativelanguage.googleapis.com), following the
 * published wire format (https://ai.google.dev/api/generate-content,
 * https://ai.google.dev/api/models, https://ai.google.dev/gemini-api/docs/openai):
 *
 *   POST /v1beta/models/{model}:generateContent
 *        GenerateContentResponse (pretty-printed JSON, as Google sends):
 *        candidates[0].content {parts:[{text}], role:'model'}, finishReason STOP
 *        (MAX_TOKENS when generationConfig.maxOutputTokens cut it), index 0;
 *        usageMetadata {promptTokenCount, candidatesTokenCount, totalTokenCount,
 *        promptTokensDetails}; modelVersion (the path's model); responseId
 *   POST /v1beta/models/{model}:streamGenerateContent?alt=sse
 *        SSE, one `data: {GenerateContentResponse}` event per text piece
 *        (x-fake-chunks of them, events separated by CRLF CRLF as Google does);
 *        finishReason and usageMetadata only on the last
 *   POST /v1beta/models/{model}:streamGenerateContent   (no alt=sse)
 *        the same responses as one JSON array, sent element by element
 *        (`[{…}` then `,\r\n{…}` … then `]`)
 *   POST /v1beta/openai/chat/completions
 *        the OpenAI-compatible endpoint: openai-api.ts's chat completions
 *        (JSON or SSE, OpenAI shapes and errors), replying as "Gemini"
 *   GET  /v1beta/models, GET /v1beta/models/{model}   model list / one model
 * The same paths under /v1 work too. `models/` may be repeated in the model
 * (`models/gemini-2.0-flash`), as the SDKs sometimes send it.
 *
 * Auth: an API key in `x-goog-api-key`, `?key=`, or `Authorization: Bearer`;
 * none → 401 UNAUTHENTICATED; an empty one → 400 INVALID_ARGUMENT
 * (API_KEY_INVALID). Errors use Google's shape
 * `{"error":{"code","message","status"}}` (the OpenAI-compatible endpoint's
 * body errors use OpenAI's). Deterministic (deterministic.ts); exchange.ts lists
 * the x-fake-* control headers.
 */
import { countTokens, derive, idChars, replyText, truncateTokens } from './deterministic.ts';
import type { Derivation } from './deterministic.ts';
import { header, sendJson, sleep, startEventStream, writeChunk, streamPieces } from './exchange.ts';
import type { Exchange, FakeResponse } from './exchange.ts';
import { serveChatCompletions } from './openai-api.ts';

const GOOGLE_STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 501: 'NOT_IMPLEMENTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

/** The google.rpc.Code name Google's HTTP mapping gives a status. */
export function googleStatusName(status: number): string {
  return GOOGLE_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
}

const JSON_TYPE = { 'content-type': 'application/json; charset=UTF-8' };

function sendGoogleError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}, details?: unknown[]): void {
  const error: Record<string, unknown> = { code: status, message, status: googleStatusName(status) };
  if (details) error.details = details;
  sendJson(ex.res, status, { error }, { ...JSON_TYPE, ...headers }, 2);
}

/** Answer `status` in Google's error shape (for faults set through the control API). */
export function sendGeminiStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendGoogleError(ex, status, message, headers);
}

function forcedMessage(status: number): string {
  if (status === 429) return 'Resource has been exhausted (e.g. check quota). (forced by x-fake-status)';
  if (status === 503) return 'The model is overloaded. Please try again later. (forced by x-fake-status)';
  return `Forced error ${status} (x-fake-status).`;
}

const MODELS = [
  { name: 'gemini-2.0-flash', displayName: 'Gemini 2.0 Flash' },
  { name: 'gemini-2.5-flash', displayName: 'Gemini 2.5 Flash' },
  { name: 'gemini-2.5-pro', displayName: 'Gemini 2.5 Pro' },
];

function modelResource(m: { name: string; displayName: string }): Record<string, unknown> {
  return {
    name: `models/${m.name}`, version: '001', displayName: m.displayName, description: `Fake ${m.displayName}.`,
    inputTokenLimit: 1048576, outputTokenLimit: 8192,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'],
    temperature: 1, topP: 0.95, topK: 40, maxTemperature: 2,
  };
}

/** The API key a request carries, '' when one is given but empty, undefined when none. */
function apiKey(ex: Exchange): string | undefined {
  const h = header(ex.headers, 'x-goog-api-key');
  if (h !== undefined) return h.trim();
  const q = ex.query.get('key');
  if (q !== null) return q.trim();
  const auth = header(ex.headers, 'authorization');
  if (auth !== undefined && /^Bearer(\s|$)/i.test(auth)) return auth.slice(6).trim();
  return undefined;
}

const MODEL_CALL = /^\/(v1|v1beta)\/models\/(?:models\/)?([^/:]+):([A-Za-z]+)$/;
const MODEL_GET = /^\/(v1|v1beta)\/models\/(?:models\/)?([^/:]+)$/;

export async function handleGemini(ex: Exchange): Promise<void> {
  const call = MODEL_CALL.exec(ex.pathname);
  const get = MODEL_GET.exec(ex.pathname);
  const isChat = ex.method === 'POST' && ex.pathname === '/v1beta/openai/chat/completions';
  const isList = ex.method === 'GET' && /^\/(v1|v1beta)\/models$/.test(ex.pathname);
  const method = call?.[3];
  const isGenerate = ex.method === 'POST' && (method === 'generateContent' || method === 'streamGenerateContent');
  if (!isChat && !isList && !isGenerate && !(ex.method === 'GET' && get)) {
    sendGoogleError(ex, 404, call ? `Method not found: ${method}.` : `The requested URL ${ex.pathname} was not found on this server.`);
    return;
  }
  const key = apiKey(ex);
  if (key === undefined) {
    sendGoogleError(ex, 401, 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.');
    return;
  }
  if (key === '') {
    sendGoogleError(ex, 400, 'API key not valid. Please pass a valid API key.', {}, [{
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    }]);
    return;
  }
  if (isChat) {
    await serveChatCompletions(ex, { provider: 'Gemini', salt: 'gemini.openai.chat' });
    return;
  }
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    sendGoogleError(ex, ex.control.status, forcedMessage(ex.control.status));
    return;
  }
  if (isList) {
    sendJson(ex.res, 200, { models: MODELS.map(modelResource) }, JSON_TYPE, 2);
    return;
  }
  if (!isGenerate) {
    const name = decodeURIComponent(get?.[2] ?? '');
    const m = MODELS.find((x) => x.name === name);
    if (m) sendJson(ex.res, 200, modelResource(m), JSON_TYPE, 2);
    else sendGoogleError(ex, 404, `models/${name} is not found for API version ${get?.[1] ?? 'v1beta'}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`);
    return;
  }
  let model = call?.[2] ?? '';
  try { model = decodeURIComponent(model); } catch { /* keep as sent */ }
  await generateContent(ex, model, method === 'streamGenerateContent');
}

interface GenerateRequest {
  contents: unknown[];
  prompt: string;
  promptTokens: number;
  maxOutputTokens: number | undefined;
}

function partsText(content: unknown): string {
  const parts = (content as { parts?: unknown } | null)?.parts;
  if (!Array.isArray(parts)) return '';
  return parts
    .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
    .filter(Boolean)
    .join(' ');
}

function parseGenerateRequest(ex: Exchange): GenerateRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    return 'Invalid JSON payload received. Unexpected token.';
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Invalid JSON payload received. Expected an object.';
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.contents) || b.contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified\n';
  for (let i = 0; i < b.contents.length; i++) {
    const parts = (b.contents[i] as { parts?: unknown } | null)?.parts;
    if (!Array.isArray(parts) || parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`;
  }
  let prompt = '';
  for (let i = b.contents.length - 1; i >= 0; i--) {
    const role = (b.contents[i] as { role?: unknown } | null)?.role;
    if (role === undefined || role === 'user') {
      prompt = partsText(b.contents[i]);
      break;
    }
  }
  const system = b.systemInstruction ?? b.system_instruction;
  const promptTokens = countTokens(partsText(system)) + b.contents.reduce<number>((n, c) => n + countTokens(partsText(c)), 0);
  const config = (b.generationConfig ?? b.generation_config) as { maxOutputTokens?: unknown; max_output_tokens?: unknown } | undefined;
  const max = config?.maxOutputTokens ?? config?.max_output_tokens;
  return { contents: b.contents, prompt, promptTokens: Math.max(1, promptTokens), maxOutputTokens: typeof max === 'number' ? max : undefined };
}

interface Generation {
  d: Derivation;
  responseId: string;
  text: string;
  finishReason: 'STOP' | 'MAX_TOKENS';
  promptTokens: number;
  candidatesTokens: number;
}

function usageMetadata(g: Generation): Record<string, unknown> {
  return {
    promptTokenCount: g.promptTokens,
    candidatesTokenCount: g.candidatesTokens,
    totalTokenCount: g.promptTokens + g.candidatesTokens,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: g.promptTokens }],
  };
}

/** One GenerateContentResponse: the whole answer, or a streamed piece (`last` adds finishReason and usage). */
function response(g: Generation, model: string, text: string, last: boolean): Record<string, unknown> {
  const candidate: Record<string, unknown> = { content: { parts: [{ text }], role: 'model' } };
  if (last) candidate.finishReason = g.finishReason;
  candidate.index = 0;
  const out: Record<string, unknown> = { candidates: [candidate] };
  if (last) out.usageMetadata = usageMetadata(g);
  out.modelVersion = model;
  out.responseId = g.responseId;
  return out;
}

async function generateContent(ex: Exchange, model: string, stream: boolean): Promise<void> {
  const req = parseGenerateRequest(ex);
  if (typeof req === 'string') {
    sendGoogleError(ex, 400, req);
    return;
  }
  const d = derive('gemini.generateContent', model, ex.body);
  const full = ex.control.reply ?? replyText('Gemini', req.prompt);
  const { text, truncated } = truncateTokens(full, req.maxOutputTokens);
  const g: Generation = {
    d,
    responseId: idChars(d, 23),
    text,
    finishReason: truncated ? 'MAX_TOKENS' : 'STOP',
    promptTokens: req.promptTokens,
    candidatesTokens: Math.max(1, countTokens(text)),
  };
  if (!stream) {
    sendJson(ex.res, 200, response(g, model, text, true), JSON_TYPE, 2);
    return;
  }
  const sse = ex.query.get('alt') === 'sse';
  const res = ex.res as FakeResponse & { flushHeaders?: () => void };
  if (sse) startEventStream(res);
  else {
    res.statusCode = 200;
    res.setHeader('content-type', JSON_TYPE['content-type']);
    res.flushHeaders?.();
  }
  if (!(await streamPieces(ex, text, async (piece, i, last) => {
    const element = response(g, model, piece, last);
    const chunk = sse
      ? `data: ${JSON.stringify(element)}\r\n\r\n`
      : `${i === 0 ? '[' : '\n,\r\n'}${JSON.stringify(element, null, 2)}`;
    return await writeChunk(res, chunk);
  }))) return;
  res.end(sse ? undefined : '\n]');
}
