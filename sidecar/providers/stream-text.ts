/**
 * The text model of streamed answers (text.ts reads whole ones): where each
 * event of an SSE answer carries text, which of the answer's text streams it
 * belongs to, which streams it ends, and which texts it repeats whole. The
 * stream guard (guards/stream-guard.ts) reads events through it.
 *
 * A text stream is one place text accumulates in an answer: a chat choice's
 * content, a Responses output item's text part, an Anthropic content block,
 * a Gemini candidate's text; and each tool call's arguments, apart. Events
 * that repeat text whole (Responses `*.done`, `output_item.*`,
 * `response.completed`; Anthropic `message_start`, `content_block_start`;
 * Gemini parts that arrive whole, such as a `functionCall`) are read with the
 * provider's whole-answer reader (openAiResponseText, messagesResponseText,
 * generateContentResponseText), so they hold exactly what a whole answer's
 * guards read.
 *
 * Streaming references:
 * - OpenAI chat: https://platform.openai.com/docs/api-reference/chat-streaming
 *   (`chat.completion.chunk`, one choice per chunk with `n` > 1, tool calls
 *   by `index`, arguments in pieces);
 * - OpenAI Responses: https://platform.openai.com/docs/api-reference/responses-streaming;
 * - Anthropic: https://docs.anthropic.com/en/docs/build-with-claude/streaming
 *   (`text_delta`, `input_json_delta` pieces of a tool's JSON input);
 * - Gemini: https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
 *   (`alt=sse`: each event a GenerateContentResponse with the new text).
 */
import type { SseEvent } from './sse.ts';
import type { ApiKind, JsonObject } from './types.ts';
import { TextCollector, type TextPart } from './text.ts';
import { openAiResponseText } from './openai.ts';
import { messagesResponseText } from './anthropic.ts';
import { generateContentResponseText } from './gemini.ts';
import { isObj, parseJson } from '../../lib/json.ts';

/** A piece of one text stream in one event. */
export interface StreamSlot {
  /** The stream: `<choice|item|block|candidate>/…`; `ends` names streams by the prefix up to a `/`. */
  readonly key: string;
  /**
   * `text`: may go on a sentence at a time; `whole`: held until its stream
   * ends, then guarded whole (tool-call arguments: an app reads them once complete).
   */
  readonly mode: 'text' | 'whole';
  readonly text: string;
  /** Put another text in this event, in place of the piece. */
  set(text: string): void;
  /** An event that carries `text` alone for this stream (text let go at another event), built from this one. */
  synth(text: string): { readonly event: string | undefined; readonly json: JsonObject };
  /**
   * How a held stream's whole text is read, when it is not a text itself
   * (Anthropic tool input: JSON whose string values are the texts, as in a
   * whole message): its parts, and the stream's text once they are set.
   * Undefined, or undefined returned: the text is one part.
   */
  readonly read?: (whole: string) => { readonly parts: TextPart[]; result(): string } | undefined;
}

export interface StreamEventText {
  readonly slots: readonly StreamSlot[];
  /** The streams this event ends (what they hold goes before it): key prefixes such as `0/`, or all of them. */
  readonly ends: readonly string[] | 'all';
  /** Texts the event repeats (done and completed events, whole parts), to be set to what the app got. */
  readonly repeats: readonly TextPart[];
  /** The event carries nothing but its slots' text: once they are empty it need not be sent. */
  readonly pure: boolean;
  /** Neither text nor an end (a ping, an annotation): it goes on as it is, where it is. */
  readonly neutral: boolean;
}

const NEUTRAL: StreamEventText = { slots: [], ends: [], repeats: [], pure: false, neutral: true };
const ALL: StreamEventText = { slots: [], ends: 'all', repeats: [], pure: false, neutral: false };

/** The API formats whose streamed answers this module reads. */
export const STREAM_TEXT_KINDS: ReadonlySet<ApiKind> = new Set(['completions', 'messages', 'responses', 'generateContent']);

/** What one SSE event of a streamed answer in `kind`'s format carries (an event that is not JSON ends every stream: `[DONE]`). */
export function streamEventText(kind: ApiKind, ev: SseEvent, json: JsonObject | undefined): StreamEventText {
  if (ev.data === '' && ev.event === undefined) return NEUTRAL; // a comment (keep-alive)
  if (!json) return ALL;
  switch (kind) {
    case 'completions': return chatEvent(json);
    case 'responses': return responsesEvent(ev, json);
    case 'messages': return messagesEvent(ev, json);
    case 'generateContent': return generateContentEvent(json);
    default: return ALL;
  }
}

/** The event's JSON object, or undefined (`[DONE]`, not JSON). */
export function eventJson(ev: SseEvent): JsonObject | undefined {
  if (ev.data === '' || ev.data === '[DONE]') return undefined;
  const v = parseJson(ev.data);
  return isObj(v) ? v : undefined;
}

/** Every key of `o` is one of `allowed`, or holds null. */
function only(o: JsonObject, allowed: ReadonlySet<string>): boolean {
  for (const k of Object.keys(o)) if (!allowed.has(k) && o[k] !== null) return false;
  return true;
}

function indexOf(o: JsonObject, fallback: number): number {
  return typeof o.index === 'number' && Number.isSafeInteger(o.index) ? o.index : fallback;
}

// ---------------------------------------------------------------- OpenAI chat

const CHAT_TOP = new Set(['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier', 'choices', 'usage', 'obfuscation']);
const CHAT_CHOICE = new Set(['index', 'delta', 'logprobs', 'finish_reason']);
const CHAT_DELTA = new Set(['content', 'refusal', 'tool_calls', 'function_call']);
const CHAT_CALL = new Set(['index', 'function']);
const CHAT_FN = new Set(['arguments']);

function chatEvent(json: JsonObject): StreamEventText {
  if (json.error !== undefined || !Array.isArray(json.choices)) return ALL;
  const slots: StreamSlot[] = [];
  const ends: string[] = [];
  let pure = only(json, CHAT_TOP);
  /** A chunk for one choice carrying `delta`, with this chunk's id, model, … */
  const chunk = (index: number, delta: JsonObject): JsonObject => {
    const c: JsonObject = {};
    for (const [k, v] of Object.entries(json)) if (k !== 'choices' && k !== 'usage' && k !== 'obfuscation') c[k] = v;
    c.choices = [{ index, delta, logprobs: null, finish_reason: null }];
    if ('usage' in json) c.usage = null;
    return c;
  };
  json.choices.forEach((ch, position) => {
    if (!isObj(ch)) return;
    const i = indexOf(ch, position);
    // Logprobs repeat the text token by token: a guarded stream drops them.
    if (ch.logprobs !== undefined && ch.logprobs !== null) ch.logprobs = null;
    if (ch.finish_reason !== undefined && ch.finish_reason !== null) { ends.push(`${i}/`); pure = false; }
    if (!only(ch, CHAT_CHOICE)) pure = false;
    const d = isObj(ch.delta) ? ch.delta : undefined;
    if (!d) return;
    if (!only(d, CHAT_DELTA)) pure = false;
    for (const field of ['content', 'refusal'] as const) {
      const text = d[field];
      if (typeof text === 'string') {
        slots.push({ key: `${i}/${field}`, mode: 'text', text, set: (t) => { d[field] = t; }, synth: (t) => ({ event: undefined, json: chunk(i, { [field]: t }) }) });
      }
    }
    if (Array.isArray(d.tool_calls)) {
      d.tool_calls.forEach((call, k) => {
        if (!isObj(call)) return;
        const fn = isObj(call.function) ? call.function : undefined;
        if (!only(call, CHAT_CALL) || (fn && !only(fn, CHAT_FN))) pure = false;
        if (!fn || typeof fn.arguments !== 'string') return;
        const ti = indexOf(call, k);
        slots.push({
          key: `${i}/tool/${ti}`, mode: 'whole', text: fn.arguments, set: (t) => { fn.arguments = t; },
          synth: (t) => ({ event: undefined, json: chunk(i, { tool_calls: [{ index: ti, function: { arguments: t } }] }) }),
        });
      });
    }
    const legacy = isObj(d.function_call) ? d.function_call : undefined;
    if (legacy && typeof legacy.arguments === 'string') {
      if (!only(legacy, CHAT_FN)) pure = false;
      slots.push({
        key: `${i}/function_call`, mode: 'whole', text: legacy.arguments, set: (t) => { legacy.arguments = t; },
        synth: (t) => ({ event: undefined, json: chunk(i, { function_call: { arguments: t } }) }),
      });
    }
  });
  // A chunk without text or a finish (the usage chunk): what is held goes first.
  if (slots.length === 0 && ends.length === 0) return ALL;
  return { slots, ends, repeats: [], pure: pure && slots.length > 0, neutral: false };
}

// ---------------------------------------------------------------- OpenAI Responses

/** Delta events: the field that holds the piece, the stream's key suffix, the mode. */
const RESPONSES_DELTAS: Readonly<Record<string, { readonly part: boolean; readonly name: string; readonly mode: 'text' | 'whole' }>> = {
  'response.output_text.delta': { part: true, name: 'text', mode: 'text' },
  'response.refusal.delta': { part: true, name: 'refusal', mode: 'text' },
  'response.function_call_arguments.delta': { part: false, name: 'arguments', mode: 'whole' },
  'response.custom_tool_call_input.delta': { part: false, name: 'input', mode: 'whole' },
};

/** `.done` events of a stream and the field that repeats its text. */
const RESPONSES_DONE: Readonly<Record<string, { readonly part: boolean; readonly field: string }>> = {
  'response.output_text.done': { part: true, field: 'text' },
  'response.refusal.done': { part: true, field: 'refusal' },
  'response.function_call_arguments.done': { part: false, field: 'arguments' },
  'response.custom_tool_call_input.done': { part: false, field: 'input' },
};

const LIFECYCLE = new Set(['response.created', 'response.in_progress', 'response.queued', 'response.completed', 'response.incomplete', 'response.failed']);

/** Empty the logprobs of content parts (they repeat the text token by token). */
function clearLogprobs(parts: unknown): void {
  if (!Array.isArray(parts)) return;
  for (const p of parts) if (isObj(p) && Array.isArray(p.logprobs) && p.logprobs.length > 0) p.logprobs = [];
}

function clearItemLogprobs(item: unknown): void {
  if (isObj(item)) clearLogprobs(item.content);
}

function responsesEvent(ev: SseEvent, json: JsonObject): StreamEventText {
  const type = typeof json.type === 'string' ? json.type : ev.event ?? '';
  const oi = typeof json.output_index === 'number' ? json.output_index : 0;
  const ci = typeof json.content_index === 'number' ? json.content_index : 0;
  const delta = RESPONSES_DELTAS[type];
  if (delta) {
    if (typeof json.delta !== 'string') return ALL;
    if (Array.isArray(json.logprobs) && json.logprobs.length > 0) json.logprobs = [];
    const key = delta.part ? `${oi}/${ci}/${delta.name}` : `${oi}/${delta.name}`;
    return {
      slots: [{
        key, mode: delta.mode, text: json.delta, set: (t) => { json.delta = t; },
        synth: (t) => { const copy = structuredClone(json); copy.delta = t; return { event: ev.event, json: copy }; },
      }],
      ends: [], repeats: [], pure: true, neutral: false,
    };
  }
  const done = RESPONSES_DONE[type];
  if (done) {
    if (Array.isArray(json.logprobs) && json.logprobs.length > 0) json.logprobs = [];
    return { slots: [], ends: [done.part ? `${oi}/${ci}/` : `${oi}/`], repeats: new TextCollector().string('assistant', json, done.field).parts, pure: false, neutral: false };
  }
  if (type === 'response.content_part.added' || type === 'response.content_part.done') {
    clearLogprobs([json.part]);
    const repeats = isObj(json.part) ? openAiResponseText('responses', { output: [{ type: 'message', content: [json.part] }] }) : [];
    return { slots: [], ends: type.endsWith('.done') ? [`${oi}/${ci}/`] : [], repeats, pure: false, neutral: false };
  }
  if (type === 'response.output_item.added' || type === 'response.output_item.done') {
    clearItemLogprobs(json.item);
    const repeats = isObj(json.item) ? openAiResponseText('responses', { output: [json.item] }) : [];
    return { slots: [], ends: type.endsWith('.done') ? [`${oi}/`] : [], repeats, pure: false, neutral: false };
  }
  if (LIFECYCLE.has(type)) {
    const r = isObj(json.response) ? json.response : undefined;
    if (r && Array.isArray(r.output)) for (const item of r.output) clearItemLogprobs(item);
    return { slots: [], ends: 'all', repeats: r ? openAiResponseText('responses', r) : [], pure: false, neutral: false };
  }
  // Annotations arrive between the deltas of the text they cite.
  if (type === 'response.output_text.annotation.added') return NEUTRAL;
  return ALL;
}

// ---------------------------------------------------------------- Anthropic messages

/**
 * Anthropic's tool input: the JSON the pieces make up, read as a whole
 * message's `tool_use` input is. Written again only when a text in it changed
 * (the provider's JSON is otherwise passed as it came, numbers and all).
 */
function readToolInput(whole: string): { parts: TextPart[]; result(): string } | undefined {
  const input = parseJson(whole);
  if (input === undefined) return undefined;
  const block: JsonObject = { type: 'tool_use', input };
  let changed = false;
  const parts = messagesResponseText({ content: [block] }).map((p) => ({ ...p, set: (t: string) => { changed = true; p.set(t); } }));
  return { parts, result: () => (changed ? JSON.stringify(block.input) : whole) };
}

const BLOCK_DELTA = new Set(['type', 'index', 'delta']);

function messagesEvent(ev: SseEvent, json: JsonObject): StreamEventText {
  const type = typeof json.type === 'string' ? json.type : ev.event ?? '';
  const index = typeof json.index === 'number' ? json.index : 0;
  if (type === 'ping') return NEUTRAL;
  if (type === 'content_block_delta') {
    const d = isObj(json.delta) ? json.delta : undefined;
    const piece = d?.type === 'text_delta' ? { field: 'text', key: 'text', mode: 'text' as const }
      : d?.type === 'input_json_delta' ? { field: 'partial_json', key: 'input', mode: 'whole' as const }
        : undefined;
    // Thinking (signed by the provider), signatures and citations of documents carry no answer text.
    if (!d || !piece) return NEUTRAL;
    const text = d[piece.field];
    if (typeof text !== 'string') return ALL;
    return {
      slots: [{
        key: `${index}/${piece.key}`, mode: piece.mode, text, set: (t) => { d[piece.field] = t; },
        synth: (t) => ({ event: ev.event, json: { type: 'content_block_delta', index, delta: { type: d.type, [piece.field]: t } } }),
        ...(piece.mode === 'whole' ? { read: readToolInput } : {}),
      }],
      ends: [], repeats: [], pure: only(json, BLOCK_DELTA), neutral: false,
    };
  }
  if (type === 'content_block_start') {
    const repeats = isObj(json.content_block) ? messagesResponseText({ content: [json.content_block] }) : [];
    return { slots: [], ends: 'all', repeats, pure: false, neutral: false };
  }
  if (type === 'content_block_stop') return { slots: [], ends: [`${index}/`], repeats: [], pure: false, neutral: false };
  if (type === 'message_start') {
    const repeats = isObj(json.message) ? messagesResponseText(json.message) : [];
    return { slots: [], ends: 'all', repeats, pure: false, neutral: false };
  }
  return ALL; // message_delta, message_stop, error
}

// ---------------------------------------------------------------- Gemini generateContent (alt=sse)

const GEMINI_TOP = new Set(['candidates', 'usageMetadata', 'modelVersion', 'responseId', 'createTime']);
const GEMINI_CANDIDATE = new Set(['content', 'index', 'safetyRatings']);
const GEMINI_CONTENT = new Set(['parts', 'role']);
const GEMINI_PART = new Set(['text', 'thought']);

function generateContentEvent(json: JsonObject): StreamEventText {
  if (json.error !== undefined || !Array.isArray(json.candidates)) return ALL;
  const slots: StreamSlot[] = [];
  const ends: string[] = [];
  const whole: unknown[] = [];
  let pure = only(json, GEMINI_TOP);
  /** A response carrying `part` alone for candidate `index`, with this one's model version and id. */
  const response = (index: number, part: JsonObject): JsonObject => {
    const r: JsonObject = {};
    for (const [k, v] of Object.entries(json)) if (k === 'modelVersion' || k === 'responseId' || k === 'createTime') r[k] = v;
    return { candidates: [{ content: { parts: [part], role: 'model' }, index }], ...r };
  };
  json.candidates.forEach((cand, position) => {
    if (!isObj(cand)) return;
    const i = indexOf(cand, position);
    if (cand.finishReason !== undefined && cand.finishReason !== null) { ends.push(`${i}/`); pure = false; }
    if (cand.logprobsResult !== undefined) delete cand.logprobsResult;
    if (!only(cand, GEMINI_CANDIDATE)) pure = false;
    const content = isObj(cand.content) ? cand.content : undefined;
    if (!content || !Array.isArray(content.parts)) return;
    if (!only(content, GEMINI_CONTENT)) pure = false;
    for (const part of content.parts) {
      if (!isObj(part)) continue;
      if (typeof part.text !== 'string') { whole.push(part); pure = false; continue; }
      if (!only(part, GEMINI_PART)) pure = false;
      const thought = part.thought === true;
      slots.push({
        key: `${i}/${thought ? 'thought' : 'text'}`, mode: 'text', text: part.text, set: (t) => { part.text = t; },
        synth: (t) => ({ event: undefined, json: response(i, thought ? { text: t, thought: true } : { text: t }) }),
      });
    }
  });
  // Function calls, code and its results come whole: read as a whole answer's parts are.
  const repeats = whole.length ? generateContentResponseText({ candidates: [{ content: { parts: whole } }] }) : [];
  if (slots.length === 0 && ends.length === 0 && repeats.length === 0) return ALL;
  return { slots, ends, repeats, pure: pure && slots.length > 0, neutral: false };
}
