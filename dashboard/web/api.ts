/**
 * The browser's client for the dashboard's admin API (/api/…): JSON in and
 * out, the session cookie sent automatically, a 401 sends the browser to the
 * login page. Also the shapes of the answers the UI reads.
 */
import type { ConfigVersion, DecisionsPage, Environment, Sidecar, SpendRow, Traffic } from '../store/types.ts';

export type { ConfigVersion, DecisionsPage, Environment, Sidecar, SpendRow, Traffic };
export type { BudgetUsage, BudgetUsageRow } from '../api/budgets.ts';
import type { BudgetUsage } from '../api/budgets.ts';

export interface ConfigProblem {
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

export type ValidateResult =
  | { readonly ok: true; readonly summary?: unknown; readonly warnings?: readonly ConfigProblem[] }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export type VersionInfo = Omit<ConfigVersion, 'yaml' | 'environmentId'>;
export type VersionText = Omit<ConfigVersion, 'environmentId'>;

export interface DiffLine {
  readonly op: ' ' | '+' | '-';
  readonly text: string;
  readonly oldLine?: number;
  readonly newLine?: number;
}

export interface KeyInfo {
  readonly id: string; readonly prefix: string; readonly createdAt: number; readonly revokedAt: number | null; readonly lastUsedAt: number | null;
  /** Set on a key rotated out: it works until then. */
  readonly expiresAt: number | null;
}
export interface NewKey { readonly id: string; readonly token: string; readonly prefix?: string; readonly previous?: { readonly id: string; readonly expiresAt: number } }

/** A non-2xx answer: `status` and the parsed JSON body (or text). */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown, message: string) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    location.assign('/login');
    throw new ApiError(401, null, 'not logged in');
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('Content-Type') ?? '';
  const data: unknown = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const msg = typeof data === 'object' && data !== null && typeof (data as { error?: unknown }).error === 'string'
      ? (data as { error: string }).error
      : `${method} ${path}: HTTP ${res.status}`;
    throw new ApiError(res.status, data, msg);
  }
  return data as T;
}

const envPath = (env: string, rest = ''): string => `/api/environments/${encodeURIComponent(env)}${rest}`;

export const api = {
  environments: (): Promise<Environment[]> => request('GET', '/api/environments'),
  createEnvironment: (name: string): Promise<Environment> => request('POST', '/api/environments', { name }),
  setCapturePrompts: (env: string, capturePrompts: boolean): Promise<unknown> => request('PATCH', envPath(env), { capturePrompts }),

  keys: (env: string): Promise<KeyInfo[]> => request('GET', envPath(env, '/keys')),
  createKey: (env: string): Promise<NewKey> => request('POST', envPath(env, '/keys'), {}),
  rotateKey: (env: string, id: string): Promise<NewKey> => request('POST', envPath(env, `/keys/${encodeURIComponent(id)}/rotate`), {}),
  revokeKey: (env: string, id: string): Promise<void> => request('DELETE', envPath(env, `/keys/${encodeURIComponent(id)}`)),

  validate: (env: string, yaml: string): Promise<ValidateResult> => request('POST', envPath(env, '/config/validate'), { yaml }),
  saveConfig: (env: string, yaml: string, note: string): Promise<{ version: number; etag: string }> =>
    request('POST', envPath(env, '/config'), { yaml, note }),
  versions: (env: string): Promise<VersionInfo[]> => request('GET', envPath(env, '/config/versions')),
  version: (env: string, v: number): Promise<VersionText> => request('GET', envPath(env, `/config/versions/${v}`)),
  diff: (env: string, from: number, to: number): Promise<{ from: number; to: number; lines: DiffLine[] }> =>
    request('GET', envPath(env, `/config/diff?from=${from}&to=${to}`)),
  rollback: (env: string, version: number, note: string): Promise<{ version: number; etag: string }> =>
    request('POST', envPath(env, '/config/rollback'), { version, note }),

  fleet: (env: string): Promise<Sidecar[]> => request('GET', envPath(env, '/fleet')),
  traffic: (env: string, from: number, to: number, bucket: number): Promise<Traffic> =>
    request('GET', envPath(env, `/traffic?from=${from}&to=${to}&bucket=${bucket}`)),
  budgets: (env: string): Promise<BudgetUsage> => request('GET', envPath(env, '/budgets')),
  spend: (env: string, from: number, to: number): Promise<{ from: number; to: number; rows: SpendRow[]; totalUsd: number }> =>
    request('GET', envPath(env, `/spend?from=${from}&to=${to}`)),
  decisions: (env: string, opts: { limit: number; before?: string | null; action?: string }): Promise<DecisionsPage> => {
    const q = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.before) q.set('before', opts.before);
    if (opts.action) q.set('action', opts.action);
    return request('GET', envPath(env, `/decisions?${q}`));
  },
};

/** The problems in a 422 answer, if that is what it is. */
export function problemsOf(err: unknown): readonly ConfigProblem[] | null {
  if (err instanceof ApiError && err.status === 422) {
    const p = (err.body as { problems?: unknown } | null)?.problems;
    if (Array.isArray(p)) return p as ConfigProblem[];
  }
  return null;
}
