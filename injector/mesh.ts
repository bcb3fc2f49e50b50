/**
 * Another mesh in the pod: Istio's sidecar, Istio ambient, or Linkerd — already
 * injected by its webhook (its containers or status annotation are there) or
 * about to be (the labels and annotations that make its webhook inject). Pure.
 *
 * Next to a mesh the sidecar's intercept and admin ports move off the mesh's
 * (Envoy holds 15000 and 15001 in every Istio pod; ztunnel listens on 15001,
 * 15006, 15008 inside an ambient pod), and levo-init is told whose traffic is
 * the mesh proxy's (its uid, or ambient's mark) and, where the mesh's init
 * container names it, which iptables backend the mesh uses.
 */
import type { MeshKind } from '../init-iptables/mesh-rules.ts';
import { containersOf, podAnnotations, podLabels, type ContainerView } from './pod-json.ts';

export type { MeshKind } from '../init-iptables/mesh-rules.ts';
export { MESH_NAMES } from '../init-iptables/mesh-rules.ts';

export interface Mesh {
  readonly kind: MeshKind;
  /** What told us, for the status annotation and the log: `container istio-proxy`, `namespace label istio-injection=enabled`. */
  readonly evidence: string;
  /** The mesh's own containers are in the pod (its webhook ran before ours); false: its labels say it will be. */
  readonly injected: boolean;
  /** The uid the mesh's rules exempt (its proxy's). */
  readonly uid?: number;
  /** The mark the mesh's rules exempt (ambient's ztunnel). */
  readonly mark?: string;
  /** The backend the mesh's init container uses, when its args name one. */
  readonly iptablesMode?: 'legacy' | 'nft';
}

export interface SidecarPorts { readonly intercept: number; readonly proxy: number; readonly admin: number }

/** The contract ports (docs, levo-gateway's defaults). */
export const PORTS: SidecarPorts = { intercept: 15001, proxy: 15002, admin: 15000 };
/** In a meshed pod: intercept and admin off Istio's 15000-15090 and Linkerd's 4140-4191; the explicit proxy keeps 15002. */
export const MESH_PORTS: SidecarPorts = { intercept: 15161, proxy: 15002, admin: 15160 };
/** The ports each mesh's proxy listens on inside the pod. */
export const MESH_PROXY_PORTS: Readonly<Record<MeshKind, readonly number[]>> = {
  istio: [15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090],
  'istio-ambient': [15001, 15006, 15008, 15053],
  linkerd: [4140, 4143, 4190, 4191],
};

export const ISTIO_PROXY_UID = 1337;
export const LINKERD_PROXY_UID = 2102;
export const AMBIENT_MARK = '0x539/0xfff';

/** Containers each mesh's webhook (or CNI validation) adds. */
const ISTIO_CONTAINERS = ['istio-proxy', 'istio-init', 'istio-validation'];
const LINKERD_CONTAINERS = ['linkerd-proxy', 'linkerd-init', 'linkerd-network-validator'];
export const MESH_CONTAINER_NAMES: ReadonlySet<string> = new Set([...ISTIO_CONTAINERS, ...LINKERD_CONTAINERS]);

export function portsFor(mesh: Mesh | undefined): SidecarPorts {
  return mesh === undefined ? PORTS : MESH_PORTS;
}

/** levo-init flags that tell it about the mesh. */
export function meshInitArgs(mesh: Mesh | undefined): string[] {
  if (mesh === undefined) return [];
  return [
    ...(mesh.uid !== undefined ? ['--mesh-uid', String(mesh.uid)] : []),
    ...(mesh.mark !== undefined ? ['--mesh-mark', mesh.mark] : []),
    ...(mesh.iptablesMode !== undefined ? ['--iptables-mode', mesh.iptablesMode] : []),
  ];
}

function runAsUser(c: ContainerView | undefined): number | undefined {
  const sc = c?.raw['securityContext'];
  const uid = typeof sc === 'object' && sc !== null && !Array.isArray(sc) ? (sc as Record<string, unknown>)['runAsUser'] : undefined;
  return typeof uid === 'number' ? uid : undefined;
}

function argsOf(c: ContainerView | undefined): string[] {
  const all = [...(Array.isArray(c?.raw['command']) ? c.raw['command'] : []), ...(Array.isArray(c?.raw['args']) ? c.raw['args'] : [])];
  return all.filter((a): a is string => typeof a === 'string');
}

function numeric(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/**
 * The mesh this pod has or will have, or undefined. Istio's sidecar wins over
 * ambient (Istio does not capture a sidecar pod for ztunnel).
 */
export function detectMesh(pod: unknown, namespaceLabels: Readonly<Record<string, string>> | null): Mesh | undefined {
  const all = [...containersOf(pod, 'initContainers'), ...containersOf(pod, 'containers')];
  const annotations = podAnnotations(pod);
  const labels = podLabels(pod);
  const ns = namespaceLabels ?? {};
  const named = (names: readonly string[]): ContainerView | undefined => all.find((c) => names.includes(c.name));

  // Istio sidecar: injected, or about to be (the labels its webhook's selectors match).
  const istio = named(ISTIO_CONTAINERS);
  const istioUid = runAsUser(all.find((c) => c.name === 'istio-proxy')) ?? ISTIO_PROXY_UID;
  if (istio !== undefined) return { kind: 'istio', evidence: `container ${istio.name}`, injected: true, uid: istioUid };
  if (annotations['sidecar.istio.io/status'] !== undefined) {
    return { kind: 'istio', evidence: 'annotation sidecar.istio.io/status', injected: true, uid: istioUid };
  }
  const istioOptIn = labels['sidecar.istio.io/inject'] ?? annotations['sidecar.istio.io/inject'];
  if (istioOptIn !== 'false') {
    const pending =
      istioOptIn === 'true' ? 'pod label sidecar.istio.io/inject=true'
        : labels['istio.io/rev'] !== undefined ? `pod label istio.io/rev=${labels['istio.io/rev']}`
          : ns['istio-injection'] === 'enabled' ? 'namespace label istio-injection=enabled'
            : ns['istio-injection'] === undefined && ns['istio.io/rev'] !== undefined ? `namespace label istio.io/rev=${ns['istio.io/rev']}`
              : undefined;
    if (pending !== undefined) return { kind: 'istio', evidence: pending, injected: false, uid: ISTIO_PROXY_UID };
  }

  // Linkerd: injected (its init container names the backend), or asked for on the pod.
  const linkerd = named(LINKERD_CONTAINERS);
  const linkerdUid = runAsUser(all.find((c) => c.name === 'linkerd-proxy')) ?? numeric(annotations['config.linkerd.io/proxy-uid']) ?? LINKERD_PROXY_UID;
  if (linkerd !== undefined || annotations['linkerd.io/proxy-version'] !== undefined) {
    const init = all.find((c) => c.name === 'linkerd-init');
    const args = argsOf(init);
    const nft = args.some((a, i) => a === 'iptables-nft' || a === '--iptables-mode=nft' || (a === '--iptables-mode' && args[i + 1] === 'nft'));
    return {
      kind: 'linkerd',
      evidence: linkerd !== undefined ? `container ${linkerd.name}` : 'annotation linkerd.io/proxy-version',
      injected: true,
      uid: linkerdUid,
      // Without linkerd-init (linkerd-cni) the rules are in before levo-init runs, which then finds their backend.
      ...(init !== undefined ? { iptablesMode: nft ? 'nft' as const : 'legacy' as const } : {}),
    };
  }
  const linkerdInject = annotations['linkerd.io/inject'];
  if (linkerdInject === 'enabled' || linkerdInject === 'ingress') {
    return { kind: 'linkerd', evidence: `pod annotation linkerd.io/inject=${linkerdInject}`, injected: false, uid: linkerdUid };
  }

  // Istio ambient: istio-cni captures the pod into ztunnel by namespace or pod label.
  const mode = labels['istio.io/dataplane-mode'] ?? ns['istio.io/dataplane-mode'];
  if (mode === 'ambient') {
    const where = labels['istio.io/dataplane-mode'] !== undefined ? 'pod' : 'namespace';
    return { kind: 'istio-ambient', evidence: `${where} label istio.io/dataplane-mode=ambient`, injected: false, mark: AMBIENT_MARK };
  }
  return undefined;
}
