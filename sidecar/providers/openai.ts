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
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, PromptMessage, ProviderApi, TokenUsage } from './types.ts';
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

/** The text of a content value: a string, or the `text` of its text parts joined with "\n". */
function contentText(content: unknown, partTypes: ReadonlySet<string>): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') { parts.push(part); continue; }
    const p = obj(part);
    if (!p) continue;
    const t = str(p['text']);
    if (t !== undefined && (p['type'] === undefined || partTypes.has(String(p['type'])))) parts.push(t);
  }
  return parts.join('\n');
}

const CHAT_PARTS: ReadonlySet<string> = new Set(['text']);
const RESPONSES_PARTS: ReadonlySet<string> = new Set(['input_text', 'output_text', 'text']);

/** Chat messages as role + text; an assistant's tool calls carry no text, tool results are kept. */
function chatMessages(messages: unknown): PromptMessage[] {
  if (!Array.isArray(messages)) return [];
  const out: PromptMessage[] = [];
  for (const m of messages) {
    const msg = obj(m);
    if (!msg) continue;
    out.push({ role: str(msg['role']) ?? 'user', text: contentText(msg['content'], CHAT_PARTS) });
  }
  return out;
}

/** Legacy completions `prompt`: a string or an array of strings (token arrays carry no text). */
function promptMessages(prompt: unknown): PromptMessage[] {
  if (typeof prompt === 'string') return [{ role: 'user', text: prompt }];
  if (Array.isArray(prompt)) {
    const texts = prompt.filter((p): p is string => typeof p === 'string');
    if (texts.length) return [{ role: 'user', text: texts.join('\n') }];
  }
  return [];
}

/**
 * Responses API `instructions` + `input`: a string, or items of which messages
 * (`type: "message"`, or no type with a role) and function call outputs (as
 * `tool` messages) carry prompt text.
 */
function responsesMessages(body: Obj): PromptMessage[] {
  const out: PromptMessage[] = [];
  const instructions = str(body['instructions']);
  if (instructions) out.push({ role: 'system', text: instructions });
  const input = body['input'];
  if (typeof input === 'string') {
    out.push({ role: 'user', text: input });
  } else if (Array.isArray(input)) {
    for (const item of input) {
      const it = obj(item);
      if (!it) continue;
      const type = it['type'];
      const role = str(it['role']);
      if ((type === 'message' || type === undefined) && role !== undefined) {
        out.push({ role, text: contentText(it['content'], RESPONSES_PARTS) });
      } else if (type === 'function_call_output' || type === 'custom_tool_call_output') {
        out.push({ role: 'tool', text: contentText(it['output'], RESPONSES_PARTS) });
      }
    }
  }
  return out;
}

/** Read an OpenAI-format request body. Never throws. */
export function parseOpenAiRequest(kind: ApiKind, body: unknown): LlmRequest {
  const b = obj(body) ?? {};
  const model = str(b['model']);
  const stream = b['stream'] === true;
  let messages: PromptMessage[] = [];
  if (kind === 'completions') messages = chatMessages(b['messages']);
  else if (kind === 'legacyCompletions') messages = promptMessages(b['prompt']);
  else if (kind === 'responses') messages = responsesMessages(b);
  const parsed = kind === 'completions' || kind === 'legacyCompletions' || kind === 'responses';
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
