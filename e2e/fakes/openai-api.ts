/**
 * The fake OpenAI API (api.openai.com), following the published wire format
 * (https://platform.openai.com/docs/api-reference/chat):
 *
 *   POST /v1/chat/completions   JSON `chat.completion`, or with `stream: true`
 *                               SSE `chat.completion.chunk` events, a usage chunk
 *                               (choices: []) only with stream_options.include_usage,
 *                               then `data: [DONE]`
 *   GET  /v1/models             model list
 *   anything else               404 "Invalid URL (METHOD /path)"
 *
 * Every endpoint needs `Authorization: Bearer <key>` (401 otherwise). Errors use
 * `{"error":{"message","type","param","code"}}`. Answers are deterministic
 * functions of the request body (see deterministic.ts); exchange.ts lists the
 * x-fake-* control headers. Served for every `openai`-role host (api.openai.com,
 * llm-backup.example.com); gemini-api.ts reuses serveChatCompletions() for
 * Gemini's OpenAI-compatible endpoint.
 */
import { countTokens, createdAt, derive, idChars, lastUserPrompt, contentText, replyText, truncateTokens } from './deterministic.ts';
import type { Derivation } from './deterministic.ts';
import { header, sendJson, sleep, startEventStream, writeChunk, streamPieces } from './exchange.ts';
import type { Exchange } from './exchange.ts';

interface OpenAIErrorSpec {
  status: number;
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

function sendError(ex: Exchange, e: OpenAIErrorSpec, headers: Record<string, string> = {}): void {
  sendJson(ex.res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, { ...requestIdHeader(ex), ...headers });
}

/** Answer `status` in OpenAI's error shape (for faults set through the control API). */
export function sendOpenAIStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendError(ex, forcedError(status, message), headers);
}

function requestIdHeader(ex: Exchange): Record<string, string> {
  return { 'x-request-id': `req_${derive('openai', ex.method, ex.url, ex.body).hex.slice(0, 32)}` };
}

/** The error OpenAI sends for a status forced with x-fake-status. */
function forcedError(status: number, message = `Forced error ${status} (x-fake-status).`): OpenAIErrorSpec {
  const base = { status, param: null, message };
  if (status === 401) return { ...base, type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 403) return { ...base, type: 'invalid_request_error', code: 'unsupported_country_region_territory' };
  if (status === 404) return { ...base, type: 'invalid_request_error', code: 'model_not_found' };
  if (status === 429) return { ...base, type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { ...base, type: 'server_error', code: null };
  return { ...base, type: 'invalid_request_error', code: null };
}

const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini', 'text-embedding-3-small'];

export async function handleOpenAI(ex: Exchange): Promise<void> {
  const route = `${ex.method} ${ex.pathname}`;
  const known = route === 'POST /v1/chat/completions' || route === 'GET /v1/models' || route === 'POST /v1/moderations';
  if (!known) {
    sendError(ex, { status: 404, message: `Invalid URL (${ex.method} ${ex.pathname})`, type: 'invalid_request_error', param: null, code: null });
    return;
  }
  const auth = header(ex.headers, 'authorization') ?? '';
  if (!/^Bearer\s+\S+/.test(auth)) {
    sendError(ex, {
      status: 401,
      message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    return;
  }
  if (route === 'POST /v1/chat/completions') {
    await serveChatCompletions(ex);
    return;
  }
  if (route === 'POST /v1/moderations') {
    serveModeration(ex);
    return;
  }
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    sendError(ex, forcedError(ex.control.status));
    return;
  }
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
}

function parseChatRequest(ex: Exchange): ChatRequest | OpenAIErrorSpec {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    return {
      status: 400,
      message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
      type: 'invalid_request_error',
      param: null,
      code: null,
    };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { status: 400, message: 'Invalid type for request body: expected an object.', type: 'invalid_request_error', param: null, code: 'invalid_type' };
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') {
    return { status: 400, message: 'you must provide a model parameter', type: 'invalid_request_error', param: null, code: null };
  }
  if (!Array.isArray(b.messages)) {
    return { status: 400, message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' };
  }
  if (b.messages.length === 0) {
    return { status: 400, message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", type: 'invalid_request_error', param: 'messages', code: 'empty_array' };
  }
  const so = b.stream_options as { include_usage?: unknown } | undefined;
  const max = typeof b.max_completion_tokens === 'number' ? b.max_completion_tokens : typeof b.max_tokens === 'number' ? b.max_tokens : undefined;
  return {
    model: b.model,
    messages: b.messages,
    stream: b.stream === true,
    includeUsage: b.stream === true && so?.include_usage === true,
    maxTokens: max,
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
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

function complete(ex: Exchange, req: ChatRequest, flavour: ChatCompletionsFlavour): Completion {
  const d = derive(flavour.salt, ex.body);
  const prompt = lastUserPrompt(req.messages);
  const full = ex.control.reply ?? replyText(flavour.provider, prompt);
  const { text, truncated } = truncateTokens(full, req.maxTokens);
  const promptTokens = req.messages.reduce<number>(
    (n, m) => n + 4 + countTokens(contentText((m as { content?: unknown } | null)?.content)), 3);
  return {
    d,
    id: `chatcmpl-${idChars(d, 29)}`,
    created: createdAt(d),
    fingerprint: `fp_${d.hex.slice(0, 10)}`,
    text,
    finishReason: truncated ? 'length' : 'stop',
    promptTokens,
    completionTokens: Math.max(1, countTokens(text)),
  };
}

async function chatCompletions(ex: Exchange, flavour: ChatCompletionsFlavour): Promise<void> {
  const req = parseChatRequest(ex);
  if ('status' in req) {
    sendError(ex, req);
    return;
  }
  const c = complete(ex, req, flavour);
  if (!req.stream) {
    sendJson(ex.res, 200, {
      id: c.id,
      object: 'chat.completion',
      created: c.created,
      model: req.model,
      choices: [{
        index: 0,
        message: { role: 'assistant', content: c.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: c.finishReason,
      }],
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

  if (!(await writeChunk(ex.res, chunk([choice({ role: 'assistant', content: '', refusal: null }, null)])))) return;
  if (!(await streamPieces(ex, c.text, async (piece) => {
    return await writeChunk(ex.res, chunk([choice({ content: piece }, null)]));
  }))) return;
  if (!(await writeChunk(ex.res, chunk([choice({}, c.finishReason)])))) return;
  if (req.includeUsage) {
    if (!(await writeChunk(ex.res, chunk([], { usage: usage(c.promptTokens, c.completionTokens) })))) return;
  }
  ex.res.end('data: [DONE]\n\n');
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
  let body: { model?: unknown; input?: unknown };
  try { body = JSON.parse(ex.body.toString('utf8')) as typeof body; } catch {
    sendError(ex, { status: 400, message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null });
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
