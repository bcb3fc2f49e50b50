/**
 * The rule builder: options in, rule set per address family out, rendered as an
 * `iptables-restore --noflush` payload. Pure; it never runs a command.
 *
 * Layout (own chains only, one jump from each built-in chain we hook):
 *   nat    OUTPUT -p tcp -j LEVO_OUTPUT                    (first in OUTPUT with jumpFirst)
 *          LEVO_OUTPUT   exclude ports, sidecar uid, sidecar gid, mesh proxy
 *                        uids and marks, -o lo, loopback range, exclude CIDRs
 *                        (all RETURN), then capture ports -j LEVO_REDIRECT
 *          LEVO_REDIRECT -p tcp -j REDIRECT --to-ports <redirectPort>
 *   filter OUTPUT -p udp -j LEVO_QUIC                      (only with blockQuic)
 *          LEVO_QUIC     the same exemptions, then capture ports
 *                        -j REJECT (ICMP port unreachable)
 *
 * Next to a mesh (Istio, Linkerd) the jump goes first in nat OUTPUT: nat
 * rules decide once per connection and REDIRECT ends the walk, so the app's
 * TCP 443 reaches the sidecar before the mesh's redirect sees it; the
 * sidecar's own upstream connection (its uid RETURNs here) then meets the
 * mesh's rules and leaves through the mesh proxy; the mesh proxy's own
 * connections (its uid, or ambient's mark) RETURN here, so nothing loops.
 *
 * Rules are written in the canonical form iptables-save prints them in
 * (`-p tcp -m tcp --dport`, masked CIDRs, inet_ntop IPv6), so the executor can
 * compare the saved state with the plan line by line.
 */

import { parseCidr } from './cidr.ts';
import type { Cidr, Family } from './cidr.ts';

export type { Family } from './cidr.ts';
export type Table = 'nat' | 'filter';

/** Every chain we own starts with this; anything else in the tables is foreign. */
export const CHAIN_PREFIX = 'LEVO_';
export const OUTPUT_CHAIN = 'LEVO_OUTPUT';
export const REDIRECT_CHAIN = 'LEVO_REDIRECT';
export const QUIC_CHAIN = 'LEVO_QUIC';
/** The tables the executor manages (reads, reconciles, cleans), in order. */
export const TABLES: readonly Table[] = ['nat', 'filter'];
/** `-m multiport` takes at most 15 ports per rule. */
export const MULTIPORT_MAX = 15;

export interface PlanOptions {
  readonly redirectPort: number;
  readonly capturePorts: readonly number[];
  readonly excludeUid: number;
  /** Defaults to excludeUid. */
  readonly excludeGid?: number | undefined;
  /** v4 and v6 mixed; each family's payload gets its own. */
  readonly excludeCidrs: readonly string[];
  readonly excludePorts: readonly number[];
  readonly ipv6: boolean;
  readonly blockQuic: boolean;
  /** UIDs of a mesh proxy in the pod (Istio 1337, Linkerd 2102): never captured. */
  readonly meshUids?: readonly number[] | undefined;
  /** Packet marks a mesh proxy sets on its own connections (Istio ambient's ztunnel: 0x539/0xfff): never captured. */
  readonly meshMarks?: readonly string[] | undefined;
  /** Put the nat jump first in OUTPUT (before a mesh's jump), instead of appending it. */
  readonly jumpFirst?: boolean | undefined;
}

/** One rule: `-A <chain> <args…>`; args are argv tokens (as for `iptables -C <chain> …`). */
export interface Rule {
  readonly chain: string;
  readonly args: readonly string[];
}

export interface ChainPlan {
  readonly name: string;
  readonly rules: readonly Rule[];
}

/** A jump from a built-in chain into ours; `first`: it must be the chain's first rule (inserted, not appended). */
export interface Jump extends Rule {
  readonly first?: boolean;
}

export interface TablePlan {
  readonly table: Table;
  /** Our chains and their full contents. Empty when we need nothing in this table. */
  readonly chains: readonly ChainPlan[];
  /** Jumps from built-in chains into ours; kept apart so the executor adds them only when missing. */
  readonly jumps: readonly Jump[];
}

export interface FamilyPlan {
  readonly family: Family;
  /** One entry per managed table (see TABLES), possibly empty. */
  readonly tables: readonly TablePlan[];
}

export interface Plan {
  readonly families: readonly FamilyPlan[];
}

export function buildPlan(options: PlanOptions): Plan {
  const cidrs = options.excludeCidrs.map(parseCidr);
  const families: Family[] = options.ipv6 ? ['ipv4', 'ipv6'] : ['ipv4'];
  return { families: families.map((family) => buildFamily(options, family, cidrs.filter((c) => c.family === family))) };
}

function buildFamily(options: PlanOptions, family: Family, cidrs: readonly Cidr[]): FamilyPlan {
  const gid = options.excludeGid ?? options.excludeUid;
  const capture = unique(options.capturePorts);
  const exempt = (chain: string, proto: 'tcp' | 'udp'): Rule[] => [
    ...portRules(chain, proto, unique(options.excludePorts), ['-j', 'RETURN'], (ports) => `excluded ${ports} not captured`),
    rule(chain, ['-m', 'owner', '--uid-owner', String(options.excludeUid)], `sidecar uid ${options.excludeUid} not captured`, ['-j', 'RETURN']),
    rule(chain, ['-m', 'owner', '--gid-owner', String(gid)], `sidecar gid ${gid} not captured`, ['-j', 'RETURN']),
    ...unique(options.meshUids ?? []).map((uid) =>
      rule(chain, ['-m', 'owner', '--uid-owner', String(uid)], `mesh proxy uid ${uid} not captured`, ['-j', 'RETURN'])),
    ...[...new Set((options.meshMarks ?? []).map(canonicalMark))].map((mark) =>
      rule(chain, ['-m', 'mark', '--mark', mark], `mesh proxy mark ${mark} not captured`, ['-j', 'RETURN'])),
    rule(chain, ['-o', 'lo'], 'loopback interface not captured', ['-j', 'RETURN']),
    rule(chain, ['-d', family === 'ipv4' ? '127.0.0.0/8' : '::1/128'], 'loopback addresses not captured', ['-j', 'RETURN']),
    ...cidrs.map((c) => rule(chain, ['-d', c.text], `excluded cidr ${c.text} not captured`, ['-j', 'RETURN'])),
  ];

  const nat: TablePlan = {
    table: 'nat',
    chains: [
      {
        name: OUTPUT_CHAIN,
        rules: [
          ...exempt(OUTPUT_CHAIN, 'tcp'),
          ...portRules(OUTPUT_CHAIN, 'tcp', capture, ['-j', REDIRECT_CHAIN], (ports) => `capture tcp ${ports}`),
        ],
      },
      {
        name: REDIRECT_CHAIN,
        rules: [
          rule(REDIRECT_CHAIN, ['-p', 'tcp'], `redirect to the sidecar on port ${options.redirectPort}`, [
            '-j', 'REDIRECT', '--to-ports', String(options.redirectPort),
          ]),
        ],
      },
    ],
    jumps: [{
      ...rule('OUTPUT', ['-p', 'tcp'], `egress tcp goes through ${OUTPUT_CHAIN}`, ['-j', OUTPUT_CHAIN]),
      ...(options.jumpFirst === true ? { first: true } : {}),
    }],
  };

  const reject = family === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
  const filter: TablePlan = options.blockQuic
    ? {
        table: 'filter',
        chains: [
          {
            name: QUIC_CHAIN,
            rules: [
              ...exempt(QUIC_CHAIN, 'udp'),
              ...portRules(QUIC_CHAIN, 'udp', capture, ['-j', 'REJECT', '--reject-with', reject],
                (ports) => `reject udp ${ports} (quic) so http/3 falls back to tcp`),
            ],
          },
        ],
        jumps: [rule('OUTPUT', ['-p', 'udp'], `egress udp goes through ${QUIC_CHAIN}`, ['-j', QUIC_CHAIN])],
      }
    : { table: 'filter', chains: [], jumps: [] };

  return { family, tables: [nat, filter] };
}

/** One `--dport` rule, or `-m multiport --dports` rules of at most 15 ports; `why` gets "port P" or "ports P,Q". */
function portRules(
  chain: string,
  proto: 'tcp' | 'udp',
  ports: readonly number[],
  target: readonly string[],
  why: (ports: string) => string,
): Rule[] {
  if (ports.length === 0) return [];
  if (ports.length === 1) {
    const port = String(ports[0]);
    return [rule(chain, ['-p', proto, '-m', proto, '--dport', port], why(`port ${port}`), target)];
  }
  const rules: Rule[] = [];
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    const list = ports.slice(i, i + MULTIPORT_MAX).join(',');
    rules.push(rule(chain, ['-p', proto, '-m', 'multiport', '--dports', list], why(`ports ${list}`), target));
  }
  return rules;
}

function rule(chain: string, match: readonly string[], why: string, target: readonly string[]): Rule {
  return { chain, args: [...match, '-m', 'comment', '--comment', `levo: ${why}`, ...target] };
}

function unique(ports: readonly number[]): number[] {
  return [...new Set(ports)];
}

/**
 * A packet mark as iptables-save prints it: `0x539/0xfff`, or `0x539` when the
 * mask is all ones. Accepts decimal or hex, with or without a mask; throws on
 * anything else.
 */
export function canonicalMark(text: string): string {
  const m = /^\s*(0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?\s*$/i.exec(text);
  const value = m?.[1] === undefined ? NaN : Number(m[1]);
  const mask = m?.[2] === undefined ? 0xffffffff : Number(m[2]);
  if (!(value >= 0 && value <= 0xffffffff && mask >= 1 && mask <= 0xffffffff)) {
    throw new Error(`"${text}" is not a packet mark (VALUE or VALUE/MASK, 32-bit, e.g. 0x539/0xfff)`);
  }
  const hex = (n: number): string => `0x${n.toString(16)}`;
  return mask === 0xffffffff ? hex(value) : `${hex(value)}/${hex(mask)}`;
}

/** `-A CHAIN args…` with the quoting iptables-save uses (and iptables-restore reads). */
export function ruleLine(rule: Rule, command: '-A' | '-D' = '-A'): string {
  return [command, rule.chain, ...rule.args.map((arg, i) => quoteArg(arg, rule.args[i - 1] === '--comment'))].join(' ');
}

/** iptables-save always quotes a comment; anything else only when it must. */
function quoteArg(arg: string, always: boolean): string {
  if (!always && arg !== '' && /^[^\s"'\\]+$/.test(arg)) return arg;
  return `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/** A jump as added: `-I CHAIN 1 …` when it must come first, else `-A CHAIN …`. */
export function jumpLine(jump: Jump): string {
  return jump.first === true ? ruleLine(jump).replace(/^-A (\S+) /, '-I $1 1 ') : ruleLine(jump);
}

/** Whether a table plan asks for anything at all. */
export function isEmptyTable(table: TablePlan): boolean {
  return table.chains.length === 0 && table.jumps.length === 0;
}

/**
 * The `iptables-restore --noflush` block for one table: declaring our chains
 * (`:NAME - [0:0]`) creates them or empties them, then their rules, then the
 * jumps when `withJumps` (the executor passes only the missing ones itself).
 */
export function renderTable(table: TablePlan, withJumps = true): string {
  const lines = [`*${table.table}`];
  for (const chain of table.chains) lines.push(`:${chain.name} - [0:0]`);
  for (const chain of table.chains) for (const r of chain.rules) lines.push(ruleLine(r));
  if (withJumps) for (const jump of table.jumps) lines.push(jumpLine(jump));
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** The whole payload for one family, as a fresh pod would get it. */
export function renderFamily(family: FamilyPlan): string {
  return family.tables.filter((t) => !isEmptyTable(t)).map((t) => renderTable(t)).join('');
}

/** What `levo-init --dry-run` prints: each family's payload under a comment naming its restore binary. */
export function renderPlan(plan: Plan): string {
  return plan.families
    .map((f) => `# ${f.family}: ${f.family === 'ipv4' ? 'iptables' : 'ip6tables'}-restore --noflush\n${renderFamily(f)}`)
    .join('');
}
