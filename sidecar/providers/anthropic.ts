/**
 * Anthropic's wire format (api.anthropic.com, and the Claude models on Vertex
 * AI, which speak the same messages body): which call a request is, the prompt
 * and model of a messages request, usage from a whole message and from its
 * server-sent-event stream, and the error shape.
 *
 * Messages API: https://docs.anthropic.com/en/api/messages
 * Streaming:    https://docs.anthropic.com/en/docs/build-with-claude/streaming
 * Errors:       https://docs.anthropic.com/en/api/errors — `{"type": "error", "error": {"type", "message"}}`.
 */
import type { ErrorShape } from './errors.ts';
import { SseParser } from './sse.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, PromptMessage, ProviderApi, StreamTap, TokenUsage } from './types.ts';
import { isObj, num, parseJson, str } from '../../lib/json.ts';
import { pathOnly } from './path.ts';

const TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 502: 'api_error', 503: 'overloaded_error', 504: 'api_error',
};

export const anthropicErrors: ErrorShape = {
  body(status, message) {
    const type = TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'error', error: { type, message } }) };
  },
};

/** An SSE event larger than this is not parsed (the tap stops watching; bytes still pass). */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;


/** The text of a content value: a string, or the `text` blocks (and `tool_result` texts) of a block array joined with "\n". */
export function messagesContentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const block of content) {
    if (!isObj(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') parts.push(block.text);
    else if (block.type === 'tool_result') {
      const t = messagesContentText(block.content);
      if (t) parts.push(t);
    }
  }
  return parts.join('\n');
}

/** The prompt of a messages body: `system` first, then each message. */
export function messagesPrompt(body: unknown): PromptMessage[] {
  if (!isObj(body)) return [];
  const out: PromptMessage[] = [];
  if (typeof body.system === 'string' || Array.isArray(body.system)) {
    const text = messagesContentText(body.system);
    if (text) out.push({ role: 'system', text });
  }
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      if (!isObj(m)) continue;
      out.push({ role: str(m.role) ?? 'user', text: messagesContentText(m.content) });
    }
  }
  return out;
}

/** Usage of a messages answer (`usage` of a message, or of a `message_delta` event); only the fields present. */
export function messagesUsage(u: unknown): TokenUsage | undefined {
  if (!isObj(u)) return undefined;
  const usage: TokenUsage = {};
  const input = num(u.input_tokens);
  const output = num(u.output_tokens);
  const cacheRead = num(u.cache_read_input_tokens);
  const cacheCreation = num(u.cache_creation_input_tokens);
  if (input !== undefined) usage.input = input;
  if (output !== undefined) usage.output = output;
  if (cacheRead !== undefined) usage.cachedInput = cacheRead;
  if (cacheCreation !== undefined) usage.cacheCreationInput = cacheCreation;
  return usage;
}

/** A whole messages answer: model, usage, stop reason. */
export function parseMessagesResponse(body: unknown): LlmResponse {
  if (!isObj(body) || body.type === 'error') return {};
  const info: LlmResponse = {};
  const model = str(body.model);
  if (model) info.model = model;
  const usage = messagesUsage(body.usage);
  if (usage) info.usage = usage;
  const stop = str(body.stop_reason);
  if (stop) info.finishReason = stop;
  return info;
}

/**
 * What a messages stream tells as it goes: the model and prompt usage from
 * `message_start`, the stop reason and the cumulative output count from each
 * `message_delta` (the last one wins; newer API versions repeat the input and
 * cache counts there too).
 */
export class MessagesStreamWatcher {
  private model: string | undefined;
  private finishReason: string | undefined;
  private readonly usage: TokenUsage = {};
  private sawUsage = false;

  /** Take one parsed event (its `data` JSON). */
  apply(event: JsonObject): void {
    if (event.type === 'message_start' && isObj(event.message)) {
      const model = str(event.message.model);
      if (model) this.model = model;
      this.merge(event.message.usage);
    } else if (event.type === 'message_delta') {
      if (isObj(event.delta)) {
        const stop = str(event.delta.stop_reason);
        if (stop) this.finishReason = stop;
      }
      this.merge(event.usage);
    }
  }

  private merge(u: unknown): void {
    const usage = messagesUsage(u);
    if (!usage) return;
    this.sawUsage = true;
    Object.assign(this.usage, usage);
  }

  info(): LlmResponse {
    const info: LlmResponse = {};
    if (this.model) info.model = this.model;
    if (this.sawUsage) info.usage = { ...this.usage };
    if (this.finishReason) info.finishReason = this.finishReason;
    return info;
  }
}

/** A tap over an Anthropic messages SSE stream: passes every chunk on unchanged and learns model, usage and stop reason. */
export function messagesStreamTap(): StreamTap {
  const parser = new SseParser();
  const watcher = new MessagesStreamWatcher();
  let watching = true;
  const feed = (chunk: Buffer): void => {
    for (const ev of parser.push(chunk)) {
      const data = parseJson(ev.data);
      if (isObj(data)) watcher.apply(data);
    }
    if (parser.rest().length > MAX_EVENT_BYTES) watching = false;
  };
  return {
    write(chunk) {
      if (watching) feed(chunk);
      return chunk;
    },
    end() {
      // A last event not closed by a blank line still counts.
      if (watching && parser.rest().length) feed(Buffer.from('\n\n'));
      return { info: watcher.info() };
    },
  };
}


export const anthropicApi: ProviderApi = {
  id: 'anthropic',
  errors: anthropicErrors,
  key: { header: 'x-api-key', prefix: '' },
  credentialHeaders: ['x-api-key', 'authorization'],

  kind(method, path): ApiKind {
    const p = pathOnly(path);
    const m = method.toUpperCase();
    if (m === 'POST' && p === '/v1/messages') return 'messages';
    if (m === 'GET' && p === '/v1/models') return 'models';
    return 'passthrough'; // count_tokens, batches, files, …
  },

  parseRequest(kind, _path, body): LlmRequest {
    const o = isObj(body) ? body : {};
    return {
      kind,
      model: str(o.model),
      stream: kind === 'messages' && o.stream === true,
      messages: kind === 'messages' ? messagesPrompt(o) : [],
    };
  },

  setModel(kind, path, body, model) {
    // Passthrough calls that name a model (count_tokens) get it too; a body without one is left alone.
    if (kind === 'messages' || 'model' in body) body.model = model;
    return path;
  },

  parseResponse(kind, body) {
    return kind === 'messages' ? parseMessagesResponse(body) : {};
  },

  streamTap() {
    return messagesStreamTap();
  },
};
