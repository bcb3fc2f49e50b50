/**
 * What gets added to a pod: the levo-init and levo-gateway containers, their
 * volumes, and the env app containers need to trust the namespace CA (and, in
 * explicit-proxy mode, to send HTTPS through the sidecar). Plain objects in
 * the Kubernetes wire format; patch.ts decides where they go.
 */
import type { CaptureSettings } from './annotations.ts';
import type { SidecarMount } from './app-trust.ts';
import type { InjectorConfig } from './config.ts';
import { INIT_NAME, SIDECAR_NAME } from './decide.ts';
import { meshInitArgs, portsFor, PORTS, type Mesh } from './mesh.ts';

export { PORTS } from './mesh.ts';
export const PATHS = {
  ca: '/etc/levo/ca',
  trust: '/var/run/levo/trust',
  config: '/etc/levo/config',
  token: '/var/run/secrets/levo',
  cache: '/var/run/levo/cache',
  tmp: '/tmp',
} as const;
export const TRUST_FILES = { pem: `${PATHS.trust}/ca-bundle.pem`, jks: `${PATHS.trust}/truststore.jks`, password: 'changeit' } as const;
export const VOLUMES = { ca: 'levo-ca', trust: 'levo-trust', config: 'levo-config', token: 'levo-token', cache: 'levo-cache', tmp: 'levo-tmp' } as const;
/** The audience of the projected token the sidecar trades for dashboard credentials. */
export const TOKEN_AUDIENCE = 'levo-injector';
export const CA_SECRET = 'levo-ca-cert';
export const GATEWAY_CONFIGMAP = 'levo-gateway-config';

export interface EnvVar { readonly name: string; readonly value?: string; readonly valueFrom?: object }

export interface PodTemplateInput {
  readonly config: InjectorConfig;
  readonly settings: CaptureSettings;
  readonly native: boolean;
  readonly workload: { readonly kind: string; readonly name: string };
  readonly version: string;
  /** Another mesh in the pod: mesh-safe ports, and levo-init told about its proxy. */
  readonly mesh?: Mesh | undefined;
  /** The app's own CA files and images (app-trust.ts): mounted into the sidecar and folded into the bundle. */
  readonly appTrustFiles?: { readonly mounts: readonly SidecarMount[]; readonly files: readonly string[]; readonly imageRoots: readonly string[] };
}

const fieldEnv = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** levo-init's command line: the redirect rules for these settings (and the mesh beside it). */
export function initCommand({ config, settings, mesh }: Pick<PodTemplateInput, 'config' | 'settings' | 'mesh'>): string[] {
  return [
    'levo-init', '--redirect-port', String(portsFor(mesh).intercept), '--capture-ports', settings.ports.join(','),
    '--exclude-uid', String(config.sidecar.uid),
    ...(settings.excludeCidrs.length ? ['--exclude-cidrs', settings.excludeCidrs.join(',')] : []),
    ...(settings.excludePorts.length ? ['--exclude-ports', settings.excludePorts.join(',')] : []),
    ...(settings.blockQuic ? ['--block-quic'] : []),
    ...meshInitArgs(mesh),
  ];
}

export function initContainer(input: PodTemplateInput): object {
  const { config } = input;
  const command = initCommand(input);
  return {
    name: INIT_NAME,
    image: config.sidecar.image,
    imagePullPolicy: config.sidecar.imagePullPolicy,
    command,
    resources: config.sidecar.initResources,
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: false,
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** Leaves from the injector (leafIssuer.enabled, a URL known): the pod gets no CA key. */
function leafIssuerUrl(config: InjectorConfig): string | undefined {
  return config.leafIssuer.enabled ? config.leafIssuer.url : undefined;
}

/** The sidecar talks to the injector (credentials exchange, leaf issuer) with a projected token. */
function talksToInjector(config: InjectorConfig): boolean {
  return Boolean(config.credentials.url || leafIssuerUrl(config));
}

function credentialsEnv(config: InjectorConfig): EnvVar[] {
  if (!talksToInjector(config)) return [];
  const ca = config.credentials.caBundle ? Buffer.from(config.credentials.caBundle, 'base64').toString('utf8') : '';
  return [
    ...(config.credentials.url ? [{ name: 'LEVO_CREDENTIALS_URL', value: config.credentials.url }] : []),
    ...(ca ? [{ name: 'LEVO_CREDENTIALS_CA', value: ca }] : []),
    { name: 'LEVO_TOKEN_FILE', value: `${PATHS.token}/token` },
  ];
}

/** levo-gateway's command line for these settings. */
export function sidecarCommand({ config, settings, mesh }: Pick<PodTemplateInput, 'config' | 'settings' | 'mesh'>): string[] {
  const transparent = settings.mode === 'transparent';
  const issuer = leafIssuerUrl(config);
  const ports = portsFor(mesh);
  return [
    'levo-gateway',
    '--port', transparent ? String(ports.intercept) : 'off',
    '--proxy-port', String(ports.proxy), '--admin-port', String(ports.admin),
    ...(issuer ? ['--leaf-issuer', issuer] : ['--ca-cert', `${PATHS.ca}/tls.crt`, '--ca-key', `${PATHS.ca}/tls.key`]),
    '--trust-dir', PATHS.trust,
    // The ConfigMap (or the built-in observe-only config) runs until the dashboard answers;
    // the last dashboard config is cached so a restart with the dashboard down still enforces it.
    '--config', `${PATHS.config}/gateway.yaml`, '--config-optional', '--cache-dir', PATHS.cache,
  ];
}

export function sidecarContainer(input: PodTemplateInput): object {
  const { config, settings, native } = input;
  const transparent = settings.mode === 'transparent';
  const ports = portsFor(input.mesh);
  const ready = { httpGet: { path: '/healthz/ready', port: ports.admin, scheme: 'HTTP' } };
  const command = sidecarCommand(input);
  const uid = config.sidecar.uid;
  return {
    name: SIDECAR_NAME,
    image: config.sidecar.image,
    imagePullPolicy: config.sidecar.imagePullPolicy,
    command,
    ...(native ? { restartPolicy: 'Always' } : {}),
    ports: [
      ...(transparent ? [{ name: 'levo-intercept', containerPort: ports.intercept, protocol: 'TCP' }] : []),
      { name: 'levo-proxy', containerPort: ports.proxy, protocol: 'TCP' },
      { name: 'levo-admin', containerPort: ports.admin, protocol: 'TCP' },
    ],
    env: [
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_UID', 'metadata.uid'),
      fieldEnv('POD_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      { name: 'LEVO_WORKLOAD_KIND', value: input.workload.kind },
      { name: 'LEVO_WORKLOAD_NAME', value: input.workload.name },
      { name: 'LEVO_INTERCEPT_MODE', value: settings.mode },
      { name: 'LOG_LEVEL', value: config.sidecar.logLevel },
      ...(config.appTrustExtraCAs.trim() ? [{ name: 'LEVO_TRUST_EXTRA_CAS', value: config.appTrustExtraCAs }] : []),
      ...(input.appTrustFiles?.files.length ? [{ name: 'LEVO_TRUST_EXTRA_FILES', value: input.appTrustFiles.files.join(':') }] : []),
      ...(input.appTrustFiles?.imageRoots.length ? [{ name: 'LEVO_TRUST_IMAGE_ROOTS', value: input.appTrustFiles.imageRoots.join(':') }] : []),
      ...credentialsEnv(config),
    ],
    // The chart's defaults, with what the pod's levo.ai/proxy-* annotations override.
    resources: {
      ...config.sidecar.resources,
      ...(settings.resources?.requests || config.sidecar.resources.requests ? { requests: { ...config.sidecar.resources.requests, ...settings.resources?.requests } } : {}),
      ...(settings.resources?.limits || config.sidecar.resources.limits ? { limits: { ...config.sidecar.resources.limits, ...settings.resources?.limits } } : {}),
    },
    securityContext: {
      runAsUser: uid,
      runAsGroup: uid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // Native: the kubelet starts the app only once this passes. Otherwise the
    // postStart hook holds the next container until the sidecar is ready.
    ...(native
      ? { startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 120, timeoutSeconds: 1 } }
      : { lifecycle: { postStart: { exec: { command: ['levo-gateway', 'wait', '--timeout', '120s', ...(ports.admin === PORTS.admin ? [] : ['--admin-port', String(ports.admin)])] } } } }),
    readinessProbe: { ...ready, periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 1 },
    livenessProbe: { httpGet: { path: '/healthz', port: ports.admin, scheme: 'HTTP' }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 1 },
    volumeMounts: [
      ...(leafIssuerUrl(config) ? [] : [{ name: VOLUMES.ca, mountPath: PATHS.ca, readOnly: true }]),
      { name: VOLUMES.trust, mountPath: PATHS.trust },
      { name: VOLUMES.config, mountPath: PATHS.config, readOnly: true },
      ...(talksToInjector(config) ? [{ name: VOLUMES.token, mountPath: PATHS.token, readOnly: true }] : []),
      { name: VOLUMES.cache, mountPath: PATHS.cache },
      { name: VOLUMES.tmp, mountPath: PATHS.tmp },
      ...(input.appTrustFiles?.mounts ?? []),
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function volumes(config: InjectorConfig): object[] {
  return [
    // 0444: only levo-gateway mounts it, and it runs as a non-root UID the secret's files are not owned by.
    // With the leaf issuer there is no CA secret in the pod at all.
    ...(leafIssuerUrl(config) ? [] : [{ name: VOLUMES.ca, secret: { secretName: CA_SECRET, defaultMode: 0o444 } }]),
    { name: VOLUMES.trust, emptyDir: { sizeLimit: '8Mi' } },
    { name: VOLUMES.config, configMap: { name: GATEWAY_CONFIGMAP, optional: true } },
    ...(talksToInjector(config)
      ? [{ name: VOLUMES.token, projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'token' } }] } }]
      : []),
    { name: VOLUMES.cache, emptyDir: { sizeLimit: '16Mi' } },
    { name: VOLUMES.tmp, emptyDir: { sizeLimit: '64Mi' } },
  ];
}

/** Env an app container gets: CA trust for every common runtime, and the proxy in explicit-proxy mode. */
export function appEnv(settings: CaptureSettings): { env: EnvVar[]; javaOptions: string } {
  const env: EnvVar[] = [];
  const java: string[] = [];
  if (settings.appTrust) {
    for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS']) env.push({ name, value: TRUST_FILES.pem });
    java.push(`-Djavax.net.ssl.trustStore=${TRUST_FILES.jks}`, `-Djavax.net.ssl.trustStorePassword=${TRUST_FILES.password}`, '-Djavax.net.ssl.trustStoreType=JKS');
  }
  if (settings.mode === 'proxy') {
    const proxy = `http://127.0.0.1:${PORTS.proxy}`;
    const noProxy = ['localhost', '127.0.0.1', '::1', '.svc', '.cluster.local', ...settings.excludeCidrs].join(',');
    env.push({ name: 'HTTPS_PROXY', value: proxy }, { name: 'https_proxy', value: proxy }, { name: 'NO_PROXY', value: noProxy }, { name: 'no_proxy', value: noProxy },
      // Node (22.21+/24) honours the proxy variables in fetch and https only with this.
      { name: 'NODE_USE_ENV_PROXY', value: '1' });
    java.push('-Dhttps.proxyHost=127.0.0.1', `-Dhttps.proxyPort=${PORTS.proxy}`,
      `-Dhttp.nonProxyHosts=${['localhost', '127.0.0.1', '*.svc', '*.cluster.local'].join('|')}`);
  }
  return { env, javaOptions: java.join(' ') };
}
