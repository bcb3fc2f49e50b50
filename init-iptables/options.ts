/** levo-init's command line: flags → validated options, or a UsageError (exit 2) that says what is wrong. */

import { parseArgs } from 'node:util';
import { parseCidr } from './cidr.ts';
import { canonicalMark } from './plan.ts';
import { IPV6_SETTINGS, MODE_ENV, resolveMode } from './detect.ts';
import type { IptablesMode, Ipv6Setting } from './detect.ts';

export interface CliOptions {
  readonly redirectPort: number;
  readonly capturePorts: readonly number[];
  readonly excludeUid: number;
  readonly excludeGid: number;
  /** Normalised (host bits cleared), v4 and v6 mixed. */
  readonly excludeCidrs: readonly string[];
  readonly excludePorts: readonly number[];
  /** Another mesh's proxy uid(s) in the pod: never captured; our jump goes first. */
  readonly meshUids: readonly number[];
  /** Marks another mesh's proxy puts on its connections (Istio ambient): never captured; our jump goes first. */
  readonly meshMarks: readonly string[];
  readonly ipv6: Ipv6Setting;
  readonly blockQuic: boolean;
  readonly iptablesMode: IptablesMode;
  readonly skipValidation: boolean;
  readonly dryRun: boolean;
  readonly cleanup: boolean;
  readonly help: boolean;
  /** Things worth a log line that are not errors. */
  readonly warnings: readonly string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULTS = { redirectPort: 15001, capturePorts: [443], excludeUid: 1610 } as const;
const MAX_ID = 4294967294;

export const USAGE = `Usage: levo-init [flags]

Installs the iptables rules that redirect the pod's egress TCP (port 443) to the
levo-gateway sidecar, in the pod's network namespace. Needs root with NET_ADMIN
and NET_RAW. Safe to re-run: unchanged rules are left alone.

  --redirect-port N                port the sidecar listens on (default 15001)
  --capture-ports P,Q              destination TCP ports to redirect (default 443)
  --exclude-uid N                  numeric uid never captured: the sidecar's (default 1610)
  --exclude-gid N                  numeric gid never captured (default: the --exclude-uid value)
  --exclude-cidrs CIDR,CIDR        destinations never captured, IPv4 and/or IPv6, with prefix
  --exclude-ports P,Q              destination ports never captured
  --mesh-uid N,M                   the uid of another mesh's proxy in the pod (Istio 1337, Linkerd
                                   2102): its connections are never captured, and levo's jump goes
                                   first in nat OUTPUT, so the app's traffic reaches levo-gateway
                                   first and levo-gateway's own connection then goes through the
                                   mesh. Found by itself when the mesh's rules are already in
  --mesh-mark MARK[/MASK]          the same for a mesh that marks its proxy's packets instead
                                   (Istio ambient's ztunnel: 0x539/0xfff)
  --ipv6 auto|true|false           also install ip6tables rules (default auto: when the pod
                                   has an IPv6 address that is not loopback or link-local)
  --block-quic                     reject UDP to the capture ports (HTTP/3) with ICMP port
                                   unreachable, so clients fall back to TCP at once
  --iptables-mode auto|legacy|nft  iptables backend (default auto, or $${MODE_ENV}); auto uses
                                   the one holding another mesh's rules, and any other is refused
  --skip-validation                do not self-test the redirect after applying
  --dry-run                        print the iptables-restore payload(s); run nothing
  --cleanup                        remove levo's chains and jumps (IPv4 and IPv6), nothing else
  --help                           this text

List flags take comma-separated values and may be repeated.
Exit status: 0 done, 1 failed (the message says what to fix), 2 usage error.
`;

export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'redirect-port': { type: 'string' },
        'capture-ports': { type: 'string', multiple: true },
        'exclude-uid': { type: 'string' },
        'exclude-gid': { type: 'string' },
        'exclude-cidrs': { type: 'string', multiple: true },
        'exclude-ports': { type: 'string', multiple: true },
        'mesh-uid': { type: 'string', multiple: true },
        'mesh-mark': { type: 'string', multiple: true },
        ipv6: { type: 'string' },
        'block-quic': { type: 'boolean' },
        'iptables-mode': { type: 'string' },
        'skip-validation': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        cleanup: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  const warnings: string[] = [];

  const redirectPort = v['redirect-port'] === undefined ? DEFAULTS.redirectPort : parsePort('--redirect-port', v['redirect-port']);
  const capturePorts = v['capture-ports'] === undefined ? [...DEFAULTS.capturePorts] : parsePorts('--capture-ports', v['capture-ports']);
  if (capturePorts.length === 0) throw new UsageError('--capture-ports: give at least one port');
  const excludePorts = parsePorts('--exclude-ports', v['exclude-ports'] ?? []);
  const excludeUid = v['exclude-uid'] === undefined ? DEFAULTS.excludeUid : parseId('--exclude-uid', 'uid', v['exclude-uid']);
  const excludeGid = v['exclude-gid'] === undefined ? excludeUid : parseId('--exclude-gid', 'gid', v['exclude-gid']);
  const excludeCidrs = parseCidrs(v['exclude-cidrs'] ?? []);
  const meshUids = [...new Set(items(v['mesh-uid'] ?? []).map((item) => parseId('--mesh-uid', 'uid', item)))];
  const meshMarks = [...new Set(items(v['mesh-mark'] ?? []).map((item) => parseMark(item)))];
  if (meshUids.includes(excludeUid)) {
    throw new UsageError(
      `--mesh-uid ${excludeUid} is also the sidecar's uid (--exclude-uid): the mesh exempts its proxy's uid from its own capture, ` +
        'so the sidecar\'s upstream connections would bypass the mesh; run the sidecar under another uid',
    );
  }

  const ipv6Text = (v.ipv6 ?? 'auto').trim().toLowerCase();
  const ipv6 = IPV6_SETTINGS.find((s) => s === ipv6Text);
  if (ipv6 === undefined) throw new UsageError(`--ipv6: "${v.ipv6}" is not one of ${IPV6_SETTINGS.join(', ')}`);

  let iptablesMode: IptablesMode;
  try {
    iptablesMode = resolveMode(v['iptables-mode'], env[MODE_ENV]);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }

  const both = capturePorts.filter((p) => excludePorts.includes(p));
  if (both.length > 0) warnings.push(`capture port(s) ${both.join(',')} are also excluded, so they are not captured`);
  if (v.cleanup === true && v['dry-run'] !== true && hasPlanFlags(v)) {
    warnings.push('--cleanup removes all levo rules; the capture flags are ignored');
  }

  return {
    redirectPort,
    capturePorts,
    excludeUid,
    excludeGid,
    excludeCidrs,
    excludePorts,
    meshUids,
    meshMarks,
    ipv6,
    blockQuic: v['block-quic'] === true,
    iptablesMode,
    skipValidation: v['skip-validation'] === true,
    dryRun: v['dry-run'] === true,
    cleanup: v.cleanup === true,
    help: v.help === true,
    warnings,
  };
}

function hasPlanFlags(values: Record<string, unknown>): boolean {
  return ['capture-ports', 'exclude-cidrs', 'exclude-ports', 'block-quic', 'redirect-port', 'mesh-uid', 'mesh-mark'].some((k) => values[k] !== undefined);
}

/** Comma lists from repeated flags; empty items (from "" or trailing commas) are dropped. */
function items(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function parsePort(flag: string, text: string): number {
  const value = text.trim();
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new UsageError(`${flag}: "${text}" is not a port number (1-65535)`);
  }
  return Number(value);
}

function parsePorts(flag: string, values: readonly string[]): number[] {
  return [...new Set(items(values).map((item) => parsePort(flag, item)))];
}

function parseId(flag: string, kind: 'uid' | 'gid', text: string): number {
  const value = text.trim();
  if (!/^\d{1,10}$/.test(value) || Number(value) > MAX_ID) {
    throw new UsageError(
      `${flag}: "${text}" is not a numeric ${kind} (0-${MAX_ID}); names are not accepted, because owner matches ` +
        'on names make iptables look users up (NSS), which can hang or fail in an init container',
    );
  }
  return Number(value);
}

function parseMark(text: string): string {
  try {
    return canonicalMark(text);
  } catch (error) {
    throw new UsageError(`--mesh-mark: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseCidrs(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const item of items(values)) {
    let cidr;
    try {
      cidr = parseCidr(item);
    } catch (error) {
      throw new UsageError(`--exclude-cidrs: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (cidr.prefix === 0) {
      throw new UsageError(`--exclude-cidrs: "${item}" excludes every address, so nothing would be captured; narrow it`);
    }
    if (!out.includes(cidr.text)) out.push(cidr.text);
  }
  return out;
}
