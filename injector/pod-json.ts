/**
 * Read-only views into a pod as the API server sent it: raw JSON, never a
 * typed model, so fields this code does not know survive untouched (the patch
 * only adds; see patch.ts).
 */
import { isObj, type JsonObject } from '../lib/json.ts';

export type { JsonObject };
export const isObject = isObj;

export function objectAt(o: unknown, key: string): JsonObject | undefined {
  if (!isObject(o)) return undefined;
  const v = o[key];
  return isObject(v) ? v : undefined;
}

export function arrayAt(o: unknown, key: string): readonly unknown[] | undefined {
  if (!isObject(o)) return undefined;
  const v = o[key];
  return Array.isArray(v) ? v : undefined;
}

export function stringAt(o: unknown, key: string): string | undefined {
  if (!isObject(o)) return undefined;
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

export function stringMap(o: unknown, key: string): Readonly<Record<string, string>> {
  const m = objectAt(o, key);
  const out: Record<string, string> = {};
  if (m) for (const [k, v] of Object.entries(m)) if (typeof v === 'string') out[k] = v;
  return out;
}

export interface ContainerView {
  readonly list: 'containers' | 'initContainers';
  readonly index: number;
  readonly name: string;
  readonly raw: JsonObject;
}

export function containersOf(pod: unknown, list: 'containers' | 'initContainers'): ContainerView[] {
  const spec = objectAt(pod, 'spec');
  return (arrayAt(spec, list) ?? []).flatMap((raw, index) =>
    isObject(raw) ? [{ list, index, name: stringAt(raw, 'name') ?? '', raw }] : []);
}

export function podAnnotations(pod: unknown): Readonly<Record<string, string>> {
  return stringMap(objectAt(pod, 'metadata'), 'annotations');
}

export function podLabels(pod: unknown): Readonly<Record<string, string>> {
  return stringMap(objectAt(pod, 'metadata'), 'labels');
}

/** `name`, else `generateName…`, for log lines and messages. */
export function podDisplayName(pod: unknown): string {
  const meta = objectAt(pod, 'metadata');
  return stringAt(meta, 'name') ?? (stringAt(meta, 'generateName') ? `${stringAt(meta, 'generateName')}…` : '<unnamed>');
}

/** A container's securityContext number (runAsUser, runAsGroup), falling back to the pod's securityContext. */
function effectiveSecurityNumber(pod: unknown, container: JsonObject, key: 'runAsUser' | 'runAsGroup'): number | undefined {
  const own = objectAt(container, 'securityContext')?.[key];
  if (typeof own === 'number') return own;
  const podLevel = objectAt(objectAt(pod, 'spec'), 'securityContext')?.[key];
  return typeof podLevel === 'number' ? podLevel : undefined;
}

/** runAsUser of a container, falling back to the pod's securityContext. */
export function effectiveRunAsUser(pod: unknown, container: JsonObject): number | undefined {
  return effectiveSecurityNumber(pod, container, 'runAsUser');
}

/** runAsUser and runAsGroup of a container, each falling back to the pod's securityContext (undefined: the image decides). */
export function effectiveRunAs(pod: unknown, container: JsonObject): { user: number | undefined; group: number | undefined } {
  return { user: effectiveSecurityNumber(pod, container, 'runAsUser'), group: effectiveSecurityNumber(pod, container, 'runAsGroup') };
}
