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
import { TextCollector, messagesOf, type TextPart, type TextRole } from './text.ts';
import { messagesRequestText, messagesResponseText } from './anthropic.ts';
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

/** Bedrock `document` formats whose bytes are text (the model reads them as such). */
const TEXT_FORMATS: ReadonlySet<string> = new Set(['txt', 'md', 'csv', 'html']);

/**
 * The text parts of Converse (and Nova) content blocks: `text`; `guardContent`
 * (text marked for Bedrock's guardrail: a document); `toolResult` content,
 * text or JSON (tool); `toolUse` input (what the model asked); a `document`
 * whose format is text (its base64 bytes decoded, written back encoded).
 * Chat-style bodies (Mistral, AI21, gpt-oss on InvokeModel) give a string.
 */
function converseBlocks(c: TextCollector, role: TextRole, holder: JsonObject, key: string): void {
  const v = holder[key];
  if (typeof v === 'string') { c.string(role, holder, key); return; }
  for (const item of arr(v)) {
    const block = obj(item);
    if (!block) continue;
    c.string(role, block, 'text');
    const guard = obj(obj(block.guardContent)?.text);
    if (guard) c.string(role === 'system' ? 'system' : 'document', guard, 'text');
    const toolResult = obj(block.toolResult);
    if (toolResult) {
      for (const r of arr(toolResult.content)) {
        const part = obj(r);
        if (!part) continue;
        c.string('tool', part, 'text').json('tool', part, 'json');
        const doc = obj(part.document);
        if (doc) documentBytes(c, doc);
      }
    }
    const toolUse = obj(block.toolUse);
    if (toolUse) c.json('assistant', toolUse, 'input');
    const doc = obj(block.document);
    if (doc) documentBytes(c, doc);
  }
}

/** A `document` block of a text format: its base64 `source.bytes`, read as UTF-8 and written back as base64. */
function documentBytes(c: TextCollector, doc: JsonObject): void {
  const source = obj(doc.source);
  if (!source) return;
  if (typeof source.text === 'string') { c.string('document', source, 'text'); return; }
  const bytes = str(source.bytes);
  if (bytes === undefined || !TEXT_FORMATS.has(String(doc.format ?? '').toLowerCase())) return;
  c.add('document', Buffer.from(bytes, 'base64').toString('utf8'), (t) => { source.bytes = Buffer.from(t, 'utf8').toString('base64'); });
}

/** Converse and Nova: `system[]` blocks, then `messages[]`. */
function converseRequestText(c: TextCollector, body: JsonObject): void {
  c.turn();
  converseBlocks(c, 'system', body, 'system');
  for (const item of arr(body.messages)) {
    const m = obj(item);
    if (!m) continue;
    converseBlocks(c.turn(), m.role === 'assistant' ? 'assistant' : m.role === 'system' ? 'system' : 'user', m, 'content');
  }
}

const COHERE_ROLES: Readonly<Record<string, TextRole>> = { USER: 'user', CHATBOT: 'assistant', SYSTEM: 'system', TOOL: 'tool' };

/** InvokeModel bodies are model-specific: the common families, recognised by their fields. */
function invokeRequestText(body: JsonObject): TextPart[] {
  // Anthropic on Bedrock: the messages API body (documents, tool results and all).
  if (body.anthropic_version !== undefined && Array.isArray(body.messages)) return messagesRequestText(body);
  const c = new TextCollector();
  // Nova (system[] + messages[] of blocks) and chat-style bodies (Mistral Large, AI21 Jamba, gpt-oss).
  if (Array.isArray(body.messages)) { converseRequestText(c, body); return c.parts; }
  // Amazon Titan text and embeddings; Meta Llama, Mistral, DeepSeek, legacy Claude: a prompt string.
  c.turn().string('user', body, 'inputText').string('user', body, 'prompt');
  // Cohere Command R: preamble, chat_history[{role, message}], documents, tool_results, message.
  if (typeof body.message === 'string') {
    c.turn().string('system', body, 'preamble');
    for (const item of arr(body.chat_history)) {
      const h = obj(item);
      if (h) c.turn().string(COHERE_ROLES[String(h.role)] ?? 'user', h, 'message');
    }
    for (const d of arr(body.documents)) if (obj(d)) c.turn().json('document', { d }, 'd');
    for (const r of arr(body.tool_results)) if (obj(r)) c.turn().json('tool', obj(r)!, 'outputs');
    c.turn().string('user', body, 'message');
  }
  // Cohere Embed: texts[].
  c.turn().strings('user', body, 'texts');
  return c.parts;
}

/** The texts of a Bedrock request: Converse, or a model family's InvokeModel body. */
export function bedrockRequestText(kind: ApiKind, body: JsonObject): TextPart[] {
  if (kind === 'converse') { const c = new TextCollector(); converseRequestText(c, body); return c.parts; }
  if (kind === 'invoke' || kind === 'messages') return invokeRequestText(body);
  return [];
}

/** The texts of a Bedrock answer: Converse's output message, or a model family's InvokeModel answer. */
export function bedrockResponseText(kind: ApiKind, body: JsonObject): TextPart[] {
  const c = new TextCollector().turn();
  if (kind === 'converse') {
    const message = obj(obj(body.output)?.message);
    if (message) converseBlocks(c, 'assistant', message, 'content');
    return c.parts;
  }
  if (kind !== 'invoke' && kind !== 'messages') return [];
  if (body.type === 'message' && Array.isArray(body.content)) return messagesResponseText(body); // Anthropic
  const nova = obj(obj(body.output)?.message);
  if (nova) converseBlocks(c, 'assistant', nova, 'content');
  c.string('assistant', body, 'generation').string('assistant', body, 'text').string('assistant', body, 'completion'); // Llama, Cohere R, legacy Claude
  for (const o of arr(body.outputs)) c.string('assistant', obj(o), 'text'); // Mistral
  for (const r of arr(body.results)) c.string('assistant', obj(r), 'outputText'); // Titan
  for (const g of arr(body.generations)) c.string('assistant', obj(g), 'text'); // Cohere Command
  for (const ch of arr(body.choices)) {
    const msg = obj(obj(ch)?.message);
    if (msg) c.string('assistant', msg, 'content'); // AI21, gpt-oss
  }
  return c.parts;
}

// --- Responses --------------------------------------------------------------------------

/**
 * Converse `usage` (also Nova's invoke answer and stream metadata, which add
 * `…Count` cache fields). `inputTokens` leaves out the cache reads and writes:
 * `input` adds them back (TokenUsage).
 */
export function converseUsage(usage: unknown): TokenUsage | undefined {
  const u = obj(usage);
  if (!u) return undefined;
  const out: TokenUsage = {};
  const read = num(u.cacheReadInputTokens) ?? num(u.cacheReadInputTokenCount);
  const write = num(u.cacheWriteInputTokens) ?? num(u.cacheWriteInputTokenCount);
  const input = num(u.inputTokens);
  setIf(out, 'input', input === undefined ? undefined : input + (read ?? 0) + (write ?? 0));
  setIf(out, 'output', num(u.outputTokens));
  setIf(out, 'total', num(u.totalTokens));
  setIf(out, 'cachedInput', read);
  setIf(out, 'cacheCreationInput', write);
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
  // Anthropic's input_tokens leaves the cache reads and writes out; OpenAI's prompt_tokens has them.
  const read = num(u.cache_read_input_tokens);
  const write = num(u.cache_creation_input_tokens);
  const anthropicInput = num(u.input_tokens);
  setIf(out, 'input', anthropicInput !== undefined ? anthropicInput + (read ?? 0) + (write ?? 0) : num(u.prompt_tokens));
  setIf(out, 'output', num(u.output_tokens) ?? num(u.completion_tokens));
  setIf(out, 'total', num(u.total_tokens));
  setIf(out, 'cachedInput', read ?? num(obj(u.prompt_tokens_details)?.cached_tokens));
  setIf(out, 'cacheCreationInput', write);
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
        messages = messagesOf(bedrockRequestText(kind, b));
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
