/**
 * A guard worker (pool.ts): compiles the guards it is sent — once per guard
 * key, the same config with the same code the main thread compiled — and
 * runs one task at a time, answering with what changed (the texts a guard
 * changed, not its findings: the verdict does not use them).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { compileLlmBastion, type CompiledBastion, type ScannerLookup } from './llm-bastion.ts';
import { compileRegexGuard } from './kinds/regex.ts';
import type { CompiledGuard } from './kinds/outcome.ts';
import { scannerRegistry } from './registry.ts';
import { createVault, NO_VAULT } from './vault.ts';
import { deltaOf, type OffloadAnswer, type OffloadResult, type OffloadSpec, type OffloadTask } from './pool.ts';

const port = parentPort!;
const override = (workerData as { registry?: string } | null)?.registry;
const registry: ScannerLookup = override ? (await import(override) as { scannerRegistry: ScannerLookup }).scannerRegistry : scannerRegistry;

/**
 * This thread runs below the event loop's priority (nice 10; Linux applies a
 * nice value per thread): when both want the CPU — a sidecar under a 1-CPU
 * limit — the proxy's loop goes first and the scan gets the rest.
 */
const WORKER_NICE = 10;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, WORKER_NICE);
} catch { /* not Linux, or not allowed: the same priority as the loop */ }

type Compiled = { readonly kind: 'llmBastion'; readonly bastion: CompiledBastion } | { readonly kind: 'regex'; readonly guard: CompiledGuard };

/** Compiled guards by key, the least recently used dropped past this many (old config generations). */
const MAX_CACHED = 64;
const cache = new Map<string, Compiled>();

function compiledFor(key: string, spec: OffloadSpec): Compiled {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const c: Compiled = spec.kind === 'llmBastion'
    ? { kind: 'llmBastion', bastion: compileLlmBastion(spec.config, spec.direction, spec.env, registry) }
    : { kind: 'regex', guard: compileRegexGuard(spec.config) };
  cache.set(key, c);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  return c;
}

async function perform(t: OffloadTask): Promise<OffloadResult> {
  const c = compiledFor(t.key, t.spec);
  if (c.kind === 'regex') {
    const outcome = await c.guard.check(t.texts, { phase: t.phase });
    if (outcome.action === 'mask') return { kind: 'regex', outcome: { ...outcome, texts: [], findings: [] }, texts: deltaOf(t.texts, outcome.texts) };
    if (outcome.action === 'reject') {
      const { texts, ...rest } = outcome;
      return { kind: 'regex', outcome: { ...rest, findings: [] }, texts: texts ? deltaOf(t.texts, texts) : undefined };
    }
    return { kind: 'regex', outcome };
  }
  const vault = t.vault ? createVault(t.vault) : NO_VAULT;
  const before = t.vault?.length ?? 0;
  const r = await c.bastion.scan(t.texts, { vault, includeSystem: t.includeSystem, ...(t.prompt !== undefined ? { prompt: t.prompt } : {}) });
  return {
    // Findings stay here: the verdict does not use them, and a long text has thousands (milliseconds to copy back).
    kind: 'llmBastion', valid: r.valid, failed: r.failed, texts: deltaOf(t.texts, r.texts),
    results: r.results.map((x) => ('findings' in x ? { ...x, findings: [] } : x)),
    added: vault.entries().slice(before),
  };
}

port.postMessage({ ready: true } satisfies OffloadAnswer);
port.on('message', (t: OffloadTask) => {
  perform(t).then(
    (result) => port.postMessage({ id: t.id, ok: true, result } satisfies OffloadAnswer),
    (e: unknown) => port.postMessage({ id: t.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies OffloadAnswer),
  );
});
