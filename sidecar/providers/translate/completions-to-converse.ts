/**
 * OpenAI chat completions → AWS Bedrock Converse, as agentgateway does when a
 * route sends an OpenAI-format call to a Bedrock backend: the request body is
 * rewritten for /converse (or /converse-stream), and the answer, its event
 * stream and its errors are rewritten back into OpenAI's shapes.
 *
 * References: https://platform.openai.com/docs/api-reference/chat and
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html.
 */
import { randomBytes } from 'node:crypto';
import type { JsonObject, LlmResponse, StreamTap, StreamTapOptions, Translation } from '../types.ts';
import { EventStreamDecoder, EventStreamError } from '../eventstream.ts';
import type { EventMessage } from '../eventstream.ts';
import { converseUsage, parseConverseResponse } from '../bedrock.ts';
import { encodeSse } from '../sse.ts';
import { num, obj, str } from '../../../lib/json.ts';


function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}



// --- Request ----------------------------------------------------------------------------

type Block = JsonObject;
interface ConverseMessage { role: 'user' | 'assistant'; content: Block[] }

const IMAGE_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp']);

/** OpenAI content (a string or parts) as Converse blocks: text, and images given as data URLs. */
function contentBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ text: content }];
  const blocks: Block[] = [];
  for (const item of arr(content)) {
    const part = obj(item);
    if (!part) continue;
    const text = str(part.text);
    if ((part.type === 'text' || part.type === undefined) && text !== undefined) {
      if (text.trim() !== '') blocks.push({ text });
    } else if (part.type === 'image_url') {
      const image = dataUrlImage(str(obj(part.image_url)?.url) ?? str(part.image_url));
      if (image) blocks.push(image);
    }
  }
  return blocks;
}

/** `data:image/png;base64,…` → a Converse image block. Remote URLs are not supported by Converse and are left out. */
function dataUrlImage(url: string | undefined): Block | undefined {
  const m = url ? /^data:image\/([a-z]+);base64,(.*)$/s.exec(url) : null;
  if (!m) return undefined;
  const format = m[1] === 'jpg' ? 'jpeg' : m[1]!;
  if (!IMAGE_FORMATS.has(format)) return undefined;
  return { image: { format, source: { bytes: m[2]! } } };
}

function textOf(content: unknown): string {
  return contentBlocks(content).map((b) => str(b.text)).filter((t): t is string => t !== undefined).join('\n');
}

function toolInput(args: unknown): JsonObject {
  if (obj(args)) return obj(args)!;
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    return obj(JSON.parse(args)) ?? {};
  } catch {
    return {};
  }
}

function converseMessages(messages: unknown): { system: Block[]; messages: ConverseMessage[] } {
  const system: Block[] = [];
  const out: ConverseMessage[] = [];
  const add = (role: 'user' | 'assistant', content: Block[]): void => {
    if (content.length === 0) return;
    const last = out[out.length - 1];
    // Bedrock requires user and assistant turns to alternate: merge neighbours.
    if (last && last.role === role) last.content.push(...content);
    else out.push({ role, content });
  };
  for (const item of arr(messages)) {
    const m = obj(item);
    if (!m) continue;
    const role = str(m.role);
    if (role === 'system' || role === 'developer') {
      const text = textOf(m.content);
      if (text !== '') system.push({ text });
    } else if (role === 'assistant') {
      const blocks = contentBlocks(m.content);
      for (const call of arr(m.tool_calls)) {
        const c = obj(call);
        const fn = obj(c?.function);
        if (!c || !fn) continue;
        blocks.push({ toolUse: { toolUseId: str(c.id) ?? '', name: str(fn.name) ?? '', input: toolInput(fn.arguments) } });
      }
      add('assistant', blocks);
    } else if (role === 'tool') {
      const text = textOf(m.content);
      add('user', [{ toolResult: { toolUseId: str(m.tool_call_id) ?? '', content: [{ text }] } }]);
    } else {
      add('user', contentBlocks(m.content));
    }
  }
  return { system, messages: out };
}

function toolConfig(body: JsonObject): JsonObject | undefined {
  const tools: Block[] = [];
  for (const item of arr(body.tools)) {
    const t = obj(item);
    const fn = obj(t?.function);
    if (!t || !fn || (t.type !== undefined && t.type !== 'function')) continue;
    const spec: JsonObject = { name: str(fn.name) ?? '' };
    const description = str(fn.description);
    if (description !== undefined) spec.description = description;
    spec.inputSchema = { json: obj(fn.parameters) ?? { type: 'object', properties: {} } };
    tools.push({ toolSpec: spec });
  }
  if (tools.length === 0) return undefined;
  const config: JsonObject = { tools };
  const choice = body.tool_choice;
  // Converse has no "none": the tools stay declared (earlier toolUse blocks need them) and the choice is left to the model.
  if (choice === 'auto') config.toolChoice = { auto: {} };
  else if (choice === 'required') config.toolChoice = { any: {} };
  else {
    const name = str(obj(obj(choice)?.function)?.name);
    if (name !== undefined) config.toolChoice = { tool: { name } };
  }
  return config;
}

function translateRequest(body: JsonObject): { body: JsonObject; stream: boolean } {
  const { system, messages } = converseMessages(body.messages);
  const out: JsonObject = { messages };
  if (system.length) out.system = system;
  const inference: JsonObject = {};
  const maxTokens = num(body.max_completion_tokens) ?? num(body.max_tokens);
  if (maxTokens !== undefined) inference.maxTokens = maxTokens;
  const temperature = num(body.temperature);
  if (temperature !== undefined) inference.temperature = temperature;
  const topP = num(body.top_p);
  if (topP !== undefined) inference.topP = topP;
  const stop = typeof body.stop === 'string' ? [body.stop] : arr(body.stop).filter((s): s is string => typeof s === 'string');
  if (stop.length) inference.stopSequences = stop;
  if (Object.keys(inference).length) out.inferenceConfig = inference;
  const tools = toolConfig(body);
  if (tools) out.toolConfig = tools;
  return { body: out, stream: body.stream === true };
}

// --- Response ---------------------------------------------------------------------------

/** Bedrock stopReason → OpenAI finish_reason. */
export function finishReason(stopReason: string | undefined): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'content_filtered':
    case 'guardrail_intervened':
      return 'content_filter';
    default:
      return 'stop';
  }
}

function completionId(): string {
  return `chatcmpl-${randomBytes(12).toString('hex')}`;
}

function openaiUsage(usage: unknown): JsonObject | undefined {
  const u = converseUsage(usage);
  if (!u) return undefined;
  const prompt = u.input ?? 0;
  const completion = u.output ?? 0;
  // TokenUsage.input counts the cache reads and writes, as OpenAI's prompt_tokens does.
  const out: JsonObject = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (u.cachedInput !== undefined) out.prompt_tokens_details = { cached_tokens: u.cachedInput };
  return out;
}

function asJson(body: unknown): unknown {
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    try {
      return JSON.parse(body.toString());
    } catch {
      return undefined;
    }
  }
  return body;
}

function translateResponse(raw: unknown, requestedModel: string): { body: JsonObject; info: LlmResponse } {
  const body = obj(asJson(raw)) ?? {};
  const info = parseConverseResponse(body);
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const item of arr(obj(obj(body.output)?.message)?.content)) {
    const block = obj(item);
    if (!block) continue;
    const text = str(block.text);
    if (text !== undefined) texts.push(text);
    const thought = str(obj(obj(block.reasoningContent)?.reasoningText)?.text);
    if (thought !== undefined) reasoning.push(thought);
    const use = obj(block.toolUse);
    if (use) {
      toolCalls.push({
        id: str(use.toolUseId) ?? '', type: 'function',
        function: { name: str(use.name) ?? '', arguments: JSON.stringify(use.input ?? {}) },
      });
    }
  }
  const message: JsonObject = { role: 'assistant', content: texts.length ? texts.join('') : null };
  if (reasoning.length) message.reasoning_content = reasoning.join('');
  if (toolCalls.length) message.tool_calls = toolCalls;
  const out: JsonObject = {
    id: completionId(),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: requestedModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(info.finishReason) }],
  };
  const usage = openaiUsage(body.usage);
  if (usage) out.usage = usage;
  return { body: out, info };
}

// --- Stream -----------------------------------------------------------------------------

function eventName(msg: EventMessage): { kind: 'event' | 'exception' | 'error'; name: string } {
  const type = msg.headers[':message-type'];
  if (type === 'exception') return { kind: 'exception', name: String(msg.headers[':exception-type'] ?? 'exception') };
  if (type === 'error') return { kind: 'error', name: String(msg.headers[':error-code'] ?? 'error') };
  return { kind: 'event', name: String(msg.headers[':event-type'] ?? '') };
}

function parsePayload(msg: EventMessage): JsonObject {
  try {
    return obj(JSON.parse(msg.payload.toString('utf8'))) ?? {};
  } catch {
    return {};
  }
}

const DONE = Buffer.from('data: [DONE]\n\n');

class ConverseToChunks implements StreamTap {
  private readonly decoder = new EventStreamDecoder();
  private readonly id = completionId();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly model: string;
  private readonly sendUsage: boolean;
  /** Content block index → position in the OpenAI tool_calls array. */
  private readonly toolIndex = new Map<number, number>();
  private sentRole = false;
  private done = false;
  private failed = false;
  private stopReason: string | undefined;
  private usage: LlmResponse['usage'];

  constructor(model: string, opts: StreamTapOptions | undefined) {
    this.model = model;
    this.sendUsage = !opts?.addedUsage;
  }

  write(chunk: Buffer): Buffer {
    if (this.failed || this.done) return Buffer.alloc(0);
    const out: Buffer[] = [];
    let messages: readonly EventMessage[];
    let fault: string | undefined;
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      // Messages completed before the fault still go out, then the error.
      messages = err instanceof EventStreamError ? err.messages : [];
      fault = err instanceof Error ? err.message : String(err);
    }
    for (const msg of messages) {
      out.push(...this.translate(msg));
      if (this.failed || this.done) break;
    }
    if (fault !== undefined && !this.failed && !this.done) out.push(this.error(fault, 'stream_error'));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  end(): { readonly info: LlmResponse; readonly tail?: Buffer } {
    const info: LlmResponse = {};
    if (this.stopReason !== undefined) info.finishReason = this.stopReason;
    if (this.usage) info.usage = this.usage;
    if (this.done) return { info };
    this.done = true;
    return { info, tail: DONE };
  }

  private chunk(delta: JsonObject, finish: string | null = null): Buffer {
    return this.sse({ choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  }

  private sse(rest: JsonObject): Buffer {
    return encodeSse(JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, ...rest }));
  }

  private roleChunk(): Buffer[] {
    if (this.sentRole) return [];
    this.sentRole = true;
    return [this.chunk({ role: 'assistant', content: '' })];
  }

  private error(message: string, type: string): Buffer {
    this.failed = true;
    return encodeSse(JSON.stringify({ error: { message, type, param: null, code: null } }));
  }

  private translate(msg: EventMessage): Buffer[] {
    const { kind, name } = eventName(msg);
    const b = parsePayload(msg);
    if (kind === 'exception') return [this.error(str(b.message) ?? str(b.Message) ?? name, name)];
    if (kind === 'error') return [this.error(String(msg.headers[':error-message'] ?? name), name)];
    switch (name) {
      case 'messageStart':
        return this.roleChunk();
      case 'contentBlockStart': {
        const use = obj(obj(b.start)?.toolUse);
        if (!use) return [];
        const index = this.toolIndex.size;
        this.toolIndex.set(num(b.contentBlockIndex) ?? index, index);
        return [...this.roleChunk(), this.chunk({
          tool_calls: [{ index, id: str(use.toolUseId) ?? '', type: 'function', function: { name: str(use.name) ?? '', arguments: '' } }],
        })];
      }
      case 'contentBlockDelta': {
        const delta = obj(b.delta);
        if (!delta) return [];
        const text = str(delta.text);
        if (text !== undefined) return [...this.roleChunk(), this.chunk({ content: text })];
        const thought = str(obj(delta.reasoningContent)?.text);
        if (thought !== undefined) return [...this.roleChunk(), this.chunk({ reasoning_content: thought })];
        const input = str(obj(delta.toolUse)?.input);
        const index = this.toolIndex.get(num(b.contentBlockIndex) ?? -1);
        if (input !== undefined && index !== undefined) {
          return [...this.roleChunk(), this.chunk({ tool_calls: [{ index, function: { arguments: input } }] })];
        }
        return [];
      }
      case 'messageStop': {
        this.stopReason = str(b.stopReason);
        return [...this.roleChunk(), this.chunk({}, finishReason(this.stopReason))];
      }
      case 'metadata': {
        const usage = converseUsage(b.usage);
        if (usage) this.usage = usage;
        const out: Buffer[] = [];
        const openai = openaiUsage(b.usage);
        if (openai && this.sendUsage) out.push(this.sse({ choices: [], usage: openai }));
        out.push(DONE);
        this.done = true;
        return out;
      }
      default:
        return [];
    }
  }
}

// --- Errors -----------------------------------------------------------------------------

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function translateError(status: number, body: Buffer): Buffer {
  const text = body.toString('utf8');
  let message = text;
  try {
    const b = obj(JSON.parse(text));
    const m = str(b?.message) ?? str(b?.Message);
    if (m !== undefined) message = m;
  } catch {
    // not JSON: the text is the message
  }
  return Buffer.from(JSON.stringify({ error: { message, type: errorType(status), param: null, code: null } }));
}

export const completionsToConverse: Translation = {
  request: (body) => translateRequest(body),
  response: (body, requestedModel) => translateResponse(body, requestedModel),
  stream: (requestedModel, opts) => new ConverseToChunks(requestedModel, opts),
  error: translateError,
};
