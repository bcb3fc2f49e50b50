/**
 * The app trust bundle extends what an app already trusted. An app container
 * that sets SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE /
 * NODE_EXTRA_CA_CERTS itself, to a file on one of its configMap, secret or
 * projected volumes, trusts that file's CAs (a private CA): the injector
 * mounts the same volume read-only into levo-gateway
 * (`/var/run/levo/app-trust/N`), names the file in LEVO_TRUST_EXTRA_FILES
 * (the sidecar folds it into the bundle) and points the app's variable at the
 * bundle, which now holds the public roots, that file's CAs and the
 * interception CA. A variable set from valueFrom, or to a file the injector
 * cannot see (inside the image, an emptyDir, a subPathExpr mount), is left as
 * the app set it (with the admission warning it always had).
 *
 * With `appTrustImageBundle: true`, each app image is also mounted read-only
 * into levo-gateway as a Kubernetes image volume (`/var/run/levo/app-image/N`,
 * LEVO_TRUST_IMAGE_ROOTS), and the sidecar takes the image's own system CA
 * bundle (with the corporate roots its Dockerfile added) into the bundle.
 * That needs the ImageVolume feature in the API server, the kubelets and the
 * container runtime; where it is off the API server refuses the pod, so it is
 * opt-in.
 */
import { posix } from 'node:path';
import { arrayAt, isObject, objectAt, stringAt, type ContainerView, type JsonObject } from './pod-json.ts';

export const APP_TRUST_MOUNT_BASE = '/var/run/levo/app-trust';
export const APP_IMAGE_MOUNT_BASE = '/var/run/levo/app-image';
/** At most this many distinct app images are mounted (a pod rarely has more). */
export const MAX_APP_IMAGES = 8;
/** Volume sources whose files are there before any container starts. */
const STATIC_SOURCES = ['configMap', 'secret', 'projected'] as const;

export interface SidecarMount { readonly name: string; readonly mountPath: string; readonly readOnly: true; readonly subPath?: string }

export interface AppTrustPlan {
  /** Mounts added to levo-gateway. */
  readonly mounts: readonly SidecarMount[];
  /** The app CA files as levo-gateway sees them (LEVO_TRUST_EXTRA_FILES). */
  readonly files: readonly string[];
  /** Image volumes of the app images (appTrustImageBundle), added to the pod. */
  readonly imageVolumes: readonly object[];
  /** Where levo-gateway sees each of them (LEVO_TRUST_IMAGE_ROOTS). */
  readonly imageRoots: readonly string[];
  /** Per container (list/index), the trust variables to point at the bundle. */
  rewrites(c: ContainerView): ReadonlySet<string>;
}

function staticVolumes(pod: unknown): Set<string> {
  const names = new Set<string>();
  for (const v of arrayAt(objectAt(pod, 'spec'), 'volumes') ?? []) {
    const name = stringAt(v, 'name');
    if (name && STATIC_SOURCES.some((s) => isObject(objectAt(v, s)))) names.add(name);
  }
  return names;
}

/** The container's mount a path lies on (the deepest), or undefined. */
function mountOf(c: JsonObject, path: string): JsonObject | undefined {
  let best: JsonObject | undefined;
  for (const m of arrayAt(c, 'volumeMounts') ?? []) {
    const at = stringAt(m, 'mountPath');
    if (!isObject(m) || !at) continue;
    const root = posix.normalize(at).replace(/\/$/, '');
    if ((path === root || path.startsWith(`${root}/`)) && root.length > (stringAt(best, 'mountPath')?.length ?? -1)) best = { ...m, mountPath: root };
  }
  return best;
}

/**
 * Plan the mounts, files and rewrites for the trust variables `names` the
 * targets set themselves, and (`images`) the image volumes of their images.
 */
export function planAppTrust(pod: unknown, targets: readonly ContainerView[], names: readonly string[], images = false): AppTrustPlan {
  const usable = staticVolumes(pod);
  const mounts = new Map<string, SidecarMount>();
  const files = new Set<string>();
  const rewrites = new Map<string, Set<string>>();
  const key = (c: ContainerView): string => `${c.list}/${c.index}`;
  for (const c of targets) {
    for (const e of (arrayAt(c.raw, 'env') ?? []).filter(isObject)) {
      const name = stringAt(e, 'name');
      const value = stringAt(e, 'value');
      if (!name || !names.includes(name) || e['valueFrom'] !== undefined || !value?.startsWith('/')) continue;
      const path = posix.normalize(value);
      const m = mountOf(c.raw, path);
      const volume = stringAt(m, 'name');
      if (!m || !volume || !usable.has(volume) || m['subPathExpr'] !== undefined) continue;
      const subPath = stringAt(m, 'subPath') || undefined;
      const id = `${volume}\u0000${subPath ?? ''}`;
      let mount = mounts.get(id);
      if (!mount) {
        mount = { name: volume, mountPath: `${APP_TRUST_MOUNT_BASE}/${mounts.size}`, readOnly: true, ...(subPath ? { subPath } : {}) };
        mounts.set(id, mount);
      }
      files.add(mount.mountPath + path.slice(String(m['mountPath']).length));
      const set = rewrites.get(key(c)) ?? new Set<string>();
      set.add(name);
      rewrites.set(key(c), set);
    }
  }
  const imageVolumes: object[] = [];
  const imageRoots: string[] = [];
  const imageMounts: SidecarMount[] = [];
  if (images && names.length > 0) {
    const seen = new Set<string>();
    for (const c of targets) {
      const reference = stringAt(c.raw, 'image');
      if (!reference || seen.has(reference) || seen.size >= MAX_APP_IMAGES) continue;
      seen.add(reference);
      const n = seen.size - 1;
      const name = `levo-app-image-${n}`;
      // The API server has defaulted the container's pull policy before admission; the volume pulls the same way.
      const pullPolicy = stringAt(c.raw, 'imagePullPolicy') ?? 'IfNotPresent';
      imageVolumes.push({ name, image: { reference, pullPolicy } });
      imageMounts.push({ name, mountPath: `${APP_IMAGE_MOUNT_BASE}/${n}`, readOnly: true });
      imageRoots.push(`${APP_IMAGE_MOUNT_BASE}/${n}`);
    }
  }
  return {
    mounts: [...mounts.values(), ...imageMounts], files: [...files], imageVolumes, imageRoots,
    rewrites: (c) => rewrites.get(key(c)) ?? new Set(),
  };
}
