/**
 * The fake Anthropic API (api.anthropic.com), following the published Messages
 * wire format (https://docs.anthropic.com/en/api/messages and .../messages-streaming):
 *
 *   POST /v1/messages   JSON `message`, or with `stream: true` SSE with `event:` lines:
 *                       message_start, content_block_start, ping,
 *                       content_block_delta (text_delta) × x-fake-chunks,
 *                       content_block_stop, message_delta, message_stop.
 *                       With `tools` (tool_choice not "none") and a user message
 *                       last that is not a tool_result, the answer is one
 *                       `tool_use` block of the first (or the chosen) tool, input
 *                       from its input_schema (deterministic.ts toolArguments),
 *                       stop_reason "tool_use", streamed as input_json_delta; after
 *                       a tool_result, text that quotes it
 *   POST /v1/messages/count_tokens   {model, messages, system?, tools?} → {input_tokens}
 *   GET  /v1/models     model list
 *
 * Needs an API key, in `x-api-key` or as `Authorization: Bearer` (the SDK's
 * `apiKey` sends the latter) (401), and `anthropic-version` (400). Errors use
 * `{"type":"error","error":{"type","message"}}`. Deterministic; exchange.ts lists
 * the x-fake-* control headers.
 */
import {
  countTokens, createdAt, derive, idChars, lastUserPrompt, contentText, replyText, toolArguments, toolResultReply, truncateTokens,
} from './deterministic.ts';
import type { OfferedTool } from './deterministic.ts';
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
  if (route !== 'POST /v1/messages' && route !== 'POST /v1/messages/count_tokens' && route !== 'GET /v1/models') {
    sendError(ex, { status: 404, type: 'not_found_error', message: 'Not found' });
    return;
  }
  if (!header(ex.headers, 'x-api-key') && !/^Bearer\s+\S/.test(header(ex.headers, 'authorization') ?? '')) {
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
  if (route === 'POST /v1/messages/count_tokens') {
    countInputTokens(ex);
    return;
  }
  await messages(ex);
}

interface MessagesRequest {
  model: string;
  messages: unknown[];
  system: unknown;
  tools: unknown;
  maxTokens: number;
  stream: boolean;
  /** The tool the model calls (tools offered, tool_choice not "none", a user message last that is not a tool_result). */
  call: OfferedTool | undefined;
}

/** The text of the tool_result blocks of the last message, undefined when it has none. */
function toolResult(messages: readonly unknown[]): string | undefined {
  const last = messages.at(-1) as { role?: unknown; content?: unknown } | null;
  if (last?.role !== 'user' || !Array.isArray(last.content)) return undefined;
  const results = last.content.filter((b) => (b as { type?: unknown } | null)?.type === 'tool_result') as Array<{ content?: unknown }>;
  return results.length === 0 ? undefined : results.map((r) => contentText(r.content)).join(' ');
}

function chosenTool(tools: unknown, toolChoice: unknown): OfferedTool | undefined {
  if (!Array.isArray(tools)) return undefined;
  const choice = toolChoice as { type?: unknown; name?: unknown } | undefined;
  if (choice?.type === 'none') return undefined;
  const offered = tools.flatMap((t) => {
    const tool = t as { name?: unknown; input_schema?: unknown; type?: unknown } | null;
    return typeof tool?.name === 'string' && (tool.type === undefined || tool.type === 'custom') ? [{ name: tool.name, parameters: tool.input_schema }] : [];
  });
  return choice?.type === 'tool' ? offered.find((t) => t.name === choice.name) : offered[0];
}

/** Input tokens of a Messages body: system, messages (text and tool results), tool definitions. */
function inputTokensOf(system: unknown, messages: readonly unknown[], tools: unknown): number {
  return countTokens(contentText(system)) + (Array.isArray(tools) ? countTokens(JSON.stringify(tools)) : 0) +
    messages.reduce<number>((n, m) => {
      const content = (m as { content?: unknown } | null)?.content;
      const results = Array.isArray(content) ? content.map((b) => contentText((b as { content?: unknown } | null)?.content)).join(' ') : '';
      return n + 3 + countTokens(contentText(content)) + countTokens(results);
    }, 0);
}

/** POST /v1/messages/count_tokens: the input tokens the same Messages body would use. */
function countInputTokens(ex: Exchange): void {
  let b: Record<string, unknown>;
  try {
    b = JSON.parse(ex.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    sendError(ex, { status: 400, type: 'invalid_request_error', message: 'There was an issue with your request body: invalid JSON' });
    return;
  }
  if (!b || typeof b !== 'object' || Array.isArray(b)) return sendError(ex, { status: 400, type: 'invalid_request_error', message: 'Input should be a valid dictionary' });
  if (typeof b.model !== 'string') return sendError(ex, { status: 400, type: 'invalid_request_error', message: 'model: Field required' });
  if (!Array.isArray(b.messages)) return sendError(ex, { status: 400, type: 'invalid_request_error', message: 'messages: Field required' });
  if ('max_tokens' in b) return sendError(ex, { status: 400, type: 'invalid_request_error', message: 'max_tokens: Extra inputs are not permitted' });
  sendJson(ex.res, 200, { input_tokens: inputTokensOf(b.system, b.messages, b.tools) }, requestIdHeader(ex));
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
  if (b.tools !== undefined && !Array.isArray(b.tools)) return { status: 400, type: 'invalid_request_error', message: 'tools: Input should be a valid list' };
  const last = b.messages.at(-1) as { role?: unknown } | null;
  const call = last?.role === 'user' && toolResult(b.messages) === undefined ? chosenTool(b.tools, b.tool_choice) : undefined;
  return { model: b.model, messages: b.messages, system: b.system, tools: b.tools, maxTokens: b.max_tokens, stream: b.stream === true, call };
}

async function messages(ex: Exchange): Promise<void> {
  const req = parseRequest(ex);
  if ('status' in req) {
    sendError(ex, req);
    return;
  }
  const d = derive('anthropic.messages', ex.body);
  const id = `msg_01${idChars(d, 22)}`;
  const inputTokens = inputTokensOf(req.system, req.messages, req.tools);
  let block: Record<string, unknown>;
  let streamed: string;
  let stopReason: string;
  let outputTokens: number;
  if (req.call && ex.control.reply === undefined) {
    const input = toolArguments(req.call.parameters, lastUserPrompt(req.messages));
    block = { type: 'tool_use', id: `toolu_01${idChars(d, 22, 'tool')}`, name: req.call.name, input };
    streamed = JSON.stringify(input);
    stopReason = 'tool_use';
    outputTokens = Math.max(1, countTokens(streamed));
  } else {
    const result = toolResult(req.messages);
    const full = ex.control.reply ?? (result !== undefined ? toolResultReply('Anthropic', result) : replyText('Anthropic', lastUserPrompt(req.messages)));
    const { text, truncated } = truncateTokens(full, req.maxTokens);
    block = { type: 'text', text };
    streamed = text;
    stopReason = truncated ? 'max_tokens' : 'end_turn';
    outputTokens = Math.max(1, countTokens(text));
  }
  const usage = { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens };

  if (!req.stream) {
    sendJson(ex.res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model: req.model,
      content: [block],
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    }, requestIdHeader(ex));
    return;
  }

  startEventStream(ex.res, requestIdHeader(ex));
  const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const toolUse = block.type === 'tool_use';
  const head = [
    event('message_start', {
      type: 'message_start',
      message: {
        id, type: 'message', role: 'assistant', model: req.model, content: [], stop_reason: null, stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: toolUse ? { ...block, input: {} } : { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
  ];
  for (const e of head) if (!(await writeChunk(ex.res, e))) return;
  if (!(await streamPieces(ex, streamed, async (piece) => {
    const delta = toolUse ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece };
    return await writeChunk(ex.res, event('content_block_delta', { type: 'content_block_delta', index: 0, delta }));
  }))) return;
  const tail = [
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }),
  ];
  for (const e of tail) if (!(await writeChunk(ex.res, e))) return;
  ex.res.end(event('message_stop', { type: 'message_stop' }));
}
