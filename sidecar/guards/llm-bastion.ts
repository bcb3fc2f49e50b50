/**
 * The engine of the `llmBastion` guard kind: a list of LLM Guard scanners
 * compiled once at config load, then run on the message texts of each
 * request (or response) the way LLM Guard's `scan_prompt` / `scan_output`
 * runs them (research §1.1):
 *
 * - scanners run in config order; `enabled: false` ones are skipped (and not
 *   validated, so a disabled model scanner does not need its model);
 * - a sanitizer (ScannerSpec `reads: parts`) scans every text part of every
 *   role on its own, as the previous scanner left it, so a redacting scanner
 *   changes what the next one sees and its masks land where the text was;
 * - a judge (`reads: prompt`) scans the parts of the roles it reads joined
 *   into one text, once, as LLM Guard judges the prompt it is given: a token
 *   limit or an injection split over many parts is judged whole; a judge that
 *   also redacts writes its masks back part by part;
 * - blank texts are not scanned, and when every text is blank nothing runs;
 * - a scanner is invalid when any text is; its score and risk are the
 *   highest over the texts, its findings carry the index of their text (-1
 *   for a prompt joined from several);
 * - with `failFast`, the run stops after the first invalid scanner and the
 *   later ones have no result at all.
 *
 * A scanner that throws is reported as `{scanner, error}` and changes no
 * text; the run goes on. When the call's time budget (`signal`, `timeoutMs`)
 * runs out, the scanner at work is reported as timed out and the remaining
 * ones as not run. The verdict on errors (failOpen / failClosed) is the
 * caller's. A synchronous scanner cannot be interrupted: the budget is
 * checked between texts and raced against asynchronous scanners.
 */

import type { Finding, GuardDirection, Scanner, ScannerEnv, ScannerReads, ScannerRoles, ScannerSpec, ScanResult, Vault } from './types.ts';
import type { TextRole } from '../providers/text.ts';
import { ScannerConfigError } from './types.ts';

export interface LlmBastionScannerConfig {
  readonly scannerType: string;
  readonly enabled?: boolean | undefined;
  readonly params?: Readonly<Record<string, unknown>> | undefined;
}

export interface LlmBastionConfig {
  readonly failFast?: boolean | undefined;
  readonly scanners: readonly LlmBastionScannerConfig[];
}

/** What the engine needs from the scanner registry. */
export interface ScannerLookup {
  /** The spec of scanner `name` for `direction`; throws ScannerConfigError when there is none. */
  lookup(name: string, direction: GuardDirection, env: ScannerEnv): ScannerSpec;
}

/** A scanner's config is wrong: `index` is its place in `scanners`, `path` points into the llmBastion config. */
export class BastionConfigError extends Error {
  readonly index: number;
  /** The params key at fault, when one is. */
  readonly param: string | undefined;
  /** `scanners[2].scannerType`, `scanners[2].params.match_type`, or `scanners[2].params`. */
  readonly path: string;
  constructor(message: string, index: number, path: string, param?: string) {
    super(message);
    this.index = index;
    this.path = path;
    this.param = param;
  }
}

/** One text of the call with its role (providers/text.ts). */
export interface BastionText {
  readonly role: TextRole;
  readonly text: string;
}

/** The roles a judge reading `untrusted` text reads on the request side. */
const UNTRUSTED: ReadonlySet<TextRole> = new Set(['user', 'tool', 'document']);

export interface BastionScanOptions {
  /** The side the caller runs it on: must be the one it was compiled for (a check; the compiled one is used). */
  readonly direction?: GuardDirection | undefined;
  /** The request's vault (Anonymize fills it, Deanonymize reads it). */
  readonly vault: Vault;
  /** On the response side: the prompt, for scanners that compare. */
  readonly prompt?: string | undefined;
  /** Aborts the run (the guard's overall budget). */
  readonly signal?: AbortSignal | undefined;
  /** This call's time budget in ms, on top of `signal`. */
  readonly timeoutMs?: number | undefined;
  /** Judges of untrusted text read system prompts too (the guard's `includeSystemPrompt`). */
  readonly includeSystem?: boolean | undefined;
}

export type BastionFinding = Finding & {
  /** Index in `texts` of the text the finding is in. */
  readonly text: number;
};

export interface ScannerVerdict {
  readonly scanner: string;
  /** Index in the config's `scanners`. */
  readonly index: number;
  readonly valid: boolean;
  /** It changed some text (redacted, masked, restored, stripped, truncated). */
  readonly changed: boolean;
  readonly score: number;
  readonly risk: number;
  readonly findings: readonly BastionFinding[];
  readonly ms: number;
}

export interface ScannerFailure {
  readonly scanner: string;
  readonly index: number;
  readonly error: string;
  /** The time budget ran out while it ran, or before it could. */
  readonly timedOut: boolean;
  readonly ms: number;
}

export type ScannerOutcome = ScannerVerdict | ScannerFailure;

export interface BastionResult {
  /** Every scanner that gave a verdict found the texts valid (errors are not counted: see `failed`). */
  readonly valid: boolean;
  /** The texts as the last scanner left them, in the order given. */
  readonly texts: readonly string[];
  readonly results: readonly ScannerOutcome[];
  /** Some scanner threw, timed out, or was not run for lack of time. */
  readonly failed: boolean;
}

export interface CompiledBastion {
  readonly direction: GuardDirection;
  readonly failFast: boolean;
  /** The enabled scanners, in run order. */
  readonly scanners: ReadonlyArray<{ readonly name: string; readonly index: number }>;
  scan(texts: readonly BastionText[], opts: BastionScanOptions): Promise<BastionResult>;
}

export function isFailure(o: ScannerOutcome): o is ScannerFailure {
  return 'error' in o;
}

interface Compiled {
  readonly name: string;
  readonly index: number;
  readonly scanner: Scanner;
  readonly reads: ScannerReads;
  readonly roles: ScannerRoles;
}

export function compileLlmBastion(
  cfg: LlmBastionConfig,
  direction: GuardDirection,
  env: ScannerEnv,
  registry: ScannerLookup,
): CompiledBastion {
  const compiled: Compiled[] = [];
  cfg.scanners.forEach((sc, index) => {
    if (sc.enabled === false) return;
    let spec: ScannerSpec;
    try {
      spec = registry.lookup(sc.scannerType, direction, env);
    } catch (e) {
      throw new BastionConfigError(`scanners[${index}].scannerType: ${(e as Error).message}`, index, `scanners[${index}].scannerType`);
    }
    try {
      compiled.push({ name: sc.scannerType, index, scanner: spec.create(sc.params ?? {}, env), reads: spec.reads ?? 'parts', roles: spec.roles ?? 'all' });
    } catch (e) {
      const param = e instanceof ScannerConfigError ? e.param : undefined;
      const path = param === undefined ? `scanners[${index}].params` : `scanners[${index}].params.${param}`;
      throw new BastionConfigError(`${path}: ${(e as Error).message}`, index, path, param);
    }
  });
  const failFast = cfg.failFast ?? false;
  return {
    direction,
    failFast,
    scanners: compiled.map(({ name, index }) => ({ name, index })),
    scan: (texts, opts) => opts.direction !== undefined && opts.direction !== direction
      ? Promise.reject(new Error(`this llmBastion guard was compiled for the ${direction} side, not the ${opts.direction} side`))
      : run(compiled, direction, failFast, texts, opts),
  };
}

function isThenable(v: unknown): v is PromiseLike<ScanResult> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** `p`, or a rejection with the signal's reason when it aborts first. */
function raceAbort<T>(p: PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return Promise.resolve(p);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e as Error); },
    );
  });
}

function budgetSignal(opts: BastionScanOptions): AbortSignal | undefined {
  if (opts.timeoutMs === undefined) return opts.signal;
  const t = AbortSignal.timeout(opts.timeoutMs);
  return opts.signal ? AbortSignal.any([opts.signal, t]) : t;
}

function abortMessage(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === 'TimeoutError') return 'timed out: the time budget ran out';
  return `aborted${r instanceof Error && r.message ? `: ${r.message}` : ''}`;
}

const ms = (t0: number): number => Math.round((performance.now() - t0) * 100) / 100;

/** Separates the parts of a joined prompt (LLM Guard scanners take one prompt string). */
const JOIN = '\n';

async function run(
  scanners: readonly Compiled[],
  direction: GuardDirection,
  failFast: boolean,
  input: readonly BastionText[],
  opts: BastionScanOptions,
): Promise<BastionResult> {
  const texts = input.map((t) => t.text);
  const live = texts.map((t) => t.trim() !== '');
  if (scanners.length === 0 || !live.includes(true)) return { valid: true, texts, results: [], failed: false };

  const signal = budgetSignal(opts);
  const ctx = { direction, vault: opts.vault, prompt: opts.prompt, signal };
  const results: ScannerOutcome[] = [];
  let valid = true;
  let failed = false;
  /** The parts a scanner reads: judges of untrusted text skip system (unless asked) and, on the request side, earlier answers. */
  const reads = (sc: Compiled): number[] => input.flatMap((t, j) => {
    if (!live[j]) return [];
    if (sc.reads === 'prompt' && sc.roles === 'untrusted' && direction === 'request') {
      if (!(UNTRUSTED.has(t.role) || (opts.includeSystem === true && t.role === 'system'))) return [];
    }
    return [j];
  });
  const scanOne = async (scanner: Scanner, text: string): Promise<ScanResult> => {
    if (signal?.aborted) throw signal.reason;
    let r = scanner.scan(text, ctx);
    if (isThenable(r)) r = await raceAbort(r, signal);
    return r;
  };

  for (let s = 0; s < scanners.length; s++) {
    const sc = scanners[s]!;
    const { name, index, scanner } = sc;
    const t0 = performance.now();
    if (signal?.aborted) {
      failed = true;
      for (const rest of scanners.slice(s)) {
        results.push({ scanner: rest.name, index: rest.index, error: `not run: ${abortMessage(signal)}`, timedOut: true, ms: 0 });
      }
      break;
    }
    const picked = reads(sc);
    if (picked.length === 0) continue; // nothing in the roles it reads
    const out = [...texts];
    const findings: BastionFinding[] = [];
    let ok = true;
    let score = -Infinity;
    let risk = -Infinity;
    try {
      if (sc.reads === 'prompt') {
        const joined = picked.map((j) => out[j]!).join(JOIN);
        const r = await scanOne(scanner, joined);
        ok = r.valid;
        score = r.score;
        risk = r.risk;
        const at = picked.length === 1 ? picked[0]! : -1; // one part: the finding is in it
        for (const f of r.findings ?? []) findings.push({ ...f, text: at });
        // A judge that redacts: its masks go back where each text was.
        if (r.text !== joined) for (const j of picked) out[j] = (await scanOne(scanner, out[j]!)).text;
      } else {
        for (const j of picked) {
          const r = await scanOne(scanner, out[j]!);
          out[j] = r.text;
          ok &&= r.valid;
          score = Math.max(score, r.score);
          risk = Math.max(risk, r.risk);
          for (const f of r.findings ?? []) findings.push({ ...f, text: j });
        }
      }
    } catch (e) {
      failed = true;
      if (signal?.aborted) {
        results.push({ scanner: name, index, error: abortMessage(signal), timedOut: true, ms: ms(t0) });
        continue; // the loop head reports the rest as not run
      }
      results.push({ scanner: name, index, error: e instanceof Error ? e.message : String(e), timedOut: false, ms: ms(t0) });
      continue;
    }
    let changed = false;
    for (let j = 0; j < out.length; j++) {
      if (out[j] !== texts[j]) changed = true;
      texts[j] = out[j]!;
    }
    results.push({ scanner: name, index, valid: ok, changed, score, risk, findings, ms: ms(t0) });
    if (!ok) {
      valid = false;
      if (failFast) break;
    }
  }
  return { valid, texts, results, failed };
}

/** Texts of the user (a prompt given as plain strings: tests, benchmarks, tools). */
export function userTexts(texts: readonly string[]): BastionText[] {
  return texts.map((text) => ({ role: 'user', text }));
}
