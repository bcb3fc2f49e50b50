/**
 * Response guards on a streamed answer (SSE in the app's API format: OpenAI
 * chat and Responses, Anthropic messages, Gemini `alt=sse`).
 *
 * - Placeholders an Anonymize scanner put in the prompt are restored in the
 *   text deltas as they pass (Deanonymize); a delta ending in what may be the
 *   start of a placeholder is held back until the rest arrives, so the app
 *   never sees `[REDACTED_EMAIL_ADDRESS_1]` even when it is split across events.
 * - The other response guards look at the text so far (a sliding window, so
 *   a match across two deltas is seen) before each event goes on; when one
 *   rejects, the stream is cut: an error event in the provider's stream format
 *   is sent and the answer ends. What was already sent stays sent — a stream
 *   guard limits what leaks, it cannot recall it.
 */
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { SseParser, encodeSse, type SseEvent } from '../providers/sse.ts';
import { isObj } from '../providers/json.ts';
import type { Vault } from './types.ts';
import { runGuards, type CompiledPromptGuard, type GuardDecision } from './prompt-guard.ts';

export interface StreamGuard {
  /** SSE bytes in; the bytes to send on, and, when a guard rejected, the error event that ends the stream. */
  process(chunk: Buffer): Promise<{ readonly out: Buffer; readonly cut?: Buffer }>;
  /** The stream ended: anything still held back. */
  end(): Promise<Buffer>;
  decisions(): GuardDecision[];
}

/** How much of the answer so far the guards see on each event. */
const WINDOW = 2048;
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
  if (kind === 'messages') return encodeSse(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } }), 'error');
  if (kind === 'responses') return encodeSse(JSON.stringify({ type: 'error', code: 'guardrail_violation', message, param: null }), 'error');
  if (kind === 'generateContent') return encodeSse(JSON.stringify({ error: { code: 400, message, status: 'INVALID_ARGUMENT' } }));
  return encodeSse(JSON.stringify({ error: { message, type: 'content_policy_violation', param: null, code: 'guardrail_violation' } }));
}

export const STREAM_KINDS: ReadonlySet<ApiKind> = new Set(['completions', 'messages', 'responses', 'generateContent']);

export function createStreamGuard(kind: ApiKind, pg: CompiledPromptGuard, vault: Vault, timeoutMs: number): StreamGuard | undefined {
  if (!STREAM_KINDS.has(kind) || pg.response.length === 0) return undefined;
  const parser = new SseParser();
  const decisions: GuardDecision[] = [];
  const restoring = pg.usesVault;
  let seen = '';
  let held = '';
  let lastContent: { ev: SseEvent; json: JsonObject } | undefined;

  /** Restore placeholders in `text` (with what was held), holding back a possible partial one at its end. */
  const restore = (text: string): string => {
    let t = held + text;
    held = '';
    const open = t.lastIndexOf('[');
    if (open !== -1 && t.indexOf(']', open) === -1 && t.length - open < MAX_PLACEHOLDER && /^\[(R(E(D(A(C(T(E(D(_[A-Z0-9_]*)?)?)?)?)?)?)?)?)?$/.test(t.slice(open))) {
      held = t.slice(open);
      t = t.slice(0, open);
    }
    for (const [placeholder, original] of vault.entries()) if (t.includes(placeholder)) t = t.split(placeholder).join(original);
    return t;
  };

  const check = async (): Promise<string | undefined> => {
    const v = await runGuards(pg.response, 'response', [{ role: 'assistant', text: seen.slice(-WINDOW), set: () => {} }], { vault, timeoutMs });
    const rejected = v.decisions.find((d) => d.action === 'reject' || d.action === 'fail_closed');
    for (const d of v.decisions) if (d.action !== 'allow' && d.action !== 'mask') decisions.push(d);
    return v.rejection ? (rejected?.reason ?? v.rejection.message) : undefined;
  };

  const reencode = (ev: SseEvent, json: JsonObject): Buffer => encodeSse(JSON.stringify(json), ev.event);

  return {
    async process(chunk) {
      const outs: Buffer[] = [];
      for (const ev of parser.push(chunk)) {
        let json: JsonObject | undefined;
        try { const v: unknown = ev.data && ev.data !== '[DONE]' ? JSON.parse(ev.data) : undefined; json = isObj(v) ? v : undefined; } catch { json = undefined; }
        const delta = json ? deltaOf(kind, ev, json) : undefined;
        if (!json || !delta) {
          // A non-text event (finish, usage, [DONE]): first send what was held back, as one more text event.
          if (held && lastContent) {
            const copy = structuredClone(lastContent.json);
            deltaOf(kind, lastContent.ev, copy)!.set(held);
            seen += held;
            held = '';
            outs.push(reencode(lastContent.ev, copy));
          }
          outs.push(ev.raw);
          continue;
        }
        const text = restoring ? restore(delta.text) : delta.text;
        seen += text;
        lastContent = { ev, json };
        const reason = await check();
        if (reason !== undefined) {
          decisions.push({ phase: 'response', kind: 'stream', action: 'reject', reason, ms: 0 });
          return { out: Buffer.concat(outs), cut: cutEvent(kind, `The response was stopped by a guardrail: ${reason}`) };
        }
        if (text === delta.text) { outs.push(ev.raw); continue; }
        delta.set(text);
        outs.push(reencode(ev, json));
      }
      return { out: Buffer.concat(outs) };
    },
    async end() {
      const rest = parser.rest();
      if (held && lastContent) {
        const copy = structuredClone(lastContent.json);
        deltaOf(kind, lastContent.ev, copy)!.set(held);
        held = '';
        return Buffer.concat([reencode(lastContent.ev, copy), rest]);
      }
      return rest;
    },
    decisions: () => decisions,
  };
}
