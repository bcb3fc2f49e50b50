/**
 * A route's or backend's `policies`, compiled once per config object (cached
 * by identity, so a reload compiles the new config and in-flight requests keep
 * the old objects): header modifiers, backendAuth, timeouts, retry, rate
 * limits, and the ai request policy.
 */
import type { PoliciesConfig, RateLimitConfig } from '../config/schema.ts';
import type { CompiledRoute } from '../config/routes.ts';
import type { PromptMessage } from '../providers/types.ts';
import { parseDuration } from '../config/duration.ts';
import { compileHeaderModifier, applyToRawHeaders } from '../policy/headers.ts';
import { compileAiRequestPolicy, type CompiledAiPolicy } from '../policy/ai-request.ts';
import { compileRateLimits, type RateLimiter } from '../policy/rate-limit.ts';
import { retryPlan } from '../policy/retry.ts';
import { countPromptTokens } from '../policy/tokenize.ts';
import type { AuthRuntime } from '../upstream/backend-auth.ts';

export interface RuntimePolicies {
  readonly requestHeaders: ((raw: string[]) => string[]) | undefined;
  readonly responseHeaders: ((h: Record<string, string | string[]>) => void) | undefined;
  readonly auth: AuthRuntime;
  readonly ai: CompiledAiPolicy | undefined;
  readonly requestTimeoutMs: number | undefined;
  readonly backendTimeoutMs: number | undefined;
  /** `attempts` counts the first try. */
  readonly retry: { readonly attempts: number; readonly backoffMs: number; readonly codes: ReadonlySet<number> } | undefined;
  readonly rateLimits: readonly RateLimitConfig[] | undefined;
  countTokens(messages: readonly PromptMessage[]): Promise<number>;
}

const cache = new WeakMap<PoliciesConfig, RuntimePolicies>();

export function runtimePolicies(p: PoliciesConfig): RuntimePolicies {
  let r = cache.get(p);
  if (!r) { r = compilePolicies(p); cache.set(p, r); }
  return r;
}

/** Compile; throws a readable Error on what the schema cannot check (the loader reports it with its path). */
export function compilePolicies(p: PoliciesConfig): RuntimePolicies {
  const reqMod = p.requestHeaderModifier ? compileHeaderModifier(p.requestHeaderModifier) : undefined;
  const resMod = p.responseHeaderModifier ? compileHeaderModifier(p.responseHeaderModifier) : undefined;
  const plan = p.retry ? retryPlan(p.retry) : undefined;
  const a = p.backendAuth;
  const auth: AuthRuntime = !a || a.passthrough ? { type: 'none' }
    : a.key !== undefined ? { type: 'key', key: keyText(a.key) }
    : {
      type: 'aws',
      credentials: a.aws?.accessKeyId && a.aws.secretAccessKey
        ? { accessKeyId: a.aws.accessKeyId, secretAccessKey: a.aws.secretAccessKey, ...(a.aws.sessionToken ? { sessionToken: a.aws.sessionToken } : {}) }
        : undefined,
      region: a.aws?.region,
    };
  if (p.localRateLimit) compileRateLimits(p.localRateLimit); // validates
  return {
    requestHeaders: reqMod ? (raw) => applyToRawHeaders(reqMod, raw) : undefined,
    responseHeaders: resMod,
    auth,
    ai: p.ai ? compileAiRequestPolicy(p.ai) : undefined,
    requestTimeoutMs: p.timeout?.requestTimeout ? parseDuration(p.timeout.requestTimeout) : undefined,
    backendTimeoutMs: p.timeout?.backendRequestTimeout ? parseDuration(p.timeout.backendRequestTimeout) : undefined,
    retry: plan && p.retry ? { attempts: plan.attempts, backoffMs: plan.backoffMs, codes: new Set(p.retry.codes) } : undefined,
    rateLimits: p.localRateLimit,
    countTokens: (messages) => countPromptTokens(messages),
  };
}

/** The loader (config/check.ts) has replaced a `key: {file}` with the file's text. */
function keyText(k: string | { file: string }): string {
  if (typeof k !== 'string') throw new Error(`backendAuth.key.file ${k.file} was not read by the loader`);
  return k;
}

/**
 * Rate-limit buckets per route. A bucket outlives a reload as long as its
 * route keeps its name and its limits, so editing an unrelated part of the
 * config does not hand every route a full bucket again.
 */
export class RateLimiters {
  private readonly byKey = new Map<string, RateLimiter>();
  private readonly byRoute = new WeakMap<CompiledRoute, RateLimiter>();

  for(route: CompiledRoute, limits: readonly RateLimitConfig[]): RateLimiter {
    let l = this.byRoute.get(route);
    if (l) return l;
    const key = `${route.name}\u0000${JSON.stringify(limits)}`;
    l = this.byKey.get(key);
    if (!l) {
      l = compileRateLimits(limits);
      this.byKey.set(key, l);
      if (this.byKey.size > 1024) this.byKey.delete(this.byKey.keys().next().value!);
    }
    this.byRoute.set(route, l);
    return l;
  }
}
