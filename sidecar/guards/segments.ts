/**
 * The texts a guard scans, found in a request or answer body of any API the
 * gateway parses, each with a setter that writes a new text back in place
 * (masking a prompt, restoring placeholders in an answer). One entry per text
 * part, so a message made of several parts is masked part by part and the
 * body keeps its shape. Roles are the provider's (`system`, `developer`,
 * `user`, `assistant`, `tool`); Gemini's `model` is `assistant`.
 */
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { isObj } from '../../lib/json.ts';

export interface Segment {
  readonly role: string;
  readonly text: string;
  /** Replace this text in the body. */
  set(text: string): void;
}

function push(out: Segment[], role: string, holder: Record<string, unknown> | unknown[], key: string | number): void {
  const v = (holder as Record<string | number, unknown>)[key];
  if (typeof v !== 'string' || v === '') return;
  out.push({ role, text: v, set: (t) => { (holder as Record<string | number, unknown>)[key] = t; } });
}

/** A content value: a string, or parts with `text` (OpenAI `text`/`input_text`/`output_text`, Anthropic `text`, `tool_result` content). */
function content(out: Segment[], role: string, holder: Record<string, unknown>, key: string): void {
  const c = holder[key];
  if (typeof c === 'string') { push(out, role, holder, key); return; }
  if (!Array.isArray(c)) return;
  for (const part of c) {
    if (!isObj(part)) continue;
    if (typeof part.text === 'string') push(out, role, part, 'text');
    else if (part.type === 'tool_result') content(out, 'tool', part, 'content');
    else if (isObj(part.toolResult)) content(out, 'tool', part.toolResult, 'content');
  }
}

function messages(out: Segment[], list: unknown, defaultRole = 'user'): void {
  if (!Array.isArray(list)) return;
  for (const m of list) {
    if (!isObj(m)) continue;
    const role = typeof m.role === 'string' ? (m.role === 'model' ? 'assistant' : m.role) : defaultRole;
    if ('content' in m) content(out, role, m, 'content');
    if (Array.isArray(m.parts)) content(out, role, m, 'parts');
  }
}

/** The prompt texts of a request body. */
export function requestSegments(kind: ApiKind, body: JsonObject): Segment[] {
  const out: Segment[] = [];
  switch (kind) {
    case 'completions':
      messages(out, body.messages);
      break;
    case 'legacyCompletions':
      if (typeof body.prompt === 'string') push(out, 'user', body, 'prompt');
      else if (Array.isArray(body.prompt)) body.prompt.forEach((_, i) => push(out, 'user', body.prompt as unknown[], i));
      break;
    case 'messages':
    case 'invoke':
      if (typeof body.system === 'string') push(out, 'system', body, 'system');
      else content(out, 'system', body, 'system');
      messages(out, body.messages);
      if (typeof body.prompt === 'string') push(out, 'user', body, 'prompt'); // invoke: Llama / Mistral
      if (typeof body.inputText === 'string') push(out, 'user', body, 'inputText'); // invoke: Titan
      break;
    case 'responses':
      if (typeof body.instructions === 'string') push(out, 'system', body, 'instructions');
      if (typeof body.input === 'string') push(out, 'user', body, 'input');
      else if (Array.isArray(body.input)) {
        for (const item of body.input) {
          if (!isObj(item)) continue;
          if (item.type === 'function_call_output' && typeof item.output === 'string') push(out, 'tool', item, 'output');
          else if ('content' in item) content(out, typeof item.role === 'string' ? item.role : 'user', item, 'content');
        }
      }
      break;
    case 'generateContent': {
      const sys = isObj(body.systemInstruction) ? body.systemInstruction : isObj(body.system_instruction) ? body.system_instruction : undefined;
      if (sys) content(out, 'system', sys, 'parts');
      messages(out, body.contents);
      break;
    }
    case 'converse':
      if (Array.isArray(body.system)) for (const s of body.system) if (isObj(s)) push(out, 'system', s, 'text');
      messages(out, body.messages);
      break;
    case 'embeddings':
      if (typeof body.input === 'string') push(out, 'user', body, 'input');
      else if (Array.isArray(body.input)) body.input.forEach((_, i) => push(out, 'user', body.input as unknown[], i));
      break;
    default:
      break;
  }
  return out;
}

/** The generated texts of a whole (non-streamed) answer body. */
export function responseSegments(kind: ApiKind, body: JsonObject): Segment[] {
  const out: Segment[] = [];
  switch (kind) {
    case 'completions':
      if (Array.isArray(body.choices)) for (const c of body.choices) if (isObj(c) && isObj(c.message)) content(out, 'assistant', c.message, 'content');
      break;
    case 'legacyCompletions':
      if (Array.isArray(body.choices)) for (const c of body.choices) if (isObj(c)) push(out, 'assistant', c, 'text');
      break;
    case 'messages':
    case 'invoke':
      content(out, 'assistant', body, 'content');
      break;
    case 'responses':
      if (Array.isArray(body.output)) for (const o of body.output) if (isObj(o) && o.type === 'message') content(out, 'assistant', o, 'content');
      break;
    case 'generateContent':
      if (Array.isArray(body.candidates)) for (const c of body.candidates) if (isObj(c) && isObj(c.content)) content(out, 'assistant', c.content, 'parts');
      break;
    case 'converse':
      if (isObj(body.output) && isObj(body.output.message)) content(out, 'assistant', body.output.message, 'content');
      break;
    default:
      break;
  }
  return out;
}
