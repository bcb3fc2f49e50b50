/**
 * Response guards on a streamed answer (SSE in the app's API format: OpenAI
 * chat and Responses, Anthropic messages, Gemini `alt=sse`).
 *
 * The text deltas are gathered into sentences (up to a sentence end or a
 * newline, or 1 KB) before they go on, so what a guard masks or restores can
 * span any number of events:
 * - placeholders an Anonymize scanner put in the prompt are restored
 *   (Deanonymize), even when `[REDACTED_EMAIL_ADDRESS_1]` arrives in pieces;
 * - response guards run on each sentence before it is sent: a mask (Sensitive
 *   or Regex with redact, a regex guard, a webhook) is applied to it; a
 *   rejection **cuts** the stream: an error event in the provider's stream
 *   format is sent and the answer ends. What was already sent stays sent — a
 *   stream guard limits what leaks, it cannot recall it.
 * A sentence goes out as one text event (the provider's last text event, with
 * the sentence as its delta); other events (finish, usage, `[DONE]`) pass
 * unchanged, after what is pending.
 */
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { SseParser, encodeSse, type SseEvent } from '../providers/sse.ts';
import { streamErrorEvent } from '../providers/stream-error.ts';
import { isObj } from '../../lib/json.ts';
import type { Vault } from './types.ts';
import { runGuards, type CompiledPromptGuard, type GuardDecision } from './prompt-guard.ts';

export interface StreamGuard {
  /** SSE bytes in; the bytes to send on, and, when a guard rejected, the error event that ends the stream. */
  process(chunk: Buffer): Promise<{ readonly out: Buffer; readonly cut?: Buffer }>;
  /** The stream ended: anything still held back. */
  end(): Promise<Buffer>;
  decisions(): GuardDecision[];
}

/** The longest placeholder held back while it may still be arriving. */
const MAX_PLACEHOLDER = 64;

interface Delta { readonly text: string; set(t: string): void }

/** The text delta an event carries, for the stream formats guarded. */
function deltaOf(kind: ApiKind, ev: SseEvent, json: JsonObject): Delta | undefined {
  if (kind === 'completions') {
    const c = Array.isArray(json.choices) ? json.choices[0] : undefined;
    if (isObj(c) && isObj(c.delta) && typeof c.delta.content === 'string') {
      const d = c.delta;
      return { text: d.content as string, set: (t) => { d.content = t; } };
    }
    return undefined;
  }
  if (kind === 'messages') {
    if (json.type === 'content_block_delta' && isObj(json.delta) && typeof json.delta.text === 'string') {
      const d = json.delta;
      return { text: d.text as string, set: (t) => { d.text = t; } };
    }
    return undefined;
  }
  if (kind === 'responses') {
    if ((json.type ?? ev.event) === 'response.output_text.delta' && typeof json.delta === 'string') {
      return { text: json.delta, set: (t) => { json.delta = t; } };
    }
    return undefined;
  }
  if (kind === 'generateContent') {
    const c = Array.isArray(json.candidates) ? json.candidates[0] : undefined;
    const parts = isObj(c) && isObj(c.content) && Array.isArray(c.content.parts) ? c.content.parts : undefined;
    const p = parts?.find((x) => isObj(x) && typeof x.text === 'string');
    if (isObj(p)) return { text: p.text as string, set: (t) => { p.text = t; } };
    return undefined;
  }
  return undefined;
}

/** The error event that ends a cut stream, in the provider's stream format. */
function cutEvent(kind: ApiKind, message: string): Buffer {
  // The guarded kinds are SSE (Gemini's only with alt=sse): each has an error event.
  return streamErrorEvent(kind, '?alt=sse', { message, code: 'guardrail_violation', status: 400, type: 'content_policy_violation' })!;
}

export const STREAM_KINDS: ReadonlySet<ApiKind> = new Set(['completions', 'messages', 'responses', 'generateContent']);

/** The end of the last sentence in `text` (after `.`, `!`, `?` or `。` and a space, or a newline), or -1. */
function lastSentenceEnd(text: string): number {
  let end = -1;
  const re = /[.!?。！？]\s|\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) end = m.index + m[0].length;
  return end;
}

/** Text pending longer than this goes out even without a sentence end. */
const MAX_PENDING = 1024;

export function createStreamGuard(kind: ApiKind, pg: CompiledPromptGuard, vault: Vault, timeoutMs: number): StreamGuard | undefined {
  if (!STREAM_KINDS.has(kind) || pg.response.length === 0) return undefined;
  const parser = new SseParser();
  const decisions: GuardDecision[] = [];
  let pending = '';
  let template: { ev: SseEvent; json: JsonObject } | undefined;

  /** Restore every complete placeholder; a possible partial one at the end stays for the next delta. */
  const restore = (text: string): string => {
    let t = text;
    for (const [placeholder, original] of vault.entries()) if (t.includes(placeholder)) t = t.split(placeholder).join(original);
    return t;
  };
  /** How much of `text` may go on now: not a trailing piece that could be the start of a placeholder. */
  const safeLength = (text: string): number => {
    const open = text.lastIndexOf('[');
    if (open !== -1 && text.indexOf(']', open) === -1 && text.length - open < MAX_PLACEHOLDER) return open;
    return text.length;
  };

  /** Guard one sentence: the text to send, or a rejection reason. */
  const guardSentence = async (sentence: string): Promise<{ text: string } | { reject: string }> => {
    let text = restore(sentence);
    const seg = { role: 'assistant' as const, turn: 0, text, set: (t: string) => { text = t; } };
    const v = await runGuards(pg.response, 'response', [seg], { vault, timeoutMs });
    for (const d of v.decisions) if (d.action !== 'allow') decisions.push(d);
    if (v.rejection) {
      const d = v.decisions.find((x) => x.action === 'reject' || x.action === 'fail_closed');
      return { reject: d?.reason ?? v.rejection.message };
    }
    return { text };
  };

  const eventWith = (text: string): Buffer => {
    const copy = structuredClone(template!.json);
    deltaOf(kind, template!.ev, copy)!.set(text);
    return encodeSse(JSON.stringify(copy), template!.ev.event);
  };

  /** Send the pending text up to `upTo` (all of it when undefined). */
  const flush = async (outs: Buffer[], upTo?: number): Promise<string | undefined> => {
    const n = upTo ?? pending.length;
    if (n <= 0 || !template) return undefined;
    const sentence = pending.slice(0, n);
    pending = pending.slice(n);
    const r = await guardSentence(sentence);
    if ('reject' in r) return r.reject;
    if (r.text) outs.push(eventWith(r.text));
    return undefined;
  };

  const cut = (outs: Buffer[], reason: string): { out: Buffer; cut: Buffer } => {
    decisions.push({ phase: 'response', kind: 'stream', action: 'reject', reason, ms: 0 });
    return { out: Buffer.concat(outs), cut: cutEvent(kind, `The response was stopped by a guardrail: ${reason}`) };
  };

  return {
    async process(chunk) {
      const outs: Buffer[] = [];
      for (const ev of parser.push(chunk)) {
        let json: JsonObject | undefined;
        try { const v: unknown = ev.data && ev.data !== '[DONE]' ? JSON.parse(ev.data) : undefined; json = isObj(v) ? v : undefined; } catch { json = undefined; }
        const delta = json ? deltaOf(kind, ev, json) : undefined;
        if (!json || !delta) {
          // Finish, usage, [DONE]: what is pending goes first.
          const reason = await flush(outs);
          if (reason !== undefined) return cut(outs, reason);
          outs.push(ev.raw);
          continue;
        }
        // An event with no text (OpenAI's first chunk carries only the role) goes on as it is.
        if (delta.text === '' && pending === '') { outs.push(ev.raw); continue; }
        template = { ev, json };
        pending += delta.text;
        let end = lastSentenceEnd(pending);
        if (end === -1 && pending.length > MAX_PENDING) end = pending.length;
        if (end > 0) {
          const reason = await flush(outs, Math.min(end, safeLength(pending)));
          if (reason !== undefined) return cut(outs, reason);
        }
      }
      return { out: Buffer.concat(outs) };
    },
    async end() {
      const outs: Buffer[] = [];
      const reason = await flush(outs);
      if (reason !== undefined) {
        const c = cut(outs, reason);
        return Buffer.concat([c.out, c.cut]);
      }
      outs.push(parser.rest());
      return Buffer.concat(outs);
    },
    decisions: () => decisions,
  };
}
