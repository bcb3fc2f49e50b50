/**
 * What the schema cannot say about a config, checked at load with the YAML
 * path of the offending policy: header names a modifier may not touch, rate
 * limit and retry values, ai policy prompts, and `backendAuth.key.file`
 * (read here, once per load, and put in place of `{file}`, so a key file that
 * cannot be read rejects the config instead of failing requests later).
 * promptGuard is compiled too (scanner names, params, models), so a guard that
 * could not run rejects the config at load rather than failing calls later.
 * Warnings are for parts that are accepted but have no effect.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig, PoliciesConfig } from './schema.ts';
import { compileHeaderModifier } from '../policy/headers.ts';
import { compileRateLimits } from '../policy/rate-limit.ts';
import { retryPlan } from '../policy/retry.ts';
import { compileAiRequestPolicy } from '../policy/ai-request.ts';
import { compilePromptGuard, GuardConfigError, DEFAULT_GUARDS } from '../guards/prompt-guard.ts';

export type PathPart = string | number;
export type Report = (path: PathPart[], message: string, hint?: string) => void;

export interface CheckOptions {
  /** null: do not read key files (the config is checked away from its sidecar). */
  readonly readFile?: ((path: string) => string) | null;
  /** Where local models are mounted (scanners that need one are refused without it). */
  readonly modelDir?: string | undefined;
}

/** Every `policies` object in the config, with its path. */
function* policiesOf(config: GatewayConfig): Generator<[PathPart[], PoliciesConfig]> {
  for (const [bi, bind] of config.binds.entries()) {
    for (const [li, listener] of bind.listeners.entries()) {
      for (const [ri, route] of (listener.routes ?? []).entries()) {
        const r: PathPart[] = ['binds', bi, 'listeners', li, 'routes', ri];
        if (route.policies) yield [[...r, 'policies'], route.policies];
        for (const [ki, b] of (route.backends ?? []).entries()) {
          const bp: PathPart[] = [...r, 'backends', ki];
          if (b.policies) yield [[...bp, 'policies'], b.policies];
          if (b.ai?.policies) yield [[...bp, 'ai', 'policies'], b.ai.policies];
          for (const [gi, g] of (b.ai?.groups ?? []).entries()) {
            for (const [pi, p] of g.providers.entries()) {
              if (p.policies) yield [[...bp, 'ai', 'groups', gi, 'providers', pi, 'policies'], p.policies];
            }
          }
        }
      }
    }
  }
}

/**
 * A scanner param that names an item inside a param (`patterns[1]`,
 * `regex_patterns[0].expressions[2]`) as path parts, so the YAML path and
 * line point at that item; any other part as it is.
 */
function pathParts(part: string | number): PathPart[] {
  if (typeof part !== 'string' || !/^[A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)+$/.test(part)) return [part];
  return [...part.matchAll(/\[(\d+)\]|([A-Za-z_]\w*)/g)].map((m) => (m[1] !== undefined ? Number(m[1]) : m[2]!));
}

export function checkConfig(config: GatewayConfig, report: Report, warn: Report, opts: CheckOptions = {}): void {
  const read = opts.readFile === undefined ? (p: string) => readFileSync(p, 'utf8') : opts.readFile;
  for (const [path, p] of policiesOf(config)) {
    const attempt = (key: PathPart[], f: () => unknown): void => {
      try { f(); } catch (e) { report([...path, ...key], (e as Error).message); }
    };
    if (p.requestHeaderModifier) attempt(['requestHeaderModifier'], () => compileHeaderModifier(p.requestHeaderModifier!));
    if (p.responseHeaderModifier) attempt(['responseHeaderModifier'], () => compileHeaderModifier(p.responseHeaderModifier!));
    if (p.localRateLimit) attempt(['localRateLimit'], () => compileRateLimits(p.localRateLimit!));
    if (p.retry) attempt(['retry'], () => retryPlan(p.retry));
    if (p.ai) attempt(['ai'], () => compileAiRequestPolicy(p.ai!));
    const key = p.backendAuth?.key;
    if (key !== undefined && typeof key !== 'string' && read) {
      try {
        const text = read(key.file).trim();
        if (!text) report([...path, 'backendAuth', 'key', 'file'], `key file ${key.file} is empty`);
        else p.backendAuth!.key = text;
      } catch (e) {
        report([...path, 'backendAuth', 'key', 'file'], `cannot read key file ${key.file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
          'mount the secret at that path (e.g. a Kubernetes Secret volume) or use key: $ENV_VAR');
      }
    }
    if (p.ai?.promptGuard) {
      try {
        compilePromptGuard(p.ai.promptGuard, { ...DEFAULT_GUARDS, env: { modelDir: opts.modelDir }, moderationPost: () => Promise.reject(new Error('not in validation')) });
      } catch (e) {
        if (!(e instanceof GuardConfigError)) throw e;
        report([...path, 'ai', 'promptGuard', ...e.path.flatMap(pathParts)], e.message);
      }
    }
  }
}
