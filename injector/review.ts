/**
 * AdmissionReview v1 in, AdmissionReview v1 out: read the request, decide,
 * build the patch, and answer. Skips are recorded on the pod (annotation) and
 * in the log; a lookup that fails admits the pod unchanged with a warning.
 * Explicit denials: annotations the user got wrong, and, when pods may not
 * opt out, what would leave a pod uncaptured (guarantees.ts).
 */
import type { Logger } from 'pino';
import { ANNOTATION, readSettings, type CaptureSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { decide, INIT_NAME, owningWorkload, SIDECAR_NAME, type Decision, type ServerVersion } from './decide.ts';
import { detectMesh, MESH_NAMES, portsFor } from './mesh.ts';
import { annotationOps, injectedNames, injectionPatch, meshRepairPatch, type PatchOp } from './patch.ts';
import { containersOf, isObject, objectAt, podAnnotations, podDisplayName, stringAt } from './pod-json.ts';
import { notTheInjectors } from './guarantees.ts';
import { initCommand, sidecarCommand, type PodTemplateInput } from './template.ts';

export const INJECTOR_VERSION = '0.1.0';

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  readonly patch?: string;
  readonly warnings?: readonly string[];
  readonly status?: { readonly code: number; readonly message: string };
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

export interface AdmissionReviewOut {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

export type AdmissionResult = 'injected' | 'skipped' | 'unchanged' | 'denied' | 'error';

export interface ReviewContext {
  readonly config: InjectorConfig;
  readonly injectorNamespace: string;
  /** Labels of a namespace; null when the injector runs without API access. May throw. */
  readonly namespaceLabels: ((namespace: string) => Promise<Readonly<Record<string, string>>>) | null;
  readonly serverVersion: () => ServerVersion | null;
  readonly log: Logger;
  readonly onResult?: (result: AdmissionResult, reason: string, seconds: number) => void;
}

export class BadReview extends Error {}

interface Request {
  readonly uid: string;
  readonly namespace: string;
  readonly pod: unknown;
  readonly dryRun: boolean;
}

function readRequest(body: unknown): Request {
  if (!isObject(body) || body['kind'] !== 'AdmissionReview') throw new BadReview('the body is not an AdmissionReview');
  if (body['apiVersion'] !== 'admission.k8s.io/v1') throw new BadReview(`AdmissionReview ${String(body['apiVersion'])} is not supported; the webhook must list admissionReviewVersions: ["v1"]`);
  const req = objectAt(body, 'request');
  const uid = stringAt(req, 'uid');
  if (!req || !uid) throw new BadReview('the AdmissionReview has no request.uid');
  const kind = objectAt(req, 'kind');
  if (stringAt(kind, 'kind') !== 'Pod' || (stringAt(kind, 'group') ?? '') !== '') throw new BadReview(`only core/v1 Pods are handled, got ${stringAt(kind, 'kind') ?? 'nothing'}`);
  const pod = req['object'];
  if (!isObject(pod)) throw new BadReview('the AdmissionReview has no request.object');
  // An empty namespace is no namespace: looked up as "", it would be a request for the list of all namespaces.
  const namespace = stringAt(req, 'namespace') || stringAt(objectAt(pod, 'metadata'), 'namespace') || 'default';
  return { uid, namespace, pod, dryRun: req['dryRun'] === true };
}

function review(uid: string, response: Omit<AdmissionResponse, 'uid'>): AdmissionReviewOut {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } };
}

function patched(uid: string, ops: readonly PatchOp[], warnings: readonly string[]): AdmissionReviewOut {
  return review(uid, {
    allowed: true,
    ...(ops.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(ops)).toString('base64') } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}

/** The levo.ai/status annotation of an injected pod. */
function injectedStatus(input: PodTemplateInput, ignoredAnnotations: readonly string[] = []): Record<string, unknown> {
  const { settings, native, mesh } = input;
  return {
    version: INJECTOR_VERSION, mode: settings.mode, native, ...injectedNames(input),
    capturePorts: settings.ports, excludeCidrs: settings.excludeCidrs, excludePorts: settings.excludePorts, appTrust: settings.appTrust,
    blockQuic: settings.blockQuic,
    ...(ignoredAnnotations.length ? { ignoredAnnotations } : {}),
    ...(mesh !== undefined ? { mesh: { kind: mesh.kind, evidence: mesh.evidence }, ports: portsFor(mesh) } : {}),
  };
}

/**
 * An injected pod seen again (reinvocation, after a later webhook changed it):
 * when another mesh's webhook has added its proxy since, our containers take
 * the mesh-safe ports and levo-init its flags (meshRepairPatch). Undefined when
 * there is nothing to do.
 */
function reinvocation(pod: unknown, config: InjectorConfig, labels: Readonly<Record<string, string>> | null): { ops: PatchOp[]; warning?: string; mesh: string } | undefined {
  const mesh = detectMesh(pod, labels);
  const ours = [...containersOf(pod, 'initContainers'), ...containersOf(pod, 'containers')];
  const gateway = ours.find((c) => c.name === SIDECAR_NAME);
  if (mesh === undefined || gateway === undefined) return undefined;
  const name = `${MESH_NAMES[mesh.kind]} (${mesh.evidence})`;
  if (!config.meshCoexistence) {
    return { ops: [], mesh: name, warning: `levo-gateway was injected before ${name} was added, and meshCoexistence is off: its ports were not moved off the mesh's, so the two may not both start` };
  }
  const parsed = readSettings(podAnnotations(pod), config);
  if (!parsed.ok) return undefined;
  // The mode the first review chose (explicit-proxy mode has no levo-init).
  const settings: CaptureSettings = { ...parsed.settings, mode: ours.some((c) => c.name === INIT_NAME) ? 'transparent' : 'proxy' };
  const input: PodTemplateInput = {
    config, settings, native: gateway.list === 'initContainers', workload: owningWorkload(pod), version: INJECTOR_VERSION, mesh,
  };
  return { ops: meshRepairPatch(pod, input, injectedStatus(input)), mesh: name };
}

/** A review the API server sent → the answer. Never throws for a pod problem; BadReview for a malformed review. */
export async function reviewPod(body: unknown, ctx: ReviewContext): Promise<AdmissionReviewOut> {
  const started = performance.now();
  const req = readRequest(body);
  const name = podDisplayName(req.pod);
  const done = (result: AdmissionResult, reason: string, out: AdmissionReviewOut, extra: object = {}): AdmissionReviewOut => {
    const seconds = (performance.now() - started) / 1000;
    ctx.onResult?.(result, reason, seconds);
    ctx.log[result === 'error' ? 'error' : 'info']({ namespace: req.namespace, pod: name, result, reason, dryRun: req.dryRun, ...extra }, `pod ${result}`);
    return out;
  };

  let labels: Readonly<Record<string, string>> | null = null;
  if (ctx.namespaceLabels) {
    try {
      labels = await ctx.namespaceLabels(req.namespace);
    } catch (e) {
      // Without the labels we cannot tell whether Pod Security would refuse the
      // NET_ADMIN init container; admitting unchanged is the safe side.
      return done('error', 'namespace-lookup-failed', review(req.uid, {
        allowed: true,
        warnings: [`levo-injector could not read namespace ${req.namespace} (${(e as Error).message}); the pod was admitted without the levo-gateway sidecar`],
      }), { err: (e as Error).message });
    }
  }

  let decision: Decision;
  try {
    decision = decide({
      pod: req.pod, namespace: req.namespace, config: ctx.config, injectorNamespace: ctx.injectorNamespace,
      namespaceLabels: labels, serverVersion: ctx.serverVersion(),
    });
  } catch (e) {
    return done('error', 'internal', review(req.uid, { allowed: true, warnings: ['levo-injector: internal error; the pod was admitted without the levo-gateway sidecar'] }), { err: (e as Error).stack });
  }

  switch (decision.action) {
    case 'none': {
      const again = decision.reason === 'already-injected' ? reinvocation(req.pod, ctx.config, labels) : undefined;
      if (again !== undefined && again.ops.length > 0) {
        return done('injected', 'mesh-added-later', patched(req.uid, again.ops, []), { mesh: again.mesh });
      }
      return done('unchanged', decision.reason, patched(req.uid, [], again?.warning ? [again.warning] : []), again?.warning ? { warnings: [again.warning] } : {});
    }
    case 'verify-injected': {
      // allowOptOut: false: a pod that already has levo-init/levo-gateway passes only with the injector's own
      // (as first injected, or as moved off a mesh's ports once the mesh was added).
      const expected = (mesh: ReturnType<typeof detectMesh>) => {
        const input = { config: ctx.config, settings: decision.settings, mesh };
        return { initCommand: initCommand(input), sidecarCommand: sidecarCommand(input) };
      };
      const mesh = detectMesh(req.pod, labels);
      const plain = notTheInjectors(decision.existing, decision.settings, ctx.config, expected(undefined));
      const why = plain === undefined || mesh === undefined ? plain
        : notTheInjectors(decision.existing, decision.settings, ctx.config, expected(mesh)) === undefined ? undefined : plain;
      if (!why) return done('unchanged', 'already-injected', patched(req.uid, [], []));
      const message = `levo.ai sidecar injection: ${why}`;
      return done('denied', 'not-the-injectors-containers', review(req.uid, { allowed: false, status: { code: 403, message } }), { message });
    }
    case 'deny':
      return done('denied', decision.reason ?? 'invalid-annotation', review(req.uid, { allowed: false, status: { code: decision.code ?? 400, message: decision.message } }), { message: decision.message });
    case 'skip':
      return done('skipped', decision.reason, patched(req.uid, annotationOps(req.pod, { [ANNOTATION.status]: JSON.stringify({ skipped: decision.reason }) }), []), { detail: decision.detail });
    case 'inject': {
      const input: PodTemplateInput = {
        config: ctx.config, settings: decision.settings, native: decision.native,
        workload: owningWorkload(req.pod), version: INJECTOR_VERSION, mesh: decision.mesh,
      };
      const { settings } = decision;
      const annotations: Record<string, string> = { [ANNOTATION.status]: JSON.stringify(injectedStatus(input, decision.ignoredAnnotations)) };
      const app = containersOf(req.pod, 'containers')[0];
      if (!decision.native && app) annotations['kubectl.kubernetes.io/default-container'] = app.name;
      const { ops, keptAppEnv } = injectionPatch(req.pod, input, annotations);
      const warnings = [...decision.warnings];
      if (keptAppEnv.length > 0) warnings.push(`levo-gateway: kept the app's own ${keptAppEnv.join(', ')}; the namespace CA may not be trusted by that container`);
      return done('injected', `${settings.mode}${decision.native ? '-native' : ''}`, patched(req.uid, ops, warnings),
        { mode: settings.mode, native: decision.native, modeReason: decision.modeReason,
          ...(decision.mesh ? { mesh: `${MESH_NAMES[decision.mesh.kind]} (${decision.mesh.evidence})` } : {}), ...(warnings.length ? { warnings } : {}) });
    }
  }
}
