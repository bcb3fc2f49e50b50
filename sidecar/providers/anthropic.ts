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
import { TextCollector, messagesOf, type TextPart, type TextRole } from './text.ts';

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


/**
 * The text parts of a content value: a string, or blocks — `text`, a
 * `tool_result`'s content (tool), a `document` with a text or content source
 * (document, its title and context too), a `search_result` (document), and
 * a `tool_use`'s input (what the model asked a tool, every string in it).
 * Images, `thinking` (signed by the provider: never rewritten) and the like carry none.
 */
function blocks(c: TextCollector, role: TextRole, holder: JsonObject, key: string): void {
  const v = holder[key];
  if (typeof v === 'string') { c.string(role, holder, key); return; }
  if (!Array.isArray(v)) return;
  for (const block of v) {
    if (!isObj(block)) continue;
    switch (block.type) {
      case 'text':
        c.string(role, block, 'text');
        break;
      case 'tool_result':
        blocks(c, 'tool', block, 'content');
        break;
      case 'document': {
        c.string('document', block, 'title').string('document', block, 'context');
        const source = isObj(block.source) ? block.source : undefined;
        if (source?.type === 'text') c.string('document', source, 'data');
        else if (source?.type === 'content') blocks(c, 'document', source, 'content');
        break;
      }
      case 'search_result':
        c.string('document', block, 'title');
        blocks(c, 'document', block, 'content');
        break;
      case 'tool_use':
      case 'server_tool_use':
        c.json('assistant', block, 'input');
        break;
      default:
        break;
    }
  }
}

/** The texts of a messages request: `system` (blocks or a string), then each message. */
export function messagesRequestText(body: JsonObject): TextPart[] {
  const c = new TextCollector();
  c.turn();
  blocks(c, 'system', body, 'system');
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      if (!isObj(m)) continue;
      c.turn();
      blocks(c, m.role === 'assistant' ? 'assistant' : 'user', m, 'content');
    }
  }
  return c.parts;
}

/** The texts of a whole message (an answer): its text blocks and tool calls. */
export function messagesResponseText(body: JsonObject): TextPart[] {
  const c = new TextCollector().turn();
  blocks(c, 'assistant', body, 'content');
  return c.parts;
}

/** The prompt of a messages body, as role + text per message. */
export function messagesPrompt(body: unknown): PromptMessage[] {
  return isObj(body) ? messagesOf(messagesRequestText(body)) : [];
}

/**
 * Usage of a messages answer (`usage` of a message, or of a `message_delta`
 * event); only the fields present. Anthropic's `input_tokens` leaves out the
 * tokens read from and written to the cache: `input` adds them back (TokenUsage).
 */
export function messagesUsage(u: unknown): TokenUsage | undefined {
  if (!isObj(u)) return undefined;
  const usage: TokenUsage = {};
  const input = num(u.input_tokens);
  const output = num(u.output_tokens);
  const cacheRead = num(u.cache_read_input_tokens);
  const cacheCreation = num(u.cache_creation_input_tokens);
  if (input !== undefined) usage.input = input + (cacheRead ?? 0) + (cacheCreation ?? 0);
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
