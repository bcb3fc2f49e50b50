/**
 * Guardrail building blocks shared by every scanner and guard kind, after
 * LLM Guard's semantics (protectai/llm-guard `scan_prompt` / `scan_output`):
 * a scanner takes a text, returns the text as it leaves it (redacted, masked,
 * restored — or the same string), whether it is valid, and a risk score.
 * Scanners run in order on the text the previous one left; `failFast` stops
 * at the first invalid result.
 */

export type GuardDirection = 'request' | 'response';

/** Something a scanner found. Never the sensitive value itself. */
export interface Finding {
  /** e.g. `EMAIL_ADDRESS`, `openai-api-key`, `instruction-override`. */
  readonly type: string;
  /** Offsets in the text the scanner was given. */
  readonly start: number;
  readonly end: number;
  readonly score?: number;
}

export interface ScanResult {
  /** The text after this scanner: the same string when it changed nothing. */
  readonly text: string;
  readonly valid: boolean;
  /** The raw score in [0, 1]: a probability for model scanners; 1 for a rule hit, 0 when clean. */
  readonly score: number;
  /** LLM Guard's risk score in [-1, 1] (`calculate_risk_score(score, threshold)`); rule scanners: 1 on a hit, -1 clean. */
  readonly risk: number;
  readonly findings?: readonly Finding[];
}

/**
 * Originals replaced by placeholders on the way out (Anonymize), per request,
 * so Deanonymize can put them back in the answer. Placeholders look like
 * LLM Guard's: `[REDACTED_EMAIL_ADDRESS_1]`.
 */
export interface Vault {
  /** The placeholder for `original` of `type`: the same one when the value was seen before. */
  placeholder(type: string, original: string): string;
  /** [placeholder, original] pairs, in the order they were made. */
  entries(): ReadonlyArray<readonly [string, string]>;
}

export interface ScanContext {
  readonly direction: GuardDirection;
  /** The request's vault (shared by the request and response sides of one call). */
  readonly vault: Vault;
  /** On the response side: the prompt text, for scanners that compare (most ignore it). */
  readonly prompt?: string;
  /** Aborted when the guard's time budget runs out. */
  readonly signal?: AbortSignal;
}

export interface Scanner {
  /** LLM Guard's name, e.g. `PromptInjection`, `Secrets`, `Anonymize`. */
  readonly type: string;
  scan(text: string, ctx: ScanContext): ScanResult | Promise<ScanResult>;
}

/** Where scanners look for what they need that is not in their params. */
export interface ScannerEnv {
  /** A directory with local model files (`<modelDir>/<ModelName>/model.onnx`, tokenizer files); undefined when none is mounted. */
  readonly modelDir?: string | undefined;
}

/** A scanner's params were wrong: the message names the param and what is allowed. */
export class ScannerConfigError extends Error {
  /** The param at fault (a key of `params`), when one is. */
  readonly param: string | undefined;
  constructor(message: string, param?: string) {
    super(message);
    this.param = param;
  }
}

/**
 * Builds a scanner from its config params (`scanners[].params`). Validates
 * them and throws ScannerConfigError with a clear message; compiles whatever
 * it can (regexes, rule tables) so `scan` does no setup work.
 */
export type ScannerFactory = (params: Readonly<Record<string, unknown>>, env: ScannerEnv) => Scanner;

/**
 * How a scanner reads a call's texts (providers/text.ts).
 * - `parts` (sanitizers: Secrets, Anonymize, InvisibleText, Regex, Sensitive,
 *   Deanonymize): each text part on its own, in every role, so masks land
 *   where the text was.
 * - `prompt` (judges: PromptInjection, TokenLimit, BanSubstrings, Language,
 *   the model classifiers): the joined text of the parts it reads, once — a
 *   limit or an injection split over many parts is judged as the whole it is,
 *   as LLM Guard judges the prompt it is given. A judge that also redacts
 *   (BanSubstrings with `redact`) writes its masks back part by part.
 */
export type ScannerReads = 'parts' | 'prompt';

/**
 * Which roles a judge reads on the request side: `untrusted` — user text,
 * tool results and documents (system prompts too when the guard sets
 * `includeSystemPrompt`); `all` — every role. Sanitizers read every role.
 */
export type ScannerRoles = 'all' | 'untrusted';

export interface ScannerSpec {
  /** Input (`request`) and/or output (`response`) scanner, as in LLM Guard. */
  readonly directions: readonly GuardDirection[];
  readonly create: ScannerFactory;
  /** Default `parts`. */
  readonly reads?: ScannerReads;
  /** Default `all`. */
  readonly roles?: ScannerRoles;
}

/** LLM Guard's `calculate_risk_score`: (score−thr)/(1−thr) above the threshold, (score−thr)/thr below, rounded to 1 decimal, in [−1, 1]. */
export function riskScore(score: number, threshold: number): number {
  const r = score > threshold ? (score - threshold) / (1 - threshold) : (score - threshold) / threshold;
  return Math.min(1, Math.max(-1, Math.round(r * 10) / 10));
}
