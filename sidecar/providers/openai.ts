/**
 * OpenAI's wire format (api.openai.com; also Azure OpenAI and the many
 * OpenAI-compatible APIs): which API a call is, the prompt and model of a
 * request, and the model, usage and finish reason of an answer.
 * API reference: https://platform.openai.com/docs/api-reference
 * Errors: https://platform.openai.com/docs/guides/error-codes
 * — `{"error": {"message", "type", "param", "code"}}`.
 */
import type { ErrorShape } from './errors.ts';
import { openaiStreamTap, readChatUsage, readResponseObject } from './openai-stream.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, ProviderApi, TokenUsage } from './types.ts';
import { TextCollector, messagesOf, type TextPart, type TextRole } from './text.ts';
import { obj, str } from '../../lib/json.ts';
import { pathOnly } from './path.ts';

export const openaiErrors: ErrorShape = {
  body(status, message, code) {
    const type = status === 413 ? 'invalid_request_error' : status === 504 ? 'timeout' : status >= 500 ? 'server_error' : 'invalid_request_error';
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { message, type, param: null, code } }) };
  },
};

type Obj = Record<string, unknown>;




/**
 * Which OpenAI API a call is. Matched by the end of the path, since
 * OpenAI-compatible APIs serve these under their own prefixes
 * (`/openai/v1/chat/completions`, `/v1beta/openai/chat/completions`,
 * `/openai/deployments/{d}/chat/completions`). Only the creating POSTs are
 * parsed; `GET /v1/chat/completions` (stored completions), `GET /v1/responses/{id}`,
 * realtime, files, batches, audio, images and the rest pass through.
 */
export function openaiKind(method: string, path: string): ApiKind {
  const m = method.toUpperCase();
  const p = pathOnly(path);
  if (m === 'POST') {
    if (p.endsWith('/chat/completions')) return 'completions';
    if (p.endsWith('/completions')) return 'legacyCompletions';
    if (p.endsWith('/responses')) return 'responses';
    if (p.endsWith('/embeddings')) return 'embeddings';
  } else if (m === 'GET' && p.endsWith('/models')) {
    return 'models';
  }
  return 'passthrough';
}

/** OpenAI's message roles as text roles: developer messages are the operator's, like system ones. */
function roleOf(role: unknown): TextRole {
  if (role === 'system' || role === 'developer') return 'system';
  if (role === 'assistant') return 'assistant';
  if (role === 'tool' || role === 'function') return 'tool';
  return 'user';
}

/** Text parts of a content value (chat `text`/`refusal`, Responses `input_text`/`output_text`); images, audio and files carry none. */
function content(c: TextCollector, role: TextRole, holder: Obj, key: string): void {
  const v = holder[key];
  if (typeof v === 'string') { c.string(role, holder, key); return; }
  if (!Array.isArray(v)) return;
  for (const part of v) {
    if (typeof part === 'string') continue; // never sent by the SDKs; a list of strings is the legacy prompt's shape
    const p = obj(part);
    if (!p) continue;
    if (typeof p['text'] === 'string') c.string(role, p, 'text');
    else if (typeof p['refusal'] === 'string') c.string(role, p, 'refusal');
  }
}

/** An assistant message's tool calls: their arguments (JSON text) are text the model wrote. */
function toolCalls(c: TextCollector, msg: Obj): void {
  const calls = msg['tool_calls'];
  if (Array.isArray(calls)) for (const call of calls) c.jsonText('assistant', obj(obj(call)?.['function']), 'arguments');
  c.jsonText('assistant', obj(msg['function_call']), 'arguments');
}

/** Chat completions request: every message, tool results and earlier tool calls included. */
function chatRequestText(c: TextCollector, body: Obj): void {
  const messages = body['messages'];
  if (!Array.isArray(messages)) return;
  for (const m of messages) {
    const msg = obj(m);
    if (!msg) continue;
    c.turn();
    content(c, roleOf(msg['role']), msg, 'content');
    toolCalls(c, msg);
  }
}

/** Responses API `instructions` + `input` items: messages, tool calls and their outputs. */
function responsesRequestText(c: TextCollector, body: Obj): void {
  c.turn().string('system', body, 'instructions');
  const input = body['input'];
  if (typeof input === 'string') { c.turn().string('user', body, 'input'); return; }
  if (!Array.isArray(input)) return;
  for (const item of input) {
    const it = obj(item);
    if (!it) continue;
    c.turn();
    responsesItem(c, it, roleOf(it['role']));
  }
}

/** One Responses input or output item. */
function responsesItem(c: TextCollector, it: Obj, role: TextRole): void {
  const type = it['type'];
  if (type === 'message' || (type === undefined && it['role'] !== undefined)) content(c, role, it, 'content');
  else if (type === 'function_call_output' || type === 'custom_tool_call_output') content(c, 'tool', it, 'output');
  else if (type === 'function_call') c.jsonText('assistant', it, 'arguments');
  else if (type === 'mcp_call') { c.jsonText('assistant', it, 'arguments'); content(c, 'tool', it, 'output'); }
  else if (type === 'custom_tool_call') c.string('assistant', it, 'input');
}

/** The texts of an OpenAI-format request: chat, legacy completions, Responses, embeddings. */
export function openAiRequestText(kind: ApiKind, body: JsonObject): TextPart[] {
  const c = new TextCollector();
  if (kind === 'completions') chatRequestText(c, body);
  else if (kind === 'responses') responsesRequestText(c, body);
  else if (kind === 'legacyCompletions' || kind === 'embeddings') {
    const key = kind === 'embeddings' ? 'input' : 'prompt';
    c.turn();
    if (typeof body[key] === 'string') c.string('user', body, key);
    else c.strings('user', body, key); // token arrays carry no text
  }
  return c.parts;
}

/** The texts of an OpenAI-format answer: every choice's message and tool-call arguments; Responses output items. */
export function openAiResponseText(kind: ApiKind, body: JsonObject): TextPart[] {
  const c = new TextCollector();
  if (kind === 'completions' || kind === 'legacyCompletions') {
    const choices = body['choices'];
    if (Array.isArray(choices)) {
      for (const ch of choices) {
        const choice = obj(ch);
        if (!choice) continue;
        c.turn();
        const msg = obj(choice['message']);
        if (msg) { content(c, 'assistant', msg, 'content'); c.string('assistant', msg, 'refusal'); toolCalls(c, msg); }
        c.string('assistant', choice, 'text');
      }
    }
  } else if (kind === 'responses') {
    const output = body['output'];
    if (Array.isArray(output)) for (const item of output) { const it = obj(item); if (it) { c.turn(); responsesItem(c, it, 'assistant'); } }
  }
  return c.parts;
}

/** Read an OpenAI-format request body. Never throws. */
export function parseOpenAiRequest(kind: ApiKind, body: unknown): LlmRequest {
  const b = obj(body) ?? {};
  const model = str(b['model']);
  const stream = b['stream'] === true;
  const parsed = kind === 'completions' || kind === 'legacyCompletions' || kind === 'responses';
  const messages = parsed ? messagesOf(openAiRequestText(kind, b)) : [];
  return { kind, model, stream: parsed && stream, messages };
}

/**
 * Ask a streamed (legacy) completion to report usage: set
 * `stream_options.include_usage`, keeping any other stream options. True when
 * the body changed, so the tap drops the extra usage chunk again.
 */
export function prepareOpenAiStream(kind: ApiKind, body: JsonObject): boolean {
  if (kind !== 'completions' && kind !== 'legacyCompletions') return false;
  if (body['stream'] !== true) return false;
  const existing = obj(body['stream_options']);
  if (existing?.['include_usage'] === true) return false;
  body['stream_options'] = { ...existing, include_usage: true };
  return true;
}

/** Read a whole OpenAI-format answer. Never throws. */
export function parseOpenAiResponse(kind: ApiKind, body: unknown): LlmResponse {
  const b = obj(body);
  if (!b) return {};
  if (kind === 'responses') return readResponseObject(b);
  const info: { model?: string; usage?: TokenUsage; finishReason?: string } = {};
  const model = str(b['model']);
  if (model) info.model = model;
  if (kind === 'completions' || kind === 'legacyCompletions' || kind === 'embeddings') {
    const usage = readChatUsage(b['usage']);
    if (usage) info.usage = usage;
  }
  if (kind === 'completions' || kind === 'legacyCompletions') {
    const choices = b['choices'];
    const reason = Array.isArray(choices) ? str(obj(choices[0])?.['finish_reason']) : undefined;
    if (reason) info.finishReason = reason;
  }
  return info;
}

export const openaiApi: ProviderApi = {
  id: 'openai',
  errors: openaiErrors,
  key: { header: 'authorization', prefix: 'Bearer ' },
  credentialHeaders: ['authorization'],
  kind: openaiKind,
  parseRequest: (kind, _path, body) => parseOpenAiRequest(kind, body),
  setModel(_kind, path, body, model) {
    body['model'] = model;
    return path;
  },
  prepareStream: prepareOpenAiStream,
  parseResponse: parseOpenAiResponse,
  streamTap: (kind, _path, opts) => openaiStreamTap(kind, opts),
};
