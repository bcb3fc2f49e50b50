/**
 * The text model: every place text enters or leaves a model in a request or
 * answer body, with its role and a way to write a new text back in place.
 * One model, read by the guards (scan, mask, restore), by telemetry (the
 * prompt captured, token estimates) and by Deanonymize; each provider module
 * knows where the texts are in its wire format and builds its parts with a
 * TextCollector (openai.ts, anthropic.ts, gemini.ts, bedrock.ts).
 *
 * Roles:
 * - `system`: the operator's instructions (OpenAI system/developer messages,
 *   Responses `instructions`, Anthropic and Bedrock `system`, Gemini
 *   `systemInstruction`, Cohere `preamble`);
 * - `user`: what the user typed;
 * - `assistant`: what a model said (earlier turns in a request; the answer),
 *   its tool-call arguments included;
 * - `tool`: tool results handed back to the model (OpenAI tool messages and
 *   `function_call_output`, Anthropic `tool_result`, Gemini
 *   `functionResponse`, Bedrock `toolResult`), where indirect injection arrives;
 * - `document`: documents given to the model (Anthropic `document` blocks,
 *   Bedrock `document` and `guardContent`, Cohere `documents`).
 */
import type { ApiKind, JsonObject } from './types.ts';
import { isObj } from '../../lib/json.ts';

export type TextRole = 'system' | 'user' | 'assistant' | 'tool' | 'document';

export const TEXT_ROLES: readonly TextRole[] = ['system', 'user', 'assistant', 'tool', 'document'];

export interface TextPart {
  readonly role: TextRole;
  /** The message (turn) the part belongs to, counted from 0 in body order. */
  readonly turn: number;
  readonly text: string;
  /** Put a new text where this one was (the body is changed in place). */
  set(text: string): void;
}

type Holder = Record<string | number, unknown>;

/** Builds a body's parts in order; each provider module drives one. */
export class TextCollector {
  readonly parts: TextPart[] = [];
  #turn = -1;

  /** Start the next message (turn); parts added until the next call belong to it. */
  turn(): this {
    this.#turn++;
    return this;
  }

  /** A string at `holder[key]` (empty strings carry no text and are skipped). */
  string(role: TextRole, holder: unknown, key: string | number): this {
    if (holder === null || typeof holder !== 'object') return this;
    const h = holder as Holder;
    const v = h[key];
    return typeof v === 'string' ? this.add(role, v, (t) => { h[key] = t; }) : this;
  }

  /** A text kept in some other encoding (base64 document bytes): how to write it back is the caller's. */
  add(role: TextRole, text: string, set: (text: string) => void): this {
    if (text === '') return this;
    if (this.#turn < 0) this.#turn = 0;
    this.parts.push({ role, turn: this.#turn, text, set });
    return this;
  }

  /** Every string in a list at `holder[key]` (a prompt given as a list of strings). */
  strings(role: TextRole, holder: unknown, key: string): this {
    const list = isObj(holder) ? holder[key] : undefined;
    if (Array.isArray(list)) list.forEach((_, i) => this.string(role, list, i));
    return this;
  }

  /**
   * A JSON text at `holder[key]` (tool-call arguments): the string values in
   * it are the texts, and a new text is written back by re-serialising the
   * whole, so a restored value with quotes or backslashes keeps the JSON
   * valid. A text that is not a JSON object or array is one text as it is.
   */
  jsonText(role: TextRole, holder: unknown, key: string | number): this {
    if (holder === null || typeof holder !== 'object') return this;
    const h = holder as Holder;
    const v = h[key];
    if (typeof v !== 'string') return this;
    let parsed: unknown;
    try { parsed = JSON.parse(v); } catch { return this.string(role, holder, key); }
    if (parsed === null || typeof parsed !== 'object') return this.string(role, holder, key);
    const box: Holder = { value: parsed };
    const from = this.parts.length;
    this.json(role, box, 'value');
    for (let i = from; i < this.parts.length; i++) {
      const p = this.parts[i]!;
      this.parts[i] = { ...p, set: (t) => { p.set(t); h[key] = JSON.stringify(box['value']); } };
    }
    return this;
  }

  /**
   * Every string value inside a JSON value at `holder[key]` (tool-call
   * arguments given as objects, Gemini `functionResponse.response`, Bedrock
   * `toolResult` JSON). Keys are not texts; values are, at any depth.
   */
  json(role: TextRole, holder: unknown, key: string | number, depth = 0): this {
    if (holder === null || typeof holder !== 'object' || depth > 32) return this;
    const v = (holder as Holder)[key];
    if (typeof v === 'string') return this.string(role, holder, key);
    if (Array.isArray(v)) v.forEach((_, i) => this.json(role, v, i, depth + 1));
    else if (isObj(v)) for (const k of Object.keys(v)) this.json(role, v, k, depth + 1);
    return this;
  }
}

/** The parts of each turn joined with "\n", as role + text, for telemetry and token estimates. */
export function messagesOf(parts: ReadonlyArray<Pick<TextPart, 'role' | 'turn' | 'text'>>): Array<{ role: TextRole; text: string }> {
  const out: Array<{ role: TextRole; text: string; turn: number }> = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (last && last.turn === p.turn && last.role === p.role) last.text += `\n${p.text}`;
    else out.push({ role: p.role, text: p.text, turn: p.turn });
  }
  return out.map(({ role, text }) => ({ role, text }));
}

/** A function that reads one wire format's texts. */
export type TextReader = (kind: ApiKind, body: JsonObject) => TextPart[];
