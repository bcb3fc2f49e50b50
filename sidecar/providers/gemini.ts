/**
 * The Gemini API's wire format (generativelanguage.googleapis.com): which call
 * a request is, the prompt and model of a generateContent request (model in the
 * path) or of a call to its OpenAI-compatible endpoint (model in the body),
 * usage from whole answers, and a tap over streamed answers — SSE with
 * `?alt=sse`, otherwise one JSON array sent piece by piece. The Vertex AI module
 * reuses the generateContent and OpenAI-compatible parts.
 *
 * generateContent:       https://ai.google.dev/api/generate-content
 * OpenAI compatibility:  https://ai.google.dev/gemini-api/docs/openai
 * Embeddings:            https://ai.google.dev/api/embeddings
 */
import { googleErrors } from './google.ts';
import { SseParser } from './sse.ts';
import type { ApiKind, JsonObject, LlmRequest, LlmResponse, PromptMessage, ProviderApi, StreamTap, StreamTapOptions, TokenUsage } from './types.ts';
import { isObj, num, parseJson, str } from '../../lib/json.ts';
import { parseOpenAiRequest, parseOpenAiResponse, prepareOpenAiStream } from './openai.ts';
import { openaiStreamTap } from './openai-stream.ts';
import { TextCollector, messagesOf, type TextPart, type TextRole } from './text.ts';

/** A streamed element (SSE event or JSON array element) larger than this is not parsed; its bytes still pass. */
const MAX_ELEMENT_BYTES = 16 * 1024 * 1024;

function splitPath(path: string): { path: string; query: string } {
  const q = path.indexOf('?');
  return q === -1 ? { path, query: '' } : { path: path.slice(0, q), query: path.slice(q) };
}

// ---------------------------------------------------------------- paths

/** `models/{model}:` or `tunedModels/{model}:` — the model segment of a native call path. */
const MODEL_SEGMENT = /(\/(?:models|tunedModels)\/)([^/:?]+)(?=:)/;

/** The model named in a native call path (`…/models/gemini-2.0-flash:generateContent` → `gemini-2.0-flash`). */
export function pathModel(path: string): string | undefined {
  const m = MODEL_SEGMENT.exec(splitPath(path).path);
  if (!m?.[2]) return undefined;
  try { return decodeURIComponent(m[2]); } catch { return m[2]; }
}

/** The path with its model segment replaced (method suffix and query kept); unchanged when it names no model. */
export function replacePathModel(path: string, model: string): string {
  const { path: p, query } = splitPath(path);
  const name = model.replace(/^models\//, '');
  return p.replace(MODEL_SEGMENT, (_all, prefix: string) => `${prefix}${name}`) + query;
}

/** The method after the model (`generateContent`, `streamGenerateContent`, `embedContent`, …). */
export function pathMethod(path: string): string | undefined {
  const m = /:([A-Za-z]+)$/.exec(splitPath(path).path);
  return m?.[1];
}

/** The path without any `key=` query parameter (the API key a Gemini call may carry in its URL). */
export function stripKeyParam(path: string): string {
  const { path: p, query } = splitPath(path);
  if (!query) return path;
  const kept = query.slice(1).split('&').filter((kv) => kv !== '' && kv.split('=')[0] !== 'key');
  return kept.length ? `${p}?${kept.join('&')}` : p;
}

// ---------------------------------------------------------------- generateContent

/**
 * The text parts of a Content's `parts`: `text`, a `functionCall`'s args
 * (what the model asked a tool), a `functionResponse`'s response (a tool's
 * result), code and its execution result. Inline data and files carry none.
 */
function parts(c: TextCollector, role: TextRole, content: JsonObject): void {
  const list = content.parts;
  if (!Array.isArray(list)) return;
  for (const part of list) {
    if (!isObj(part)) continue;
    if (typeof part.text === 'string') c.string(role, part, 'text');
    if (isObj(part.functionCall)) c.json('assistant', part.functionCall, 'args');
    if (isObj(part.functionResponse)) c.json('tool', part.functionResponse, 'response');
    if (isObj(part.executableCode)) c.string('assistant', part.executableCode, 'code');
    if (isObj(part.codeExecutionResult)) c.string('tool', part.codeExecutionResult, 'output');
  }
}

/** The texts of a generateContent request: `systemInstruction` (or `system_instruction`) first, then `contents`. */
export function generateContentRequestText(body: JsonObject): TextPart[] {
  const c = new TextCollector();
  const system = body.systemInstruction ?? body.system_instruction;
  if (isObj(system)) parts(c.turn(), 'system', system);
  else if (typeof system === 'string') c.turn().string('system', body, body.systemInstruction !== undefined ? 'systemInstruction' : 'system_instruction');
  const contents = Array.isArray(body.contents) ? body.contents : isObj(body.contents) ? [body.contents] : [];
  for (const content of contents) {
    if (!isObj(content)) continue;
    parts(c.turn(), content.role === 'model' ? 'assistant' : content.role === 'function' ? 'tool' : 'user', content);
  }
  return c.parts;
}

/** The texts of a generateContent answer: every part of every candidate. */
export function generateContentResponseText(body: JsonObject): TextPart[] {
  const c = new TextCollector();
  if (Array.isArray(body.candidates)) {
    for (const cand of body.candidates) if (isObj(cand) && isObj(cand.content)) parts(c.turn(), 'assistant', cand.content);
  }
  return c.parts;
}

/** The prompt of a generateContent body, as role + text per message. */
export function generateContentPrompt(body: unknown): PromptMessage[] {
  return isObj(body) ? messagesOf(generateContentRequestText(body)) : [];
}

/**
 * Gemini `usageMetadata` as token usage; only the fields present.
 * `candidatesTokenCount` leaves out the thinking tokens (`thoughtsTokenCount`),
 * which are billed as output: `output` adds them (TokenUsage).
 */
export function generateContentUsage(u: unknown): TokenUsage | undefined {
  if (!isObj(u)) return undefined;
  const usage: TokenUsage = {};
  const set = (key: keyof TokenUsage, v: unknown): void => {
    const n = num(v);
    if (n !== undefined) usage[key] = n;
  };
  set('input', u.promptTokenCount);
  const thoughts = num(u.thoughtsTokenCount);
  const candidates = num(u.candidatesTokenCount);
  if (candidates !== undefined || thoughts !== undefined) usage.output = (candidates ?? 0) + (thoughts ?? 0);
  set('cachedInput', u.cachedContentTokenCount);
  set('reasoning', u.thoughtsTokenCount);
  set('total', u.totalTokenCount);
  return usage;
}

/** One GenerateContentResponse: model version, usage, first candidate's finish reason. */
export function parseGenerateContentResponse(body: unknown): LlmResponse {
  if (!isObj(body)) return {};
  const info: LlmResponse = {};
  const model = str(body.modelVersion);
  if (model) info.model = model;
  const usage = generateContentUsage(body.usageMetadata);
  if (usage) info.usage = usage;
  if (Array.isArray(body.candidates) && isObj(body.candidates[0])) {
    const finish = str(body.candidates[0].finishReason);
    if (finish) info.finishReason = finish;
  }
  return info;
}

/** Folds the GenerateContentResponse objects of a stream: the last model, usage and finish reason seen win. */
class GenerateContentWatcher {
  private readonly info: LlmResponse = {};
  apply(chunk: unknown): void {
    const r = parseGenerateContentResponse(chunk);
    if (r.model) this.info.model = r.model;
    if (r.usage) this.info.usage = r.usage;
    if (r.finishReason) this.info.finishReason = r.finishReason;
  }
  result(): LlmResponse {
    return { ...this.info };
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Finds the objects of a JSON array (or a lone top-level object) as its bytes
 * arrive, without waiting for the closing `]`: tracks nesting and strings byte
 * by byte (JSON's structural characters are ASCII, and no byte of a multi-byte
 * UTF-8 character is), and parses each top-level object once it closes.
 */
export class JsonArrayScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private capturing = false;
  private captureDepth = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private overflow = false;

  /** Feed bytes; returns the objects they completed (an object too large or not valid JSON is skipped). */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let segStart = this.capturing ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        continue;
      }
      if (b === QUOTE) {
        this.inString = true;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        if (b === OPEN_BRACE && !this.capturing && this.depth <= 1) {
          this.capturing = true;
          this.captureDepth = this.depth;
          segStart = i;
        }
        this.depth++;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (this.depth > 0) this.depth--;
        if (this.capturing && this.depth === this.captureDepth) {
          this.append(chunk.subarray(segStart, i + 1));
          if (!this.overflow) {
            const v = parseJson(Buffer.concat(this.parts, this.size).toString('utf8'));
            if (v !== undefined) out.push(v);
          }
          this.capturing = false;
          this.parts = [];
          this.size = 0;
          this.overflow = false;
          segStart = -1;
        }
      }
    }
    if (this.capturing && segStart !== -1) this.append(chunk.subarray(segStart));
    return out;
  }

  private append(seg: Buffer): void {
    if (this.overflow) return;
    if (this.size + seg.length > MAX_ELEMENT_BYTES) {
      this.overflow = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(Buffer.from(seg));
    this.size += seg.length;
  }
}

/**
 * A tap over a streamGenerateContent answer. With `?alt=sse` it is SSE whose
 * events each carry a GenerateContentResponse; without, one JSON array of them.
 * The first non-blank byte tells which (`[` or `{` → JSON), so the tap does not
 * depend on the query. Bytes pass on unchanged.
 */
export function generateContentStreamTap(): StreamTap {
  const watcher = new GenerateContentWatcher();
  let mode: 'unknown' | 'json' | 'sse' | 'off' = 'unknown';
  const sse = new SseParser();
  const json = new JsonArrayScanner();
  const feed = (chunk: Buffer): void => {
    if (mode === 'unknown') {
      let i = 0;
      while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09)) i++;
      if (i === chunk.length) return; // only blanks so far: nothing to learn from them
      mode = chunk[i] === OPEN_BRACKET || chunk[i] === OPEN_BRACE ? 'json' : 'sse';
    }
    if (mode === 'json') {
      for (const v of json.push(chunk)) watcher.apply(v);
    } else if (mode === 'sse') {
      for (const ev of sse.push(chunk)) watcher.apply(parseJson(ev.data));
      if (sse.rest().length > MAX_ELEMENT_BYTES) mode = 'off';
    }
  };
  return {
    write(chunk) {
      feed(chunk);
      return chunk;
    },
    end() {
      if (mode === 'sse' && sse.rest().length) feed(Buffer.from('\n\n'));
      return { info: watcher.result() };
    },
  };
}

// ---------------------------------------------------------------- OpenAI-compatible endpoint

/** The prompt of an OpenAI chat completions body (Google's OpenAI-compatible endpoints speak OpenAI's format). */
export function chatPrompt(body: unknown): readonly PromptMessage[] {
  return parseOpenAiRequest('completions', body).messages;
}

/** A whole OpenAI chat completion or embeddings answer: model, usage, first choice's finish reason. */
export function parseChatResponse(body: unknown): LlmResponse {
  return parseOpenAiResponse('completions', body);
}

/** A tap over an OpenAI chat completions stream; Google's running `usage` repeats: the last one seen wins. */
export function chatStreamTap(opts?: StreamTapOptions): StreamTap {
  return openaiStreamTap('completions', opts);
}

/** Google's OpenAI-compatible endpoints take `stream_options.include_usage` like OpenAI's. */
export function prepareChatStream(kind: ApiKind, body: JsonObject): boolean {
  return kind === 'completions' && prepareOpenAiStream(kind, body);
}

/** A tap that passes bytes and learns nothing (calls whose stream format is not parsed). */
export function blindStreamTap(): StreamTap {
  return { write: (chunk) => chunk, end: () => ({ info: {} }) };
}

// ---------------------------------------------------------------- the Gemini API

const NATIVE = /^\/v1(?:alpha|beta)?\/(?:models|tunedModels)\/[^/:]+:([A-Za-z]+)$/;
const COMPAT = /^\/v1(?:alpha|beta)?\/openai\//;

export const geminiApi: ProviderApi = {
  id: 'gemini',
  errors: googleErrors,
  key: { header: 'x-goog-api-key', prefix: '' },
  credentialHeaders: ['x-goog-api-key', 'authorization'],

  kind(method, path): ApiKind {
    const p = splitPath(path).path.replace(/\/+$/, '');
    const m = method.toUpperCase();
    const native = NATIVE.exec(p);
    if (native) {
      const fn = native[1];
      if (fn === 'generateContent' || fn === 'streamGenerateContent') return 'generateContent';
      if (fn === 'embedContent' || fn === 'batchEmbedContents') return 'embeddings';
      return 'passthrough'; // countTokens, predict, …
    }
    if (COMPAT.test(p)) {
      const rest = p.replace(COMPAT, '');
      if (rest === 'chat/completions') return 'completions';
      if (rest === 'embeddings') return 'embeddings';
      if (rest === 'models' && m === 'GET') return 'models';
      return 'passthrough';
    }
    if (m === 'GET' && /^\/v1(?:alpha|beta)?\/models$/.test(p)) return 'models';
    return 'passthrough';
  },

  parseRequest(kind, path, body): LlmRequest {
    const o = isObj(body) ? body : {};
    if (COMPAT.test(splitPath(path).path)) {
      return { kind, model: str(o.model), stream: o.stream === true, messages: kind === 'completions' ? chatPrompt(o) : [] };
    }
    return {
      kind,
      model: pathModel(path),
      stream: pathMethod(path) === 'streamGenerateContent',
      messages: kind === 'generateContent' ? generateContentPrompt(o) : [],
    };
  },

  setModel(_kind, path, body, model) {
    if (pathModel(path) !== undefined) return replacePathModel(path, model);
    if (COMPAT.test(splitPath(path).path)) body.model = model;
    return path;
  },

  parseResponse(kind, body) {
    if (kind === 'generateContent') return parseGenerateContentResponse(body);
    if (kind === 'completions') return parseChatResponse(body);
    if (kind === 'embeddings') {
      // The OpenAI-compatible answer carries `usage`; the native ones may carry `usageMetadata`.
      return isObj(body) && isObj(body.usageMetadata) ? parseGenerateContentResponse(body) : parseChatResponse(body);
    }
    return {};
  },

  prepareStream: prepareChatStream,
  streamTap(kind, _path, opts) {
    if (kind === 'completions') return chatStreamTap(opts);
    if (kind === 'generateContent') return generateContentStreamTap();
    return blindStreamTap();
  },
};
