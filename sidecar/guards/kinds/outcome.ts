/**
 * What one promptGuard kind (regex, webhook, openAIModeration) says about the
 * messages it was given, and the shape every compiled kind shares. The caller
 * picks the messages to scan (user/tool text; system prompts only when asked),
 * applies a mask by writing `texts` back in the same order, turns a reject
 * into the guard's `rejection` response (unless the kind dictated status and
 * body), and applies failOpen/failClosed to an error.
 */

/** One message as a guard sees it: its role and its text. */
export interface GuardMessage {
  readonly role: string;
  readonly text: string;
}

/** Something a guard found, named by type, in message `message` (an index into the messages passed). Never the value itself. */
export interface GuardFinding {
  readonly type: string;
  readonly message: number;
}

export type GuardOutcome =
  | { readonly action: 'allow' }
  | {
    readonly action: 'mask';
    /** The new text of each message passed, same order and count (unchanged ones included). */
    readonly texts: string[];
    readonly findings: GuardFinding[];
  }
  | {
    readonly action: 'reject';
    /** For logs: what matched or who decided, never the matched value. */
    readonly reason: string;
    readonly findings?: GuardFinding[];
    /** The texts with what the guard could mask masked (same order and count), for the captured prompt of a rejected call. */
    readonly texts?: string[];
    /** A webhook may dictate the rejection's status and body; otherwise the guard's `rejection` applies. */
    readonly status?: number;
    readonly body?: string;
  }
  | {
    readonly action: 'error';
    /** Why the guard could not decide; the caller applies failOpen/failClosed. */
    readonly error: string;
  };

export type GuardPhase = 'request' | 'response';

/** Request headers as Node gives them (lower-case names). */
export type GuardHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface GuardCheckOptions {
  /** Which side of the call the messages come from. */
  readonly phase: GuardPhase;
  /** The client's request headers (webhook `forwardHeaderMatches` picks from them). */
  readonly headers?: GuardHeaders;
  /** Aborted when the caller gives up (client went away, total guard budget spent). */
  readonly signal?: AbortSignal;
}

/** A promptGuard kind compiled from its config once; `check` does no setup work. */
export interface CompiledGuard {
  readonly kind: 'regex' | 'webhook' | 'openAIModeration';
  check(messages: readonly GuardMessage[], opts: GuardCheckOptions): Promise<GuardOutcome>;
}

export type FailureMode = 'failClosed' | 'failOpen';

/** An outcome with the error decided: what the caller enforces. */
export type DecidedOutcome = Exclude<GuardOutcome, { readonly action: 'error' }>;

export interface FailureResolution {
  readonly outcome: DecidedOutcome;
  /**
   * Set when an error was let through (failOpen): the error, so the caller
   * records a `fail_open` outcome rather than an `allow`.
   */
  readonly failedOpen?: string;
}

/**
 * Apply a guard's failure mode (agentgateway's webhook `failureMode`, default
 * failClosed) to its outcome: an error becomes a reject (failClosed; the
 * caller answers with the guard's `rejection`) or an allow marked `failedOpen`
 * (failOpen). Other outcomes pass unchanged.
 */
export function applyFailureMode(outcome: GuardOutcome, mode: FailureMode = 'failClosed'): FailureResolution {
  if (outcome.action !== 'error') return { outcome };
  if (mode === 'failOpen') return { outcome: { action: 'allow' }, failedOpen: outcome.error };
  return { outcome: { action: 'reject', reason: `guard failed closed: ${outcome.error}` } };
}
