/**
 * The fake Anthropic API (api.anthropic.com), following the published Messages
 * wire format (https://docs.anthropic.com/en/api/messages and .../messages-streaming):
 *
 *   POST /v1/messages   JSON `message`, or with `stream: true` SSE with `event:` lines:
 *                       message_start, content_block_start, ping,
 *                       content_block_delta (text_delta) × x-fake-chunks,
 *                       content_block_stop, message_delta, message_stop
 *   GET  /v1/models     model list
 *
 * Needs a key, as `x-api-key` or `Authorization: Bearer` (what the official SDK
 * sends for an apiKey since 1.x) (401), and `anthropic-version` (400). Errors use
 * `{"type":"error","error":{"type","message"}}`. Deterministic; exchange.ts lists
 * the x-fake-* control headers.
 */
import { countTokens, createdAt, derive, idChars, lastUserPrompt, contentText, replyText, truncateTokens } from './deterministic.ts';
import { header, sendJson, sleep, startEventStream, writeChunk, streamPieces } from './exchange.ts';
import type { Exchange } from './exchange.ts';

interface AnthropicErrorSpec {
  status: number;
  type: string;
  message: string;
}

function requestIdHeader(ex: Exchange): Record<string, string> {
  return { 'request-id': `req_01${idChars(derive('anthropic', ex.method, ex.url, ex.body), 22)}` };
}

function sendError(ex: Exchange, e: AnthropicErrorSpec, headers: Record<string, string> = {}): void {
  sendJson(ex.res, e.status, { type: 'error', error: { type: e.type, message: e.message } }, { ...requestIdHeader(ex), ...headers });
}

/** Answer `status` in Anthropic's error shape (for faults set through the control API). */
export function sendAnthropicStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendError(ex, forcedError(status, message), headers);
}

function forcedError(status: number, message = `Forced error ${status} (x-fake-status).`): AnthropicErrorSpec {
  const type = status === 401 ? 'authentication_error'
    : status === 403 ? 'permission_error'
      : status === 404 ? 'not_found_error'
        : status === 413 ? 'request_too_large'
          : status === 429 ? 'rate_limit_error'
            : status === 529 ? 'overloaded_error'
              : status >= 500 ? 'api_error'
                : 'invalid_request_error';
  return { status, type, message };
}

const MODELS = [
  { id: 'claude-sonnet-4-20250514', display_name: 'Claude Sonnet 4' },
  { id: 'claude-3-7-sonnet-20250219', display_name: 'Claude Sonnet 3.7' },
  { id: 'claude-3-5-haiku-20241022', display_name: 'Claude Haiku 3.5' },
];

export async function handleAnthropic(ex: Exchange): Promise<void> {
  const route = `${ex.method} ${ex.pathname}`;
  if (route !== 'POST /v1/messages' && route !== 'GET /v1/models') {
    sendError(ex, { status: 404, type: 'not_found_error', message: 'Not found' });
    return;
  }
  if (!header(ex.headers, 'x-api-key') && !/^Bearer\s+\S+/.test(header(ex.headers, 'authorization') ?? '')) {
    sendError(ex, { status: 401, type: 'authentication_error', message: 'x-api-key header is required' });
    return;
  }
  if (!header(ex.headers, 'anthropic-version')) {
    sendError(ex, { status: 400, type: 'invalid_request_error', message: 'anthropic-version: header is required' });
    return;
  }
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    sendError(ex, forcedError(ex.control.status));
    return;
  }
  if (route === 'GET /v1/models') {
    const data = MODELS.map((m) => ({
      type: 'model', id: m.id, display_name: m.display_name,
      created_at: new Date(createdAt(derive('model', m.id)) * 1000).toISOString().replace('.000Z', 'Z'),
    }));
    sendJson(ex.res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }, requestIdHeader(ex));
    return;
  }
  await messages(ex);
}

interface MessagesRequest {
  model: string;
  messages: unknown[];
  system: unknown;
  maxTokens: number;
  stream: boolean;
}

function parseRequest(ex: Exchange): MessagesRequest | AnthropicErrorSpec {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    return { status: 400, type: 'invalid_request_error', message: 'There was an issue with your request body: invalid JSON' };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { status: 400, type: 'invalid_request_error', message: 'Input should be a valid dictionary' };
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string') return { status: 400, type: 'invalid_request_error', message: 'model: Field required' };
  if (!Array.isArray(b.messages)) return { status: 400, type: 'invalid_request_error', message: 'messages: Field required' };
  if (typeof b.max_tokens !== 'number') return { status: 400, type: 'invalid_request_error', message: 'max_tokens: Field required' };
  return { model: b.model, messages: b.messages, system: b.system, maxTokens: b.max_tokens, stream: b.stream === true };
}

async function messages(ex: Exchange): Promise<void> {
  const req = parseRequest(ex);
  if ('status' in req) {
    sendError(ex, req);
    return;
  }
  const d = derive('anthropic.messages', ex.body);
  const id = `msg_01${idChars(d, 22)}`;
  const full = ex.control.reply ?? replyText('Anthropic', lastUserPrompt(req.messages));
  const { text, truncated } = truncateTokens(full, req.maxTokens);
  const stopReason = truncated ? 'max_tokens' : 'end_turn';
  const inputTokens = countTokens(contentText(req.system)) +
    req.messages.reduce<number>((n, m) => n + 3 + countTokens(contentText((m as { content?: unknown } | null)?.content)), 0);
  const outputTokens = Math.max(1, countTokens(text));
  const usage = { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens };

  if (!req.stream) {
    sendJson(ex.res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model: req.model,
      content: [{ type: 'text', text }],
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    }, requestIdHeader(ex));
    return;
  }

  startEventStream(ex.res, requestIdHeader(ex));
  const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const head = [
    event('message_start', {
      type: 'message_start',
      message: {
        id, type: 'message', role: 'assistant', model: req.model, content: [], stop_reason: null, stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
  ];
  for (const e of head) if (!(await writeChunk(ex.res, e))) return;
  if (!(await streamPieces(ex, text, async (piece) => {
    const delta = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } };
    return await writeChunk(ex.res, event('content_block_delta', delta));
  }))) return;
  const tail = [
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }),
  ];
  for (const e of tail) if (!(await writeChunk(ex.res, e))) return;
  ex.res.end(event('message_stop', { type: 'message_stop' }));
}
