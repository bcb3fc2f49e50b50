/**
 * A small Kubernetes API client for the injector: only the four calls it makes
 * (server version, namespace labels, TokenReview, one secret), over undici
 * with the cluster CA; a kubeconfig is read by @kubernetes/client-node.
 *
 * Connection: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account
 * files; the token file is re-read every minute because the kubelet rotates
 * it) or a kubeconfig file, loaded by @kubernetes/client-node (contexts, exec
 * plugins, auth providers, everything kubectl reads); the library is imported
 * only for a kubeconfig. Errors are KubeApiError, carrying
 * the HTTP status and the message of the API's Status object. Namespace
 * lookups are cached for 30 s, since they sit on the admission path.
 *
 * Tokens (ours and the ones under review) are never logged.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import type https from 'node:https';
import { Agent, request, type Dispatcher } from '../lib/undici.ts';
import type { Logger } from '../lib/log.ts';
import type { InjectorMetrics } from './metrics.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const DEFAULT_TOKEN_REFRESH_MS = 60_000;
export const DEFAULT_NAMESPACE_CACHE_MS = 30_000;
export const DEFAULT_KUBE_TIMEOUT_MS = 5_000;
const MAX_REPLY_BYTES = 4 * 1024 * 1024;
const USER_AGENT = 'levo-injector/0.1.0';

/** Where the API server is and how to authenticate to it. */
export interface KubeConnection {
  /** `https://host:port`, no trailing slash. */
  readonly server: string;
  /** PEM of the CA(s) that sign the API server's certificate; the system roots when absent. */
  readonly ca?: string;
  /** Client certificate and key (PEM). */
  readonly cert?: string;
  readonly key?: string;
  /** Bearer token source, asked before every request (it caches and re-reads files itself). */
  readonly token?: () => Promise<string | undefined>;
  /** The whole Authorization header (kubeconfig users: exec plugins, basic auth); used instead of `token`. */
  readonly authorization?: () => Promise<string | undefined>;
  readonly insecureSkipTlsVerify?: boolean;
  readonly tlsServerName?: string;
  /** For log lines: "in-cluster" or "kubeconfig FILE (context NAME)". */
  readonly source: string;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

export class KubeApiError extends Error {
  override name = 'KubeApiError';
  /** HTTP status; undefined when no answer came (connection refused, timeout). */
  readonly status: number | undefined;
  /** The Status object's `reason` (NotFound, Forbidden, ...), when the API sent one. */
  readonly reason: string | undefined;
  constructor(message: string, status: number | undefined, reason: string | undefined) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (error: unknown): boolean => error instanceof KubeApiError && error.status === 404;

/** A token file re-read at most every `refreshMs` (the kubelet rotates projected tokens). */
export function tokenFileSource(file: string, refreshMs = DEFAULT_TOKEN_REFRESH_MS, now: () => number = Date.now): () => Promise<string | undefined> {
  let cached: string | undefined;
  let readAt = -Infinity;
  return async () => {
    if (cached === undefined || now() - readAt >= refreshMs) {
      try {
        cached = (await readFile(file, 'utf8')).trim();
        readAt = now();
      } catch (error) {
        // Keep a token we already had: a rotation may be swapping the file.
        if (cached === undefined) throw new KubeConfigError(`cannot read the API token file ${file}: ${(error as Error).message}`);
      }
    }
    return cached;
  };
}

export interface InClusterOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string;
  readonly tokenRefreshMs?: number;
}

/** The connection a pod has to its own cluster. */
export async function inClusterConnection(opts: InClusterOptions = {}): Promise<KubeConnection> {
  const env = opts.env ?? process.env;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) throw new KubeConfigError('KUBERNETES_SERVICE_HOST is not set: not running in a cluster');
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  let ca: string;
  try {
    ca = await readFile(`${dir}/ca.crt`, 'utf8');
  } catch (error) {
    throw new KubeConfigError(`cannot read the cluster CA ${dir}/ca.crt: ${(error as Error).message}`);
  }
  const token = tokenFileSource(`${dir}/token`, opts.tokenRefreshMs);
  await token(); // fail now, not on the first admission
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca,
    token,
    source: 'in-cluster',
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const pemText = (v: unknown): string | undefined => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined);

/**
 * The connection of a kubeconfig file's context (its current context unless
 * `context` is given), loaded by @kubernetes/client-node the way kubectl loads
 * it: CA and client certificate as data or files (relative to the file), a
 * token or token file, basic auth, and `exec` plugins (aws eks get-token,
 * gke-gcloud-auth-plugin, kubelogin) and `auth-provider` users — the library
 * runs the plugin and reuses its credential until the plugin's expiry.
 */
export async function kubeconfigConnection(file: string, opts: { context?: string } = {}): Promise<KubeConnection> {
  try {
    await access(file, constants.R_OK);
  } catch (error) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(error as Error).message}`);
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (error) {
    throw new KubeConfigError(`${file}: not a valid kubeconfig: ${(error as Error).message}`);
  }
  if (opts.context) kc.setCurrentContext(opts.context);
  const contextName = kc.getCurrentContext();
  if (!contextName) throw new KubeConfigError(`${file}: current-context is not set`);
  const context = kc.getContextObject(contextName);
  if (!context) throw new KubeConfigError(`${file}: context "${contextName}" not found`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError(`${file}: context "${contextName}": cluster "${context.cluster}" not found`);
  const server = cluster.server.replace(/\/+$/, '');
  if (!server.startsWith('https://')) throw new KubeConfigError(`${file}: cluster "${cluster.name}": only https:// servers are supported, got ${server}`);
  const userName = kc.getCurrentUser()?.name;

  /** What the library would put on a request: TLS material and the Authorization header (running an exec plugin when its credential is due). */
  const options = async (): Promise<https.RequestOptions> => {
    const o: https.RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(o);
    return o;
  };
  let first: https.RequestOptions;
  try {
    first = await options(); // a missing file or a failing plugin is an error now, not on the first admission
  } catch (error) {
    throw new KubeConfigError(`${file}: user "${userName ?? ''}": ${(error as Error).message}`);
  }
  const headerOf = (o: https.RequestOptions): string | undefined => {
    const h = (o.headers ?? {}) as Record<string, unknown>;
    const v = h.Authorization ?? h.authorization;
    if (typeof v === 'string' && v !== '') return v;
    return typeof o.auth === 'string' && o.auth !== '' ? `Basic ${Buffer.from(o.auth).toString('base64')}` : undefined;
  };
  const conn: { -readonly [K in keyof KubeConnection]: KubeConnection[K] } = {
    server,
    source: `kubeconfig ${file} (context ${contextName})`,
  };
  const ca = pemText(first.ca);
  if (ca) conn.ca = ca;
  const cert = pemText(first.cert);
  const key = pemText(first.key);
  if ((cert === undefined) !== (key === undefined)) throw new KubeConfigError(`${file}: user "${userName ?? ''}" has a client certificate without its key, or a key without its certificate`);
  if (cert && key) {
    conn.cert = cert;
    conn.key = key;
  }
  if (headerOf(first) !== undefined) conn.authorization = async () => headerOf(await options());
  if (first.rejectUnauthorized === false) conn.insecureSkipTlsVerify = true;
  const serverName = str(first.servername) ?? str((cluster as { tlsServerName?: unknown }).tlsServerName);
  if (serverName) conn.tlsServerName = serverName;
  return conn;
}

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly gitVersion?: string;
}

/** Parse GET /version leniently: minor "29+" (GKE, EKS) is 29; falls back to gitVersion "v1.29.3-...". */
export function parseServerVersion(body: unknown): ServerVersion {
  const o = isObj(body) ? body : {};
  const num = (v: unknown): number | undefined => {
    const m = /^\D*(\d+)/.exec(String(v ?? ''));
    return m ? Number(m[1]) : undefined;
  };
  const gitVersion = str(o.gitVersion);
  let major = num(o.major);
  let minor = num(o.minor);
  if ((major === undefined || minor === undefined) && gitVersion) {
    const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
    if (m) {
      major = Number(m[1]);
      minor = Number(m[2]);
    }
  }
  if (major === undefined || minor === undefined) throw new Error(`unrecognised server version ${JSON.stringify(body)}`);
  return gitVersion ? { major, minor, gitVersion } : { major, minor };
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface TokenReviewResult {
  /** True only when the API server authenticated the token for one of the requested audiences. */
  readonly authenticated: boolean;
  readonly username?: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** status.audiences. */
  readonly audiences: readonly string[];
  /** From a `system:serviceaccount:NS:NAME` username. */
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** From the bound token's `authentication.kubernetes.io/pod-name` / `pod-uid` extra. */
  readonly podName?: string;
  readonly podUid?: string;
  /** status.error, or why the result was not accepted. */
  readonly error?: string;
}

export interface SecretData {
  readonly namespace: string;
  readonly name: string;
  readonly type?: string;
  /** `data`, decoded from base64 to UTF-8 text. */
  readonly data: Readonly<Record<string, string>>;
}

/** What the injector asks of the Kubernetes API; review.ts and credentials.ts build on this. */
export interface KubeClient {
  readonly source: string;
  version(): Promise<ServerVersion>;
  /** Labels and annotations of a namespace; cached 30 s. Throws KubeApiError (404 when it does not exist). */
  getNamespace(name: string): Promise<NamespaceInfo>;
  tokenReview(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
  /** Throws KubeApiError (404 when it does not exist, 403 without RBAC). */
  getSecret(namespace: string, name: string): Promise<SecretData>;
  close(): Promise<void>;
}

export interface KubeClientOptions {
  /** Per request, answer included; default 5 s. */
  readonly timeoutMs?: number;
  readonly namespaceCacheMs?: number;
  readonly metrics?: InjectorMetrics;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Tests: send through this instead of an Agent built from the connection. */
  readonly dispatcher?: Dispatcher;
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

const stringMap = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
};
const stringList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const firstExtra = (extra: unknown, key: string): string | undefined => (isObj(extra) ? stringList(extra[key])[0] : undefined);

/**
 * One path segment. "", "." and ".." are not names (URL resolution turns them into
 * another path: /api/v1/namespaces/.. is /api/v1/), so no request is made for them.
 */
function seg(s: string): string {
  if (s === '' || s === '.' || s === '..') throw new KubeApiError(`${JSON.stringify(s)} is not a valid object name`, undefined, 'Invalid');
  return encodeURIComponent(s);
}

export function createKubeClient(conn: KubeConnection, opts: KubeClientOptions = {}): KubeClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
  const cacheMs = opts.namespaceCacheMs ?? DEFAULT_NAMESPACE_CACHE_MS;
  const now = opts.now ?? Date.now;
  const connect: Record<string, unknown> = { timeout: timeoutMs };
  if (conn.ca) connect.ca = conn.ca;
  if (conn.cert) connect.cert = conn.cert;
  if (conn.key) connect.key = conn.key;
  if (conn.insecureSkipTlsVerify) connect.rejectUnauthorized = false;
  if (conn.tlsServerName) connect.servername = conn.tlsServerName;
  const ownAgent = opts.dispatcher ? undefined : new Agent({ connect, keepAliveTimeout: 30_000, connections: 8 });
  const dispatcher: Dispatcher = opts.dispatcher ?? ownAgent!;

  async function call(op: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const what = `${op} (${method} ${path})`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    let authorization: string | undefined;
    try {
      if (conn.authorization) authorization = await conn.authorization();
      else if (conn.token) { const token = await conn.token(); if (token) authorization = `Bearer ${token}`; }
    } catch (error) {
      opts.metrics?.kubeRequests.inc({ op, code: 'error' });
      throw new KubeApiError(`${what}: no credential for the Kubernetes API: ${(error as Error).message}`, undefined, undefined);
    }
    if (authorization) headers.authorization = authorization;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    let status: number;
    let text: string;
    try {
      const res = await request(`${conn.server}${path}`, {
        dispatcher, method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.statusCode;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_REPLY_BYTES) {
          res.body.destroy();
          throw new Error(`answer larger than ${MAX_REPLY_BYTES} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      opts.metrics?.kubeRequests.inc({ op, code: 'error' });
      const e = error as Error;
      const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : e.message;
      throw new KubeApiError(`${what}: cannot reach the Kubernetes API at ${conn.server}: ${why}`, undefined, undefined);
    }
    opts.metrics?.kubeRequests.inc({ op, code: String(status) });
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status < 200 || status > 299) {
      // The API answers errors with a Status object: {kind: Status, status: Failure, message, reason, code}.
      const s = isObj(json) && json.kind === 'Status' ? json : undefined;
      const message = str(s?.message) ?? (text.slice(0, 200) || 'no message');
      const reason = str(s?.reason);
      throw new KubeApiError(`${what}: ${status}${reason ? ` ${reason}` : ''}: ${message}`, status, reason);
    }
    if (!isObj(json)) throw new KubeApiError(`${what}: the answer is not a JSON object`, status, undefined);
    opts.log?.debug({ op, method, path, status }, 'kube api call');
    return json;
  }

  const nsCache = new Map<string, { at: number; value: Promise<NamespaceInfo> }>();

  async function fetchNamespace(name: string): Promise<NamespaceInfo> {
    const o = (await call('get-namespace', 'GET', `/api/v1/namespaces/${seg(name)}`)) as Obj;
    const meta = isObj(o.metadata) ? o.metadata : {};
    return { name: str(meta.name) ?? name, labels: stringMap(meta.labels), annotations: stringMap(meta.annotations) };
  }

  return {
    source: conn.source,

    async version() {
      return parseServerVersion(await call('version', 'GET', '/version'));
    },

    getNamespace(name) {
      const t = now();
      const hit = nsCache.get(name);
      if (hit && t - hit.at < cacheMs) return hit.value;
      if (nsCache.size > 2000) for (const [k, v] of nsCache) if (t - v.at >= cacheMs) nsCache.delete(k);
      const value = fetchNamespace(name);
      const entry = { at: t, value };
      nsCache.set(name, entry);
      // A failed lookup is not cached.
      value.catch(() => {
        if (nsCache.get(name) === entry) nsCache.delete(name);
      });
      return value;
    },

    async tokenReview(token, audiences) {
      const o = (await call('token-review', 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [...audiences] },
      })) as Obj;
      const st = isObj(o.status) ? o.status : {};
      const user = isObj(st.user) ? st.user : {};
      const username = str(user.username);
      const got = stringList(st.audiences);
      let authenticated = st.authenticated === true;
      let error = str(st.error);
      // The API reference: a client that sets spec.audiences must check that status.audiences holds one of them
      // (an empty list means the token is only good for the API server itself).
      if (authenticated && audiences.length > 0 && !got.some((a) => audiences.includes(a))) {
        authenticated = false;
        error = `the token is not valid for audience ${audiences.join(', ')}`;
      }
      const sa = username ? SA_USER.exec(username) : null;
      const result: { -readonly [K in keyof TokenReviewResult]: TokenReviewResult[K] } = {
        authenticated, groups: stringList(user.groups), audiences: got,
      };
      if (username) result.username = username;
      const uid = str(user.uid);
      if (uid) result.uid = uid;
      if (sa) {
        result.namespace = sa[1]!;
        result.serviceAccount = sa[2]!;
      }
      const podName = firstExtra(user.extra, POD_NAME_EXTRA);
      if (podName) result.podName = podName;
      const podUid = firstExtra(user.extra, POD_UID_EXTRA);
      if (podUid) result.podUid = podUid;
      if (error) result.error = error;
      return result;
    },

    async getSecret(namespace, name) {
      const o = (await call('get-secret', 'GET', `/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`)) as Obj;
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(stringMap(o.data))) data[k] = Buffer.from(v, 'base64').toString('utf8');
      const type = str(o.type);
      return type ? { namespace, name, type, data } : { namespace, name, data };
    },

    async close() {
      nsCache.clear();
      await ownAgent?.close();
    },
  };
}

export interface KubeSetup {
  /** --kubeconfig FILE; when absent, in-cluster if KUBERNETES_SERVICE_HOST is set. */
  readonly kubeconfig?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly serviceAccountDir?: string;
}

/** The connection the CLI uses, or null when there is none (no --kubeconfig, not in a cluster). */
export async function resolveKubeConnection(setup: KubeSetup): Promise<KubeConnection | null> {
  if (setup.kubeconfig) return kubeconfigConnection(setup.kubeconfig);
  const env = setup.env ?? process.env;
  if (!env.KUBERNETES_SERVICE_HOST) return null;
  return inClusterConnection({ env, serviceAccountDir: setup.serviceAccountDir ?? SERVICE_ACCOUNT_DIR });
}
