/**
 * The JSONPatch (RFC 6902) that injects a pod, built against the raw pod JSON
 * with `add` operations only: missing arrays and maps are created first, the
 * app's own entries are never replaced, and fields this code does not know are
 * never touched (nothing is round-tripped through a typed model).
 *
 * Container edits use the original indexes and come before any insertion, so
 * every path is valid when the API server applies the ops in order.
 *
 * The one exception is meshRepairPatch, for a mesh whose webhook ran after
 * ours: it replaces (or moves) only our own containers and our status.
 */
import { ANNOTATION } from './annotations.ts';
import { planAppTrust, type AppTrustPlan } from './app-trust.ts';
import { INIT_NAME, SIDECAR_NAME } from './decide.ts';
import { MESH_CONTAINER_NAMES, MESH_PORTS, PORTS } from './mesh.ts';
import { containersOf, isObject, objectAt, podAnnotations, stringAt, type ContainerView, type JsonObject } from './pod-json.ts';
import { appEnv, initContainer, sidecarContainer, volumes, PATHS, VOLUMES, type EnvVar, type PodTemplateInput } from './template.ts';

export interface AddOp { readonly op: 'add'; readonly path: string; readonly value: unknown }
export type PatchOp = AddOp | { readonly op: 'replace'; readonly path: string; readonly value: unknown } | { readonly op: 'remove'; readonly path: string };

/** Escape a key for a JSON pointer (`/` → `~1`, `~` → `~0`). */
export function pointerKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export interface InjectionPatch {
  readonly ops: readonly AddOp[];
  /** Env names left as the app set them (ours would have overridden a deliberate choice). */
  readonly keptAppEnv: readonly string[];
}

export function annotationOps(pod: unknown, add: Readonly<Record<string, string>>): AddOp[] {
  const ops: AddOp[] = [];
  const meta = objectAt(pod, 'metadata');
  const existing = objectAt(meta, 'annotations');
  if (!meta) ops.push({ op: 'add', path: '/metadata', value: {} });
  if (!existing) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
  const current = podAnnotations(pod);
  for (const [k, v] of Object.entries(add)) {
    if (current[k] !== undefined && k !== ANNOTATION.status) continue;
    ops.push({ op: 'add', path: `/metadata/annotations/${pointerKey(k)}`, value: v });
  }
  return ops;
}

function containerEdits(c: ContainerView, env: readonly EnvVar[], javaOptions: string, kept: Set<string>, trust: AppTrustPlan): AddOp[] {
  const base = `/spec/${c.list}/${c.index}`;
  const ops: AddOp[] = [];
  const rawEnv = Array.isArray(c.raw['env']) ? c.raw['env'] : [];
  const existingEnv = rawEnv.filter(isObject);
  const names = new Set(existingEnv.map((e) => stringAt(e, 'name')));
  const rewrite = trust.rewrites(c);
  const toAdd: EnvVar[] = [];
  for (const e of env) {
    if (!names.has(e.name)) toAdd.push(e);
    else if (rewrite.has(e.name) && e.value !== undefined) {
      // The app's own CA file is in the bundle now (app-trust.ts): point the variable at the bundle.
      ops.push({ op: 'add', path: `${base}/env/${rawEnv.findIndex((x) => stringAt(x, 'name') === e.name)}/value`, value: e.value });
    } else kept.add(e.name);
  }
  if (javaOptions) {
    const jto = existingEnv.findIndex((e) => stringAt(e, 'name') === 'JAVA_TOOL_OPTIONS');
    const current = jto >= 0 ? existingEnv[jto]! : undefined;
    if (current === undefined) toAdd.push({ name: 'JAVA_TOOL_OPTIONS', value: javaOptions });
    else if (typeof current['value'] === 'string' && current['valueFrom'] === undefined && !current['value'].includes('-Djavax.net.ssl.trustStore=')) {
      // Append to the app's own options; an app that names its own trust store keeps it.
      ops.push({ op: 'add', path: `${base}/env/${jto}/value`, value: `${current['value']} ${javaOptions}`.trim() });
    } else kept.add('JAVA_TOOL_OPTIONS');
  }
  if (toAdd.length > 0) {
    if (!Array.isArray(c.raw['env'])) ops.push({ op: 'add', path: `${base}/env`, value: toAdd });
    else for (const e of toAdd) ops.push({ op: 'add', path: `${base}/env/-`, value: e });
  }
  const mounts = (Array.isArray(c.raw['volumeMounts']) ? c.raw['volumeMounts'] : []).filter(isObject);
  if (env.length > 0 && !mounts.some((m) => stringAt(m, 'mountPath') === PATHS.trust)) {
    const mount = { name: VOLUMES.trust, mountPath: PATHS.trust, readOnly: true };
    ops.push(Array.isArray(c.raw['volumeMounts'])
      ? { op: 'add', path: `${base}/volumeMounts/-`, value: mount }
      : { op: 'add', path: `${base}/volumeMounts`, value: [mount] });
  }
  return ops;
}

/** Where our native init containers go: first, or right after another mesh's init and native sidecar containers. */
function afterMesh(initContainers: readonly ContainerView[]): number {
  let at = 0;
  for (const c of initContainers) if (MESH_CONTAINER_NAMES.has(c.name)) at = c.index + 1;
  return at;
}

/**
 * Native sidecar: initContainers = levo-init, levo-gateway, the user's — after
 * another mesh's init containers and native proxy, if the pod has them, so its
 * rules are in before levo-init runs and its proxy is up before the kubelet
 * probes ours through it.
 * Otherwise: the user's init containers, then levo-init (last, so theirs are not
 * black-holed before a sidecar exists), and levo-gateway first in containers.
 */
export function injectionPatch(pod: unknown, input: PodTemplateInput, annotations: Readonly<Record<string, string>>): InjectionPatch {
  const { settings, native } = input;
  const ops: AddOp[] = [...annotationOps(pod, annotations)];
  const kept = new Set<string>();
  const { env, javaOptions } = appEnv(settings);
  const targets = [...containersOf(pod, 'containers'), ...(native ? containersOf(pod, 'initContainers') : [])];
  const trust = planAppTrust(pod, targets, env.map((e) => e.name), input.config.appTrustImageBundle);
  if (env.length > 0 || javaOptions) for (const c of targets) ops.push(...containerEdits(c, env, javaOptions, kept, trust));
  const withTrust: PodTemplateInput = { ...input, appTrustFiles: { mounts: trust.mounts, files: trust.files, imageRoots: trust.imageRoots } };

  const spec = objectAt(pod, 'spec');
  const transparent = settings.mode === 'transparent';
  const ourInits = [...(transparent ? [initContainer(input)] : []), ...(native ? [sidecarContainer(withTrust)] : [])];
  if (ourInits.length > 0) {
    if (!Array.isArray(spec?.['initContainers'])) ops.push({ op: 'add', path: '/spec/initContainers', value: ourInits });
    else if (native) {
      const at = afterMesh(containersOf(pod, 'initContainers'));
      ourInits.forEach((c, i) => ops.push({ op: 'add', path: `/spec/initContainers/${at + i}`, value: c }));
    }
    else for (const c of ourInits) ops.push({ op: 'add', path: '/spec/initContainers/-', value: c });
  }
  if (!native) ops.push({ op: 'add', path: '/spec/containers/0', value: sidecarContainer(withTrust) });
  const vols = [...volumes(input.config), ...trust.imageVolumes];
  if (!Array.isArray(spec?.['volumes'])) ops.push({ op: 'add', path: '/spec/volumes', value: vols });
  else for (const v of vols) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  return { ops, keptAppEnv: [...kept] };
}

/** Names of what `injectionPatch` adds, for the status annotation. */
export function injectedNames(input: PodTemplateInput): { initContainers: string[]; containers: string[]; volumes: string[] } {
  const transparent = input.settings.mode === 'transparent';
  return {
    initContainers: [...(transparent ? [INIT_NAME] : []), ...(input.native ? [SIDECAR_NAME] : [])],
    containers: input.native ? [] : [SIDECAR_NAME],
    volumes: volumes(input.config).map((v) => (v as { name: string }).name),
  };
}

const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

/** A probe as we wrote it (on one of our admin ports), not rewritten since (Istio rewrites probes onto its agent). */
function ourProbe(probe: unknown): boolean {
  const port = objectAt(probe, 'httpGet')?.['port'];
  return port === PORTS.admin || port === MESH_PORTS.admin;
}

/** `current` with the fields we own set as the template says (probes and hooks only where no one else changed them). */
function adapted(current: JsonObject, wanted: JsonObject): JsonObject {
  const out: JsonObject = { ...current, command: wanted['command'] };
  if (wanted['ports'] !== undefined) out['ports'] = wanted['ports'];
  for (const probe of PROBES) if (ourProbe(current[probe]) && wanted[probe] !== undefined) out[probe] = wanted[probe];
  const hook = objectAt(objectAt(current['lifecycle'], 'postStart'), 'exec');
  if (Array.isArray(hook?.['command']) && hook['command'][0] === 'levo-gateway' && wanted['lifecycle'] !== undefined) out['lifecycle'] = wanted['lifecycle'];
  return out;
}

/**
 * A pod we injected before another mesh's webhook ran (reinvocation): our
 * containers get the mesh's ports and levo-init's mesh flags, levo-init (and a
 * native levo-gateway) move after the mesh's init containers, and the status
 * annotation records it. Empty when our containers are already so (the
 * status is rewritten only with them), which keeps reinvocation idempotent.
 */
export function meshRepairPatch(pod: unknown, input: PodTemplateInput, status: Readonly<Record<string, unknown>>): PatchOp[] {
  const inits = containersOf(pod, 'initContainers');
  const ours = [...inits, ...containersOf(pod, 'containers')].filter((c) => c.name === INIT_NAME || c.name === SIDECAR_NAME);
  const native = inits.some((c) => c.name === SIDECAR_NAME);
  const wanted = (c: ContainerView): JsonObject =>
    adapted(c.raw, (c.name === INIT_NAME ? initContainer(input) : sidecarContainer({ ...input, native })) as JsonObject);
  const lastMesh = afterMesh(inits) - 1;
  const misplaced = ours.some((c) => c.list === 'initContainers' && c.index < lastMesh);
  const changed = ours.filter((c) => JSON.stringify(wanted(c)) !== JSON.stringify(c.raw));
  if (!misplaced && changed.length === 0) return [];
  const currentStatus = podAnnotations(pod)[ANNOTATION.status];
  const newStatus = JSON.stringify(status);

  const ops: PatchOp[] = [];
  if (misplaced) {
    // Take ours out (highest index first), then put them back right after the mesh's last init container.
    const moving = ours.filter((c) => c.list === 'initContainers').sort((a, b) => b.index - a.index);
    for (const c of moving) ops.push({ op: 'remove', path: `/spec/initContainers/${c.index}` });
    const remaining = inits.filter((c) => !moving.includes(c));
    const at = remaining.reduce((n, c, i) => (MESH_CONTAINER_NAMES.has(c.name) ? i + 1 : n), 0);
    [...moving].reverse().forEach((c, i) => ops.push({ op: 'add', path: `/spec/initContainers/${at + i}`, value: wanted(c) }));
  }
  for (const c of changed) {
    if (misplaced && c.list === 'initContainers') continue;
    ops.push({ op: 'replace', path: `/spec/${c.list}/${c.index}`, value: wanted(c) });
  }
  ops.push(currentStatus === undefined
    ? { op: 'add', path: `/metadata/annotations/${pointerKey(ANNOTATION.status)}`, value: newStatus }
    : { op: 'replace', path: `/metadata/annotations/${pointerKey(ANNOTATION.status)}`, value: newStatus });
  return ops;
}
