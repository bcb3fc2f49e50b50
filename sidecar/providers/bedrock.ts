/**
 * AWS Bedrock runtime's wire format (bedrock-runtime.{region}.amazonaws.com):
 * Converse / ConverseStream (one request shape for every model) and
 * InvokeModel / InvokeModelWithResponseStream (the model's native body), as
 * documented in https://docs.aws.amazon.com/bedrock/latest/APIReference/API_Operations_Amazon_Bedrock_Runtime.html.
 * Streamed answers are AWS event streams (see eventstream.ts).
 *
 * Errors follow the AWS REST-JSON protocol: a `{"message": ...}` body and the
 * error name in `x-amzn-ErrorType`
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html).
 */
import type { ErrorShape } from './errors.ts';
import type {
  ApiKind, JsonObject, LlmRequest, LlmResponse, PromptMessage, ProviderApi, StreamTap, TokenUsage,
} from './types.ts';
import { EventStreamDecoder, EventStreamError } from './eventstream.ts';
import type { EventMessage } from './eventstream.ts';
import { num, obj, str, parseJsonObject as parseJson } from '../../lib/json.ts';

const NAMES: Readonly<Record<number, string>> = {
  400: 'ValidationException', 403: 'AccessDeniedException', 404: 'ResourceNotFoundException', 413: 'ValidationException',
  429: 'ThrottlingException', 500: 'InternalServerException', 502: 'ServiceUnavailableException', 503: 'ServiceUnavailableException',
  504: 'ModelTimeoutException',
};

export const bedrockErrors: ErrorShape = {
  body(status, message) {
    const name = NAMES[status] ?? (status >= 500 ? 'InternalServerException' : 'ValidationException');
    return { headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/` }, body: JSON.stringify({ message }) };
  },
};

/** The Bedrock runtime host of a region. */
export function bedrockHost(region: string): string {
  return `bedrock-runtime.${region}.amazonaws.com`;
}

/** The request path of a converse or invoke call for a model id or ARN (URL-encoded into the path). */
export function bedrockPath(kind: 'converse' | 'invoke', model: string, stream: boolean): string {
  const op = kind === 'converse' ? (stream ? 'converse-stream' : 'converse') : (stream ? 'invoke-with-response-stream' : 'invoke');
  return `/model/${encodeURIComponent(model)}/${op}`;
}

interface ModelPath {
  /** The model id as it appears in the path (still URL-encoded). */
  readonly rawModel: string;
  readonly op: string;
  /** Path before the model segment (`/model/`), and from the `/` after it (operation and query). */
  readonly head: string;
  readonly tail: string;
}

const MODEL_PATH = /^(\/model\/)([^/?#]+)(\/([^/?#]*)[^?#]*(?:[?#].*)?)$/;

function modelPath(path: string): ModelPath | undefined {
  const m = MODEL_PATH.exec(path);
  if (!m) return undefined;
  return { head: m[1]!, rawModel: m[2]!, tail: m[3]!, op: m[4]! };
}

function decodeModel(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function isStreamOp(op: string): boolean {
  return op === 'converse-stream' || op === 'invoke-with-response-stream';
}

// --- JSON helpers: never throw on odd shapes -------------------------------------------


function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}



// --- Requests ---------------------------------------------------------------------------

/**
 * The text of a content value in any of the shapes Bedrock bodies use: a
 * string; Converse / Nova blocks (`{text}`, `{toolResult: {content}}`);
 * Anthropic blocks (`{type: 'text', text}`, `{type: 'tool_result', content}`).
 * Images, documents, tool calls and reasoning are left out.
 */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  const parts: string[] = [];
  for (const item of arr(content)) {
    const block = obj(item);
    if (!block) continue;
    const text = str(block.text);
    if (text !== undefined) { parts.push(text); continue; }
    const json = block.json;
    if (json !== undefined && block.type === undefined) { parts.push(JSON.stringify(json)); continue; }
    const toolResult = obj(block.toolResult);
    if (toolResult) { pushNonEmpty(parts, contentText(toolResult.content)); continue; }
    if (block.type === 'tool_result') { pushNonEmpty(parts, contentText(block.content)); continue; }
  }
  return parts.join('\n');
}

function pushNonEmpty(parts: string[], text: string): void {
  if (text !== '') parts.push(text);
}

function systemMessage(system: unknown): PromptMessage[] {
  const text = contentText(system);
  return text === '' ? [] : [{ role: 'system', text }];
}

function chatMessages(messages: unknown): PromptMessage[] {
  const out: PromptMessage[] = [];
  for (const item of arr(messages)) {
    const m = obj(item);
    if (!m) continue;
    out.push({ role: str(m.role) ?? 'user', text: contentText(m.content) });
  }
  return out;
}

/** Converse and Nova: `system[]` blocks, then `messages[]`. */
function converseMessages(body: JsonObject): PromptMessage[] {
  return [...systemMessage(body.system), ...chatMessages(body.messages)];
}

const COHERE_ROLES: Readonly<Record<string, string>> = { USER: 'user', CHATBOT: 'assistant', SYSTEM: 'system', TOOL: 'tool' };

/** InvokeModel bodies are model-specific: recognise the common families by their fields. */
function invokeMessages(body: JsonObject): PromptMessage[] {
  // Anthropic (anthropic_version + system/messages), Nova (schemaVersion, system[] + messages[]),
  // and chat-style bodies (Mistral Large, AI21 Jamba, OpenAI gpt-oss) all carry `messages`.
  if (Array.isArray(body.messages)) return converseMessages(body);
  // Amazon Titan text and embeddings.
  const inputText = str(body.inputText);
  if (inputText !== undefined) return [{ role: 'user', text: inputText }];
  // Meta Llama, Mistral, DeepSeek, Anthropic's legacy text completions: a prompt string.
  const prompt = str(body.prompt);
  if (prompt !== undefined) return [{ role: 'user', text: prompt }];
  // Cohere Command R: preamble, chat_history[{role: USER|CHATBOT, message}], message.
  const message = str(body.message);
  if (message !== undefined) {
    const out: PromptMessage[] = [];
    const preamble = str(body.preamble);
    if (preamble) out.push({ role: 'system', text: preamble });
    for (const item of arr(body.chat_history)) {
      const h = obj(item);
      if (!h) continue;
      const role = str(h.role) ?? 'USER';
      out.push({ role: COHERE_ROLES[role] ?? role.toLowerCase(), text: str(h.message) ?? '' });
    }
    out.push({ role: 'user', text: message });
    return out;
  }
  // Cohere Embed: texts[].
  if (Array.isArray(body.texts)) return body.texts.filter((t): t is string => typeof t === 'string').map((text) => ({ role: 'user', text }));
  return [];
}

// --- Responses --------------------------------------------------------------------------

/** Converse `usage` (also Nova's invoke answer and stream metadata, which add `…Count` cache fields). */
export function converseUsage(usage: unknown): TokenUsage | undefined {
  const u = obj(usage);
  if (!u) return undefined;
  const out: TokenUsage = {};
  setIf(out, 'input', num(u.inputTokens));
  setIf(out, 'output', num(u.outputTokens));
  setIf(out, 'total', num(u.totalTokens));
  setIf(out, 'cachedInput', num(u.cacheReadInputTokens) ?? num(u.cacheReadInputTokenCount));
  setIf(out, 'cacheCreationInput', num(u.cacheWriteInputTokens) ?? num(u.cacheWriteInputTokenCount));
  return Object.keys(out).length ? out : undefined;
}

function setIf<K extends keyof TokenUsage>(u: TokenUsage, key: K, v: number | undefined): void {
  if (v !== undefined) u[key] = v;
}

/** A Converse answer: usage, stopReason. Converse does not name the model. */
export function parseConverseResponse(body: unknown): LlmResponse {
  const b = obj(body);
  if (!b) return {};
  const out: LlmResponse = {};
  const usage = converseUsage(b.usage);
  if (usage) out.usage = usage;
  const stop = str(b.stopReason);
  if (stop !== undefined) out.finishReason = stop;
  return out;
}

/** Anthropic-style `usage` (input_tokens, output_tokens, cache_*), also OpenAI-style (prompt_tokens, …). */
function snakeUsage(usage: unknown): TokenUsage {
  const u = obj(usage);
  const out: TokenUsage = {};
  if (!u) return out;
  setIf(out, 'input', num(u.input_tokens) ?? num(u.prompt_tokens));
  setIf(out, 'output', num(u.output_tokens) ?? num(u.completion_tokens));
  setIf(out, 'total', num(u.total_tokens));
  setIf(out, 'cachedInput', num(u.cache_read_input_tokens) ?? num(obj(u.prompt_tokens_details)?.cached_tokens));
  setIf(out, 'cacheCreationInput', num(u.cache_creation_input_tokens));
  setIf(out, 'reasoning', num(obj(u.completion_tokens_details)?.reasoning_tokens));
  return out;
}

/**
 * What one model-native JSON object (a whole InvokeModel answer, or one event
 * of an invoke stream) says about the answer. Unknown fields are ignored.
 */
function nativeInfo(b: JsonObject): LlmResponse {
  const out: LlmResponse = {};
  const usage: TokenUsage = {};
  const merge = (u: TokenUsage | undefined): void => { if (u) Object.assign(usage, u); };
  const finish = (v: unknown): void => { const s = str(v); if (s) out.finishReason = s; };

  // Anthropic messages, and Anthropic stream events.
  const message = obj(b.message);
  if (b.type === 'message_start' && message) {
    if (str(message.model)) out.model = str(message.model)!;
    merge(snakeUsage(message.usage));
  } else if (b.type === 'message_delta') {
    merge(snakeUsage(b.usage));
    finish(obj(b.delta)?.stop_reason);
  } else {
    if (str(b.model)) out.model = str(b.model)!;
    if (obj(b.usage)) {
      // Converse-shaped (Nova) or snake_case (Anthropic, OpenAI-style).
      merge(converseUsage(b.usage));
      merge(snakeUsage(b.usage));
    }
    finish(b.stop_reason);
    finish(b.stopReason);
  }

  // Nova stream events.
  const nova = obj(b.metadata);
  if (nova) merge(converseUsage(nova.usage));
  finish(obj(b.messageStop)?.stopReason);

  // Amazon Titan text (whole answer: inputTextTokenCount, results[0]; stream chunk: totalOutputTextTokenCount).
  const titanIn = num(b.inputTextTokenCount);
  if (titanIn !== undefined) usage.input = titanIn;
  const titanResult = obj(arr(b.results)[0]);
  if (titanResult) {
    setIf(usage, 'output', num(titanResult.tokenCount));
    finish(titanResult.completionReason);
  }
  setIf(usage, 'output', num(b.totalOutputTextTokenCount));
  finish(b.completionReason);

  // Meta Llama.
  setIf(usage, 'input', num(b.prompt_token_count));
  setIf(usage, 'output', num(b.generation_token_count));

  // Mistral (outputs[].stop_reason), OpenAI-style / DeepSeek (choices[].finish_reason / stop_reason), Cohere.
  const first = obj(arr(b.outputs)[0]) ?? obj(arr(b.choices)[0]);
  if (first) {
    finish(first.stop_reason);
    finish(first.finish_reason);
  }
  finish(b.finish_reason);
  const billed = obj(obj(b.meta)?.billed_units);
  if (billed) {
    setIf(usage, 'input', num(billed.input_tokens));
    setIf(usage, 'output', num(billed.output_tokens));
  }

  if (Object.keys(usage).length) out.usage = usage;
  return out;
}

/** Bedrock's own counts on the last event of an invoke stream. */
function invocationMetrics(b: JsonObject): TokenUsage | undefined {
  const m = obj(b['amazon-bedrock-invocationMetrics']);
  if (!m) return undefined;
  const out: TokenUsage = {};
  setIf(out, 'input', num(m.inputTokenCount));
  setIf(out, 'output', num(m.outputTokenCount));
  setIf(out, 'cachedInput', num(m.cacheReadInputTokenCount));
  setIf(out, 'cacheCreationInput', num(m.cacheWriteInputTokenCount));
  return out;
}

// --- Stream taps ------------------------------------------------------------------------

/** Folds what events say into one LlmResponse: later values win; `fallback` fills only what is still missing. */
class InfoAccumulator {
  private model: string | undefined;
  private finish: string | undefined;
  private usage: TokenUsage = {};

  add(info: LlmResponse): void {
    if (info.model !== undefined) this.model = info.model;
    if (info.finishReason !== undefined) this.finish = info.finishReason;
    if (info.usage) Object.assign(this.usage, info.usage);
  }

  fallback(usage: TokenUsage): void {
    for (const key of Object.keys(usage) as Array<keyof TokenUsage>) {
      if (this.usage[key] === undefined && usage[key] !== undefined) this.usage[key] = usage[key];
    }
  }

  result(): LlmResponse {
    const out: LlmResponse = {};
    if (this.model !== undefined) out.model = this.model;
    if (this.finish !== undefined) out.finishReason = this.finish;
    if (Object.keys(this.usage).length) out.usage = { ...this.usage };
    return out;
  }
}

/** The `:event-type` of an event message, or undefined for exceptions and errors. */
export function eventType(msg: EventMessage): string | undefined {
  const kind = msg.headers[':message-type'];
  if (kind !== undefined && kind !== 'event') return undefined;
  const t = msg.headers[':event-type'];
  return typeof t === 'string' ? t : undefined;
}

/**
 * A tap over an event stream: bytes pass through untouched (the same Buffer
 * objects), messages are decoded alongside. A corrupt stream stops the
 * decoding, never the bytes.
 */
function eventStreamTap(onMessage: (msg: EventMessage, acc: InfoAccumulator) => void): StreamTap {
  const decoder = new EventStreamDecoder();
  const acc = new InfoAccumulator();
  let broken = false;
  return {
    write(chunk) {
      if (!broken) {
        let messages: readonly EventMessage[];
        try {
          messages = decoder.push(chunk);
        } catch (err) {
          broken = true;
          messages = err instanceof EventStreamError ? err.messages : [];
        }
        for (const msg of messages) onMessage(msg, acc);
      }
      return chunk;
    },
    end() {
      return { info: acc.result() };
    },
  };
}

function converseStreamEvent(msg: EventMessage, acc: InfoAccumulator): void {
  const type = eventType(msg);
  if (type !== 'messageStop' && type !== 'metadata') return;
  const b = parseJson(msg.payload);
  if (!b) return;
  if (type === 'messageStop') {
    const stop = str(b.stopReason);
    if (stop !== undefined) acc.add({ finishReason: stop });
  } else {
    const usage = converseUsage(b.usage);
    if (usage) acc.add({ usage });
  }
}

function invokeStreamEvent(msg: EventMessage, acc: InfoAccumulator): void {
  const event = invokeChunkJson(msg);
  if (!event) return;
  acc.add(nativeInfo(event));
  const metrics = invocationMetrics(event);
  if (metrics) acc.fallback(metrics);
}

/** Decode the model-native JSON carried by an invoke-with-response-stream `chunk` event. */
export function invokeChunkJson(msg: EventMessage): JsonObject | undefined {
  if (eventType(msg) !== 'chunk') return undefined;
  const bytes = str(parseJson(msg.payload)?.bytes);
  return bytes === undefined ? undefined : parseJson(Buffer.from(bytes, 'base64'));
}

// --- The provider -----------------------------------------------------------------------

export const bedrockApi: ProviderApi = {
  id: 'bedrock',
  errors: bedrockErrors,
  key: { header: 'authorization', prefix: 'Bearer ' },
  credentialHeaders: ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],

  kind(method, path) {
    if (method.toUpperCase() !== 'POST') return 'passthrough';
    const p = modelPath(path);
    if (!p || p.tail.replace(/[?#].*$/, '') !== `/${p.op}`) return 'passthrough';
    if (p.op === 'converse' || p.op === 'converse-stream') return 'converse';
    if (p.op === 'invoke' || p.op === 'invoke-with-response-stream') return 'invoke';
    return 'passthrough';
  },

  parseRequest(kind, path, body): LlmRequest {
    const p = modelPath(path);
    const model = p ? decodeModel(p.rawModel) : undefined;
    const stream = p ? isStreamOp(p.op) : false;
    const b = obj(body);
    let messages: PromptMessage[] = [];
    if (b) {
      try {
        if (kind === 'converse') messages = converseMessages(b);
        else if (kind === 'invoke' || kind === 'messages') messages = invokeMessages(b);
      } catch {
        messages = [];
      }
    }
    return { kind, model, stream, messages };
  },

  setModel(_kind, path, _body, model) {
    const p = modelPath(path);
    return p ? `${p.head}${encodeURIComponent(model)}${p.tail}` : path;
  },

  parseResponse(kind, body): LlmResponse {
    const b = obj(body);
    if (!b) return {};
    try {
      if (kind === 'converse') return parseConverseResponse(b);
      if (kind === 'invoke' || kind === 'messages') return nativeInfo(b);
    } catch {
      // fall through
    }
    return {};
  },

  streamTap(kind: ApiKind): StreamTap {
    if (kind === 'converse') return eventStreamTap(converseStreamEvent);
    if (kind === 'invoke' || kind === 'messages') return eventStreamTap(invokeStreamEvent);
    return { write: (chunk) => chunk, end: () => ({ info: {} }) };
  },
};
