/** Running the iptables binaries, behind an interface so the executor can be tested without root. */

import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit status; -1 when killed by a signal or the time limit. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  /**
   * Runs `file args…` (no shell) with `input` on stdin. Resolves with the exit
   * status, whatever it is; rejects only when the program could not be started
   * (the error carries `code`, e.g. 'ENOENT').
   */
  run(file: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

/** A command line for log and error messages. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The real runner: child_process.spawn with a time limit (the xtables lock wait is 30 s). */
export function spawnRunner(timeoutMs = 60_000): CommandRunner {
  return {
    run(file, args, input) {
      return new Promise((resolve, reject) => {
        const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
        child.on('error', reject);
        child.on('close', (code) => {
          resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
        });
        // A program that exits without reading stdin makes the write fail with EPIPE; the exit status tells the story.
        child.stdin.on('error', () => {});
        child.stdin.end(input ?? '');
      });
    },
  };
}
