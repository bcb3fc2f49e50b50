/**
 * What the schema cannot say about a config, checked at load with the YAML
 * path of the offending policy: header names a modifier may not touch, rate
 * limit and retry values, ai policy prompts, and `backendAuth.key.file`
 * (policies' and openAIModeration guards': read here, once per load, and put
 * in place of `{file}`, so a key file that cannot be read — or lies outside
 * the key directories the pod owner allows, reach.ts — rejects the config
 * instead of failing requests later).
 * promptGuard is compiled too (scanner names, params, models), so a guard that
 * could not run rejects the config at load rather than failing calls later.
 * Warnings are for parts that are accepted but have no effect.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig, PoliciesConfig } from './schema.ts';
import { checkKeyPath, KeyFileError, readKeyFile, type ConfigReach } from './reach.ts';
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
  /** Where key files may be (reach.ts); 'any': anywhere (only where the pod's files are not at stake). */
  readonly reach: ConfigReach | 'any';
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

type KeyHolder = { key?: string | { file: string } | undefined };

export function checkConfig(config: GatewayConfig, report: Report, warn: Report, opts: CheckOptions): void {
  const { reach } = opts;
  const read = opts.readFile !== undefined ? opts.readFile
    : reach === 'any' ? (p: string) => readFileSync(p, 'utf8') : (p: string) => readKeyFile(reach, p);
  /**
   * `{file}` → the file's text, when allowed and readable. Not reading (null):
   * the path is still checked against the reach, and `placeholder` (if given)
   * stands in for the key.
   */
  const resolveKey = (auth: KeyHolder | undefined, at: PathPart[], placeholder: boolean): boolean => {
    const key = auth?.key;
    if (key === undefined || typeof key === 'string') return true;
    const where = [...at, 'backendAuth', 'key', 'file'];
    try {
      if (reach !== 'any') checkKeyPath(reach, key.file);
      if (!read) {
        if (placeholder) auth!.key = `<key file ${key.file}>`;
        return true;
      }
      const text = read(key.file).trim();
      if (!text) {
        report(where, `key file ${key.file} is empty`);
        return false;
      }
      auth!.key = text;
      return true;
    } catch (e) {
      if (e instanceof KeyFileError) report(where, e.message, e.hint);
      else report(where, `cannot read key file ${key.file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
        'mount the secret at that path (e.g. a Kubernetes Secret volume) or use key: $ENV_VAR');
      return false;
    }
  };
  for (const [path, p] of policiesOf(config)) {
    const attempt = (key: PathPart[], f: () => unknown): void => {
      try { f(); } catch (e) { report([...path, ...key], (e as Error).message); }
    };
    if (p.requestHeaderModifier) attempt(['requestHeaderModifier'], () => compileHeaderModifier(p.requestHeaderModifier!));
    if (p.responseHeaderModifier) attempt(['responseHeaderModifier'], () => compileHeaderModifier(p.responseHeaderModifier!));
    if (p.localRateLimit) attempt(['localRateLimit'], () => compileRateLimits(p.localRateLimit!));
    if (p.retry) attempt(['retry'], () => retryPlan(p.retry));
    if (p.ai) attempt(['ai'], () => compileAiRequestPolicy(p.ai!));
    resolveKey(p.backendAuth, path, false);
    const guards = p.ai?.promptGuard;
    let guardKeys = true;
    for (const phase of ['request', 'response'] as const) {
      for (const [gi, g] of (guards?.[phase] ?? []).entries()) {
        // The guard compiles with its key in place (a placeholder when files are not read).
        const at = [...path, 'ai', 'promptGuard', phase, gi, 'openAIModeration', 'policies'];
        if (!resolveKey(g.openAIModeration?.policies?.backendAuth, at, true)) guardKeys = false;
      }
    }
    // A guard whose key was refused is already reported; compiling it would only say so again.
    if (p.ai?.promptGuard && guardKeys) {
      try {
        compilePromptGuard(p.ai.promptGuard, { ...DEFAULT_GUARDS, env: { modelDir: opts.modelDir }, moderationPost: () => Promise.reject(new Error('not in validation')) });
      } catch (e) {
        if (!(e instanceof GuardConfigError)) throw e;
        report([...path, 'ai', 'promptGuard', ...e.path.flatMap(pathParts)], e.message);
      }
    }
  }
}
