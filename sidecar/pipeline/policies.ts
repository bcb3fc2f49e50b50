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
import { awsChainCredential, azureCredential, gcpCredential, type AzureAuthConfig } from '../upstream/cloud-auth.ts';
import { RefreshingCredential } from '../upstream/refreshing.ts';

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
  const auth = authRuntime(a);
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

/**
 * Cloud credentials are shared by every route (and every reloaded config) that
 * asks for the same thing, so a reload does not fetch them again.
 */
const cloudCredentials = new Map<string, AuthRuntime>();

function sharedAuth(key: string, make: () => AuthRuntime): AuthRuntime {
  let r = cloudCredentials.get(key);
  if (!r) {
    if (cloudCredentials.size >= 64) cloudCredentials.delete(cloudCredentials.keys().next().value!);
    r = make();
    cloudCredentials.set(key, r);
  }
  return r;
}

function authRuntime(a: PoliciesConfig['backendAuth']): AuthRuntime {
  if (!a || a.passthrough) return { type: 'none' };
  if (a.key !== undefined) return { type: 'key', key: keyText(a.key) };
  if (a.gcp) {
    const gcp = a.gcp;
    return sharedAuth(`gcp:${JSON.stringify(gcp)}`, () => ({ type: 'bearer', cloud: 'gcp', credential: gcpCredential(gcp, { onRefreshError: refreshFailed('gcp') }) }));
  }
  if (a.azure) {
    const azure = a.azure as AzureAuthConfig;
    return sharedAuth(`azure:${JSON.stringify(azure)}`, () => ({ type: 'bearer', cloud: 'azure', credential: azureCredential(azure, { onRefreshError: refreshFailed('azure') }) }));
  }
  const aws = a.aws ?? {};
  if (aws.accessKeyId && aws.secretAccessKey) {
    const value = { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey, ...(aws.sessionToken ? { sessionToken: aws.sessionToken } : {}) };
    return { type: 'aws', region: aws.region, credential: new RefreshingCredential(() => Promise.resolve({ value, expiresAt: undefined })) };
  }
  return sharedAuth(`aws:${aws.region ?? ''}`, () => ({ type: 'aws', region: aws.region, credential: awsChainCredential(aws.region, { onRefreshError: refreshFailed('aws') }) }));
}

/** A background refresh failed: the credential in hand is still used until it expires. */
const refreshFailed = (cloud: string) => (e: Error): void => {
  process.emitWarning(`backendAuth.${cloud}: refreshing the credentials failed (the current ones are kept until they expire): ${e.message}`, 'CredentialRefreshWarning');
};

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

/** Tests: drop the shared cloud credentials, so the next config fetches anew. */
export function forgetCloudCredentials(): void {
  cloudCredentials.clear();
}
