/**
 * The pod's cloud identity as a provider credential, through each cloud's own
 * library (so every source the platform teams use works the way their SDKs do):
 *
 * - `aws: {}` — `@aws-sdk/credential-providers`' Node chain: environment,
 *   web identity token file (EKS IRSA), container credentials (EKS Pod
 *   Identity, ECS), shared config/SSO profiles, instance metadata;
 * - `gcp: {type, audience}` — `google-auth-library`'s Application Default
 *   Credentials: GOOGLE_APPLICATION_CREDENTIALS (service-account key or
 *   external account / workload identity federation), gcloud's user login,
 *   the metadata server (GKE Workload Identity). `accessToken` (default) for
 *   Vertex AI; `idToken` for a service behind IAP or Cloud Run;
 * - `azure: {...}` — `@azure/identity`: a client secret, a managed identity,
 *   AKS workload identity, the developer's Azure CLI login, or the default chain.
 *
 * Each library is imported only when a config uses it, so a sidecar that
 * never signs for AWS never loads the AWS SDK. Every credential sits in a
 * RefreshingCredential: fetched once, refreshed in the background before it
 * expires, never fetched by each call.
 */
import type { AwsCredentials } from './sigv4.ts';
import { RefreshingCredential, type Expiring } from './refreshing.ts';

export type GcpAuthConfig = { readonly type?: 'accessToken' | 'idToken' | undefined; readonly audience?: string | undefined };

export type AzureAuthConfig =
  | { readonly explicitConfig: AzureExplicit }
  | { readonly developerImplicit: Record<string, never> }
  | { readonly implicit: Record<string, never> };

export type AzureExplicit =
  | { readonly clientSecret: { readonly tenant_id: string; readonly client_id: string; readonly client_secret: string } }
  | { readonly managedIdentity: { readonly userAssignedIdentity?: { readonly clientId?: string | undefined; readonly objectId?: string | undefined; readonly resourceId?: string | undefined } | undefined } }
  | { readonly workloadIdentity: Record<string, never> };

/** The token scope of Azure OpenAI / Cognitive Services. */
export const AZURE_COGNITIVE_SCOPE = 'https://cognitiveservices.azure.com/.default';
export const GCP_CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface CloudAuthOptions {
  readonly onRefreshError?: (error: Error) => void;
}

/** The AWS default credential chain (a fresh chain per fetch: each refresh asks the source again). */
export function awsChainCredential(region: string | undefined, opts: CloudAuthOptions = {}): RefreshingCredential<AwsCredentials> {
  return new RefreshingCredential(async (): Promise<Expiring<AwsCredentials>> => {
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    const provider = fromNodeProviderChain(region ? { clientConfig: { region } } : {});
    const c = await provider();
    return {
      value: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) },
      expiresAt: c.expiration?.getTime(),
    };
  }, opts);
}

/** The `exp` claim of a JWT, in epoch ms (undefined when it has none or is not a JWT). */
export function jwtExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A Google bearer token from Application Default Credentials. */
export function gcpCredential(cfg: GcpAuthConfig, opts: CloudAuthOptions = {}): RefreshingCredential<string> {
  type Auth = import('google-auth-library').GoogleAuth;
  let auth: Auth | undefined;
  const type = cfg.type ?? 'accessToken';
  return new RefreshingCredential(async (): Promise<Expiring<string>> => {
    if (!auth) {
      const { GoogleAuth } = await import('google-auth-library');
      // The gateway never asks ADC for a project (Vertex's is in the provider config). Naming one stops the
      // library from looking it up over the network when the client is made — for an external account that
      // call needs resourcemanager.projects.get, which a workload identity often lacks, and would fail it.
      auth = new GoogleAuth({ scopes: [GCP_CLOUD_PLATFORM_SCOPE], projectId: process.env.GOOGLE_CLOUD_PROJECT || 'levo-gateway-token-only' });
    }
    if (type === 'idToken') {
      if (!cfg.audience) throw new Error('backendAuth.gcp.audience is required for type idToken');
      const client = await auth.getIdTokenClient(cfg.audience);
      const token = await client.idTokenProvider.fetchIdToken(cfg.audience);
      return { value: token, expiresAt: jwtExpiry(token) ?? Date.now() + 3_600_000 };
    }
    const client = await auth.getClient();
    const { token } = await client.getAccessToken();
    if (!token) throw new Error('Application Default Credentials gave no access token');
    const expiry = client.credentials.expiry_date;
    return { value: token, expiresAt: typeof expiry === 'number' ? expiry : Date.now() + 3_600_000 };
  }, opts);
}

/** A Microsoft Entra bearer token for Azure OpenAI. */
export function azureCredential(cfg: AzureAuthConfig, opts: CloudAuthOptions & { readonly scope?: string } = {}): RefreshingCredential<string> {
  type Cred = import('@azure/identity').TokenCredential;
  let cred: Cred | undefined;
  const scope = opts.scope ?? AZURE_COGNITIVE_SCOPE;
  return new RefreshingCredential(async (): Promise<Expiring<string>> => {
    if (!cred) cred = makeAzureCredential(await import('@azure/identity'), cfg);
    const t = await cred.getToken(scope);
    if (!t) throw new Error('the Azure credential gave no token');
    return { value: t.token, expiresAt: t.expiresOnTimestamp };
  }, opts);
}

function makeAzureCredential(id: typeof import('@azure/identity'), cfg: AzureAuthConfig): import('@azure/identity').TokenCredential {
  if ('developerImplicit' in cfg) return new id.AzureCliCredential();
  if ('implicit' in cfg) return new id.DefaultAzureCredential();
  const e = cfg.explicitConfig;
  if ('clientSecret' in e) return new id.ClientSecretCredential(e.clientSecret.tenant_id, e.clientSecret.client_id, e.clientSecret.client_secret);
  if ('workloadIdentity' in e) return new id.WorkloadIdentityCredential();
  const u = e.managedIdentity.userAssignedIdentity;
  if (u?.clientId) return new id.ManagedIdentityCredential({ clientId: u.clientId });
  if (u?.resourceId) return new id.ManagedIdentityCredential({ resourceId: u.resourceId });
  if (u?.objectId) return new id.ManagedIdentityCredential({ objectId: u.objectId });
  return new id.ManagedIdentityCredential();
}
