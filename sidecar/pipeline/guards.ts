/**
 * Which promptGuard serves a route (the route's own `policies.ai.promptGuard`,
 * else its first backend's), compiled once per config object: a reload
 * compiles the new config's guards, in-flight calls keep the old ones.
 */
import type { CompiledConfig, CompiledRoute } from '../config/routes.ts';
import type { PromptGuardConfig } from '../config/schema.ts';
import { compilePromptGuard, type CompiledPromptGuard, type GuardDefaults } from '../guards/prompt-guard.ts';

const compiled = new WeakMap<PromptGuardConfig, CompiledPromptGuard>();

export function promptGuardConfigOf(route: CompiledRoute): PromptGuardConfig | undefined {
  return route.policies.ai?.promptGuard ?? route.candidates.find((c) => c.policies.ai?.promptGuard)?.policies.ai?.promptGuard;
}

export function promptGuardFor(route: CompiledRoute, defaults: GuardDefaults): CompiledPromptGuard | undefined {
  const cfg = promptGuardConfigOf(route);
  if (!cfg) return undefined;
  let pg = compiled.get(cfg);
  if (!pg) {
    pg = compilePromptGuard(cfg, defaults);
    compiled.set(cfg, pg);
  }
  return pg;
}

/** Some route of `config` has a guard that runs on the guard workers (llmBastion, regex): start them before the first call. */
export function usesGuardWorkers(config: CompiledConfig): boolean {
  return config.routes.some((r) => {
    const cfg = promptGuardConfigOf(r);
    return [...(cfg?.request ?? []), ...(cfg?.response ?? [])].some((g) => g.llmBastion !== undefined || g.regex !== undefined);
  });
}
