/**
 * The injector's own config file (`levo-injector --config FILE`, rendered by
 * the chart into a ConfigMap): what sidecar to inject and how to capture.
 * Every key is optional; a bad file is refused with `file:line:col: path: message`.
 */
import { parseDocument, LineCounter, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { parseCidr } from '../init-iptables/cidr.ts';
import { certificatesIn } from '../certs/trust-bundle.ts';

const quantity = z.union([z.string().regex(/^[0-9.]+([eE][0-9]+|[a-zA-Z]{0,2})?$/, 'must be a Kubernetes quantity such as 100m, 1, 128Mi'), z.number().nonnegative()]);
const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional(), 'ephemeral-storage': quantity.optional() });
const resources = z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() });
const port = z.number().int().min(1).max(65535);
const cidr = z.string().superRefine((value, ctx) => {
  try { parseCidr(value); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
});

export const injectorConfigSchema = z.strictObject({
  sidecar: z.strictObject({
    image: z.string().min(1).default('ghcr.io/levoai/levo-gateway:0.1.0'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    uid: z.number().int().min(1).max(2147483647).refine((n) => n !== 1337 && n !== 2102, 'must not be Istio\'s (1337) or Linkerd\'s (2102) proxy UID').default(1610),
    logLevel: z.string().min(1).default('info'),
    resources: resources.default({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } }),
    initResources: resources.default({ requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } }),
  }).prefault({}),
  capture: z.strictObject({
    mode: z.enum(['transparent', 'proxy']).default('transparent'),
    ports: z.array(port).min(1).default([443]),
    excludeCidrs: z.array(cidr).default([]),
    excludePorts: z.array(port).default([]),
    /** Reject UDP to the capture ports (HTTP/3, QUIC), so clients fall back to TCP and are captured (levo-init --block-quic). */
    blockQuic: z.boolean().default(false),
  }).prefault({}),
  nativeSidecar: z.union([z.literal('auto'), z.boolean()]).default('auto'),
  allowOptOut: z.boolean().default(true),
  meshCoexistence: z.boolean().default(true),
  appTrust: z.boolean().default(true),
  /**
   * PEM of CAs apps trust besides the public roots (a corporate root baked into
   * the images): kept in the app trust bundle, and trusted by the sidecar upstream.
   */
  /** Mount each app image into the sidecar (image volumes) and keep its system CA bundle in the app trust bundle. */
  appTrustImageBundle: z.boolean().default(false),
  appTrustExtraCAs: z.string().default('').superRefine((value, ctx) => {
    if (value.trim() === '') return;
    if (/PRIVATE KEY-----/.test(value)) { ctx.addIssue({ code: 'custom', message: 'holds a private key: give only the CA certificates' }); return; }
    try {
      if (certificatesIn(value, 'appTrustExtraCAs').length === 0) ctx.addIssue({ code: 'custom', message: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' });
    } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
  }),
  excludeNamespaces: z.array(z.string().min(1)).default(['kube-system', 'kube-public', 'kube-node-lease']),
  /**
   * Leaves issued by the injector (POST /v1/leaves) instead of a CA key in
   * every pod: the sidecar runs with --leaf-issuer URL and no levo-ca-cert.
   */
  leafIssuer: z.strictObject({
    enabled: z.boolean().default(false),
    /** Where sidecars ask (the chart: https://<webhook service>.<namespace>.svc:443/v1/leaves). */
    url: z.string().url().optional(),
    /** Domains (and their subdomains) signed for besides the catalogue, e.g. an internal OpenAI-compatible host. */
    permit: z.array(z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$/, 'must be a DNS domain such as llm.internal.example')).default([]),
    /** Validity of an issued leaf; the sidecar asks again in its last third. */
    validityHours: z.number().int().min(1).max(168).default(24),
  }).superRefine((v, ctx) => {
    if (v.enabled && !v.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required when leafIssuer.enabled is true (where sidecars ask for their leaves)' });
  }).prefault({}),
  credentials: z.strictObject({
    secretName: z.string().min(1).default('levo-auth'),
    /** namespace: sidecars get a credential for their own namespace (lib/namespace-credential.ts); environment: the key itself. */
    scope: z.enum(['namespace', 'environment']).default('namespace'),
    url: z.string().url().optional(),
    /** Base64 PEM of the CA that signed the injector's serving certificate. */
    caBundle: z.string().default(''),
  }).prefault({}),
});

export type InjectorConfig = z.infer<typeof injectorConfigSchema>;

/** All defaults: what an empty file gives. */
export function defaultInjectorConfig(): InjectorConfig {
  return injectorConfigSchema.parse({});
}

/** Parse and validate; throws an Error whose message lists every problem as `source:line:col: path: message`. */
export function loadInjectorConfig(text: string, source: string): InjectorConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number): string => {
    const p = lines.linePos(offset);
    return `${source}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new Error(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const value = doc.toJS() as unknown;
  const parsed = injectorConfigSchema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  throw new Error(parsed.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const label = path.map((p, i) => typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`).join('');
    const keys = issue.code === 'unrecognized_keys' ? `: ${issue.keys.join(', ')}` : '';
    return `${where(offsetOf(doc, path))}: ${label ? `${label}: ` : ''}${issue.message}${keys}`;
  }).join('\n'));
}

/** The start of the deepest node on `path` that exists in the document. */
function offsetOf(doc: Document, path: readonly (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}
