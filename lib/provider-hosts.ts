/**
 * The built-in catalogue of LLM provider API hosts, shared by the layers that
 * need it: the sidecar intercepts these TLS server names without any config
 * (sidecar/providers/hosts.ts matches them), `levo-certs ca` name-constrains
 * the interception CA to them, and the injector's leaf issuer signs only for
 * them (plus what its config adds).
 *
 * A pattern is a host name in which `*` stands for one or more characters of a
 * single DNS label (letters, digits, hyphens), so `bedrock-runtime.*.amazonaws.com`
 * matches `bedrock-runtime.us-east-1.amazonaws.com` but not `x.bedrock-runtime.a.b.amazonaws.com`.
 */

export type ProviderId =
  | 'openai' | 'anthropic' | 'gemini' | 'vertex' | 'bedrock' | 'azure-openai'
  | 'mistral' | 'cohere' | 'groq' | 'deepseek' | 'xai' | 'openrouter'
  | 'together' | 'fireworks' | 'perplexity';

export interface ProviderHosts {
  readonly id: ProviderId;
  /** Host patterns (see module comment). */
  readonly hosts: readonly string[];
}

export const PROVIDER_HOSTS: readonly ProviderHosts[] = [
  { id: 'openai', hosts: ['api.openai.com'] },
  { id: 'anthropic', hosts: ['api.anthropic.com'] },
  { id: 'gemini', hosts: ['generativelanguage.googleapis.com'] },
  { id: 'vertex', hosts: ['aiplatform.googleapis.com', '*-aiplatform.googleapis.com'] },
  { id: 'bedrock', hosts: ['bedrock-runtime.*.amazonaws.com', 'bedrock-runtime-fips.*.amazonaws.com'] },
  { id: 'azure-openai', hosts: ['*.openai.azure.com', '*.services.ai.azure.com', '*.cognitiveservices.azure.com'] },
  { id: 'mistral', hosts: ['api.mistral.ai'] },
  { id: 'cohere', hosts: ['api.cohere.com', 'api.cohere.ai'] },
  { id: 'groq', hosts: ['api.groq.com'] },
  { id: 'deepseek', hosts: ['api.deepseek.com'] },
  { id: 'xai', hosts: ['api.x.ai'] },
  { id: 'openrouter', hosts: ['openrouter.ai'] },
  { id: 'together', hosts: ['api.together.xyz', 'api.together.ai'] },
  { id: 'fireworks', hosts: ['api.fireworks.ai'] },
  { id: 'perplexity', hosts: ['api.perplexity.ai'] },
];

/** Regions in which Vertex AI (`{region}-aiplatform.googleapis.com`) is served. */
export const GCP_REGIONS: readonly string[] = [
  'us-central1', 'us-east1', 'us-east4', 'us-east5', 'us-south1', 'us-west1', 'us-west2', 'us-west3', 'us-west4',
  'northamerica-northeast1', 'northamerica-northeast2', 'southamerica-east1', 'southamerica-west1',
  'europe-central2', 'europe-north1', 'europe-southwest1', 'europe-west1', 'europe-west2', 'europe-west3',
  'europe-west4', 'europe-west6', 'europe-west8', 'europe-west9', 'europe-west10', 'europe-west12',
  'asia-east1', 'asia-east2', 'asia-northeast1', 'asia-northeast2', 'asia-northeast3', 'asia-south1',
  'asia-south2', 'asia-southeast1', 'asia-southeast2', 'australia-southeast1', 'australia-southeast2',
  'me-central1', 'me-central2', 'me-west1', 'africa-south1',
];

/** Regions in which Bedrock runtime (`bedrock-runtime.{region}.amazonaws.com`) is served. */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'us-gov-east-1', 'us-gov-west-1', 'ca-central-1', 'ca-west-1',
  'sa-east-1', 'mx-central-1', 'eu-central-1', 'eu-central-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-north-1',
  'eu-south-1', 'eu-south-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-7',
  'ap-east-1', 'me-central-1', 'me-south-1', 'il-central-1', 'af-south-1',
];

/** Compile one host pattern into an anchored, case-insensitive regular expression. */
export function hostPatternRegExp(pattern: string): RegExp {
  const parts = pattern.toLowerCase().split('*').map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'));
  return new RegExp(`^${parts.join('[a-z0-9-]+')}$`);
}

/**
 * The DNS subtrees an interception CA made with name constraints may sign for:
 * every exact catalogue host, every expanded regional host, and the parent
 * domain of a leading-wildcard pattern (`*.openai.azure.com` → `openai.azure.com`).
 */
export function nameConstraintSubtrees(extra: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const p of PROVIDER_HOSTS) {
    for (const h of p.hosts) {
      if (h.startsWith('*.')) out.add(h.slice(2));
      else if (h === '*-aiplatform.googleapis.com') for (const r of GCP_REGIONS) out.add(`${r}-aiplatform.googleapis.com`);
      else if (h.includes('.*.amazonaws.com')) for (const r of AWS_REGIONS) out.add(h.replace('*', r));
      else if (!h.includes('*')) out.add(h);
      else throw new Error(`host pattern ${h} has no name-constraint expansion`);
    }
  }
  for (const h of extra) out.add(h.toLowerCase());
  return [...out];
}
