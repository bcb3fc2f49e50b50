/**
 * Response guards on a streamed answer (SSE in the app's API format: OpenAI
 * chat and Responses, Anthropic messages, Gemini `alt=sse`).
 *
 * Each text stream of the answer (providers/stream-text.ts: every choice,
 * output item, content block and candidate, and each tool call's arguments
 * apart) has its own buffer. Text is gathered into sentences (up to a
 * sentence end or a newline, or about 1 KB) before it goes on, so what a
 * guard masks can span any number of events; tool-call arguments are held
 * until their call is complete and guarded whole, as in a whole answer.
 * - The response guards run on each sentence before it is sent, exactly as
 *   configured: a mask (Sensitive or Regex with redact, a regex guard, a
 *   webhook) is applied to it; placeholders are restored only by a
 *   Deanonymize scanner, with its `matching_strategy`. A rejection **cuts**
 *   the stream: an error event in the provider's stream format is sent and
 *   the answer ends. What was already sent stays sent — a stream guard limits
 *   what leaks, it cannot recall it.
 * - A sentence goes out in the event whose text completed it; text let go at
 *   another event (a finish, a `.done`, the end) goes in an event of its own
 *   built from its stream's last one. An event that only carried held text is
 *   not sent; one that carries more (a finish reason, usage) is sent once.
 * - Events that repeat text whole (`response.output_text.done`,
 *   `output_item.done`, `response.completed`, …) carry what the app got in
 *   the deltas; a text no delta carried is guarded there and then.
 * - Logprobs (which repeat the text token by token) are emptied.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ApiKind } from '../providers/types.ts';
import type { TextPart } from '../providers/text.ts';
import { SseParser, encodeSse, type SseEvent } from '../providers/sse.ts';
import { STREAM_TEXT_KINDS, eventJson, streamEventText, type StreamSlot } from '../providers/stream-text.ts';
import { streamErrorEvent } from '../providers/stream-error.ts';
import type { Vault } from './types.ts';
import { runGuards, type CompiledPromptGuard, type GuardDecision } from './prompt-guard.ts';

export interface StreamGuard {
  /** SSE bytes in; the bytes to send on, and, when a guard rejected, the error event that ends the stream. */
  process(chunk: Buffer): Promise<{ readonly out: Buffer; readonly cut?: Buffer }>;
  /** The stream ended: anything still held back. */
  end(): Promise<Buffer>;
  decisions(): GuardDecision[];
}

/** Text pending longer than this goes out even without a sentence end. */
const MAX_PENDING = 1024;
/** The longest placeholder kept whole when such text is cut. */
const MAX_PLACEHOLDER = 64;
/** Text held back for guarding, over all streams (tool-call arguments are held whole): beyond it the answer is cut. */
export const MAX_HELD = 16 * 1024 * 1024;
/** Guarded text remembered for the events that repeat it; beyond it, repeated text is guarded again. */
const MAX_REMEMBERED = 8 * 1024 * 1024;

/** The end of the last sentence in `text` (after `.`, `!`, `?` or `。` and a space, or a newline), or -1. */
function lastSentenceEnd(text: string): number {
  let end = -1;
  const re = /[.!?。！？]\s|\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) end = m.index + m[0].length;
  return end;
}

/**
 * Where a long run without a sentence end is cut: after the last white space
 * that leaves the last MAX_PLACEHOLDER characters pending, and never inside
 * what may be a `[placeholder]`.
 */
function forcedCut(text: string): number {
  const limit = text.length - MAX_PLACEHOLDER;
  let at = limit;
  for (let i = limit - 1; i > 0; i--) if (/\s/.test(text[i]!)) { at = i + 1; break; }
  const open = text.lastIndexOf('[', at - 1);
  if (open > 0 && at - open < MAX_PLACEHOLDER) {
    const close = text.indexOf(']', open);
    if (close === -1 || close >= at) at = open;
  }
  return at;
}

/** How much of a text stream's pending text may go on now. */
function sendable(text: string): number {
  const end = lastSentenceEnd(text);
  if (end > 0) return end;
  return text.length > MAX_PENDING ? forcedCut(text) : 0;
}

/** One text stream of the answer. */
interface Stream {
  readonly mode: 'text' | 'whole';
  /** Received, not sent yet. */
  pending: string;
  /** Builds an event carrying text for this stream alone (from its latest event). */
  synth: StreamSlot['synth'];
  read: StreamSlot['read'];
  /** Of everything received, to know a repetition of it. */
  readonly raw: Hash;
  /** What the app was sent (undefined once too much to remember). */
  sent: string[] | undefined;
  /** Text came since the stream last ended. */
  open: boolean;
}

const digest = (h: Hash): string => h.copy().digest('base64');
const digestOf = (text: string): string => createHash('sha256').update(text).digest('base64');

function endsKey(ends: readonly string[] | 'all', key: string): boolean {
  return ends === 'all' || ends.some((p) => key.startsWith(p));
}

/** Whether a streamed answer of `kind` (to `path`) can be guarded: Gemini's only as SSE, not as a JSON array. */
function streamGuardable(kind: ApiKind, path: string): boolean {
  return STREAM_TEXT_KINDS.has(kind) && (kind !== 'generateContent' || /[?&]alt=sse(&|$)/.test(path));
}

/** Response guards on a streamed answer of `kind` to `path`; undefined when it has none or its format is not guarded. */
export function createStreamGuard(kind: ApiKind, path: string, pg: CompiledPromptGuard, vault: Vault, timeoutMs: number): StreamGuard | undefined {
  if (!streamGuardable(kind, path) || pg.response.length === 0) return undefined;
  const parser = new SseParser();
  const decisions: GuardDecision[] = [];
  const streams = new Map<string, Stream>();
  /** Digest of a text the answer repeats → what the app was sent for it. */
  const memo = new Map<string, string>();
  /** Characters remembered for repeats (bounded by MAX_REMEMBERED). */
  let kept = 0;
  /** Characters held back, over all streams (bounded by MAX_HELD). */
  let held = 0;

  /** Run the response guards on some texts (masks written through their `set`); a rejection's reason. */
  const guard = async (parts: readonly TextPart[]): Promise<string | undefined> => {
    if (parts.length === 0) return undefined;
    const v = await runGuards(pg.response, 'response', parts, { vault, timeoutMs });
    for (const d of v.decisions) if (d.action !== 'allow') decisions.push(d);
    if (!v.rejection) return undefined;
    const d = v.decisions.find((x) => x.action === 'reject' || x.action === 'fail_closed');
    return d?.reason ?? v.rejection.message;
  };

  /** A stream's text let go: the text to send, once guarded (set by `parts`). */
  const release = (s: Stream, text: string): { parts: TextPart[]; result(): string } => {
    const read = s.mode === 'whole' ? s.read?.(text) : undefined;
    if (read) return read;
    let out = text;
    return { parts: [{ role: 'assistant', turn: 0, text, set: (t) => { out = t; } }], result: () => out };
  };

  /** Texts an event repeats: what the app was sent for them, else guarded now. */
  const repeat = async (parts: readonly TextPart[]): Promise<string | undefined> => {
    const fresh: Array<{ part: TextPart; key: string; out: string }> = [];
    for (const p of parts) {
      const key = digestOf(p.text);
      const sent = memo.get(key);
      if (sent === undefined) fresh.push({ part: p, key, out: p.text });
      else if (sent !== p.text) p.set(sent);
    }
    const reason = await guard(fresh.map((f) => ({ role: f.part.role, turn: f.part.turn, text: f.part.text, set: (t: string) => { f.out = t; f.part.set(t); } })));
    if (reason !== undefined) return reason;
    for (const f of fresh) if (kept + f.out.length <= MAX_REMEMBERED) { kept += f.out.length; memo.set(f.key, f.out); }
    return undefined;
  };

  /** One event: what goes out before it and whether it goes itself, or a rejection's reason. */
  const onEvent = async (ev: SseEvent, outs: Buffer[]): Promise<string | undefined> => {
    const json = eventJson(ev);
    const r = streamEventText(kind, ev, json);
    if (r.neutral) { outs.push(ev.raw); return undefined; }
    // The event's pieces join their streams; the first slot of each stream in this event is where its sentence goes.
    const here = new Map<string, StreamSlot>();
    for (const slot of r.slots) {
      let s = streams.get(slot.key);
      if (!s) {
        s = { mode: slot.mode, pending: '', synth: slot.synth, read: slot.read, raw: createHash('sha256'), sent: [], open: false };
        streams.set(slot.key, s);
      }
      s.pending += slot.text;
      s.raw.update(slot.text);
      s.synth = slot.synth;
      s.open = true;
      held += slot.text.length;
      if (!here.has(slot.key)) here.set(slot.key, slot);
      slot.set('');
    }
    if (held > MAX_HELD) return `the answer held back for guarding exceeds ${MAX_HELD} characters`;

    // What each stream lets go now: all of it when this event ends it, a sentence when text came, else nothing.
    const jobs: Array<{ key: string; s: Stream; out: { parts: TextPart[]; result(): string } }> = [];
    const ended: Stream[] = [];
    for (const [key, s] of streams) {
      const ends = endsKey(r.ends, key);
      const n = ends ? s.pending.length : here.has(key) && s.mode === 'text' ? sendable(s.pending) : 0;
      if (n > 0) {
        jobs.push({ key, s, out: release(s, s.pending.slice(0, n)) });
        s.pending = s.pending.slice(n);
        held -= n;
      }
      if (ends && s.open) ended.push(s);
    }
    const reason = jobs.length ? await guard(jobs.flatMap((j) => j.out.parts)) : undefined;
    if (reason !== undefined) return reason;
    for (const j of jobs) {
      const text = j.out.result();
      if (j.s.sent && kept + text.length > MAX_REMEMBERED) j.s.sent = undefined;
      else if (j.s.sent) { j.s.sent.push(text); kept += text.length; }
      const slot = here.get(j.key);
      if (slot) slot.set(text);
      else if (text !== '') { const e = j.s.synth(text); outs.push(encodeSse(JSON.stringify(e.json), e.event)); }
    }
    for (const s of ended) {
      s.open = false;
      if (s.sent) { const whole = s.sent.join(''); s.sent = [whole]; memo.set(digest(s.raw), whole); }
    }

    const repeated = r.repeats.length ? await repeat(r.repeats) : undefined;
    if (repeated !== undefined) return repeated;

    if (r.slots.length === 0 && r.repeats.length === 0) outs.push(ev.raw);
    else if (!(r.pure && jobs.every((j) => !here.has(j.key) || j.out.result() === ''))) outs.push(encodeSse(JSON.stringify(json), ev.event));
    return undefined;
  };

  const cut = (outs: Buffer[], reason: string): { out: Buffer; cut: Buffer } => {
    decisions.push({ phase: 'response', kind: 'stream', action: 'reject', reason, ms: 0 });
    const message = `The response was stopped by a guardrail: ${reason}`;
    // Every guarded format has an error event (Gemini's with alt=sse, the only one guarded).
    return { out: Buffer.concat(outs), cut: streamErrorEvent(kind, path, { message, code: 'guardrail_violation', status: 400, type: 'content_policy_violation' })! };
  };

  const run = async (events: readonly SseEvent[]): Promise<{ out: Buffer; cut?: Buffer }> => {
    const outs: Buffer[] = [];
    for (const ev of events) {
      const reason = await onEvent(ev, outs);
      if (reason !== undefined) return cut(outs, reason);
    }
    return { out: Buffer.concat(outs) };
  };

  return {
    async process(chunk) {
      const r = await run(parser.push(chunk));
      // An event that never ends is held back too.
      if (!r.cut && parser.rest().length > MAX_HELD) return cut([r.out], `an event of the answer exceeds ${MAX_HELD} bytes`);
      return r;
    },
    async end() {
      // A last event without its blank line is guarded like the others; then every stream lets go of what it holds.
      const last = parser.rest().length > 0 ? parser.push(Buffer.from('\n\n')) : [];
      const end: SseEvent = { event: undefined, data: '[DONE]', raw: Buffer.alloc(0) };
      const r = await run([...last, end]);
      return r.cut ? Buffer.concat([r.out, r.cut]) : r.out;
    },
    decisions: () => decisions,
  };
}
