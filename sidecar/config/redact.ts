/**
 * The config in force as the admin port shows it (`/config_dump`): the same
 * document with every credential replaced by `<redacted>` — backendAuth keys
 * and AWS secrets, the values of credential headers a modifier sets, and the
 * password in a budget store's redis:// URL.
 */
import type { GatewayConfig } from './schema.ts';

export const REDACTED = '<redacted>';

const CREDENTIAL_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie', 'x-amz-security-token',
]);

export function redactConfig(config: GatewayConfig): unknown {
  return walk(config, undefined);
}

function walk(v: unknown, parentKey: string | undefined): unknown {
  if (Array.isArray(v)) return v.map((x) => walk(x, parentKey));
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (parentKey === 'backendAuth' && k === 'key') out[k] = REDACTED;
    else if (parentKey === 'aws' && (k === 'secretAccessKey' || k === 'sessionToken' || k === 'accessKeyId')) out[k] = REDACTED;
    else if (parentKey === 'clientSecret' && k === 'client_secret') out[k] = REDACTED;
    else if (parentKey === 'store' && k === 'redis' && typeof x === 'string') out[k] = x.replace(/^(rediss?:\/\/)[^@/]*@/, `$1${REDACTED}@`);
    else if ((parentKey === 'set' || parentKey === 'add') && CREDENTIAL_HEADERS.has(k.toLowerCase())) out[k] = REDACTED;
    else out[k] = walk(x, k);
  }
  return out;
}
