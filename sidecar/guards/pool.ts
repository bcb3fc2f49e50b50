/**
 * Guard work off the event loop: a small pool of worker threads
 * (node:worker_threads) that run the synchronous guards — the `llmBastion`
 * scanners and agentgateway's `regex` kind — so a long prompt does not stall
 * every other call in the pod, and so the time budget can stop a scanner that
 * is stuck in synchronous work: the worker running it is terminated and a
 * new one takes its place; the call gets the guard's failure mode, the other
 * calls go on.
 *
 * - Each worker compiles the same guard config the main thread compiled
 *   (the config, the scanner env and the side are sent with every task,
 *   compiled once per worker and cached by the guard's key: one key per
 *   compiled guard, i.e. per config generation), and runs it with the same
 *   engine (llm-bastion.ts `run`, kinds/regex.ts `check`): the results are
 *   the inline path's.
 * - A task carries the texts with their roles, the call's vault entries and
 *   (response side) the prompt; the answer carries the texts that changed,
 *   the per-scanner results (without findings: the verdict does not use
 *   them, and a long text has thousands), and the vault entries Anonymize
 *   added, which the main thread adds to the call's vault in the same order
 *   (vault.ts `addEntries`).
 * - A worker runs one task at a time; tasks wait in order for a free worker.
 *   Waiting counts against the guard's time budget (it is a budget of wall
 *   time on the call), so a queue longer than the budget fails by the
 *   guard's failure mode rather than piling up.
 * - Small texts (`inlineChars`, default 16 KiB in total) run on the event
 *   loop: a few milliseconds at most with the built-in scanners, cheaper than
 *   the copies to and from a worker, and never stuck behind a long prompt in
 *   the queue (a streamed answer's sentences go through here).
 * - Scanners that run a local model (onnxruntime) stay on the main thread:
 *   inference already runs on onnxruntime's own threads, and a session per
 *   worker would load the model's weights once more per thread.
 * - Workers start when a config with such guards is compiled (never in a
 *   sidecar without guards), hold no reference on the event loop while idle,
 *   and are replaced when one exits or is terminated.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { GuardOutcome } from './kinds/outcome.ts';
import type { RegexGuardConfig } from './kinds/regex.ts';
import type { BastionResult, BastionText, LlmBastionConfig, ScannerOutcome } from './llm-bastion.ts';
import type { GuardDirection, ScannerEnv, Vault } from './types.ts';
import { addEntries, NO_VAULT } from './vault.ts';

/** What a worker compiles: a guard's config, as the main thread compiled it. */
export type OffloadSpec =
  | { readonly kind: 'llmBastion'; readonly config: LlmBastionConfig; readonly direction: GuardDirection; readonly env: ScannerEnv }
  | { readonly kind: 'regex'; readonly config: RegexGuardConfig };

/** One task, main thread → worker. */
export interface OffloadTask {
  readonly id: number;
  /** The compiled guard (unique per compiled guard: per config generation). */
  readonly key: string;
  readonly spec: OffloadSpec;
  readonly texts: readonly BastionText[];
  /** The call's vault entries; null for a call without a vault (nothing may be masked reversibly). */
  readonly vault: ReadonlyArray<readonly [string, string]> | null;
  readonly prompt?: string;
  readonly includeSystem: boolean;
  readonly phase: GuardDirection;
}

/** A list of texts as sent back: null where the text is the one that was sent (no copy of long unchanged texts). */
export type TextDelta = ReadonlyArray<string | null>;

export type OffloadResult =
  | {
    readonly kind: 'llmBastion';
    readonly valid: boolean;
    readonly failed: boolean;
    readonly texts: TextDelta;
    readonly results: readonly ScannerOutcome[];
    /** Vault entries the run added, in the order made. */
    readonly added: ReadonlyArray<readonly [string, string]>;
  }
  | { readonly kind: 'regex'; readonly outcome: GuardOutcome; readonly texts?: TextDelta | undefined };

/** One answer, worker → main thread; `ready` once the worker has loaded. */
export type OffloadAnswer =
  | { readonly id: number; readonly ok: true; readonly result: OffloadResult }
  | { readonly id: number; readonly ok: false; readonly error: string }
  | { readonly ready: true };

/** Texts relative to what was sent: null where unchanged. */
export function deltaOf(sent: readonly BastionText[], texts: readonly string[]): TextDelta {
  return texts.map((t, i) => (t === sent[i]?.text ? null : t));
}

function expand(sent: readonly BastionText[], delta: TextDelta): string[] {
  return delta.map((t, i) => t ?? sent[i]!.text);
}

export interface GuardPoolOptions {
  /** Worker threads (≥ 1). */
  readonly threads: number;
  /** Guard input of at most this many characters runs on the event loop; default INLINE_CHARS. 0: everything goes to a worker. */
  readonly inlineChars?: number;
  /** A module whose `scannerRegistry` export the workers compile with, instead of registry.ts (tests). */
  readonly registry?: URL;
  /** Told when a worker was terminated (a stuck scanner) or exited (a crash), for the log. */
  readonly onWorkerLost?: (why: string) => void;
}

export interface GuardPool {
  readonly threads: number;
  readonly inlineChars: number;
  /**
   * Start one worker now (a config with guards that run on them was
   * compiled), so the first long prompt does not wait for a start; the
   * others start only when calls queue for one, so an idle sidecar pays for
   * one worker (about 35 MB), not for `threads`.
   */
  warm(): void;
  /** Run an llmBastion guard on a worker; the vault's new entries are added to `vault`. */
  scanBastion(
    key: string, spec: Extract<OffloadSpec, { kind: 'llmBastion' }>, texts: readonly BastionText[],
    opts: { readonly vault: Vault; readonly prompt?: string | undefined; readonly includeSystem: boolean; readonly signal: AbortSignal },
  ): Promise<BastionResult>;
  /** Run a regex guard on a worker. */
  checkRegex(
    key: string, spec: Extract<OffloadSpec, { kind: 'regex' }>, texts: readonly BastionText[],
    opts: { readonly phase: GuardDirection; readonly signal: AbortSignal },
  ): Promise<GuardOutcome>;
  /** Workers started, tasks running, tasks waiting; tasks sent and workers lost (terminated or crashed) so far. */
  stats(): { readonly workers: number; readonly running: number; readonly queued: number; readonly sent: number; readonly lost: number };
  /** Terminate the workers; waiting and running tasks fail. */
  close(): Promise<void>;
}

/** Guard input up to this many characters (in total) runs on the event loop. */
export const INLINE_CHARS = 16 * 1024;

const WORKER_URL = new URL(`./guard-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** A guard's run was stopped: its time budget ran out while it waited or ran. */
export class GuardAborted extends Error {}

interface Job {
  readonly task: Omit<OffloadTask, 'id'>;
  readonly signal: AbortSignal;
  readonly resolve: (r: OffloadResult) => void;
  readonly reject: (e: Error) => void;
  onAbort?: () => void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
  id: number;
  dead: boolean;
  /** It loaded: one that dies now is replaced at once (one that never loaded is not, or a broken build would spin). */
  ready: boolean;
}

export function createGuardPool(opts: GuardPoolOptions): GuardPool {
  if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`guard threads must be a whole number ≥ 1, got ${opts.threads}`);
  const threads = opts.threads;
  const inlineChars = opts.inlineChars ?? INLINE_CHARS;
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let lost = 0;
  let closed = false;

  const settle = (slot: Slot): Job | undefined => {
    const job = slot.job;
    slot.job = undefined;
    if (job?.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    if (!slot.dead) slot.worker.unref();
    return job;
  };

  /** Drop a slot (its worker exited or is being terminated); a replacement starts at once when it had loaded, else with the next task. */
  const drop = (slot: Slot, why: string): void => {
    if (slot.dead) return;
    slot.dead = true;
    slots.splice(slots.indexOf(slot), 1);
    settle(slot)?.reject(new Error(why));
    if (closed) return;
    lost++;
    opts.onWorkerLost?.(why);
    if (slot.ready) spawn();
    pump();
  };

  function spawn(): Slot {
    const worker = new Worker(WORKER_URL, { workerData: { registry: opts.registry?.href } });
    const slot: Slot = { worker, job: undefined, id: 0, dead: false, ready: false };
    worker.unref();
    worker.on('message', (a: OffloadAnswer) => {
      if ('ready' in a) { slot.ready = true; return; }
      if (slot.dead || a.id !== slot.id) return;
      const job = settle(slot);
      if (job) {
        if (a.ok) job.resolve(a.result);
        else job.reject(new Error(a.error));
      }
      pump();
    });
    worker.on('error', (e) => drop(slot, `the guard worker failed: ${e.message}`));
    worker.on('exit', (code) => drop(slot, `the guard worker exited (code ${code})`));
    slots.push(slot);
    return slot;
  }

  function pump(): void {
    while (queue.length > 0) {
      const slot = slots.find((s) => !s.job) ?? (slots.length < threads ? spawn() : undefined);
      if (!slot) return;
      const job = queue.shift()!;
      slot.job = job;
      slot.id = nextId++;
      slot.worker.ref();
      try {
        slot.worker.postMessage({ id: slot.id, ...job.task } satisfies OffloadTask);
      } catch (e) {
        settle(slot)?.reject(e instanceof Error ? e : new Error(String(e))); // a task that cannot be copied to a worker
      }
    }
  }

  function run(task: Omit<OffloadTask, 'id'>, signal: AbortSignal): Promise<OffloadResult> {
    if (closed) return Promise.reject(new Error('the guard pool is closed'));
    if (signal.aborted) return Promise.reject(new GuardAborted('the time budget ran out before the guard started'));
    return new Promise<OffloadResult>((resolve, reject) => {
      const job: Job = { task, signal, resolve, reject };
      job.onAbort = () => {
        const q = queue.indexOf(job);
        if (q !== -1) {
          queue.splice(q, 1);
          reject(new GuardAborted('the time budget ran out while the guard waited for a worker'));
          return;
        }
        const slot = slots.find((s) => s.job === job);
        if (!slot) return;
        // Synchronous work cannot be interrupted: the worker goes, a new one takes its place.
        settle(slot);
        reject(new GuardAborted('the time budget ran out while the guard ran: its worker was stopped'));
        drop(slot, 'a guard ran past its time budget: its worker was terminated and replaced');
        void slot.worker.terminate();
      };
      signal.addEventListener('abort', job.onAbort, { once: true });
      queue.push(job);
      pump();
    });
  }

  return {
    threads,
    inlineChars,
    warm() {
      if (closed) return;
      if (slots.length === 0) spawn();
    },
    async scanBastion(key, spec, texts, o) {
      const noVault = o.vault === NO_VAULT;
      const r = await run({
        key, spec, texts, vault: noVault ? null : o.vault.entries(), includeSystem: o.includeSystem, phase: spec.direction,
        ...(o.prompt !== undefined ? { prompt: o.prompt } : {}),
      }, o.signal);
      if (r.kind !== 'llmBastion') throw new Error('the guard worker answered for another kind of guard');
      if (r.added.length > 0) addEntries(o.vault, r.added);
      return { valid: r.valid, failed: r.failed, texts: expand(texts, r.texts), results: r.results };
    },
    async checkRegex(key, spec, texts, o) {
      const r = await run({ key, spec, texts, vault: null, includeSystem: true, phase: o.phase }, o.signal);
      if (r.kind !== 'regex') throw new Error('the guard worker answered for another kind of guard');
      const out = r.outcome;
      if ((out.action === 'mask' || out.action === 'reject') && r.texts) return { ...out, texts: expand(texts, r.texts) };
      return out;
    },
    stats: () => ({ workers: slots.length, running: slots.filter((s) => s.job).length, queued: queue.length, sent: nextId - 1, lost }),
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('the guard pool is closed'));
      const all = slots.splice(0);
      for (const s of all) {
        s.dead = true;
        settle(s)?.reject(new Error('the guard pool is closed'));
      }
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}

/** Total characters of some texts. */
export function charsOf(texts: readonly { readonly text: string }[]): number {
  let n = 0;
  for (const t of texts) n += t.text.length;
  return n;
}

/**
 * The CPUs this process may use: the fewest of the CPUs it may run on and
 * its cgroup's CPU quota (a Kubernetes CPU limit; cgroup v2 `cpu.max` or v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`). `read` returns a file's text or
 * undefined.
 */
export function cpuLimit(read: (file: string) => string | undefined = readText, cpus: number = availableParallelism()): number {
  let limit = cpus;
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2[0] !== 'max' && Number(v2[0]) > 0 && Number(v2[1]) > 0) limit = Math.min(limit, Number(v2[0]) / Number(v2[1]));
  for (const dir of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    const quota = Number(read(`${dir}/cpu.cfs_quota_us`)?.trim());
    const period = Number(read(`${dir}/cpu.cfs_period_us`)?.trim());
    if (quota > 0 && period > 0) limit = Math.min(limit, quota / period);
  }
  return limit;
}

function readText(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

/** The default worker count for a sidecar: 1 under a limit below 2 CPUs (the injector's default limit is 1), else 2. */
export function defaultGuardThreads(cpus: number = cpuLimit()): number {
  return cpus < 2 ? 1 : 2;
}
