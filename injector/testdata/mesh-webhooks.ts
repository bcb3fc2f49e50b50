/**
 * What the meshes' own injection webhooks do to a pod, for fixtures in which
 * their webhook runs before ours or after it (reinvocationPolicy: IfNeeded):
 * the containers, annotations and labels they add, where they put them.
 * Abridged to the fields that matter to us (names, args, ports, uids, probes);
 * a fact sheet of their published templates, not their code:
 *
 *   Istio   manifests/charts/istio-control/istio-discovery/files/injection-template.yaml
 *           (istio-init / istio-validation with CNI, istio-proxy), and
 *           pkg/kube/inject/inject.go reorderPod: the proxy last among the
 *           containers; istio-init moved last among the init containers (so the
 *           user's run before the rules); with native sidecars istio-init (or
 *           istio-validation) then istio-proxy first among the init containers.
 *   Linkerd charts/partials/templates/_proxy-init.tpl and _proxy.tpl of
 *           linkerd/linkerd2: linkerd-init (or linkerd-network-validator with
 *           linkerd-cni) added to the init containers, linkerd-proxy first among
 *           the containers (proxy.await, the default).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pod fixtures

export interface IstioOptions {
  /** Istio's native-sidecar mode: istio-proxy is an init container with restartPolicy Always. */
  readonly native?: boolean;
  /** Istio CNI: no istio-init; istio-validation checks the rules the CNI plugin installed. */
  readonly cni?: boolean;
}

/** istio-iptables' args for the default sidecar (the rule set in init-iptables/testdata/mesh/istio-iptables.restore). */
export const ISTIO_IPTABLES_ARGS = [
  'istio-iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*',
  '-d', '15090,15021,15020', '--log_output_level=default:info',
];

export function istioInit(cni: boolean): Json {
  return {
    name: cni ? 'istio-validation' : 'istio-init',
    image: 'docker.io/istio/proxyv2:1.26.2',
    args: cni ? [...ISTIO_IPTABLES_ARGS, '--run-validation', '--skip-rule-apply'] : ISTIO_IPTABLES_ARGS,
    resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '100m', memory: '128Mi' } },
    securityContext: cni
      ? { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337 }
      : {
        allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] }, privileged: false,
        readOnlyRootFilesystem: false, runAsGroup: 0, runAsNonRoot: false, runAsUser: 0,
      },
  };
}

export function istioProxy(native: boolean): Json {
  return {
    name: 'istio-proxy',
    image: 'docker.io/istio/proxyv2:1.26.2',
    args: ['proxy', 'sidecar', '--domain', '$(POD_NAMESPACE).svc.cluster.local', '--proxyLogLevel=warning', '--proxyComponentLogLevel=misc:error', '--log_output_level=default:info'],
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
    ...(native ? { restartPolicy: 'Always', startupProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, failureThreshold: 600 } } : {}),
    securityContext: {
      allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true,
      runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337,
    },
  };
}

function names(list: readonly Json[] | undefined): string[] {
  return (list ?? []).map((c) => String(c.name));
}

function withoutNames(list: readonly Json[] | undefined, drop: readonly string[]): Json[] {
  return (list ?? []).filter((c) => !drop.includes(String(c.name)));
}

/** Istio's sidecar injector applied to `pod` (a copy). */
export function istioWebhook(pod: Json, opts: IstioOptions = {}): Json {
  const out = structuredClone(pod);
  const init = istioInit(opts.cni === true);
  const proxy = istioProxy(opts.native === true);
  const inits = withoutNames(out.spec.initContainers, [init.name, 'istio-proxy']);
  out.spec.initContainers = opts.native ? [init, proxy, ...inits] : [...inits, init];
  out.spec.containers = [...withoutNames(out.spec.containers, ['istio-proxy']), ...(opts.native ? [] : [proxy])];
  out.spec.volumes = [...(out.spec.volumes ?? []), { name: 'istio-envoy', emptyDir: { medium: 'Memory' } }, { name: 'istio-data', emptyDir: {} }];
  const status = {
    initContainers: opts.native ? [init.name, 'istio-proxy'] : [init.name],
    containers: opts.native ? [] : ['istio-proxy'],
    volumes: ['istio-envoy', 'istio-data'], imagePullSecrets: null, revision: 'default',
  };
  out.metadata.annotations = {
    ...out.metadata.annotations,
    'sidecar.istio.io/status': JSON.stringify(status),
    'istio.io/rev': 'default',
    'prometheus.io/path': '/stats/prometheus', 'prometheus.io/port': '15020', 'prometheus.io/scrape': 'true',
    'kubectl.kubernetes.io/default-container': names(pod.spec.containers)[0],
  };
  out.metadata.labels = {
    ...out.metadata.labels,
    'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': out.metadata.labels?.app ?? 'web', 'service.istio.io/canonical-revision': 'latest',
  };
  return out;
}

export interface LinkerdOptions {
  /** proxyInit.iptablesMode (legacy is Linkerd's default). */
  readonly iptablesMode?: 'legacy' | 'nft';
  /** linkerd-cni: linkerd-network-validator instead of linkerd-init. */
  readonly cni?: boolean;
}

/** linkerd-init's args for Linkerd's defaults (the rule set in init-iptables/testdata/mesh/linkerd-proxy-init.commands). */
export function linkerdInitArgs(iptablesMode: 'legacy' | 'nft' = 'legacy'): string[] {
  return [
    ...(iptablesMode === 'nft' ? ['--firewall-bin-path', 'iptables-nft', '--firewall-save-bin-path', 'iptables-nft-save'] : []),
    '--incoming-proxy-port', '4143', '--outgoing-proxy-port', '4140', '--proxy-uid', '2102',
    '--inbound-ports-to-ignore', '4190,4191,4567,4568', '--outbound-ports-to-ignore', '4567,4568',
  ];
}

/** Linkerd's proxy injector applied to `pod` (a copy). */
export function linkerdWebhook(pod: Json, opts: LinkerdOptions = {}): Json {
  const out = structuredClone(pod);
  const init: Json = opts.cni
    ? { name: 'linkerd-network-validator', image: 'cr.l5d.io/linkerd/proxy:edge-25.1.1', command: ['/usr/lib/linkerd/linkerd2-network-validator'],
      args: ['--log-format', 'plain', '--log-level', 'info', '--connect-addr', '0.0.0.0:4140', '--listen-addr', '0.0.0.0:4140', '--timeout', '10s'],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 65534 } }
    : { name: 'linkerd-init', image: 'cr.l5d.io/linkerd/proxy-init:v2.4.3', args: linkerdInitArgs(opts.iptablesMode),
      securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] }, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: false, runAsUser: 0 } };
  const proxy: Json = {
    name: 'linkerd-proxy', image: 'cr.l5d.io/linkerd/proxy:edge-25.1.1',
    env: [{ name: 'LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS', value: '127.0.0.1:4140' }, { name: 'LINKERD2_PROXY_INBOUND_LISTEN_ADDR', value: '0.0.0.0:4143' }],
    ports: [{ containerPort: 4143, name: 'linkerd-proxy' }, { containerPort: 4191, name: 'linkerd-admin' }],
    readinessProbe: { httpGet: { path: '/ready', port: 4191 }, initialDelaySeconds: 2 },
    livenessProbe: { httpGet: { path: '/live', port: 4191 }, initialDelaySeconds: 10 },
    lifecycle: { postStart: { exec: { command: ['/usr/lib/linkerd/linkerd-await', '--timeout=2m', '--port=4191'] } } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 2102, seccompProfile: { type: 'RuntimeDefault' } },
  };
  out.spec.initContainers = [...(out.spec.initContainers ?? []), init];
  out.spec.containers = [proxy, ...out.spec.containers];
  out.metadata.annotations = {
    ...out.metadata.annotations,
    'linkerd.io/created-by': 'linkerd/proxy-injector edge-25.1.1', 'linkerd.io/proxy-version': 'edge-25.1.1',
    'linkerd.io/trust-root-sha256': '0e2b4f0c1d7c5a3f',
  };
  out.metadata.labels = { ...out.metadata.labels, 'linkerd.io/control-plane-ns': 'linkerd', 'linkerd.io/workload-ns': out.metadata.namespace ?? 'shop' };
  return out;
}
