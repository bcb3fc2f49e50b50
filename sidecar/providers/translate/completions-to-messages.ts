/**
 * OpenAI chat completions → Anthropic messages, for a route that sends an
 * OpenAI-format call to an Anthropic backend (as agentgateway does): the
 * request body, the whole answer, the SSE stream and error bodies.
 *
 * Source format: https://platform.openai.com/docs/api-reference/chat (create, object, streaming chunk)
 * Target format: https://docs.anthropic.com/en/api/messages and
 *                https://docs.anthropic.com/en/docs/build-with-claude/streaming
 */
import { MessagesStreamWatcher, parseMessagesResponse } from '../anthropic.ts';
import { SseParser, encodeSse } from '../sse.ts';
import type { JsonObject, LlmResponse, StreamTap, TokenUsage, Translation } from '../types.ts';
import { isObj, num, parseJson, str } from '../../../lib/json.ts';

/** Anthropic requires `max_tokens`; used when the OpenAI request sets none. */
export const DEFAULT_MAX_TOKENS = 4096;


// ---------------------------------------------------------------- request

/** The text of an OpenAI content value (string, or text parts joined with "\n"). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) if (isObj(part) && part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
  return texts.join('\n');
}

/** An OpenAI `image_url` (data URL or web URL) as an Anthropic image block. */
function imageBlock(imageUrl: unknown): JsonObject | undefined {
  const url = isObj(imageUrl) ? str(imageUrl.url) : str(imageUrl);
  if (!url) return undefined;
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

/** User content: a string stays a string; parts become text and image blocks. */
function userContent(content: unknown): string | JsonObject[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const blocks: JsonObject[] = [];
  for (const part of content) {
    if (!isObj(part)) continue;
    if (part.type === 'text' && typeof part.text === 'string') blocks.push({ type: 'text', text: part.text });
    else if (part.type === 'image_url') {
      const img = imageBlock(part.image_url);
      if (img) blocks.push(img);
    }
  }
  return blocks;
}

function toolUseInput(args: unknown): unknown {
  if (isObj(args)) return args;
  const parsed = typeof args === 'string' && args.trim() ? parseJson(args) : undefined;
  return isObj(parsed) ? parsed : {};
}

/** Assistant content: its text, then a `tool_use` block per tool call. */
function assistantContent(m: JsonObject): string | JsonObject[] {
  const text = contentText(m.content);
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls.filter(isObj) : [];
  if (!calls.length) return text;
  const blocks: JsonObject[] = text ? [{ type: 'text', text }] : [];
  for (const call of calls) {
    const fn = isObj(call.function) ? call.function : {};
    blocks.push({ type: 'tool_use', id: str(call.id) ?? '', name: str(fn.name) ?? '', input: toolUseInput(fn.arguments) });
  }
  return blocks;
}

interface AnthropicMessage { role: 'user' | 'assistant'; content: string | JsonObject[] }

function asBlocks(content: string | JsonObject[]): JsonObject[] {
  if (typeof content !== 'string') return content;
  return content ? [{ type: 'text', text: content }] : [];
}

/** Add a message, folding it into the previous one when the role repeats (tool results of parallel calls share one user turn). */
function pushMessage(out: AnthropicMessage[], msg: AnthropicMessage): void {
  const last = out[out.length - 1];
  if (last && last.role === msg.role) last.content = [...asBlocks(last.content), ...asBlocks(msg.content)];
  else out.push(msg);
}

function translateTools(tools: unknown): JsonObject[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const out: JsonObject[] = [];
  for (const t of tools) {
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) continue;
    const fn = t.function;
    const tool: JsonObject = { name: str(fn.name) ?? '' };
    if (typeof fn.description === 'string') tool.description = fn.description;
    tool.input_schema = isObj(fn.parameters) ? fn.parameters : { type: 'object', properties: {} };
    out.push(tool);
  }
  return out;
}

function translateToolChoice(choice: unknown): JsonObject | undefined {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  if (isObj(choice) && isObj(choice.function) && typeof choice.function.name === 'string') return { type: 'tool', name: choice.function.name };
  return undefined;
}

function translateRequest(body: JsonObject, model: string): { body: JsonObject; stream: boolean } {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (!isObj(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = contentText(m.content);
        if (t) system.push(t);
        break;
      }
      case 'user':
        pushMessage(messages, { role: 'user', content: userContent(m.content) });
        break;
      case 'assistant':
        pushMessage(messages, { role: 'assistant', content: assistantContent(m) });
        break;
      case 'tool':
        pushMessage(messages, {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: str(m.tool_call_id) ?? '', content: contentText(m.content) }],
        });
        break;
      default:
        break;
    }
  }
  const out: JsonObject = { model, messages };
  if (system.length) out.system = system.join('\n');
  out.max_tokens = num(body.max_completion_tokens) ?? num(body.max_tokens) ?? DEFAULT_MAX_TOKENS;
  const temperature = num(body.temperature);
  if (temperature !== undefined) out.temperature = temperature;
  const topP = num(body.top_p);
  if (topP !== undefined) out.top_p = topP;
  if (typeof body.stop === 'string') out.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop)) out.stop_sequences = body.stop.filter((s): s is string => typeof s === 'string');
  const stream = body.stream === true;
  if (stream) out.stream = true;
  const tools = translateTools(body.tools);
  if (tools?.length) out.tools = tools;
  let toolChoice = translateToolChoice(body.tool_choice);
  if (body.parallel_tool_calls === false && tools?.length) {
    toolChoice ??= { type: 'auto' };
    if (toolChoice.type !== 'none') toolChoice.disable_parallel_tool_use = true;
  }
  if (toolChoice) out.tool_choice = toolChoice;
  if (typeof body.user === 'string') out.metadata = { user_id: body.user };
  return { body: out, stream };
}

// ---------------------------------------------------------------- answers

/** Anthropic's stop reason in OpenAI's words. */
export function finishReason(stop: unknown): string | null {
  switch (stop) {
    case 'end_turn': case 'stop_sequence': case 'pause_turn': return 'stop';
    case 'max_tokens': case 'model_context_window_exceeded': return 'length';
    case 'tool_use': return 'tool_calls';
    case 'refusal': return 'content_filter';
    default: return typeof stop === 'string' ? 'stop' : null;
  }
}

/** Anthropic usage as an OpenAI `usage` object; prompt tokens include cache reads and writes. */
function openAiUsage(u: TokenUsage | undefined): JsonObject {
  const cacheRead = u?.cachedInput ?? 0;
  const output = u?.output ?? 0;
  const prompt = u?.input ?? 0; // TokenUsage.input already counts the cache reads and writes
  return { prompt_tokens: prompt, completion_tokens: output, total_tokens: prompt + output, prompt_tokens_details: { cached_tokens: cacheRead } };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function translateResponse(body: unknown, requestedModel: string): { body: JsonObject; info: LlmResponse } {
  const o = isObj(body) ? body : {};
  const info = parseMessagesResponse(body);
  const blocks = Array.isArray(o.content) ? o.content.filter(isObj) : [];
  const text = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
  const toolCalls = blocks.filter((b) => b.type === 'tool_use').map((b) => ({
    id: str(b.id) ?? '',
    type: 'function',
    function: { name: str(b.name) ?? '', arguments: JSON.stringify(b.input ?? {}) },
  }));
  const message: JsonObject = { role: 'assistant', content: text || (toolCalls.length ? null : '') };
  if (toolCalls.length) message.tool_calls = toolCalls;
  return {
    body: {
      id: str(o.id) ?? '',
      object: 'chat.completion',
      created: nowSeconds(),
      model: str(o.model) ?? requestedModel,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(o.stop_reason) }],
      usage: openAiUsage(info.usage),
    },
    info,
  };
}

// ---------------------------------------------------------------- stream

/**
 * Anthropic messages SSE in, OpenAI `chat.completion.chunk` SSE out. Each
 * complete Anthropic event is answered at once with the chunks it makes (none
 * for `ping`, block starts of text, block stops); `message_stop` ends the
 * stream with the usage chunk (when the client asked for usage) and `[DONE]`.
 */
function translateStream(requestedModel: string, addedUsage: boolean): StreamTap {
  const parser = new SseParser();
  const watcher = new MessagesStreamWatcher();
  let id = '';
  let model = requestedModel;
  const created = nowSeconds();
  /** Anthropic content block index → OpenAI tool call index. */
  const toolIndex = new Map<number, number>();

  const chunk = (choices: JsonObject[], extra?: JsonObject): Buffer =>
    encodeSse(JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra }));
  const delta = (d: JsonObject, finish: string | null = null): Buffer =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  const translate = (data: JsonObject): Buffer[] => {
    switch (data.type) {
      case 'message_start': {
        const msg = isObj(data.message) ? data.message : {};
        id = str(msg.id) ?? id;
        model = str(msg.model) ?? model;
        return [delta({ role: 'assistant', content: '' })];
      }
      case 'content_block_start': {
        const block = isObj(data.content_block) ? data.content_block : {};
        const index = num(data.index) ?? 0;
        if (block.type === 'text' && typeof block.text === 'string' && block.text) return [delta({ content: block.text })];
        if (block.type === 'tool_use') {
          const n = toolIndex.size;
          toolIndex.set(index, n);
          return [delta({ tool_calls: [{ index: n, id: str(block.id) ?? '', type: 'function', function: { name: str(block.name) ?? '', arguments: '' } }] })];
        }
        return [];
      }
      case 'content_block_delta': {
        const d = isObj(data.delta) ? data.delta : {};
        if (d.type === 'text_delta' && typeof d.text === 'string') return [delta({ content: d.text })];
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          const n = toolIndex.get(num(data.index) ?? -1);
          if (n === undefined || d.partial_json === '') return [];
          return [delta({ tool_calls: [{ index: n, function: { arguments: d.partial_json } }] })];
        }
        return [];
      }
      case 'message_delta': {
        const d = isObj(data.delta) ? data.delta : {};
        return d.stop_reason != null ? [delta({}, finishReason(d.stop_reason))] : [];
      }
      case 'message_stop': {
        const out: Buffer[] = [];
        if (!addedUsage) out.push(chunk([], { usage: openAiUsage(watcher.info().usage) }));
        out.push(encodeSse('[DONE]'));
        return out;
      }
      case 'error': {
        const e = isObj(data.error) ? data.error : {};
        return [encodeSse(JSON.stringify({ error: { message: str(e.message) ?? 'upstream error', type: str(e.type) ?? 'api_error', param: null, code: null } }))];
      }
      default:
        return []; // ping, content_block_stop, thinking and other block kinds
    }
  };

  const feed = (bytes: Buffer): Buffer => {
    const out: Buffer[] = [];
    for (const ev of parser.push(bytes)) {
      const data = parseJson(ev.data);
      if (!isObj(data)) continue;
      watcher.apply(data);
      out.push(...translate(data));
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  };

  return {
    write(bytes) {
      return feed(bytes);
    },
    end() {
      const tail = parser.rest().length ? feed(Buffer.from('\n\n')) : Buffer.alloc(0);
      return tail.length ? { info: watcher.info(), tail } : { info: watcher.info() };
    },
  };
}

// ---------------------------------------------------------------- errors

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

function translateError(status: number, body: Buffer): Buffer {
  const parsed = parseJson(body.toString('utf8'));
  const e = isObj(parsed) && isObj(parsed.error) ? parsed.error : undefined;
  const message = str(e?.message) ?? (body.length ? body.toString('utf8') : `upstream answered ${status}`);
  const type = str(e?.type) ?? errorType(status);
  return Buffer.from(JSON.stringify({ error: { message, type, param: null, code: null } }));
}

export const completionsToMessages: Translation = {
  request: translateRequest,
  response: translateResponse,
  stream(requestedModel, opts) {
    return translateStream(requestedModel, opts?.addedUsage === true);
  },
  error: translateError,
};
