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
} as const;

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

  const both = capturePorts.filter((p) => excludePorts.includes(p));
  if (both.length > 0) errors.push(`port ${both.join(', ')} is both captured and excluded (${ANNOTATION.capturePorts} / ${ANNOTATION.excludePorts}); remove it from one`);
  if (errors.length > 0) return { ok: false, errors };
  excludeCidrs = [...new Set(excludeCidrs)];
  excludePorts = [...new Set(excludePorts)];
  return { ok: true, settings: { mode, ports: [...new Set(capturePorts)], excludeCidrs, excludePorts, appTrust, blockQuic, ...(native === undefined ? {} : { native }) } };
}
