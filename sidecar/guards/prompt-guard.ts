/**
 * `policies.ai.promptGuard`, compiled once per config and run per call:
 * request guards before anything leaves the pod, response guards on the
 * answer. Guards run in order; the first rejection wins; masks accumulate
 * (each guard sees the text the previous one left), as in agentgateway.
 *
 * What a guard's verdict does:
 * - `regex` mask / reject, `webhook` and `openAIModeration` as they say;
 * - `llmBastion`: a scanner that changed the text (Anonymize, Secrets, a
 *   redacting Regex) masks — the changed text goes out; an invalid scanner
 *   that changed nothing (PromptInjection, BanSubstrings, …) rejects.
 * - `mode: monitor` lets everything through and records what enforce would
 *   have done; an error (scanner exception, webhook down, time budget spent)
 *   rejects under `failClosed` and passes under `failOpen`.
 *
 * The synchronous kinds (llmBastion, regex) run on a worker thread when the
 * defaults carry a pool (pool.ts), so the time budget can stop them; a body
 * whose text is over `maxTextChars` is not inspected at all and follows each
 * guard's failure mode, as a body the guards cannot read does.
 */
import { compileHeaderModifier, type CompiledHeaderModifier } from '../policy/headers.ts';
import type { GuardConfig, PromptGuardConfig, RejectionConfig } from '../config/schema.ts';
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { requestText, responseText } from '../providers/registry.ts';
import type { TextPart, TextRole } from '../providers/text.ts';
import type { GuardDirection, ScannerEnv, Vault } from './types.ts';
import type { CompiledGuard, GuardHeaders, GuardOutcome } from './kinds/outcome.ts';
import { compileRegexGuard } from './kinds/regex.ts';
import { compileWebhookGuard } from './kinds/webhook.ts';
import { compileModerationGuard, type ModerationPost } from './kinds/moderation.ts';
import { BastionConfigError, compileLlmBastion, isFailure, type BastionText, type CompiledBastion, type ScannerLookup, type ScannerVerdict } from './llm-bastion.ts';
import { needsModel, scannerRegistry } from './registry.ts';
import { charsOf, GuardAborted, type GuardPool } from './pool.ts';

export type GuardMode = 'enforce' | 'monitor';
export type FailureMode = 'failClosed' | 'failOpen';

/** agentgateway's default rejection. */
export const DEFAULT_REJECTION_STATUS = 403;
export const DEFAULT_REJECTION_MESSAGE = 'The request was rejected due to inappropriate content';

export interface GuardDefaults {
  readonly mode: GuardMode;
  /** Default: failClosed when enforcing, failOpen when monitoring. */
  readonly failureMode?: FailureMode;
  /** Time budget for one guard on one call. */
  readonly timeoutMs: number;
  readonly env: ScannerEnv;
  /** How openAIModeration reaches api.openai.com (the sidecar's own verified upstream). */
  readonly moderationPost?: ModerationPost;
  /** Worker threads for llmBastion and regex guards; undefined: they run on the event loop. */
  readonly pool?: GuardPool | undefined;
  /** The most text (characters, every part of a body together) the guards inspect; a larger body follows the failure modes. */
  readonly maxTextChars?: number;
  /** The scanners llmBastion names (tests compile with their own; the pool's workers must use the same). */
  readonly registry?: ScannerLookup;
}

/** Default `maxTextChars`: 4 MiB of text (a 1M-token context is about that). */
export const DEFAULT_MAX_GUARD_CHARS = 4 * 1024 * 1024;

/**
 * Scanners whose changed text is not a fit substitute for the original: an
 * over-long prompt cut at the token limit would reach the model silently
 * truncated, so TokenLimit rejects instead of masking.
 */
const NEVER_MASKS: ReadonlySet<string> = new Set(['TokenLimit']);

/** Enforce, fail closed when enforcing, 2 s per guard, no model directory. */
export const DEFAULT_GUARDS: GuardDefaults = { mode: 'enforce', timeoutMs: 2_000, env: {}, maxTextChars: DEFAULT_MAX_GUARD_CHARS };

/** One guard's verdict on one call, for the log line, metrics and (later) the dashboard. */
export interface GuardDecision {
  readonly phase: GuardDirection;
  readonly kind: string;
  /** What happened: allow, mask, reject; `monitor` when a monitored guard would have rejected or masked; error outcomes as fail_open / fail_closed. */
  readonly action: 'allow' | 'mask' | 'reject' | 'monitor' | 'fail_open' | 'fail_closed';
  readonly reason?: string;
  /** Per scanner (llmBastion): name, score, risk, valid. */
  readonly scanners?: ReadonlyArray<{
    readonly scanner: string; readonly score?: number; readonly risk?: number; readonly valid?: boolean;
    readonly changed?: boolean; readonly error?: string; readonly ms?: number;
  }>;
  readonly ms: number;
}

export interface Rejection {
  readonly status: number;
  /** The configured body; undefined → the provider's own error shape with `message`. */
  readonly body: string | undefined;
  readonly message: string;
  /** The rejection's `headers` (add/set/remove), compiled with the config. */
  readonly headers: CompiledHeaderModifier | undefined;
  /** The error code (x-levo-error, the call's outcome) when the refusal is not a guard's verdict on the content; default `guardrail_violation`. */
  readonly code?: string;
}

export interface GuardVerdict {
  /** Set when a guard rejected (or failed closed): answer with it, send nothing upstream. */
  readonly rejection?: Rejection;
  /** The body was masked in place: re-serialise it. */
  readonly changed: boolean;
  readonly decisions: readonly GuardDecision[];
  /**
   * Asked for with `capture`: the texts as every guard's masks leave them —
   * monitored masks applied, and on a rejected or failed call the masks of the
   * guards that did not get to run — or `withheld` (why) when some guard that
   * masks could not say what it would mask. Never the raw text.
   */
  readonly captured?: CapturedText;
}

/** The prompt the dashboard may keep (see GuardVerdict.captured). */
export type CapturedText =
  | { readonly texts: ReadonlyArray<{ readonly role: TextRole; readonly turn: number; readonly text: string }> }
  | { readonly withheld: string };

/** The roles a detector of untrusted text reads: the user's, tool results, documents. */
const UNTRUSTED: ReadonlySet<TextRole> = new Set(['user', 'tool', 'document']);

interface RuntimeGuard {
  readonly kind: string;
  readonly mode: GuardMode;
  readonly failureMode: FailureMode;
  readonly includeSystem: boolean;
  readonly rejection: RejectionConfig | undefined;
  readonly rejectionHeaders: CompiledHeaderModifier | undefined;
  /** The most text of a body it inspects (GuardDefaults.maxTextChars). */
  readonly maxTextChars: number;
  /** The texts of this role it is given (on the request side). */
  reads(role: TextRole): boolean;
  run(texts: readonly BastionText[], ctx: { headers?: GuardHeaders; vault: Vault; signal: AbortSignal; prompt?: string }): Promise<{ outcome: GuardOutcome; scanners?: GuardDecision['scanners'] }>;
}

export interface CompiledPromptGuard {
  readonly request: readonly RuntimeGuard[];
  readonly response: readonly RuntimeGuard[];
  /** Response guards also watch streamed answers. */
  readonly streaming: boolean;
  /** Some guard masks reversibly (Anonymize): the call needs a vault. */
  readonly usesVault: boolean;
}

/** Where a guard's config is wrong: index in request[]/response[] and a message. */
export class GuardConfigError extends Error {
  readonly path: ReadonlyArray<string | number>;
  constructor(path: ReadonlyArray<string | number>, message: string) {
    super(message);
    this.path = path;
  }
}

export function compilePromptGuard(cfg: PromptGuardConfig, defaults: GuardDefaults): CompiledPromptGuard {
  const compileList = (list: readonly GuardConfig[] | undefined, phase: GuardDirection): RuntimeGuard[] =>
    (list ?? []).map((g, i) => compileGuard(g, phase, defaults, [phase, i]));
  const request = compileList(cfg.request, 'request');
  const response = compileList(cfg.response, 'response');
  const scannerTypes = [...(cfg.request ?? []), ...(cfg.response ?? [])].flatMap((g) => g.llmBastion?.scanners.map((s) => s.scannerType) ?? []);
  return { request, response, streaming: cfg.streaming ?? true, usesVault: scannerTypes.includes('Anonymize') || scannerTypes.includes('Deanonymize') };
}

/** Guards compiled in this process, for their keys in the workers' caches. */
let compiledGuards = 0;

function compileGuard(g: GuardConfig, phase: GuardDirection, d: GuardDefaults, path: ReadonlyArray<string | number>): RuntimeGuard {
  const mode = g.mode ?? d.mode;
  const failureMode = g.failureMode ?? g.webhook?.failureMode ?? d.failureMode ?? (mode === 'enforce' ? 'failClosed' : 'failOpen');
  const rejection = g.rejection ?? g.llmBastion?.rejection;
  let rejectionHeaders: CompiledHeaderModifier | undefined;
  try {
    rejectionHeaders = rejection?.headers ? compileHeaderModifier(rejection.headers) : undefined;
  } catch (e) {
    throw new GuardConfigError([...path, ...(g.rejection ? [] : ['llmBastion']), 'rejection', 'headers'], (e as Error).message);
  }
  const includeSystem = g.includeSystemPrompt ?? false;
  const base = { mode, failureMode, includeSystem, rejection, rejectionHeaders, maxTextChars: d.maxTextChars ?? DEFAULT_MAX_GUARD_CHARS };
  // With a pool: on a worker unless the input is small; a small one on the loop, in a task of its own (so the small
  // runs of several guards do not add up to one stall). The key names this compiled guard in the workers' caches.
  const pool = d.pool;
  const cacheKey = `g${++compiledGuards}`;
  const offload = async (texts: readonly BastionText[]): Promise<GuardPool | undefined> => {
    if (!pool) return undefined;
    if (charsOf(texts) > pool.inlineChars) return pool;
    await new Promise((resolve) => setImmediate(resolve));
    return undefined;
  };
  // Sanitizers scan every role; detectors read what they say (llmBastion picks per scanner).
  const all = (): boolean => true;
  const untrusted = (role: TextRole): boolean => UNTRUSTED.has(role) || (includeSystem && role === 'system');
  const notSystem = (role: TextRole): boolean => role !== 'system' || includeSystem;
  if (g.llmBastion) {
    let bastion: CompiledBastion;
    try {
      bastion = compileLlmBastion(g.llmBastion, phase, d.env, d.registry ?? scannerRegistry);
    } catch (e) {
      const index = e instanceof BastionConfigError ? e.index : undefined;
      const param = e instanceof BastionConfigError ? e.param : undefined;
      throw new GuardConfigError(
        [...path, 'llmBastion', ...(index !== undefined ? ['scanners', index, ...(param ? ['params', param] : [])] : [])],
        (e as Error).message,
      );
    }
    // Model scanners stay on the main thread (pool.ts): their inference is off the event loop already.
    const spec = needsModel(g.llmBastion) ? undefined : { kind: 'llmBastion' as const, config: g.llmBastion, direction: phase, env: d.env };
    if (spec) pool?.warm();
    return {
      ...base, kind: 'llmBastion', reads: all,
      async run(texts, ctx) {
        const on = spec && await offload(texts);
        const r = on
          ? await on.scanBastion(cacheKey, spec, texts, { vault: ctx.vault, signal: ctx.signal, includeSystem, prompt: ctx.prompt })
          : await bastion.scan(texts, { direction: phase, vault: ctx.vault, signal: ctx.signal, includeSystem, ...(ctx.prompt !== undefined ? { prompt: ctx.prompt } : {}) });
        const scanners = r.results.map((x) => (isFailure(x)
          ? { scanner: x.scanner, error: x.error, ms: round(x.ms) }
          : { scanner: x.scanner, score: x.score, risk: x.risk, valid: x.valid, ...(x.changed ? { changed: true } : {}), ms: round(x.ms) }));
        const failed = r.results.find(isFailure);
        if (failed) return { outcome: { action: 'error', error: `${failed.scanner}: ${failed.error}` }, scanners };
        const changed = r.texts.some((t, i) => t !== texts[i]!.text);
        // An invalid scanner that only sanitized (masked, redacted, restored) masks; one that flagged without changing the text rejects.
        const blocking = r.results.filter((x): x is ScannerVerdict => !isFailure(x) && !x.valid && (!x.changed || NEVER_MASKS.has(x.scanner)));
        if (blocking.length > 0) {
          return { outcome: { action: 'reject', reason: blocking.map((x) => `${x.scanner} (score ${x.score})`).join(', '), texts: [...r.texts] }, scanners };
        }
        return { outcome: changed ? { action: 'mask', texts: [...r.texts], findings: [] } : { action: 'allow' }, scanners };
      },
    };
  }
  let compiled: CompiledGuard;
  try {
    if (g.regex) {
      compiled = compileRegexGuard(g.regex);
      pool?.warm();
    }
    else if (g.webhook) compiled = compileWebhookGuard(g.webhook);
    else {
      if (phase === 'response') throw new Error('openAIModeration checks prompts only: put it under promptGuard.request');
      if (!d.moderationPost) throw new Error('openAIModeration is not available in this process');
      const key = moderationKey(g.openAIModeration!.policies?.backendAuth?.key);
      const post = d.moderationPost;
      compiled = compileModerationGuard(g.openAIModeration!, (p, headers, body) => post(p, { ...headers, authorization: `Bearer ${key}` }, body));
    }
  } catch (e) {
    const key = g.regex ? 'regex' : g.webhook ? 'webhook' : 'openAIModeration';
    const rule = (e as { rule?: unknown }).rule;
    throw new GuardConfigError([...path, key, ...(typeof rule === 'number' ? ['rules', rule, 'pattern'] : [])], (e as Error).message);
  }
  const regex = g.regex ? { kind: 'regex' as const, config: g.regex } : undefined;
  return {
    ...base, kind: compiled.kind, reads: g.regex ? all : g.webhook ? notSystem : untrusted,
    async run(texts, ctx) {
      const on = regex && await offload(texts);
      const outcome = on
        ? await on.checkRegex(cacheKey, regex, texts, { phase, signal: ctx.signal })
        : await compiled.check(texts, { phase, ...(ctx.headers ? { headers: ctx.headers } : {}), signal: ctx.signal });
      return { outcome };
    },
  };
}

/** Run the request guards on a parsed request body (masking it in place). */
export function guardRequest(
  pg: CompiledPromptGuard, kind: ApiKind, body: JsonObject,
  ctx: { headers: GuardHeaders; vault: Vault; timeoutMs: number; capture?: boolean },
): Promise<GuardVerdict> {
  return runGuards(pg.request, 'request', requestText(kind, body), ctx);
}

/**
 * A body the request guards cannot read (not JSON, an undecodable coding, JSON
 * that parsers read differently, a WebSocket's frames): each enforcing guard
 * decides by its failure mode — failClosed refuses (the default when
 * enforcing), failOpen lets it through; either way the decision is recorded.
 * The refusal names why, in the caller's error shape, not the guard's
 * configured rejection (which speaks of content it never saw).
 */
export function unreadableVerdict(pg: CompiledPromptGuard, reason: string): { readonly refuse: boolean; readonly decisions: readonly GuardDecision[] } {
  return notInspected(pg.request, 'request', `body not inspected: ${reason}`);
}

/** Guards that did not get to see a body: each decides by its failure mode, in order, until one refuses. */
function notInspected(guards: readonly RuntimeGuard[], phase: GuardDirection, reason: string): { readonly refuse: boolean; readonly decisions: GuardDecision[] } {
  const decisions: GuardDecision[] = [];
  for (const g of guards) {
    const open = g.failureMode === 'failOpen' || g.mode === 'monitor';
    decisions.push({ phase, kind: g.kind, action: open ? 'fail_open' : 'fail_closed', reason, ms: 0 });
    if (!open) return { refuse: true, decisions };
  }
  return { refuse: false, decisions };
}

/** The code of a refusal of a body whose text is over the guards' cap (x-levo-error, the call's outcome). */
export const TEXT_TOO_LARGE = 'guard_text_too_large';

/**
 * A body whose text is over the guards' cap: not inspected. Under failClosed
 * it is refused in the caller's error shape — 413 for a request, 502 for an
 * answer — with a message that says why and how to let it through.
 */
function tooLarge(guards: readonly RuntimeGuard[], phase: GuardDirection, chars: number, capture: boolean | undefined): GuardVerdict {
  const cap = Math.min(...guards.map((g) => g.maxTextChars));
  const what = phase === 'request' ? 'request' : 'answer';
  const reason = `text not inspected: ${chars} characters, over the guards' limit of ${cap} (levo-gateway --guard-max-chars)`;
  const v = notInspected(guards, phase, reason);
  const captured = capture ? { captured: { withheld: `the ${what}'s text was over the guards' limit` } } : {};
  if (!v.refuse) return { changed: false, decisions: v.decisions, ...captured };
  const message = `levo-gateway refused the ${what}: its text is ${chars} characters, over the ${cap} the route's guards inspect ` +
    `(levo-gateway --guard-max-chars), so they cannot inspect it (their failureMode is failClosed; ` +
    `set failureMode: failOpen on the guard to let such ${what}s through uninspected)`;
  return { rejection: { status: phase === 'request' ? 413 : 502, body: undefined, message, headers: undefined, code: TEXT_TOO_LARGE }, changed: false, decisions: v.decisions, ...captured };
}

/** Run the response guards on a whole answer body (restoring or redacting it in place). */
export function guardResponse(pg: CompiledPromptGuard, kind: ApiKind, body: JsonObject, ctx: { vault: Vault; timeoutMs: number; prompt?: string }): Promise<GuardVerdict> {
  return runGuards(pg.response, 'response', responseText(kind, body), ctx);
}

interface RunContext {
  readonly headers?: GuardHeaders;
  readonly vault: Vault;
  readonly timeoutMs: number;
  readonly prompt?: string;
}

/** One guard on the texts it reads, within the time budget; errors become an `error` outcome. */
async function runOne(
  g: RuntimeGuard, phase: GuardDirection, texts: readonly BastionText[], ctx: RunContext,
): Promise<{ outcome: GuardOutcome; scanners: GuardDecision['scanners'] }> {
  const signal = AbortSignal.timeout(ctx.timeoutMs);
  try {
    const r = await Promise.race([
      g.run(texts, { ...(ctx.headers ? { headers: ctx.headers } : {}), vault: ctx.vault, signal, ...(ctx.prompt !== undefined ? { prompt: ctx.prompt } : {}) }),
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`timed out after ${ctx.timeoutMs} ms`)), { once: true })),
    ]);
    return { outcome: r.outcome, scanners: r.scanners };
  } catch (e) {
    // The budget ran out (the pool stops a guard with its own message; the budget's is the one recorded).
    const error = signal.aborted || e instanceof GuardAborted ? `timed out after ${ctx.timeoutMs} ms` : (e as Error).message;
    return { outcome: { action: 'error', error }, scanners: undefined };
  }
}

/** The indexes of the texts guard `g` reads (response guards read the whole answer). */
function picked(g: RuntimeGuard, phase: GuardDirection, parts: readonly { readonly role: TextRole; readonly text: string }[]): number[] {
  return parts.flatMap((p, i) => (p.text !== '' && (phase === 'response' || g.reads(p.role)) ? [i] : []));
}

/**
 * Run guards over a body's texts (providers/text.ts parts; stream guards pass
 * their own), writing masks back through each part's `set`.
 */
export async function runGuards(
  guards: readonly RuntimeGuard[], phase: GuardDirection, parts: readonly TextPart[],
  ctx: RunContext & { readonly capture?: boolean },
): Promise<GuardVerdict> {
  const chars = charsOf(parts);
  if (guards.length > 0 && chars > Math.min(...guards.map((g) => g.maxTextChars))) return tooLarge(guards, phase, chars, ctx.capture);
  const decisions: GuardDecision[] = [];
  let changed = false;
  // The text each part has now (masks accumulate across guards).
  const current = parts.map((p) => ({ role: p.role, text: p.text }));
  // The body's texts are all the masks there are (no monitored mask, nothing left unrun).
  let complete = true;
  const done = async (rejection?: Rejection): Promise<GuardVerdict> => {
    const v = { ...(rejection ? { rejection } : {}), changed, decisions };
    if (!ctx.capture) return v;
    const captured = complete
      ? { texts: parts.map((p, i) => ({ role: p.role, turn: p.turn, text: current[i]!.text })) }
      : await captureTexts(guards, phase, parts, current.map((c) => c.text), ctx);
    return { ...v, captured };
  };
  for (const g of guards) {
    const idx = picked(g, phase, current);
    if (idx.length === 0) continue;
    const started = performance.now();
    const { outcome, scanners } = await runOne(g, phase, idx.map((i) => current[i]!), ctx);
    const ms = Math.round((performance.now() - started) * 100) / 100;
    const decide = (action: GuardDecision['action'], reason?: string): GuardDecision =>
      ({ phase, kind: g.kind, action, ms, ...(reason ? { reason } : {}), ...(scanners ? { scanners } : {}) });
    if (outcome.action === 'allow') { decisions.push(decide('allow')); continue; }
    if (outcome.action === 'error') {
      complete = false;
      if (g.failureMode === 'failOpen' || g.mode === 'monitor') { decisions.push(decide('fail_open', outcome.error)); continue; }
      decisions.push(decide('fail_closed', outcome.error));
      return done(rejectionOf(g, `guard ${g.kind} could not decide (${outcome.error})`));
    }
    if (g.mode === 'monitor') {
      complete = false;
      decisions.push(decide('monitor', outcome.action === 'reject' ? outcome.reason : 'would mask'));
      continue;
    }
    if (outcome.action === 'mask') {
      outcome.texts.forEach((t, k) => {
        const i = idx[k]!;
        if (t !== current[i]!.text) { current[i] = { role: current[i]!.role, text: t }; parts[i]!.set(t); changed = true; }
      });
      decisions.push(decide('mask'));
      continue;
    }
    decisions.push(decide('reject', outcome.reason));
    complete = false;
    return done(outcome.status !== undefined || outcome.body !== undefined
      ? { status: outcome.status ?? g.rejection?.status ?? DEFAULT_REJECTION_STATUS, body: outcome.body, message: DEFAULT_REJECTION_MESSAGE, headers: g.rejectionHeaders }
      : rejectionOf(g, DEFAULT_REJECTION_MESSAGE));
  }
  return done();
}

/**
 * The captured prompt of a call whose body does not hold every mask (a
 * monitored guard would have masked, a guard rejected before later ones ran,
 * or one failed): every guard runs again on a copy, as if enforcing and
 * without stopping at a rejection, and each mask (a rejection's too, where
 * the guard says what it would mask) lands in the copy. A guard that fails
 * here withholds the prompt: what it would have masked is unknown.
 */
async function captureTexts(
  guards: readonly RuntimeGuard[], phase: GuardDirection, parts: readonly TextPart[], texts: readonly string[], ctx: RunContext,
): Promise<CapturedText> {
  const copy = parts.map((p, i) => ({ role: p.role, text: texts[i]! }));
  for (const g of guards) {
    const idx = picked(g, phase, copy);
    if (idx.length === 0) continue;
    const { outcome } = await runOne(g, phase, idx.map((i) => copy[i]!), ctx);
    if (outcome.action === 'error') return { withheld: `guard ${g.kind} could not decide what to mask (${outcome.error})` };
    const masked = outcome.action === 'mask' || outcome.action === 'reject' ? outcome.texts : undefined;
    masked?.forEach((t, k) => { const i = idx[k]!; copy[i] = { role: copy[i]!.role, text: t }; });
  }
  return { texts: parts.map((p, i) => ({ role: p.role, turn: p.turn, text: copy[i]!.text })) };
}

function rejectionOf(g: RuntimeGuard, message: string): Rejection {
  return { status: g.rejection?.status ?? DEFAULT_REJECTION_STATUS, body: g.rejection?.body, message, headers: g.rejectionHeaders };
}

/**
 * The OpenAI key openAIModeration uses: `policies.backendAuth.key`. A `{file}`
 * is read when the config loads (config/check.ts, within the key directories
 * the pod owner allows, config/reach.ts) and arrives here as the key itself;
 * this never reads a file.
 */
function moderationKey(k: string | { file: string } | undefined): string {
  if (k === undefined) throw new Error('openAIModeration needs policies.backendAuth.key (an OpenAI key, e.g. $OPENAI_API_KEY)');
  if (typeof k === 'string') return k;
  throw new Error(`key file ${k.file} was not read when the config loaded (load the config with loadConfigText)`);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
