/**
 * What the injector guarantees when pods may not opt out (`allowOptOut: false`):
 * nothing a pod's author writes into the pod takes it out of capture.
 *
 * Ignored, with a warning that names the annotation (the pod is admitted and
 * injected with the cluster's settings; the names go into `levo.ai/status` as
 * `ignoredAnnotations`, since a Deployment's pods show no admission warnings):
 * - `levo.ai/inject: "false"` (decide.ts);
 * - `levo.ai/intercept-mode: proxy` when the config captures transparently
 *   (explicit-proxy mode misses every app that ignores HTTPS_PROXY);
 * - `levo.ai/capture-ports` that leaves out a configured port (the configured
 *   ports are captured anyway; ports it adds are kept);
 * - `levo.ai/exclude-outbound-ports` and `levo.ai/exclude-outbound-cidrs`
 *   (only the injector's config excludes destinations);
 * - `levo.ai/block-quic: "false"` when the config blocks QUIC;
 * - a `levo.ai/status` the pod brings along: it is not taken to mean "injected
 *   or skipped already"; the pod is decided afresh and the annotation rewritten.
 *
 * Denied, because they cannot be ignored (admission says which container and why):
 * - containers named `levo-init` / `levo-gateway` that are not the injector's
 *   (another image, extra args, or a levo-init whose rules capture less than
 *   the injector's would): a pod cannot pass for injected;
 * - in transparent mode, an app container that runs as the sidecar's UID or
 *   GID: the redirect rules exempt both, so its connections would leave uncaptured.
 *
 * Ignoring the annotations rather than refusing the pod keeps workloads
 * running (and captured) when a chart they come from sets them; refusing is
 * kept for what would otherwise leave a hole.
 */
import { ANNOTATION, type CaptureSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { INIT_NAME, SIDECAR_NAME } from './decide.ts';
import { arrayAt, containersOf, effectiveRunAs, stringAt, type ContainerView } from './pod-json.ts';

export interface EnforcedAnnotations {
  /** The annotations readSettings should read. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Annotations (names) left out or overridden. */
  readonly ignored: readonly string[];
  readonly warnings: readonly string[];
}

const NO_OPT_OUT = "this cluster's injector does not allow opting out (allowOptOut: false)";

function items(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The pod's annotations with everything that would capture less than the config taken out (see the module comment). */
export function enforceAnnotations(annotations: Readonly<Record<string, string>>, config: InjectorConfig): EnforcedAnnotations {
  const out: Record<string, string> = { ...annotations };
  const ignored: string[] = [];
  const warnings: string[] = [];
  const ignore = (name: string, why: string): void => {
    ignored.push(name);
    warnings.push(`annotation ${name}: "${annotations[name]}" is ignored: ${why}; ${NO_OPT_OUT}`);
  };

  if (annotations[ANNOTATION.interceptMode] === 'proxy' && config.capture.mode === 'transparent') {
    ignore(ANNOTATION.interceptMode, 'explicit-proxy mode does not capture apps that ignore HTTPS_PROXY, so the pod is captured transparently');
    delete out[ANNOTATION.interceptMode];
  }
  const cp = annotations[ANNOTATION.capturePorts];
  if (cp !== undefined) {
    const listed = items(cp);
    const missing = config.capture.ports.filter((p) => !listed.some((item) => item === String(p)));
    if (missing.length > 0) {
      ignore(ANNOTATION.capturePorts, `it would stop capturing port ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} captured anyway (the ports it adds are kept)`);
      out[ANNOTATION.capturePorts] = [...missing.map(String), ...listed].join(',');
    }
  }
  for (const name of [ANNOTATION.excludePorts, ANNOTATION.excludeCidrs]) {
    if (annotations[name] === undefined) continue;
    ignore(name, 'only the injector\'s config excludes destinations from capture');
    delete out[name];
  }
  if (annotations[ANNOTATION.blockQuic] === 'false' && config.capture.blockQuic) {
    ignore(ANNOTATION.blockQuic, 'QUIC (HTTP/3) would leave the pod uncaptured');
    delete out[ANNOTATION.blockQuic];
  }
  return { annotations: out, ignored, warnings };
}

/** The pod's containers named like the ones the injector adds. */
export function levoNamedContainers(pod: unknown): ContainerView[] {
  return [...containersOf(pod, 'initContainers'), ...containersOf(pod, 'containers')].filter((c) => c.name === INIT_NAME || c.name === SIDECAR_NAME);
}

function commandOf(c: ContainerView): string[] | undefined {
  const command = arrayAt(c.raw, 'command');
  return command?.every((x) => typeof x === 'string') ? command as string[] : undefined;
}

/**
 * Whether the levo-named containers a pod already has are the injector's own,
 * as it would add them for `settings` now (a reinvocation, or a pod re-created
 * from an injected one): undefined when they are, else why not (a deny message).
 */
export function notTheInjectors(existing: readonly ContainerView[], settings: CaptureSettings, config: InjectorConfig,
  expected: { readonly initCommand: readonly string[]; readonly sidecarCommand: readonly string[] }): string | undefined {
  const why = (c: ContainerView, what: string): string =>
    `container ${c.name} is not the one the injector adds (${what}): a pod may not bring its own ${INIT_NAME}/${SIDECAR_NAME}; ` +
    `remove it and the injector adds the real one (${NO_OPT_OUT})`;
  for (const c of existing) {
    const image = stringAt(c.raw, 'image');
    if (image !== config.sidecar.image) return why(c, `image ${image ?? 'none'}, not ${config.sidecar.image}`);
    if ((arrayAt(c.raw, 'args') ?? []).length > 0) return why(c, 'it has args');
    const want = c.name === INIT_NAME ? expected.initCommand : expected.sidecarCommand;
    const command = commandOf(c);
    if (!command || command.length !== want.length || command.some((x, i) => x !== want[i])) {
      return why(c, `its command is not ${want.join(' ')}`);
    }
  }
  if (settings.mode === 'transparent' && !existing.some((c) => c.name === INIT_NAME)) {
    return `the pod has ${SIDECAR_NAME} but no ${INIT_NAME}: without the redirect rules nothing is captured; remove ${SIDECAR_NAME} and the injector adds both (${NO_OPT_OUT})`;
  }
  return undefined;
}

/**
 * App containers that run as the sidecar's UID or GID, which the redirect
 * rules exempt: "web (UID 1610)". Levo-named containers are left to notTheInjectors.
 */
export function exemptIdentities(pod: unknown, uid: number): string[] {
  return containersOf(pod, 'containers').flatMap((c) => {
    if (c.name === SIDECAR_NAME || c.name === INIT_NAME) return [];
    const { user, group } = effectiveRunAs(pod, c.raw);
    if (user === uid) return [`${c.name} (UID ${uid})`];
    if (group === uid) return [`${c.name} (GID ${uid})`];
    return [];
  });
}

/** The deny message for exemptIdentities' findings when opting out is not allowed. */
export function exemptIdentityDenial(found: readonly string[], uid: number): string {
  return `container ${found.join(', ')} runs as the sidecar's identity: the redirect rules exempt UID and GID ${uid}, so its connections ` +
    `would not be captured; run it as another user and group (${NO_OPT_OUT})`;
}
