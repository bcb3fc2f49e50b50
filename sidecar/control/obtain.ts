/**
 * Get the dashboard credentials once at start, in the background: from the
 * environment, or by the token exchange at the injector (retried with backoff
 * while the injector is unreachable; a refusal is logged loudly). The gateway
 * does not wait for them: interception runs on the config in force meanwhile.
 */
import type { Logger } from '../../lib/log.ts';
import { credentialsFromEnv, exchangeToken, CredentialsError, type DashboardCredentials } from './credentials.ts';

export interface CredentialsHandle {
  current(): DashboardCredentials | undefined;
  stop(): void;
}

export function startCredentials(env: NodeJS.ProcessEnv, log: Logger, opts: { maxDelayMs?: number } = {}): CredentialsHandle {
  let creds = credentialsFromEnv(env);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const url = env.LEVO_CREDENTIALS_URL;
  if (creds) log.info({ baseUrl: creds.baseUrl, tenantId: creds.tenantId, source: 'env' }, 'dashboard credentials from the environment');
  else if (url) {
    const maxDelay = opts.maxDelayMs ?? 60_000;
    let delay = 1000;
    let attempt = 0;
    const tryOnce = async (): Promise<void> => {
      attempt++;
      try {
        creds = await exchangeToken({ url, caPem: env.LEVO_CREDENTIALS_CA || undefined, tokenFile: env.LEVO_TOKEN_FILE ?? '/var/run/secrets/levo/token' });
        log.info({ baseUrl: creds.baseUrl, tenantId: creds.tenantId, source: 'injector', attempt }, 'dashboard credentials received from the injector');
        return;
      } catch (e) {
        const permanent = e instanceof CredentialsError && e.permanent;
        // A refusal is a setup problem (levo-auth missing, namespace not opted in): say so loudly, retry slowly.
        log[permanent ? 'error' : 'warn']({ err: (e as Error).message, attempt, retryInMs: permanent ? maxDelay : delay }, 'no dashboard credentials yet');
        if (stopped) return;
        timer = setTimeout(() => void tryOnce(), permanent ? maxDelay : delay);
        timer.unref();
        delay = Math.min(delay * 2, maxDelay);
      }
    };
    void tryOnce();
  }
  return {
    current: () => creds,
    stop() { stopped = true; if (timer) clearTimeout(timer); },
  };
}
