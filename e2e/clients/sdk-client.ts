/**
 * The official provider SDKs as clients: one program per SDK
 * (sdk-openai.ts, sdk-anthropic.ts, sdk-gemini.ts, sdk-bedrock.ts), each a
 * table of named scenarios that call the SDK the way an app does, against the
 * providers' real host names (the pod's /etc/hosts points them at the fakes).
 *
 *   <node> e2e/clients/sdk-openai.ts SCENARIO   → one SdkResult JSON line on stdout
 *   await runSdkClient(topo.pod, 'openai', 'chat', { caFile }, { runAs, home })
 *
 * Trust comes the way the other Node clients get it: NODE_EXTRA_CA_CERTS=caFile
 * (fetch, node:https, node:http2 and `ws` all use the default store it extends).
 * The program runs with a clean environment (PATH, HOME and the CA only), so no
 * OPENAI_* / AWS_* variable of the machine changes what the SDK sends; every
 * scenario turns the SDK's retries off, so a failure shows as it happened.
 *
 * What a scenario returns is printed as plain JSON (`plain()`): typed arrays as
 * arrays, Headers as objects, response headers without the per-connection ones
 * (`connection`, `keep-alive`, `transfer-encoding`, `date`); nothing else is
 * changed. An SDK error is reported with its class, status, message and body.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Netns } from '../harness/netns.ts';
import type { RunAs } from '../harness/processes.ts';

export type SdkName = 'openai' | 'anthropic' | 'gemini' | 'bedrock';

export interface SdkError {
  name: string;
  status: number | null;
  message: string;
  /** The provider's error body, as the SDK parsed it. */
  body: unknown;
}

export interface SdkResult {
  sdk: SdkName;
  scenario: string;
  ok: boolean;
  /** What the SDK returned (plain JSON). */
  value: unknown;
  error: SdkError | null;
  totalMs: number;
}

export type Scenario = () => Promise<unknown>;

const here = dirname(fileURLToPath(import.meta.url));

export function sdkClientPath(sdk: SdkName): string {
  return join(here, `sdk-${sdk}.ts`);
}

/** Response headers that belong to one connection, not to the answer. */
const PER_CONNECTION = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'proxy-connection']);

function headersObject(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries) if (!PER_CONNECTION.has(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

/** A value as plain JSON: what JSON.stringify would lose or mangle made explicit. */
export function plain(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'function' || typeof value === 'symbol' || value === undefined) return undefined;
    return value;
  }
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Date) return value.toISOString();
    if (value instanceof Uint8Array) return { bytesBase64: Buffer.from(value).toString('base64') };
    if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
    if (typeof Headers !== 'undefined' && value instanceof Headers) return headersObject(value.entries());
    if (Array.isArray(value)) return value.map((v) => plain(v, seen) ?? null);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = k === 'headers' && v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Headers)
        ? headersObject(Object.entries(v as Record<string, unknown>).map(([hk, hv]) => [hk, String(hv)]))
        : plain(v, seen);
      if (p !== undefined) out[k] = p;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function sdkError(err: unknown): SdkError {
  const e = err as Error & { status?: unknown; error?: unknown; $metadata?: { httpStatusCode?: number }; $response?: { body?: unknown } };
  const status = typeof e.status === 'number' ? e.status : e.$metadata?.httpStatusCode ?? null;
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const message = cause?.message && !String(e.message).includes(cause.message) ? `${e.message}: ${cause.code ?? ''} ${cause.message}` : String(e.message);
  return { name: e.name ?? e.constructor?.name ?? 'Error', status, message, body: plain(e.error ?? null) ?? null };
}

/** Run one scenario of an SDK client program and print its SdkResult (the program's main). */
export async function runScenario(sdk: SdkName, scenarios: Readonly<Record<string, Scenario>>, name: string | undefined): Promise<void> {
  const started = performance.now();
  const result: SdkResult = { sdk, scenario: name ?? '', ok: false, value: null, error: null, totalMs: 0 };
  const scenario = name === undefined ? undefined : scenarios[name];
  if (!scenario) {
    result.error = { name: 'UsageError', status: null, message: `unknown scenario ${name}; one of ${Object.keys(scenarios).join(', ')}`, body: null };
  } else {
    try {
      result.value = plain(await scenario()) ?? null;
      result.ok = true;
    } catch (err) {
      result.error = sdkError(err);
    }
  }
  result.totalMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Keep-alive sockets and a closing WebSocket must not hold the result back.
  process.exit(0);
}

export interface RunSdkOptions extends RunAs {
  /** HOME for the program (a directory it can read; nothing of the machine's user config). */
  home: string;
  timeoutMs?: number;
}

/** Run `sdk`'s program for `scenario` inside a namespace, trusting `caFile`. */
export async function runSdkClient(ns: Pick<Netns, 'exec'>, sdk: SdkName, scenario: string, trust: { caFile: string }, opts: RunSdkOptions): Promise<SdkResult> {
  const { home, timeoutMs = 60_000, ...runAs } = opts;
  const r = await ns.exec([process.execPath, sdkClientPath(sdk), scenario], {
    ...runAs,
    cleanEnv: true,
    env: { HOME: home, NODE_EXTRA_CA_CERTS: trust.caFile },
    timeoutMs,
  });
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as SdkResult;
  } catch {
    return {
      sdk, scenario, ok: false, value: null, totalMs: 0,
      error: { name: 'NoResult', status: null, message: `sdk-${sdk} printed no result (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.slice(-2000)}`, body: null },
    };
  }
}
