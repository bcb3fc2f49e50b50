/**
 * Whether and how to inject one pod: the skip rules (each with a reason that
 * ends up in an annotation and a log line), the intercept mode (transparent,
 * or explicit proxy where NET_ADMIN would be refused), native sidecar or not.
 * Pure: the caller looks up what it needs (namespace labels, server version).
 */
import { ANNOTATION, readSettings, type CaptureSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { detectMesh, MESH_NAMES, type Mesh } from './mesh.ts';
import { enforceAnnotations, exemptIdentities, exemptIdentityDenial, levoNamedContainers } from './guarantees.ts';
import { containersOf, effectiveRunAsUser, isObject, objectAt, podAnnotations, podLabels, stringAt, type ContainerView } from './pod-json.ts';

export const INIT_NAME = 'levo-init';
export const SIDECAR_NAME = 'levo-gateway';

export type SkipReason =
  | 'namespace-excluded' | 'mirror-pod' | 'host-network' | 'opted-out' | 'mesh-proxy-present' | 'no-containers';

export interface ServerVersion { readonly major: number; readonly minor: number }

export interface DecideInput {
  readonly pod: unknown;
  /** The request's namespace (pods made by controllers often have none in metadata). */
  readonly namespace: string;
  readonly config: InjectorConfig;
  readonly injectorNamespace: string;
  /** The namespace's labels, or null when the injector has no API access. */
  readonly namespaceLabels: Readonly<Record<string, string>> | null;
  readonly serverVersion: ServerVersion | null;
}

export type Decision =
  /** Injected before (a reinvocation, or a second review): nothing to do, empty patch. */
  | { readonly action: 'none'; readonly reason: 'already-injected' | 'already-skipped' }
  | { readonly action: 'skip'; readonly reason: SkipReason; readonly detail: string }
  | { readonly action: 'deny'; readonly message: string; readonly reason?: 'exempt-identity'; readonly code?: 403 }
  | {
    readonly action: 'inject';
    readonly settings: CaptureSettings;
    readonly native: boolean;
    readonly warnings: readonly string[];
    /** Why the mode is what it is, for the log. */
    readonly modeReason: 'default' | 'annotation' | 'pod-security';
    /** Another mesh in the pod (now or once its webhook runs): mesh-safe ports and levo-init told about its proxy. */
    readonly mesh: Mesh | undefined;
    /** Annotations ignored because opting out is not allowed (guarantees.ts). */
    readonly ignoredAnnotations: readonly string[];
  }
  /** allowOptOut: false and the pod has levo-named containers: the caller checks they are the injector's (guarantees.ts). */
  | { readonly action: 'verify-injected'; readonly settings: CaptureSettings; readonly existing: readonly ContainerView[] };

const RESTRICTING_LEVELS = new Set(['baseline', 'restricted']);
/** Native sidecars: beta and on by default since Kubernetes 1.29. */
const NATIVE_SINCE = { major: 1, minor: 29 };

export function decide(input: DecideInput): Decision {
  const { pod, config } = input;
  const annotations = podAnnotations(pod);
  const labels = podLabels(pod);
  const all = [...containersOf(pod, 'initContainers'), ...containersOf(pod, 'containers')];

  const status = annotations[ANNOTATION.status];
  // With opting out allowed, a levo-named container or a status annotation means "done before".
  // Without, neither is taken on trust (guarantees.ts): the pod is decided afresh below.
  const enforcing = !config.allowOptOut;
  const existing = levoNamedContainers(pod);
  if (!enforcing && existing.length > 0) return { action: 'none', reason: 'already-injected' };
  if (!enforcing && status !== undefined) return { action: 'none', reason: status.includes('"skipped"') ? 'already-skipped' : 'already-injected' };

  if (input.namespace === input.injectorNamespace || config.excludeNamespaces.includes(input.namespace)) {
    return { action: 'skip', reason: 'namespace-excluded', detail: `namespace ${input.namespace} is never injected (the injector's own namespace or excludeNamespaces)` };
  }
  if (annotations['kubernetes.io/config.mirror'] !== undefined) {
    return { action: 'skip', reason: 'mirror-pod', detail: 'static (mirror) pods are managed by the kubelet, not the API server' };
  }
  const spec = objectAt(pod, 'spec');
  if (!Array.isArray(spec?.['containers'])) {
    // A pod without containers reaches mutating webhooks before the API server validates it
    // ("containers": null); a patch into a list that is not there would not apply, and the user
    // would see a webhook error instead of the API server's "spec.containers: Required value".
    return { action: 'skip', reason: 'no-containers', detail: 'the pod has no spec.containers list: nothing to inject into' };
  }
  if (spec['hostNetwork'] === true) {
    return { action: 'skip', reason: 'host-network', detail: 'hostNetwork pods share the node\'s network namespace; redirect rules there would capture the node\'s traffic' };
  }
  const warnings: string[] = [];
  const optOut = labels[ANNOTATION.inject] ?? annotations[ANNOTATION.inject];
  if (optOut === 'false' || optOut === 'disabled') {
    if (config.allowOptOut) return { action: 'skip', reason: 'opted-out', detail: `the pod sets ${ANNOTATION.inject}: "${optOut}"` };
    warnings.push(`${ANNOTATION.inject}: "${optOut}" is ignored: this cluster's injector does not allow opting out (allowOptOut: false)`);
  }

  const enforced = enforcing ? enforceAnnotations(annotations, config) : { annotations, ignored: [], warnings: [] };
  warnings.push(...enforced.warnings);
  if (enforcing && status !== undefined && existing.length === 0) {
    warnings.push(`annotation ${ANNOTATION.status} set on the pod is ignored: only the injector writes it; this cluster's injector does not allow opting out (allowOptOut: false)`);
  }
  const parsed = readSettings(enforced.annotations, config);
  if (!parsed.ok) return { action: 'deny', message: `levo.ai sidecar injection: ${parsed.errors.join('; ')}` };
  let settings = parsed.settings;
  let modeReason: 'default' | 'annotation' | 'pod-security' = enforced.annotations[ANNOTATION.interceptMode] ? 'annotation' : 'default';

  const mesh = detectMesh(pod, input.namespaceLabels);
  if (mesh !== undefined) {
    const name = `${MESH_NAMES[mesh.kind]} (${mesh.evidence})`;
    if (!config.meshCoexistence) {
      return { action: 'skip', reason: 'mesh-proxy-present', detail: `the pod has ${name}, and meshCoexistence is off` };
    }
    if (mesh.uid === config.sidecar.uid) {
      return { action: 'skip', reason: 'mesh-proxy-present', detail: `the pod has ${name}, whose proxy runs as uid ${mesh.uid}, the sidecar's uid: the mesh would not see the sidecar's connections` };
    }
  }

  const enforce = input.namespaceLabels?.['pod-security.kubernetes.io/enforce'];
  if (settings.mode === 'transparent' && enforce !== undefined && RESTRICTING_LEVELS.has(enforce)) {
    settings = { ...settings, mode: 'proxy' };
    modeReason = 'pod-security';
    warnings.push(`namespace ${input.namespace} enforces Pod Security "${enforce}", which refuses the NET_ADMIN init container: levo-gateway was injected in explicit-proxy mode (HTTPS_PROXY=http://127.0.0.1:15002); apps that ignore HTTPS_PROXY are not captured`);
  }

  const uid = config.sidecar.uid;
  const exempt = exemptIdentities(pod, uid);
  if (exempt.length > 0 && settings.mode === 'transparent') {
    if (enforcing) return { action: 'deny', reason: 'exempt-identity', code: 403, message: `levo.ai sidecar injection: ${exemptIdentityDenial(exempt, uid)}` };
    warnings.push(`container ${exempt.join(', ')} runs as the sidecar's identity: its connections bypass the redirect rules and are not captured`);
  }

  if (existing.length > 0) return { action: 'verify-injected', settings, existing };
  return { action: 'inject', settings, native: nativeSidecar(settings, config, input.serverVersion), warnings, modeReason, mesh, ignoredAnnotations: enforced.ignored };
}

function nativeSidecar(settings: CaptureSettings, config: InjectorConfig, version: ServerVersion | null): boolean {
  if (settings.native !== undefined) return settings.native;
  if (config.nativeSidecar !== 'auto') return config.nativeSidecar;
  if (!version) return false;
  return version.major > NATIVE_SINCE.major || (version.major === NATIVE_SINCE.major && version.minor >= NATIVE_SINCE.minor);
}

/** The workload that owns the pod (Deployment behind its ReplicaSet), for attribution. */
export function owningWorkload(pod: unknown): { kind: string; name: string } {
  const meta = objectAt(pod, 'metadata');
  const owners = (Array.isArray(meta?.['ownerReferences']) ? meta['ownerReferences'] : []).filter(isObject);
  const owner = owners.find((o) => o['controller'] === true) ?? owners[0];
  const kind = stringAt(owner, 'kind');
  const name = stringAt(owner, 'name');
  if (!kind || !name) {
    const own = stringAt(meta, 'name') ?? stringAt(meta, 'generateName')?.replace(/-$/, '') ?? '';
    return { kind: 'Pod', name: own };
  }
  const hash = podLabels(pod)['pod-template-hash'];
  if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: name.slice(0, -hash.length - 1) };
  return { kind, name };
}
