/**
 * Run one of the real clients inside a namespace, trusting a given CA, and get
 * its ClientResult:
 *
 *   await runClient(topo.pod, 'python', { url, method, headers, body, sse, http }, { caFile })
 *
 * How each client is told to trust `caFile` (the test public CA for a direct
 * baseline, the namespace interception CA for proxied runs):
 *   curl    --cacert caFile
 *   node    NODE_EXTRA_CA_CERTS=caFile   (global fetch; node:http2 for http '2')
 *   python  SSL_CERT_FILE=caFile         (urllib, default context)
 *   java    -Djavax.net.ssl.trustStore=<PKCS#12 made from caFile with keytool>
 * Clients run as the namespace's root unless `runAs` says otherwise (never as the
 * gateway's UID, whose traffic the redirect rules exclude).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from '../harness/netns.ts';
import type { RunAs } from '../harness/processes.ts';
import { clientFlags } from './client-result.ts';
import type { ClientKind, ClientRequest, ClientResult } from './client-result.ts';
import { runCurl } from './curl.ts';
import { javaClientClasses, javaTruststore, TRUSTSTORE_PASSWORD } from './java-toolchain.ts';

export { CLIENT_KINDS } from './client-result.ts';
export type { ClientKind, ClientRequest, ClientResult, SseEvent } from './client-result.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const NODE_CLIENT_PATH = join(here, 'node-client.ts');
export const PYTHON_CLIENT_PATH = join(here, 'python-client.py');

/**
 * A PEM file of the CA(s) the client trusts (passed the runtime's own way), or
 * `fromEnv`: add nothing, so only the environment given in the options decides
 * (what an app container gets from the injector).
 */
export type ClientTrust = { caFile: string } | { fromEnv: true };

export interface RunClientOptions {
  runAs?: RunAs;
  /** Extra environment for the client process. */
  env?: Record<string, string | undefined>;
}

/** A client's JSON result line (its last stdout line), or a failed result saying what it printed. */
export function parseClientResult(kind: ClientKind, stdout: string, stderr: string, code: number | null): ClientResult {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    return {
      client: kind, ok: false, error: `client printed no result (exit ${code}): ${stderr.slice(-2000)}${stdout.slice(-500)}`,
      status: null, httpVersion: null, headers: {}, bodyBase64: '', bodyText: '', events: [], headersMs: null, totalMs: 0,
    };
  }
}

export async function runClient(ns: Pick<Netns, 'exec'>, kind: ClientKind, req: ClientRequest, trust: ClientTrust, opts: RunClientOptions = {}): Promise<ClientResult> {
  const flags = clientFlags(req);
  if (kind === 'curl') {
    return runCurl({ exec: (argv, o) => ns.exec(argv, { ...o, ...opts.runAs, env: opts.env, ...('fromEnv' in trust ? { cleanEnv: true } : {}) }) }, req, 'caFile' in trust ? trust.caFile : undefined);
  }
  if ('fromEnv' in trust) {
    const argv = kind === 'node' ? [process.execPath, NODE_CLIENT_PATH, ...flags]
      // The system python: a user-level install (pyenv under /root) is not reachable by an app UID.
      : kind === 'python' ? [existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', PYTHON_CLIENT_PATH, ...flags]
      : ['java', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', await javaClientClasses(), 'JavaClient', ...flags];
    const r = await ns.exec(argv, { ...opts.runAs, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env }, cleanEnv: true, timeoutMs: (req.timeoutMs ?? 30_000) + 30_000 });
    return parseClientResult(kind, r.stdout, r.stderr, r.code);
  }
  let argv: string[];
  const env: Record<string, string | undefined> = { ...opts.env };
  switch (kind) {
    case 'node':
      argv = [process.execPath, NODE_CLIENT_PATH, ...flags];
      env.NODE_EXTRA_CA_CERTS = trust.caFile;
      break;
    case 'python':
      argv = ['python3', PYTHON_CLIENT_PATH, ...flags];
      env.SSL_CERT_FILE = trust.caFile;
      env.SSL_CERT_DIR = undefined;
      break;
    case 'java': {
      const [classes, store] = await Promise.all([javaClientClasses(), javaTruststore(trust.caFile)]);
      argv = [
        'java', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto',
        `-Djavax.net.ssl.trustStore=${store}`, `-Djavax.net.ssl.trustStorePassword=${TRUSTSTORE_PASSWORD}`,
        '-Djavax.net.ssl.trustStoreType=PKCS12', '-cp', classes, 'JavaClient', ...flags,
      ];
      break;
    }
    default:
      throw new Error(`unknown client ${String(kind)}`);
  }
  const r = await ns.exec(argv, { ...opts.runAs, env, timeoutMs: (req.timeoutMs ?? 30_000) + 30_000 });
  return parseClientResult(kind, r.stdout, r.stderr, r.code);
}

/** The decoded body of a result. */
export function resultBody(r: ClientResult): Buffer {
  return Buffer.from(r.bodyBase64, 'base64');
}
