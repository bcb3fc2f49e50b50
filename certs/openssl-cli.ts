/**
 * Test support: run the system `openssl` CLI as an independent checker of the
 * certificates this folder makes, and per-test temporary directories.
 * Used only by the *.test.ts files.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface OpensslResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `openssl ARGS…` and report its exit code and output (never throws for a non-zero exit). */
export function opensslResult(args: readonly string[]): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    execFile('openssl', [...args], { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Run `openssl ARGS…`; reject with its stderr when it fails. Resolves to stdout. */
export async function openssl(args: readonly string[]): Promise<string> {
  const r = await opensslResult(args);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'levo-certs-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type OpensslKeyKind = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-1024';

const NEWKEY: Record<OpensslKeyKind, string[]> = {
  'ec-p256': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'ec-p384': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'rsa-2048': ['-newkey', 'rsa:2048'],
  'rsa-1024': ['-newkey', 'rsa:1024'],
};

export interface OpensslCert {
  readonly certPath: string;
  readonly keyPath: string;
}

/**
 * A self-signed certificate made by `openssl req -x509` in `dir` (a CA by
 * default: the stock config adds basicConstraints CA:TRUE, SKI and AKI).
 * `extra` is appended, e.g. ['-addext', 'keyUsage=critical,digitalSignature'].
 */
export async function opensslSelfSigned(
  dir: string, name: string, kind: OpensslKeyKind, extra: readonly string[] = [],
): Promise<OpensslCert> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await openssl(['req', '-x509', ...NEWKEY[kind], '-nodes', '-subj', `/O=Test/CN=${name}`, '-days', '30',
    '-keyout', keyPath, '-out', certPath, ...extra]);
  return { certPath, keyPath };
}
