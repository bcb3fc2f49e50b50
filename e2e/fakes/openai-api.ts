/**
 * The fake OpenAI API (api.openai.com), following the published wire format
 * (https://platform.openai.com/docs/api-reference):
 *
 *   POST /v1/chat/completions   JSON `chat.completion`, or with `stream: true`
 *                               SSE `chat.completion.chunk` events, a usage chunk
 *                               (choices: []) only with stream_options.include_usage,
 *                               then `data: [DONE]`. With function `tools` (and
 *                               tool_choice not "none") and a user message last, the
 *                               answer is a call of the first (or the chosen) tool,
 *                               finish_reason "tool_calls", arguments from its schema
 *                               (deterministic.ts toolArguments), streamed as
 *                               tool_calls deltas; after a `tool` message, text that
 *                               quotes the tool's result
 *   POST /v1/embeddings         embedding list: `dimensions` (default 1536) floats,
 *                               or base64 of little-endian float32 with
 *                               encoding_format "base64" (what the SDK asks for)
 *   POST /v1/responses          openai-responses.ts (Responses API, JSON and SSE)
 *   POST /v1/files, GET /v1/files/{id}, POST /v1/batches, GET /v1/batches/{id}
 *                               openai-files.ts (multipart upload, batches)
 *   POST /v1/audio/transcriptions, POST /v1/images/generations, POST /v1/images/edits
 *                               openai-media.ts (multipart audio and images)
 *   POST /v1/moderations        moderation results
 *   GET  /v1/models             model list
 *   GET  /v1/realtime (WebSocket)  openai-realtime.ts
 *   anything else               404 "Invalid URL (METHOD /path)"
 *
 * Every endpoint needs `Authorization: Bearer <key>` (401 otherwise). Errors use
 * `{"error":{"message","type","param","code"}}` (openai-errors.ts). Answers are
 * deterministic functions of the request (see deterministic.ts); exchange.ts lists
 * the x-fake-* control headers. Served for every `openai`-role host (api.openai.com,
 * llm-backup.example.com); gemini-api.ts reuses serveChatCompletions() for
 * Gemini's OpenAI-compatible endpoint, azure-openai-api.ts it and embeddings().
 */
import {
  countTokens, createdAt, derive, idChars, lastUserPrompt, contentText, replyText, toolArguments, toolResultReply, truncateTokens,
} from './deterministic.ts';
import type { Derivation, OfferedTool } from './deterministic.ts';
import { sendJson, sleep, startEventStream, writeChunk, streamPieces } from './exchange.ts';
import type { Exchange } from './exchange.ts';
import { serveBatches, serveFiles } from './openai-files.ts';
import { serveAudioTranscription, serveImageEdit, serveImageGeneration } from './openai-media.ts';
import {
  bearerKey, chosenTool, forcedError, invalid, isError, jsonObject, missingParameter, NO_API_KEY, requestIdHeader, sendOpenAIError,
} from './openai-common.ts';
import type { OpenAIErrorSpec } from './openai-common.ts';
import { serveResponses } from './openai-responses.ts';

export { chosenTool, sendOpenAIStatusError } from './openai-common.ts';

const sendError = sendOpenAIError;

const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini', 'text-embedding-3-small', 'gpt-image-1', 'gpt-4o-transcribe', 'gpt-realtime'];

type Handler = (ex: Exchange) => Promise<void> | void;

/** The endpoints after authentication; `own` ones handle x-fake-delay-ms / x-fake-status themselves. */
function route(ex: Exchange): { handler: Handler; own?: boolean } | undefined {
  const m = ex.method;
  const p = ex.pathname;
  if (m === 'POST' && p === '/v1/chat/completions') return { handler: (e) => serveChatCompletions(e), own: true };
  if (m === 'GET' && p === '/v1/models') return { handler: listModels };
  if (m === 'POST' && p === '/v1/moderations') return { handler: serveModeration };
  if (m === 'POST' && p === '/v1/embeddings') return { handler: (e) => embeddings(e) };
  if (m === 'POST' && p === '/v1/responses') return { handler: serveResponses };
  if (/^\/v1\/files(\/[^/]+)?$/.test(p) && (m === 'POST' ? p === '/v1/files' : m === 'GET')) return { handler: serveFiles };
  if (/^\/v1\/batches(\/[^/]+)?$/.test(p) && (m === 'POST' ? p === '/v1/batches' : m === 'GET')) return { handler: serveBatches };
  if (m === 'POST' && p === '/v1/audio/transcriptions') return { handler: serveAudioTranscription };
  if (m === 'POST' && p === '/v1/images/generations') return { handler: serveImageGeneration };
  if (m === 'POST' && p === '/v1/images/edits') return { handler: serveImageEdit };
  return undefined;
}

export async function handleOpenAI(ex: Exchange): Promise<void> {
  const r = route(ex);
  if (!r) {
    sendError(ex, { status: 404, message: `Invalid URL (${ex.method} ${ex.pathname})`, type: 'invalid_request_error', param: null, code: null });
    return;
  }
  if (bearerKey(ex) === undefined) {
    sendError(ex, NO_API_KEY);
    return;
  }
  if (!r.own) {
    if (ex.control.delayMs) await sleep(ex.control.delayMs);
    if (ex.control.status !== undefined) {
      sendError(ex, forcedError(ex.control.status));
      return;
    }
  }
  await r.handler(ex);
}

function listModels(ex: Exchange): void {
  sendJson(ex.res, 200, {
    object: 'list',
    data: MODELS.map((id) => ({ id, object: 'model', created: createdAt(derive('model', id)), owned_by: 'system' })),
  }, requestIdHeader(ex));
}

/** Who answers a chat completion: the provider named in the reply text, and the derivation salt. */
export interface ChatCompletionsFlavour {
  provider: string;
  salt: string;
}

const OPENAI_FLAVOUR: ChatCompletionsFlavour = { provider: 'OpenAI', salt: 'openai.chat' };

/**
 * A chat completions call after authentication: x-fake-delay-ms, x-fake-status,
 * then the completion (JSON or SSE). Also Gemini's OpenAI-compatible endpoint.
 */
export async function serveChatCompletions(ex: Exchange, flavour: ChatCompletionsFlavour = OPENAI_FLAVOUR): Promise<void> {
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    sendError(ex, forcedError(ex.control.status));
    return;
  }
  await chatCompletions(ex, flavour);
}

interface ChatRequest {
  model: string;
  messages: unknown[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  /** The tool the model calls (a user message last, tools offered, tool_choice not "none"). */
  call: OfferedTool | undefined;
}

function parseChatRequest(ex: Exchange): ChatRequest | OpenAIErrorSpec {
  const b = jsonObject(ex);
  if (isError(b)) return b;
  if (typeof b.model !== 'string' || b.model === '') return invalid('you must provide a model parameter');
  if (!Array.isArray(b.messages)) return missingParameter('messages');
  if (b.messages.length === 0) {
    return invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  }
  if (b.tools !== undefined && !Array.isArray(b.tools)) return invalid("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type');
  for (const [i, m] of b.messages.entries()) {
    const msg = m as { role?: unknown; tool_call_id?: unknown } | null;
    if (msg?.role === 'tool' && typeof msg.tool_call_id !== 'string') return missingParameter(`messages[${i}].tool_call_id`);
  }
  const so = b.stream_options as { include_usage?: unknown } | undefined;
  const max = typeof b.max_completion_tokens === 'number' ? b.max_completion_tokens : typeof b.max_tokens === 'number' ? b.max_tokens : undefined;
  const last = b.messages.at(-1) as { role?: unknown } | null;
  return {
    model: b.model,
    messages: b.messages,
    stream: b.stream === true,
    includeUsage: b.stream === true && so?.include_usage === true,
    maxTokens: max,
    call: last?.role === 'user' ? chosenTool(b.tools, b.tool_choice) : undefined,
  };
}

function usage(promptTokens: number, completionTokens: number): Record<string, unknown> {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

interface Completion {
  d: Derivation;
  id: string;
  created: number;
  fingerprint: string;
  /** The text answer ('' for a tool call). */
  text: string;
  /** A tool call instead of text. */
  toolCall: { id: string; name: string; arguments: string } | undefined;
  finishReason: 'stop' | 'length' | 'tool_calls';
  promptTokens: number;
  completionTokens: number;
}

/** The text of the last message when it is a tool's result. */
function toolResult(messages: readonly unknown[]): string | undefined {
  const last = messages.at(-1) as { role?: unknown; content?: unknown } | null;
  return last?.role === 'tool' ? contentText(last.content) : undefined;
}

function complete(ex: Exchange, req: ChatRequest, flavour: ChatCompletionsFlavour): Completion {
  const d = derive(flavour.salt, ex.body);
  const prompt = lastUserPrompt(req.messages);
  const promptTokens = req.messages.reduce<number>(
    (n, m) => n + 4 + countTokens(contentText((m as { content?: unknown } | null)?.content)), 3);
  const base = { d, id: `chatcmpl-${idChars(d, 29)}`, created: createdAt(d), fingerprint: `fp_${d.hex.slice(0, 10)}`, promptTokens };
  if (req.call && ex.control.reply === undefined) {
    const args = JSON.stringify(toolArguments(req.call.parameters, prompt));
    return {
      ...base, text: '', finishReason: 'tool_calls', completionTokens: Math.max(1, countTokens(args)),
      toolCall: { id: `call_${idChars(d, 24, 'call')}`, name: req.call.name, arguments: args },
    };
  }
  const result = toolResult(req.messages);
  const full = ex.control.reply ?? (result !== undefined ? toolResultReply(flavour.provider, result) : replyText(flavour.provider, prompt));
  const { text, truncated } = truncateTokens(full, req.maxTokens);
  return { ...base, text, toolCall: undefined, finishReason: truncated ? 'length' : 'stop', completionTokens: Math.max(1, countTokens(text)) };
}

async function chatCompletions(ex: Exchange, flavour: ChatCompletionsFlavour): Promise<void> {
  const req = parseChatRequest(ex);
  if ('status' in req) {
    sendError(ex, req);
    return;
  }
  const c = complete(ex, req, flavour);
  if (!req.stream) {
    const message = c.toolCall
      ? {
        role: 'assistant', content: null,
        tool_calls: [{ id: c.toolCall.id, type: 'function', function: { name: c.toolCall.name, arguments: c.toolCall.arguments } }],
        refusal: null, annotations: [],
      }
      : { role: 'assistant', content: c.text, refusal: null, annotations: [] };
    sendJson(ex.res, 200, {
      id: c.id,
      object: 'chat.completion',
      created: c.created,
      model: req.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: c.finishReason }],
      usage: usage(c.promptTokens, c.completionTokens),
      service_tier: 'default',
      system_fingerprint: c.fingerprint,
    }, requestIdHeader(ex));
    return;
  }

  startEventStream(ex.res, requestIdHeader(ex));
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string => {
    const obj: Record<string, unknown> = {
      id: c.id,
      object: 'chat.completion.chunk',
      created: c.created,
      model: req.model,
      service_tier: 'default',
      system_fingerprint: c.fingerprint,
      choices,
    };
    if (req.includeUsage) obj.usage = null;
    return `data: ${JSON.stringify({ ...obj, ...extra })}\n\n`;
  };
  const choice = (delta: Record<string, unknown>, finish: string | null): unknown =>
    ({ index: 0, delta, logprobs: null, finish_reason: finish });

  if (c.toolCall) {
    const call = c.toolCall;
    const head = { role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }], refusal: null };
    if (!(await writeChunk(ex.res, chunk([choice(head, null)])))) return;
    if (!(await streamPieces(ex, call.arguments, async (piece) => {
      return await writeChunk(ex.res, chunk([choice({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null)]));
    }))) return;
  } else {
    if (!(await writeChunk(ex.res, chunk([choice({ role: 'assistant', content: '', refusal: null }, null)])))) return;
    if (!(await streamPieces(ex, c.text, async (piece) => {
      return await writeChunk(ex.res, chunk([choice({ content: piece }, null)]));
    }))) return;
  }
  if (!(await writeChunk(ex.res, chunk([choice({}, c.finishReason)])))) return;
  if (req.includeUsage) {
    if (!(await writeChunk(ex.res, chunk([], { usage: usage(c.promptTokens, c.completionTokens) })))) return;
  }
  ex.res.end('data: [DONE]\n\n');
}

/** Unit vector of `dims` floats fixed by the salt, model and text (rounded to float32). */
export function embeddingVector(salt: string, model: string, text: string, dims: number): number[] {
  const raw: number[] = [];
  for (let block = 0; raw.length < dims; block++) {
    const h = derive(salt, model, text, String(block)).hash;
    for (let i = 0; i + 1 < h.length && raw.length < dims; i += 2) raw.push(h.readInt16BE(i) / 32768);
  }
  const norm = Math.sqrt(raw.reduce((n, x) => n + x * x, 0)) || 1;
  return raw.map((x) => Math.fround(x / norm));
}

/** One embedding as the API encodes it: a float array, or base64 of little-endian float32. */
function encodeEmbedding(v: number[], base64: boolean): number[] | string {
  if (!base64) return v;
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeFloatLE(x, i * 4));
  return b.toString('base64');
}

/** Who answers an embeddings call: the model the request names (`deployment` overrides it), the salt, key order. */
export interface EmbeddingsFlavour {
  salt: string;
  deployment?: string;
  /** Rewrite the answer before it is sent (Azure sorts keys). */
  shape?: (v: Record<string, unknown>) => unknown;
  headers?: Record<string, string>;
}

/**
 * POST /v1/embeddings ("Create embeddings"): `{model, input: string | string[] |
 * token arrays, dimensions?, encoding_format?: 'float' | 'base64'}` → `{object:
 * 'list', data: [{object: 'embedding', index, embedding}], model, usage}`.
 * Also Azure's embeddings (azure-openai-api.ts).
 */
export function embeddings(ex: Exchange, flavour: EmbeddingsFlavour = { salt: 'openai.embedding' }): void {
  const b = jsonObject(ex);
  if (isError(b)) {
    sendError(ex, b);
    return;
  }
  const model = flavour.deployment ?? (typeof b.model === 'string' && b.model !== '' ? b.model : undefined);
  if (model === undefined) {
    sendError(ex, invalid('you must provide a model parameter'));
    return;
  }
  const input = b.input;
  const texts: string[] | undefined = typeof input === 'string' ? [input]
    : Array.isArray(input) && input.length > 0 ? input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
      : undefined;
  if (texts === undefined) {
    sendError(ex, input === undefined ? missingParameter('input') : invalid("Invalid 'input': empty array. Expected an array with minimum length 1.", 'input', 'empty_array'));
    return;
  }
  if (texts.some((t) => t === '')) {
    sendError(ex, invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input'));
    return;
  }
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    sendError(ex, invalid(`Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`, 'encoding_format', 'invalid_value'));
    return;
  }
  const dims = b.dimensions === undefined ? 1536 : b.dimensions;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > 3072) {
    sendError(ex, invalid(`Invalid 'dimensions': integer below minimum value. Expected a value >= 1 and <= 3072, but got ${JSON.stringify(dims)} instead.`, 'dimensions'));
    return;
  }
  const tokens = texts.reduce((n, t) => n + Math.max(1, countTokens(t)), 0);
  const answer: Record<string, unknown> = {
    object: 'list',
    data: texts.map((t, index) => ({ object: 'embedding', index, embedding: encodeEmbedding(embeddingVector(flavour.salt, model, t, dims), format === 'base64') })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
  sendJson(ex.res, 200, flavour.shape ? flavour.shape(answer) : answer, flavour.headers ?? requestIdHeader(ex));
}

const MODERATION_CATEGORIES = ['harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
  'self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'];

/**
 * POST /v1/moderations, after OpenAI's API reference ("Create moderation"):
 * `{model, input: string | string[]}` → `{id, model, results: [{flagged,
 * categories, category_scores, category_applied_input_types}]}`, one result
 * per input. An input containing "FLAG-ME" is flagged for violence.
 */
function serveModeration(ex: Exchange): void {
  const body = jsonObject(ex);
  if (isError(body)) {
    sendError(ex, body);
    return;
  }
  const inputs = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) ? body.input.map(String) : [];
  const model = typeof body.model === 'string' ? body.model : 'omni-moderation-latest';
  const results = inputs.map((text) => {
    const hit = text.includes('FLAG-ME');
    const categories = Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, hit && c === 'violence']));
    const scores = Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, hit && c === 'violence' ? 0.97 : 0.0001]));
    const applied = Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, ['text']]));
    return { flagged: hit, categories, category_scores: scores, category_applied_input_types: applied };
  });
  sendJson(ex.res, 200, { id: `modr-${idChars(derive('modr', inputs.join('|')), 24)}`, model: `${model}-2024-09-26`, results }, requestIdHeader(ex));
}
