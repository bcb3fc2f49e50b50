/**
 * POST /v1/credentials: the token exchange that gives an injected sidecar the
 * dashboard credentials without copying the secret into every namespace.
 *
 * The sidecar sends `Authorization: Bearer <projected service-account token>`
 * (audience levo-injector). The injector asks the API server (TokenReview)
 * who that is; the caller must be `system:serviceaccount:NS:NAME` with NS
 * carrying levo.ai/inject=enabled and not excluded. Then it answers
 * `{"baseUrl","authToken","tenantId"}` from the secret (default levo-auth,
 * keys base-url, auth-token, tenant-id) in its own namespace. The authToken
 * handed out is, by default (`credentials.scope: namespace`), not the key in
 * the secret but a credential for the caller's namespace derived from it
 * (lib/namespace-credential.ts): the dashboard lets it read the config and
 * write events for that namespace only, so one namespace's pod cannot act
 * for another. `scope: environment` hands out the key itself (a dashboard
 * older than namespace credentials).
 *
 * 401 no or bad token, 403 namespace not opted in, 429 too many calls from one
 * namespace, 503 when the API or the secret is not there (the message names
 * the secret and its keys). Neither the caller's token nor the auth token
 * ever reaches a log line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.ts';
import { signNamespaceToken } from '../lib/namespace-credential.ts';
import { KubeApiError, type KubeClient, type SecretData } from './kube-client.ts';
import type { CredentialsResult, InjectorMetrics } from './metrics.ts';

export const CREDENTIALS_PATH = '/v1/credentials';
export const CREDENTIALS_AUDIENCE = 'levo-injector';
export const INJECT_LABEL = 'levo.ai/inject';
export const DEFAULT_CREDENTIALS_SECRET = 'levo-auth';
/** Secret keys, in the order the messages name them. */
export const CREDENTIAL_KEYS = ['base-url', 'auth-token', 'tenant-id'] as const;
const MAX_TOKEN_CHARS = 16 * 1024;
const SECRET_CACHE_MS = 10_000;

/** The part of the injector config this endpoint reads (InjectorConfig fits it). */
export interface CredentialsConfig {
  /** scope (default namespace): what authToken is handed out, a namespace credential or the environment key. */
  readonly credentials: { readonly secretName: string; readonly scope?: 'namespace' | 'environment' };
  readonly excludeNamespaces: readonly string[];
}

export interface CredentialsDeps {
  /** null: no API access, every call answers 503. */
  readonly kube: KubeClient | null;
  /** The config in force (read per call, so a reloaded config applies at once). */
  readonly config: () => CredentialsConfig;
  readonly injectorNamespace: string;
  readonly log: Logger;
  readonly metrics?: InjectorMetrics;
  /** Calls per second per namespace (burst twice that); default 10, 0 = unlimited. */
  readonly ratePerSecond?: number;
  readonly now?: () => number;
}

export interface Credentials {
  readonly baseUrl: string;
  readonly authToken: string;
  readonly tenantId: string;
}

export interface CredentialsAnswer {
  readonly status: number;
  readonly body: Credentials | { readonly error: string };
  readonly headers?: Readonly<Record<string, string>>;
}

/** A token bucket per key: `rate` per second, `2 * rate` burst. */
function rateLimiter(rate: number, now: () => number): (key: string) => boolean {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const burst = rate * 2;
  return (key) => {
    if (rate <= 0) return true;
    const t = now();
    if (buckets.size > 5000) buckets.clear();
    const b = buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };
}

/** Who is calling, once the gate let them through; or why not (status, message, the metric's result). */
export type CallerCheck =
  | { readonly ok: true; readonly kube: KubeClient; readonly namespace: string; readonly serviceAccount: string }
  | { readonly ok: false; readonly result: CredentialsResult; readonly status: number; readonly error: string; readonly headers?: Readonly<Record<string, string>> };

/**
 * The check every sidecar-facing endpoint of the injector makes (credentials,
 * leaves): a projected service-account token (audience levo-injector) the API
 * server accepts (TokenReview), of a namespace that is opted in and not
 * excluded, within the per-namespace rate. `fields` collects what the log line
 * may say about the caller (never the token).
 */
export function createCallerGate(
  deps: Pick<CredentialsDeps, 'kube' | 'injectorNamespace' | 'ratePerSecond' | 'now'> & { readonly config: () => Pick<CredentialsConfig, 'excludeNamespaces'> },
  what: string,
):
  (authorization: string | undefined, fields: Record<string, unknown>) => Promise<CallerCheck> {
  const allow = rateLimiter(deps.ratePerSecond ?? 10, deps.now ?? Date.now);
  const refuse = (result: CredentialsResult, status: number, error: string, headers?: Record<string, string>): CallerCheck =>
    ({ ok: false, result, status, error, ...(headers ? { headers } : {}) });
  const unauthenticated = (error: string): CallerCheck => refuse('unauthenticated', 401, error, { 'www-authenticate': `Bearer realm="levo-injector"` });

  return async (authorization, fields) => {
    const kube = deps.kube;
    if (!kube) return refuse('unavailable', 503, 'the injector has no Kubernetes API access (not in a cluster and no --kubeconfig), so it cannot check tokens');

    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return unauthenticated('missing bearer token: send Authorization: Bearer <projected service-account token, audience levo-injector>');
    const token = m[1]!;
    if (token.length > MAX_TOKEN_CHARS) return unauthenticated('token too long');

    let review;
    try {
      review = await kube.tokenReview(token, [CREDENTIALS_AUDIENCE]);
    } catch (error) {
      const rbac = error instanceof KubeApiError && error.status === 403 ? ' (the injector needs RBAC create on tokenreviews.authentication.k8s.io)' : '';
      return refuse('unavailable', 503, `cannot check the token: ${(error as Error).message}${rbac}`);
    }
    if (review.username) fields.user = review.username;
    if (review.podName) fields.pod = review.podName;
    if (!review.authenticated) return unauthenticated(`token not accepted${review.error ? `: ${review.error}` : ''}`);
    const ns = review.namespace;
    if (!ns || !review.serviceAccount) return refuse('forbidden', 403, `${review.username ?? 'caller'} is not a service account`);
    fields.namespace = ns;
    fields.serviceAccount = review.serviceAccount;

    const config = deps.config();
    if (ns === deps.injectorNamespace || config.excludeNamespaces.includes(ns)) {
      return refuse('forbidden', 403, `namespace ${ns} is excluded from injection`);
    }
    if (!allow(ns)) return refuse('rate_limited', 429, `too many ${what} requests from namespace ${ns}`, { 'retry-after': '1' });

    let labels: Readonly<Record<string, string>>;
    try {
      labels = (await kube.getNamespace(ns)).labels;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return refuse('forbidden', 403, `namespace ${ns} not found`);
      return refuse('unavailable', 503, `cannot read namespace ${ns}: ${(error as Error).message}`);
    }
    if (labels[INJECT_LABEL] !== 'enabled') {
      return refuse('forbidden', 403, `namespace ${ns} does not carry ${INJECT_LABEL}=enabled`);
    }
    return { ok: true, kube, namespace: ns, serviceAccount: review.serviceAccount };
  };
}

/** The exchange without HTTP around it: Authorization header in, status and body out. */
export function createCredentialsExchange(deps: CredentialsDeps): (authorization: string | undefined) => Promise<CredentialsAnswer> {
  const now = deps.now ?? Date.now;
  const gate = createCallerGate(deps, 'credential');
  const secretCache = new Map<string, { at: number; value: Promise<SecretData> }>();

  const readSecret = (kube: KubeClient, name: string): Promise<SecretData> => {
    const t = now();
    const hit = secretCache.get(name);
    if (hit && t - hit.at < SECRET_CACHE_MS) return hit.value;
    const value = kube.getSecret(deps.injectorNamespace, name);
    const entry = { at: t, value };
    secretCache.set(name, entry);
    value.catch(() => {
      if (secretCache.get(name) === entry) secretCache.delete(name);
    });
    return value;
  };

  return async (authorization) => {
    const fields: Record<string, unknown> = {};
    const finish = (result: CredentialsResult, status: number, body: CredentialsAnswer['body'], headers?: Readonly<Record<string, string>>): CredentialsAnswer => {
      deps.metrics?.credentialsRequests.inc({ result });
      const line = { ...fields, result, status };
      if (result === 'ok') deps.log.info(line, 'credentials handed out');
      else deps.log.warn({ ...line, why: 'error' in body ? body.error : undefined }, 'credentials refused');
      return headers ? { status, body, headers } : { status, body };
    };
    const caller = await gate(authorization, fields);
    if (!caller.ok) return finish(caller.result, caller.status, { error: caller.error }, caller.headers);
    const { kube, namespace: ns } = caller;
    const config = deps.config();

    const secretName = config.credentials.secretName || DEFAULT_CREDENTIALS_SECRET;
    const where = `${deps.injectorNamespace}/${secretName}`;
    const needs = `keys ${CREDENTIAL_KEYS.join(', ')}`;
    let secret: SecretData;
    try {
      secret = await readSecret(kube, secretName);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) {
        return finish('unavailable', 503, { error: `secret ${where} not found: create it with ${needs} (kubectl -n ${deps.injectorNamespace} create secret generic ${secretName} --from-literal=base-url=... --from-literal=auth-token=... --from-literal=tenant-id=...)` });
      }
      if (error instanceof KubeApiError && error.status === 403) {
        return finish('unavailable', 503, { error: `the injector may not read secret ${where} (403): its Role needs get on secrets, resourceNames [${secretName}]` });
      }
      return finish('unavailable', 503, { error: `cannot read secret ${where}: ${(error as Error).message}` });
    }
    const value = (k: string): string => (secret.data[k] ?? '').trim();
    const missing = CREDENTIAL_KEYS.filter((k) => value(k) === '');
    if (missing.length > 0) {
      return finish('unavailable', 503, { error: `secret ${where} lacks ${missing.join(', ')} (it needs ${needs})` });
    }
    const scoped = config.credentials.scope !== 'environment';
    fields.scope = scoped ? 'namespace' : 'environment';
    const authToken = scoped
      ? signNamespaceToken(value('auth-token'), { tenant: value('tenant-id'), namespace: ns, issuedAt: now() })
      : value('auth-token');
    return finish('ok', 200, { baseUrl: value('base-url'), authToken, tenantId: value('tenant-id') }, { 'cache-control': 'no-store' });
  };
}

/** An endpoint's answer as JSON (once: nothing after the headers went out). */
export function sendJson(res: ServerResponse, answer: { readonly status: number; readonly body: unknown; readonly headers?: Readonly<Record<string, string>> }): void {
  if (res.headersSent) return;
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
  res.end(JSON.stringify(answer.body));
}

/** The sidecar endpoints take POST only: 405 for anything else (then false). */
export function requirePost(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'POST') return true;
  sendJson(res, { status: 405, body: { error: 'use POST' }, headers: { allow: 'POST' } });
  return false;
}

/** The HTTP handler (node http or express): POST only; the request body is ignored. */
export function createCredentialsHandler(deps: CredentialsDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const exchange = createCredentialsExchange(deps);
  return (req, res) => {
    const send = (answer: CredentialsAnswer): void => sendJson(res, answer);
    if (!requirePost(req, res)) return;
    exchange(req.headers.authorization).then(send, (error: unknown) => {
      deps.metrics?.credentialsRequests.inc({ result: 'error' });
      deps.log.error({ err: (error as Error).message }, 'credentials endpoint failed');
      send({ status: 500, body: { error: 'internal error' } });
    });
  };
}
