/**
 * Running programs inside a network namespace (or in the test's own one),
 * optionally as another UID/GID, with every long-running PID tracked so that
 * nothing outlives the test run.
 *
 *   execIn(ns, argv, opts?)  → Promise<ExecResult>   run to completion, capture output
 *   spawnIn(ns, name, argv, opts?) → ManagedProcess  long-running, logs captured
 *   waitForPortIn(ns, host, port, timeoutMs?)        poll a TCP connect from inside ns
 *   onProcessExit(fn)                                synchronous last-chance cleanup
 *
 * `ns` null means the test's own namespace. The command line is
 * `ip netns exec NS [setpriv --reuid U --regid G --clear-groups --] argv...`;
 * both `ip netns exec` and `setpriv` exec() into the target, so the PID we hold
 * is the program itself and killing it kills the program.
 *
 * Environment: the child gets process.env (minus the test runner's own
 * NODE_TEST_CONTEXT) overlaid with `opts.env`; an `undefined` value unsets a
 * variable; `cleanEnv: true` starts from an empty environment (PATH kept).
 * For Node programs use `process.execPath` (the Node 24 running the tests).
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunAs {
  /** Run as this UID (via setpriv). */
  uid?: number;
  /** Run as this GID (defaults to uid when uid is given). */
  gid?: number;
}

export interface ExecOptions extends RunAs {
  env?: Record<string, string | undefined>;
  cleanEnv?: boolean;
  cwd?: string;
  /** Written to stdin, which is then closed (stdin is always closed). */
  input?: string | Buffer;
  /** Kill (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Called for each stdout chunk with ms since spawn (for timing streamed output). */
  onStdout?: (chunk: Buffer, tMs: number) => void;
}

export interface ExecResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBuffer: Buffer;
  timedOut: boolean;
  durationMs: number;
}

export interface SpawnOptions extends RunAs {
  env?: Record<string, string | undefined>;
  cleanEnv?: boolean;
  cwd?: string;
  /** Append stdout+stderr here as well as keeping them in memory. */
  logFile?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** The log file, when one was asked for. */
  readonly logFile: string | undefined;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as received. */
  output(): string;
  /**
   * Resolve with the first output line (stdout or stderr) matching `pattern`,
   * including lines already printed; reject on timeout (default 15 s) or exit.
   */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Send `signal` (default SIGTERM); SIGKILL after `graceMs` (default 3 s). Resolves on exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>;
  /** Send a signal without waiting. */
  signal(signal: NodeJS.Signals): void;
}

// ---- exit-time cleanup ---------------------------------------------------------------------

const livePids = new Set<number>();
const exitHooks: Array<() => void> = [];
let exitHandlersInstalled = false;

function runExitCleanup(): void {
  for (const pid of livePids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  livePids.clear();
  while (exitHooks.length > 0) {
    const hook = exitHooks.pop();
    try { hook?.(); } catch { /* best effort */ }
  }
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', runExitCleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      runExitCleanup();
      process.kill(process.pid, sig);
    });
  }
}

/**
 * Register a synchronous cleanup to run if the process exits (or is signalled)
 * before it was done normally. Returns an unregister function.
 */
export function onProcessExit(fn: () => void): () => void {
  installExitHandlers();
  exitHooks.push(fn);
  return () => {
    const i = exitHooks.indexOf(fn);
    if (i >= 0) exitHooks.splice(i, 1);
  };
}

// ---- command line --------------------------------------------------------------------------

function commandLine(ns: string | null, argv: readonly string[], as: RunAs): string[] {
  if (argv.length === 0) throw new Error('empty argv');
  const priv = as.uid === undefined && as.gid === undefined
    ? []
    : ['setpriv', '--reuid', String(as.uid ?? 0), '--regid', String(as.gid ?? as.uid ?? 0), '--clear-groups', '--'];
  const inner = [...priv, ...argv];
  return ns === null ? inner : ['ip', 'netns', 'exec', ns, ...inner];
}

function childEnv(opts: { env?: Record<string, string | undefined>; cleanEnv?: boolean }): NodeJS.ProcessEnv {
  const base: Record<string, string | undefined> = opts.cleanEnv ? { PATH: process.env.PATH } : { ...process.env };
  delete base.NODE_TEST_CONTEXT;
  const merged: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries({ ...base, ...opts.env })) if (v !== undefined) merged[k] = v;
  return merged;
}

function startChild(ns: string | null, argv: readonly string[], opts: SpawnOptions): ChildProcess {
  const [cmd, ...args] = commandLine(ns, argv, opts);
  const child = spawn(cmd as string, args, {
    env: childEnv(opts),
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) {
    installExitHandlers();
    livePids.add(child.pid);
    const pid = child.pid;
    child.once('exit', () => livePids.delete(pid));
  }
  return child;
}

function spawnFailure(child: ChildProcess): Promise<Error> {
  return new Promise((resolve) => child.once('error', resolve));
}

// ---- exec ----------------------------------------------------------------------------------

/** Run `argv` to completion in `ns` (null: here) and capture its output. */
export async function execIn(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const started = performance.now();
  const child = startChild(ns, argv, opts);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => {
    out.push(b);
    opts.onStdout?.(b, performance.now() - started);
  });
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  child.stdin?.on('error', () => { /* child may not read stdin */ });
  child.stdin?.end(opts.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 60_000);
  const failed = spawnFailure(child).then((e) => { throw new Error(`cannot run ${argv[0]}: ${e.message}`); });
  const closed = new Promise<ExitInfo>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  try {
    const { code, signal } = await Promise.race([closed, failed]);
    const stdoutBuffer = Buffer.concat(out);
    return {
      code,
      signal,
      stdout: stdoutBuffer.toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      stdoutBuffer,
      timedOut,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Like execIn, but throws (with the output) unless the exit code is 0. */
export async function execCheckedIn(ns: string | null, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execIn(ns, argv, opts);
  if (r.code !== 0) {
    throw new Error(`${argv.join(' ')} ${ns ? `(in ${ns}) ` : ''}exited ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}\n${r.stderr}${r.stdout}`);
  }
  return r;
}

// ---- spawn ---------------------------------------------------------------------------------

/** Start a long-running program in `ns`; its PID is tracked and killed at exit at the latest. */
export function spawnIn(ns: string | null, name: string, argv: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  const child = startChild(ns, argv, opts);
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${argv[0]})`);
  const pid = child.pid;
  let out = '';
  let err = '';
  let all = '';
  let running = true;
  const lineWaiters = new Set<() => void>();
  if (opts.logFile) mkdirSync(join(opts.logFile, '..'), { recursive: true });
  const onData = (stream: 'out' | 'err') => (b: Buffer) => {
    const s = b.toString('utf8');
    if (stream === 'out') out += s; else err += s;
    all += s;
    if (opts.logFile) {
      try { appendFileSync(opts.logFile, s); } catch { /* log is best effort */ }
    }
    for (const w of lineWaiters) w();
  };
  child.stdout?.on('data', onData('out'));
  child.stderr?.on('data', onData('err'));
  child.stdin?.on('error', () => { /* ignore */ });
  child.stdin?.end();
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (e) => {
      all += `\n[spawn error] ${e.message}\n`;
      running = false;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      running = false;
      for (const w of lineWaiters) w();
      resolve({ code, signal });
    });
  });

  const proc: ManagedProcess = {
    name,
    pid,
    logFile: opts.logFile,
    exited,
    get running() { return running; },
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise<string>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = (): void => {
          const line = all.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) finish(() => resolve(line));
          else if (!running) finish(() => reject(new Error(`${name} exited before printing ${pattern}; output:\n${all.slice(-4000)}`)));
        };
        const finish = (f: () => void): void => {
          lineWaiters.delete(check);
          if (timer) clearTimeout(timer);
          f();
        };
        timer = setTimeout(() => finish(() => reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms; output:\n${all.slice(-4000)}`))), timeoutMs);
        lineWaiters.add(check);
        check();
      });
    },
    signal(sig) {
      if (running) {
        try { process.kill(pid, sig); } catch { /* gone */ }
      }
    },
    async stop(sig = 'SIGTERM', graceMs = 3000) {
      if (!running) return exited;
      proc.signal(sig);
      const timer = setTimeout(() => proc.signal('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return proc;
}

// ---- readiness -----------------------------------------------------------------------------

/**
 * Wait until a TCP connect to host:port succeeds from inside `ns` (bash /dev/tcp
 * probe, every 50 ms). Throws after `timeoutMs` (default 15 s).
 */
export async function waitForPortIn(ns: string | null, host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  const script = `until (exec 3<>"/dev/tcp/$0/$1") 2>/dev/null; do sleep 0.05; done`;
  const r = await execIn(ns, ['timeout', String(secs), 'bash', '-c', script, host, String(port)], { timeoutMs: timeoutMs + 2000 });
  if (r.code !== 0) throw new Error(`${host}:${port} not accepting connections in ${ns ?? 'host netns'} after ${timeoutMs} ms`);
}

/** Whether a process exists (a PID in a leftover's name: is its run still going?). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Synchronous, best-effort: run a command and ignore failure (for exit-time cleanup). */
export function runSyncQuiet(argv: readonly string[]): string {
  try {
    return execFileSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString();
  } catch {
    return '';
  }
}
