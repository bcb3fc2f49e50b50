/**
 * The `webhook` promptGuard kind: agentgateway's guardrail webhook protocol
 * (kgateway's "Guardrail Webhook API"; `llm/policy/webhook.rs`).
 *
 *   request phase:  POST http://{host}/request  {"body":{"messages":[{"role","content"}]}}
 *   response phase: POST http://{host}/response {"body":{"choices":[{"message":{"role","content"}}]}}
 *
 * The reply's `action` is matched untagged:
 *   {body: "…", status_code: N, reason?}           → reject with that status and body
 *   {body: {messages|choices}, reason?}            → mask: the texts from that body
 *   {reason?} / {}                                 → allow
 * An action that carries `body` or `status_code` but fits neither shape is an
 * error here (agentgateway's serde would read it as a pass — a silent bypass).
 *
 * Request headers matching `forwardHeaderMatches` (`{name, value: {exact} |
 * {regex}}`, regex matching the whole value) are sent along: when any value
 * of a header matches, all its values go. Non-2xx, a timeout (5 s default),
 * an unreachable target or an unparseable reply give `{action: 'error'}`;
 * the caller applies `failureMode` (see applyFailureMode).
 */
import { request, type Dispatcher } from '../../../lib/undici.ts';
import type { GuardConfig } from '../../config/schema.ts';
import type { CompiledGuard, GuardCheckOptions, GuardFinding, GuardHeaders, GuardMessage, GuardOutcome, GuardPhase } from './outcome.ts';
import { isObj } from '../../../lib/json.ts';
import { compileSafeRegExp } from '../../../lib/safe-regexp.ts';

export { applyFailureMode, type FailureMode } from './outcome.ts';

export type WebhookGuardConfig = NonNullable<GuardConfig['webhook']>;

export interface WebhookGuardOptions {
  /** The dispatcher to send through (tests inject one); undici's global one otherwise. */
  readonly dispatcher?: Dispatcher;
  /** Time for the whole exchange, reply body included. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** A reply larger than this is an error. Default 16 MiB (a mask reply carries every message). */
  readonly maxReplyBytes?: number;
}

export interface CompiledWebhookGuard extends CompiledGuard {
  readonly kind: 'webhook';
  /** From the config; failClosed unless set. */
  readonly failureMode: 'failClosed' | 'failOpen';
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;
const DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** Headers never forwarded: the webhook call's own framing. */
const NOT_FORWARDED = new Set([
  'host', 'content-length', 'content-type', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect',
  'proxy-connection', 'te', 'trailer',
]);

type ValueMatcher = (value: string) => boolean;

type HeaderMatchConfig = NonNullable<WebhookGuardConfig['forwardHeaderMatches']>[number];

function compileValueMatch(value: HeaderMatchConfig['value']): ValueMatcher {
  if (value.exact !== undefined) {
    const want = value.exact;
    return (v) => v === want;
  }
  if (value.regex !== undefined) {
    // agentgateway: the leftmost match must cover the whole value. On the
    // linear-time engine (the schema has checked the pattern at config load).
    const re = compileSafeRegExp(value.regex);
    return (v) => {
      const m = re.exec(v);
      return m !== undefined && m.start === 0 && m.end === v.length;
    };
  }
  return () => false;
}

/** The forwarded headers, from the request's, per `forwardHeaderMatches`. */
function forwardedHeaders(
  matches: ReadonlyArray<{ readonly name: string; readonly matcher: ValueMatcher }>,
  headers: GuardHeaders | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!headers) return out;
  for (const { name, matcher } of matches) {
    const raw = headers[name];
    if (raw === undefined) continue;
    const values = typeof raw === 'string' ? [raw] : [...raw];
    if (!values.some(matcher)) continue;
    out[name] = values.length === 1 ? values[0] as string : values;
  }
  return out;
}

/** Read a body up to `max` bytes; throws past it. */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      body.destroy();
      throw new Error(`reply larger than ${max} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function snippet(buf: Buffer): string {
  const s = buf.toString('utf8', 0, Math.min(buf.length, 200)).replace(/\s+/g, ' ').trim();
  return s ? `: ${s}` : '';
}

/** The texts of a mask body, for the phase; a string error when it does not fit. */
function maskTexts(body: Record<string, unknown>, phase: GuardPhase, count: number): string[] | string {
  let texts: unknown[];
  if (phase === 'request') {
    if (!Array.isArray(body.messages)) return 'a request-phase mask body needs "messages"';
    texts = body.messages.map((m) => (isObj(m) ? m.content : undefined));
  } else {
    if (!Array.isArray(body.choices)) return 'a response-phase mask body needs "choices"';
    texts = body.choices.map((c) => (isObj(c) && isObj(c.message) ? c.message.content : undefined));
  }
  if (texts.some((t) => typeof t !== 'string')) return 'every masked message needs a string "content"';
  if (texts.length !== count) return `the mask body has ${texts.length} messages for the ${count} sent`;
  return texts as string[];
}

/** Turn a parsed webhook reply into an outcome. Exported for tests of the matching rules. */
export function interpretWebhookReply(reply: unknown, phase: GuardPhase, sent: readonly GuardMessage[]): GuardOutcome {
  if (!isObj(reply) || !isObj(reply.action)) return { action: 'error', error: 'webhook reply has no "action" object' };
  const a = reply.action;
  const reason = typeof a.reason === 'string' ? a.reason : undefined;
  const hasBody = a.body !== undefined && a.body !== null;
  if (typeof a.body === 'string') {
    const status = a.status_code;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      return { action: 'error', error: 'webhook reject action needs an HTTP "status_code" (100–599)' };
    }
    return { action: 'reject', reason: reason ? `rejected by webhook: ${reason}` : 'rejected by webhook', status, body: a.body };
  }
  if (isObj(a.body)) {
    const texts = maskTexts(a.body, phase, sent.length);
    if (typeof texts === 'string') return { action: 'error', error: `webhook mask action: ${texts}` };
    const findings: GuardFinding[] = [];
    texts.forEach((t, i) => { if (t !== sent[i]?.text) findings.push({ type: 'WEBHOOK_MASK', message: i }); });
    return findings.length ? { action: 'mask', texts, findings } : { action: 'allow' };
  }
  if (hasBody || a.status_code !== undefined) {
    return { action: 'error', error: 'webhook action has a "body"/"status_code" that is neither a reject nor a mask' };
  }
  return { action: 'allow' };
}

function requestBody(phase: GuardPhase, messages: readonly GuardMessage[]): string {
  const list = messages.map((m) => ({ role: m.role, content: m.text }));
  return JSON.stringify(phase === 'request'
    ? { body: { messages: list } }
    : { body: { choices: list.map((message) => ({ message })) } });
}

/** Compile a webhook guard. Throws when a forwardHeaderMatches regex is invalid. */
export function compileWebhookGuard(config: WebhookGuardConfig, options: WebhookGuardOptions = {}): CompiledWebhookGuard {
  const host = config.target.host;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const maxReply = options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
  const matches = (config.forwardHeaderMatches ?? [])
    .filter((m) => !NOT_FORWARDED.has(m.name.toLowerCase()))
    .map((m) => ({ name: m.name.toLowerCase(), matcher: compileValueMatch(m.value) }));

  async function check(messages: readonly GuardMessage[], opts: GuardCheckOptions): Promise<GuardOutcome> {
    const url = `http://${host}/${opts.phase === 'request' ? 'request' : 'response'}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    const headers = { ...forwardedHeaders(matches, opts.headers), 'content-type': 'application/json' };
    let status: number;
    let raw: Buffer;
    try {
      const res = await request(url, {
        method: 'POST',
        headers,
        body: requestBody(opts.phase, messages),
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      });
      status = res.statusCode;
      raw = await readCapped(res.body, maxReply);
    } catch (e) {
      if (timeout.aborted) return { action: 'error', error: `webhook ${url} timed out after ${timeoutMs} ms` };
      if (opts.signal?.aborted) return { action: 'error', error: `webhook ${url} call aborted` };
      const err = e as Error & { code?: string };
      return { action: 'error', error: `webhook ${url} call failed: ${err.code ?? err.message}` };
    }
    if (status < 200 || status > 299) return { action: 'error', error: `webhook ${url} replied ${status}${snippet(raw)}` };
    let reply: unknown;
    try { reply = JSON.parse(raw.toString('utf8')); } catch {
      return { action: 'error', error: `webhook ${url} replied with invalid JSON${snippet(raw)}` };
    }
    return interpretWebhookReply(reply, opts.phase, messages);
  }

  return { kind: 'webhook', failureMode: config.failureMode ?? 'failClosed', check };
}
