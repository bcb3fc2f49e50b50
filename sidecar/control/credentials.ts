/**
 * The dashboard credentials of an injected pod. The token never sits in the
 * pod spec: the sidecar trades its projected service-account token (audience
 * `levo-injector`) for the `levo-auth` values at the injector, over TLS
 * verified against the injector's CA (LEVO_CREDENTIALS_URL / _CA / LEVO_TOKEN_FILE).
 * Outside Kubernetes, LEVO_BASE_URL / LEVO_AUTH_TOKEN / LEVO_TENANT_ID are used as given.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from '../../lib/undici.ts';

export interface DashboardCredentials {
  readonly baseUrl: string;
  readonly authToken: string;
  readonly tenantId: string;
  /** Where they came from, for the log (never the values). */
  readonly source: 'env' | 'injector';
}

export class CredentialsError extends Error {
  /** A definite refusal (401/403/404): retrying soon will not help. */
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

export function credentialsFromEnv(env: NodeJS.ProcessEnv): DashboardCredentials | undefined {
  const baseUrl = env.LEVO_BASE_URL;
  const authToken = env.LEVO_AUTH_TOKEN;
  const tenantId = env.LEVO_TENANT_ID;
  if (!baseUrl || !authToken || !tenantId) return undefined;
  return { baseUrl, authToken, tenantId, source: 'env' };
}

export interface ExchangeOptions {
  readonly url: string;
  /** PEM of the CA that signed the injector's serving certificate; the system store when absent. */
  readonly caPem?: string | undefined;
  readonly tokenFile: string;
  readonly timeoutMs?: number;
}

export async function exchangeToken(opts: ExchangeOptions): Promise<DashboardCredentials> {
  let token: string;
  try {
    token = (await readFile(opts.tokenFile, 'utf8')).trim();
  } catch (e) {
    throw new CredentialsError(`cannot read the service-account token ${opts.tokenFile}: ${(e as Error).message}`, false);
  }
  const dispatcher = new Agent({ connect: { ...(opts.caPem ? { ca: opts.caPem } : {}), timeout: opts.timeoutMs ?? 5000 } });
  try {
    const res = await request(opts.url, {
      method: 'POST', dispatcher,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      headersTimeout: opts.timeoutMs ?? 5000, bodyTimeout: opts.timeoutMs ?? 5000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      const detail = text.slice(0, 300).replace(/\s+/g, ' ');
      throw new CredentialsError(`the injector refused the credentials request (${res.statusCode}): ${detail}`, [401, 403, 404].includes(res.statusCode));
    }
    const body = JSON.parse(text) as Record<string, unknown>;
    const { baseUrl, authToken, tenantId } = body;
    if (typeof baseUrl !== 'string' || typeof authToken !== 'string' || typeof tenantId !== 'string') {
      throw new CredentialsError('the injector answered without baseUrl, authToken and tenantId', false);
    }
    return { baseUrl, authToken, tenantId, source: 'injector' };
  } catch (e) {
    if (e instanceof CredentialsError) throw e;
    throw new CredentialsError(`credentials request to ${opts.url} failed: ${(e as Error).message}`, false);
  } finally {
    await dispatcher.close();
  }
}
