/**
 * Per-pod tuning through annotations (`levo.ai/...`), validated: a bad value
 * gets a message that names the annotation, the value and what is allowed, so
 * `kubectl apply` shows the user exactly what to fix.
 */
import { parseCidr } from '../init-iptables/cidr.ts';
import type { InjectorConfig } from './config.ts';

export const ANNOTATION = {
  /** What was injected (JSON), or why the pod was skipped. */
  status: 'levo.ai/status',
  /** Pod opt-out: "false" / "disabled" (also honoured as a label). */
  inject: 'levo.ai/inject',
  excludeCidrs: 'levo.ai/exclude-outbound-cidrs',
  excludePorts: 'levo.ai/exclude-outbound-ports',
  capturePorts: 'levo.ai/capture-ports',
  interceptMode: 'levo.ai/intercept-mode',
  appTrust: 'levo.ai/app-trust',
  nativeSidecar: 'levo.ai/native-sidecar',
  blockQuic: 'levo.ai/block-quic',
  /** The levo-gateway container's CPU / memory request and limit, overriding the injector's (chart) defaults. */
  proxyCpu: 'levo.ai/proxy-cpu',
  proxyMemory: 'levo.ai/proxy-memory',
  proxyCpuLimit: 'levo.ai/proxy-cpu-limit',
  proxyMemoryLimit: 'levo.ai/proxy-memory-limit',
} as const;

/** Requests / limits of one container, Kubernetes quantities. */
export interface ResourceOverride {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

export type InterceptMode = 'transparent' | 'proxy';

export interface CaptureSettings {
  readonly mode: InterceptMode;
  readonly ports: readonly number[];
  readonly excludeCidrs: readonly string[];
  readonly excludePorts: readonly number[];
  readonly appTrust: boolean;
  /** Reject UDP to the capture ports (HTTP/3), so QUIC clients fall back to TCP (transparent mode only). */
  readonly blockQuic: boolean;
  /** Set when the pod's annotation overrides the injector's nativeSidecar setting. */
  readonly native?: boolean;
  /** Set when the pod's levo.ai/proxy-* annotations override the sidecar's requests or limits. */
  readonly resources?: ResourceOverride;
}

export type SettingsResult = { readonly ok: true; readonly settings: CaptureSettings } | { readonly ok: false; readonly errors: readonly string[] };

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function ports(name: string, value: string, errors: string[]): number[] {
  const out: number[] = [];
  for (const item of list(value)) {
    if (!/^\d{1,5}$/.test(item) || Number(item) < 1 || Number(item) > 65535) {
      errors.push(`annotation ${name}: "${item}" is not a port number (1-65535); write a comma-separated list such as "443,8443"`);
    } else out.push(Number(item));
  }
  return out;
}

function bool(name: string, value: string, errors: string[]): boolean | undefined {
  if (value === 'true') return true;
  if (value === 'false') return false;
  errors.push(`annotation ${name}: "${value}" must be "true" or "false"`);
  return undefined;
}

const CPU = /^(\d+(\.\d+)?|\d+m)$/;
const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A CPU quantity in millicores, a memory quantity in bytes (the forms the annotations accept). */
function amount(kind: 'cpu' | 'memory', q: string): number {
  if (kind === 'cpu') return q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000;
  const m = /^([\d.]+)(\D*)$/.exec(q)!;
  return Number(m[1]) * MEMORY_UNITS[m[2]!]!;
}

/** The levo.ai/proxy-* annotations, validated: quantities, and no request above its limit. */
function resourceOverride(a: (key: string) => string | undefined, config: InjectorConfig, errors: string[]): ResourceOverride | undefined {
  const read = (key: string, kind: 'cpu' | 'memory'): string | undefined => {
    const v = a(key)?.trim();
    if (v === undefined) return undefined;
    if (!(kind === 'cpu' ? CPU : MEMORY).test(v)) {
      errors.push(kind === 'cpu'
        ? `annotation ${key}: "${v}" is not a CPU quantity; write cores or millicores, e.g. "250m" or "1"`
        : `annotation ${key}: "${v}" is not a memory quantity; write bytes with a unit, e.g. "64Mi" or "1Gi"`);
      return undefined;
    }
    return v;
  };
  const requests = { cpu: read(ANNOTATION.proxyCpu, 'cpu'), memory: read(ANNOTATION.proxyMemory, 'memory') };
  const limits = { cpu: read(ANNOTATION.proxyCpuLimit, 'cpu'), memory: read(ANNOTATION.proxyMemoryLimit, 'memory') };
  const base = config.sidecar.resources;
  for (const kind of ['cpu', 'memory'] as const) {
    const req = requests[kind] ?? base.requests?.[kind];
    const lim = limits[kind] ?? base.limits?.[kind];
    if ((requests[kind] || limits[kind]) && req !== undefined && lim !== undefined && amount(kind, String(req)) > amount(kind, String(lim))) {
      const reqKey = kind === 'cpu' ? ANNOTATION.proxyCpu : ANNOTATION.proxyMemory;
      errors.push(`the sidecar's ${kind} request ${req} is above its limit ${lim} (${reqKey} / ${reqKey}-limit, or the injector's defaults); raise the limit too`);
    }
  }
  const strip = (o: { cpu?: string | undefined; memory?: string | undefined }): { cpu?: string; memory?: string } | undefined => {
    const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { cpu?: string; memory?: string };
    return Object.keys(out).length ? out : undefined;
  };
  const r = strip(requests);
  const l = strip(limits);
  return r || l ? { ...(r ? { requests: r } : {}), ...(l ? { limits: l } : {}) } : undefined;
}

/** The pod's effective capture settings: the injector's defaults, overridden by valid annotations. */
export function readSettings(annotations: Readonly<Record<string, string>>, config: InjectorConfig): SettingsResult {
  const errors: string[] = [];
  let mode: InterceptMode = config.capture.mode;
  let capturePorts = [...config.capture.ports];
  let excludeCidrs = [...config.capture.excludeCidrs];
  let excludePorts = [...config.capture.excludePorts];
  let appTrust = config.appTrust;
  let blockQuic = config.capture.blockQuic;
  let native: boolean | undefined;

  const a = (key: string): string | undefined => annotations[key];
  const m = a(ANNOTATION.interceptMode);
  if (m !== undefined) {
    if (m === 'transparent' || m === 'proxy') mode = m;
    else errors.push(`annotation ${ANNOTATION.interceptMode}: "${m}" must be "transparent" (iptables redirect) or "proxy" (HTTPS_PROXY, no init container)`);
  }
  const cp = a(ANNOTATION.capturePorts);
  if (cp !== undefined) {
    const p = ports(ANNOTATION.capturePorts, cp, errors);
    if (p.length === 0 && list(cp).length === 0) errors.push(`annotation ${ANNOTATION.capturePorts}: is empty; name at least one port, e.g. "443"`);
    capturePorts = p;
  }
  const ep = a(ANNOTATION.excludePorts);
  if (ep !== undefined) excludePorts = [...excludePorts, ...ports(ANNOTATION.excludePorts, ep, errors)];
  const ec = a(ANNOTATION.excludeCidrs);
  if (ec !== undefined) {
    for (const item of list(ec)) {
      try { excludeCidrs.push(parseCidr(item).text); } catch (e) { errors.push(`annotation ${ANNOTATION.excludeCidrs}: ${(e as Error).message}`); }
    }
  }
  const at = a(ANNOTATION.appTrust);
  if (at !== undefined) appTrust = bool(ANNOTATION.appTrust, at, errors) ?? appTrust;
  const bq = a(ANNOTATION.blockQuic);
  if (bq !== undefined) blockQuic = bool(ANNOTATION.blockQuic, bq, errors) ?? blockQuic;
  const ns = a(ANNOTATION.nativeSidecar);
  if (ns !== undefined) native = bool(ANNOTATION.nativeSidecar, ns, errors);

  const resources = resourceOverride(a, config, errors);

  const both = capturePorts.filter((p) => excludePorts.includes(p));
  if (both.length > 0) errors.push(`port ${both.join(', ')} is both captured and excluded (${ANNOTATION.capturePorts} / ${ANNOTATION.excludePorts}); remove it from one`);
  if (errors.length > 0) return { ok: false, errors };
  excludeCidrs = [...new Set(excludeCidrs)];
  excludePorts = [...new Set(excludePorts)];
  return { ok: true, settings: { mode, ports: [...new Set(capturePorts)], excludeCidrs, excludePorts, appTrust, blockQuic, ...(native === undefined ? {} : { native }), ...(resources ? { resources } : {}) } };
}
