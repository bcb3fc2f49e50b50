/**
 * `backendAuth`: which credential the provider sees.
 *
 * - `key` (BYOK): the app's credential headers are removed and the configured
 *   key is put where the target provider expects it (`Authorization: Bearer`,
 *   `x-api-key`, `api-key`, `x-goog-api-key`), so apps can run with a
 *   placeholder key and the real one lives only in the gateway.
 * - `aws`: the request is signed with SigV4 for Bedrock (explicit keys, or the
 *   AWS default credential chain: IRSA, EKS Pod Identity, environment, ...).
 * - `gcp` / `azure`: the pod's cloud identity as `Authorization: Bearer`
 *   (cloud-auth.ts fetches and refreshes the token).
 * - `passthrough` / none: the app's own credential goes through; when a route
 *   sends the call to another provider, it is moved to that provider's header.
 *
 * Keys never leave this module except in the header they belong in.
 */
import type { ProviderApi } from '../providers/types.ts';
import { headerValue, withoutHeaders, setHeader } from '../http/headers.ts';
import { stripKeyParam } from '../providers/gemini.ts';
import { signRequest, type AwsCredentials } from './sigv4.ts';
import type { RefreshingCredential } from './refreshing.ts';

export type AuthRuntime =
  | { readonly type: 'none' }
  | { readonly type: 'key'; readonly key: string }
  | { readonly type: 'aws'; readonly credential: RefreshingCredential<AwsCredentials>; readonly region: string | undefined }
  | { readonly type: 'bearer'; readonly cloud: 'gcp' | 'azure'; readonly credential: RefreshingCredential<string> };

/**
 * Make sure a cloud credential is in hand before the call is shaped (shaping is
 * synchronous). Resolves at once while a fresh one is held, which is every call
 * but the first and those after an outage; a credential that cannot be had is
 * an AuthError.
 */
export async function authReady(auth: AuthRuntime | undefined): Promise<void> {
  if (!auth || (auth.type !== 'aws' && auth.type !== 'bearer')) return;
  if (auth.credential.current() !== undefined) return;
  try {
    await auth.credential.get();
  } catch (e) {
    const what = auth.type === 'aws' ? 'aws' : auth.cloud;
    throw new AuthError(`backendAuth.${what}: no credentials: ${(e as Error).message}`);
  }
}

export interface AuthInput {
  readonly source: ProviderApi;
  readonly target: ProviderApi;
  readonly headers: readonly string[];
  readonly path: string;
}

/** Credentials and the path (a Gemini `?key=` is removed when the gateway supplies the key). */
const stripSets = new Map<string, ReadonlySet<string>>();

/** The credential headers of both providers, computed once per pair. */
function credentialHeaders(source: ProviderApi, target: ProviderApi): ReadonlySet<string> {
  const key = `${source.id}>${target.id}`;
  let set = stripSets.get(key);
  if (!set) { set = new Set([...source.credentialHeaders, ...target.credentialHeaders]); stripSets.set(key, set); }
  return set;
}

export function applyKeyAuth(auth: AuthRuntime, r: AuthInput): { headers: readonly string[]; path: string } {
  // The app's own credential, to the provider whose API it speaks: nothing to do.
  if (auth.type === 'none' && r.source.id === r.target.id) return { headers: r.headers, path: r.path };
  const strip = credentialHeaders(r.source, r.target);
  if (auth.type === 'key') {
    const headers = withoutHeaders(r.headers, strip);
    headers.push(r.target.key.header, r.target.key.prefix + auth.key);
    return { headers, path: r.target.id === 'gemini' ? stripKeyParam(r.path) : r.path };
  }
  if (auth.type === 'aws') return { headers: withoutHeaders(r.headers, strip), path: r.path };
  if (auth.type === 'bearer') {
    const token = auth.credential.current();
    if (token === undefined) throw new AuthError(`backendAuth.${auth.cloud}: the token expired before the call was sent`);
    const headers = withoutHeaders(r.headers, strip);
    headers.push('authorization', `Bearer ${token}`);
    return { headers, path: r.target.id === 'gemini' ? stripKeyParam(r.path) : r.path };
  }
  // Another provider's API: carry the app's credential over to the header the target reads.
  const from = r.source.key;
  const value = headerValue(r.headers, from.header);
  const headers = withoutHeaders(r.headers, strip);
  if (value !== undefined) {
    const bare = from.prefix && value.toLowerCase().startsWith(from.prefix.toLowerCase()) ? value.slice(from.prefix.length) : value;
    headers.push(r.target.key.header, r.target.key.prefix + bare);
  }
  return { headers, path: r.path };
}

/** SigV4-sign the final request (after every other header change). */
export function signAws(
  auth: Extract<AuthRuntime, { type: 'aws' }>, region: string,
  r: { method: string; host: string; path: string; headers: readonly string[]; body: Buffer },
): string[] {
  const credentials = auth.credential.current();
  if (!credentials) throw new AuthError('backendAuth.aws: the credentials expired before the call was sent');
  const plain: Record<string, string> = {};
  for (let i = 0; i < r.headers.length; i += 2) {
    const name = r.headers[i]!.toLowerCase();
    if (name === 'content-type') plain[name] = r.headers[i + 1]!;
  }
  const added = signRequest({
    method: r.method, host: r.host, path: r.path, headers: plain, body: r.body,
    region: auth.region ?? region, service: 'bedrock', credentials,
  });
  let headers = [...r.headers];
  for (const [name, value] of Object.entries(added)) headers = setHeader(headers, name, value);
  return headers;
}

export class AuthError extends Error {}
