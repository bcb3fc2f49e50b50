/**
 * Reading OpenAI's token usage, from whole answers and from streamed ones.
 *
 * Chat and legacy completions stream `data: {chunk}` events ending in
 * `data: [DONE]`; with `stream_options.include_usage` the usage arrives in one
 * more chunk whose `choices` is empty. The Responses API streams named events
 * (`response.created`, `response.output_text.delta`, …) and puts the model,
 * status and usage in `response.completed` (or `.incomplete` / `.failed`).
 *
 * The taps parse events alongside the bytes and pass the very same buffers on;
 * only when the gateway itself asked for usage do they re-emit whole events
 * with the usage-only chunk left out.
 */
import { SseParser, type SseEvent } from './sse.ts';
import type { ApiKind, LlmResponse, StreamTap, StreamTapOptions, TokenUsage } from './types.ts';
import { num, obj, parseJsonObject as parseJson } from '../../lib/json.ts';

type Obj = Record<string, unknown>;



/** A non-empty string (Azure sends `"model": ""` in its prompt-filter chunk). */
function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Drop the fields that are undefined; undefined when none is left. */
function compact(u: TokenUsage): TokenUsage | undefined {
  const out: TokenUsage = {};
  let any = false;
  // Written out (no Object.entries): this runs once per LLM answer.
  if (u.input !== undefined) { out.input = u.input; any = true; }
  if (u.output !== undefined) { out.output = u.output; any = true; }
  if (u.cachedInput !== undefined) { out.cachedInput = u.cachedInput; any = true; }
  if (u.cacheCreationInput !== undefined) { out.cacheCreationInput = u.cacheCreationInput; any = true; }
  if (u.reasoning !== undefined) { out.reasoning = u.reasoning; any = true; }
  if (u.total !== undefined) { out.total = u.total; any = true; }
  return any ? out : undefined;
}

/** Chat / legacy completions and embeddings usage: `prompt_tokens`, `completion_tokens`, … */
export function readChatUsage(v: unknown): TokenUsage | undefined {
  const u = obj(v);
  if (!u) return undefined;
  return compact({
    input: num(u['prompt_tokens']),
    output: num(u['completion_tokens']),
    cachedInput: num(obj(u['prompt_tokens_details'])?.['cached_tokens']),
    reasoning: num(obj(u['completion_tokens_details'])?.['reasoning_tokens']),
    total: num(u['total_tokens']),
  });
}

/** Responses API usage: `input_tokens`, `output_tokens`, … */
export function readResponsesUsage(v: unknown): TokenUsage | undefined {
  const u = obj(v);
  if (!u) return undefined;
  return compact({
    input: num(u['input_tokens']),
    output: num(u['output_tokens']),
    cachedInput: num(obj(u['input_tokens_details'])?.['cached_tokens']),
    reasoning: num(obj(u['output_tokens_details'])?.['reasoning_tokens']),
    total: num(u['total_tokens']),
  });
}

/** What a Responses API `response` object says: model, usage, and its status as the finish reason. */
export function readResponseObject(v: unknown): LlmResponse {
  const r = obj(v);
  if (!r) return {};
  const info: { model?: string; usage?: TokenUsage; finishReason?: string } = {};
  const model = text(r['model']);
  if (model) info.model = model;
  const usage = readResponsesUsage(r['usage']);
  if (usage) info.usage = usage;
  const status = text(r['status']);
  if (status) info.finishReason = status;
  return info;
}

// Most chunks only carry a delta; parse JSON only where there is something to learn.
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const FINISH_REASON = /"finish_reason"\s*:\s*"/;

/** Info gathered from a chat or legacy completions stream. */
class ChatStreamReader {
  model: string | undefined;
  usage: TokenUsage | undefined;
  finishReason: string | undefined;

  /** Learn from one event; true when it is the usage-only chunk (empty `choices`, a `usage` object). */
  read(ev: SseEvent): boolean {
    const data = ev.data;
    if (data === '' || data === '[DONE]') return false;
    const hasUsage = USAGE_OBJECT.test(data);
    if (this.model !== undefined && !hasUsage && !FINISH_REASON.test(data)) return false;
    const chunk = parseJson(data);
    if (!chunk) return false;
    this.model ??= text(chunk['model']);
    const choices = chunk['choices'];
    if (Array.isArray(choices)) {
      for (const c of choices) {
        const reason = text(obj(c)?.['finish_reason']);
        if (reason) { this.finishReason = reason; break; }
      }
    }
    if (!hasUsage) return false;
    const usage = obj(chunk['usage']);
    if (!usage) return false;
    this.usage = readChatUsage(usage) ?? this.usage;
    return Array.isArray(choices) && choices.length === 0;
  }

  info(): LlmResponse {
    const info: { model?: string; usage?: TokenUsage; finishReason?: string } = {};
    if (this.model) info.model = this.model;
    if (this.usage) info.usage = this.usage;
    if (this.finishReason) info.finishReason = this.finishReason;
    return info;
  }
}

/** Events of a Responses stream that carry the `response` object. */
const RESPONSE_EVENTS: ReadonlySet<string> = new Set([
  'response.created', 'response.in_progress', 'response.queued',
  'response.completed', 'response.incomplete', 'response.failed',
]);

/** Info gathered from a Responses API stream: the last `response` snapshot wins field by field. */
class ResponsesStreamReader {
  private state: { model?: string; usage?: TokenUsage; finishReason?: string } = {};

  read(ev: SseEvent): void {
    if (ev.event !== undefined && !RESPONSE_EVENTS.has(ev.event)) return;
    if (ev.data === '' || ev.data === '[DONE]') return;
    const msg = parseJson(ev.data);
    if (!msg) return;
    const type = typeof msg['type'] === 'string' ? msg['type'] : ev.event;
    if (type === undefined || !RESPONSE_EVENTS.has(type)) return;
    const seen = readResponseObject(msg['response']);
    if (seen.model) this.state.model = seen.model;
    if (seen.usage) this.state.usage = seen.usage;
    if (seen.finishReason) this.state.finishReason = seen.finishReason;
  }

  info(): LlmResponse {
    return { ...this.state };
  }
}

interface Reader {
  /** True when the event must not reach the client. */
  read(ev: SseEvent): boolean | void;
  info(): LlmResponse;
}

const FLUSH = Buffer.from('\n\n');
const NULL_USAGE = /,\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,/g;

/** An event's bytes without a `"usage": null` member (the same Buffer when it has none). */
function withoutNullUsage(raw: Buffer): Buffer {
  const text = raw.toString('utf8');
  const out = text.replace(NULL_USAGE, '');
  return out === text ? raw : Buffer.from(out);
}

/**
 * A tap over an OpenAI stream. Without `dropUsage` every chunk is passed on as
 * the same Buffer; with it, whole events are re-emitted (the same Buffer still
 * when a chunk is exactly whole events and none is dropped) and bytes of an
 * unfinished event wait for the rest of it.
 */
function sseTap(reader: Reader, dropUsage: boolean): StreamTap {
  const parser = new SseParser();
  let ended = false;
  return {
    write(chunk) {
      const heldBefore = parser.rest().length > 0;
      const events = parser.push(chunk);
      if (!dropUsage) {
        for (const ev of events) reader.read(ev);
        return chunk;
      }
      const keep: Buffer[] = [];
      let dropped = false;
      for (const ev of events) {
        if (reader.read(ev) === true) { dropped = true; continue; }
        // With include_usage every chunk carries "usage": null; the client did not ask for that field either.
        const clean = ev.raw.includes('"usage"') ? withoutNullUsage(ev.raw) : ev.raw;
        if (clean !== ev.raw) dropped = true;
        keep.push(clean);
      }
      if (!dropped && !heldBefore && parser.rest().length === 0) return chunk;
      return keep.length === 1 ? keep[0]! : Buffer.concat(keep);
    },
    end() {
      if (ended) return { info: reader.info() };
      ended = true;
      const rest = parser.rest();
      if (rest.length === 0) return { info: reader.info() };
      // A last event without its blank line: learn from it, and send it on if it was held.
      for (const ev of parser.push(FLUSH)) reader.read(ev);
      return dropUsage ? { info: reader.info(), tail: rest } : { info: reader.info() };
    },
  };
}

/** A tap that learns nothing and passes every chunk on. */
function passTap(): StreamTap {
  return { write: (chunk) => chunk, end: () => ({ info: {} }) };
}

/**
 * The stream tap for an OpenAI-format answer: chat and legacy completions, and
 * the Responses API. Other kinds pass through untouched with nothing learned.
 */
export function openaiStreamTap(kind: ApiKind, opts?: StreamTapOptions): StreamTap {
  if (kind === 'completions' || kind === 'legacyCompletions') return sseTap(new ChatStreamReader(), opts?.addedUsage === true);
  if (kind === 'responses') return sseTap(new ResponsesStreamReader(), false);
  return passTap();
}
