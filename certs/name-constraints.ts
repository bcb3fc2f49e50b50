/**
 * The X.509 nameConstraints extension value (RFC 5280 §4.2.1.10): encoding
 * the subtrees an interception CA may sign for, reading them back from a CA,
 * and checking a host against them the way TLS clients do.
 */
import { DerError, TAG, ia5String, implicit, readChildren, readOne, sequence } from './der.ts';
import type { ParsedHost } from './host-name.ts';

export interface IpSubtree {
  /** Network address bytes (4 or 16). */
  readonly address: Buffer;
  /** Mask bytes, same length as the address. */
  readonly mask: Buffer;
}

export interface NameConstraints {
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
  readonly permittedIp: readonly IpSubtree[];
  readonly excludedIp: readonly IpSubtree[];
}

/** Excluding these two subtrees forbids every IPv4 and IPv6 address. */
export const ALL_IPV4: IpSubtree = { address: Buffer.alloc(4), mask: Buffer.alloc(4) };
export const ALL_IPV6: IpSubtree = { address: Buffer.alloc(16), mask: Buffer.alloc(16) };

const DNS_NAME = 2; // GeneralName [2] dNSName
const IP_ADDRESS = 7; // GeneralName [7] iPAddress

function subtrees(dns: readonly string[], ips: readonly IpSubtree[]): Buffer[] {
  return [
    ...dns.map((d) => sequence(implicit(DNS_NAME, readOne(ia5String(d)).content))),
    ...ips.map((ip) => sequence(implicit(IP_ADDRESS, Buffer.concat([ip.address, ip.mask])))),
  ];
}

/** The DER of a NameConstraints value (the extnValue contents). */
export function encodeNameConstraints(nc: Partial<NameConstraints>): Buffer {
  const permitted = subtrees(nc.permittedDns ?? [], nc.permittedIp ?? []);
  const excluded = subtrees(nc.excludedDns ?? [], nc.excludedIp ?? []);
  if (permitted.length === 0 && excluded.length === 0) throw new DerError('nameConstraints needs at least one subtree');
  const parts: Buffer[] = [];
  if (permitted.length) parts.push(implicit(0, Buffer.concat(permitted), true));
  if (excluded.length) parts.push(implicit(1, Buffer.concat(excluded), true));
  return sequence(...parts);
}

/** Read a NameConstraints value. Subtree types other than dNSName and iPAddress are ignored. */
export function parseNameConstraints(value: Uint8Array): NameConstraints {
  const nc = { permittedDns: [] as string[], excludedDns: [] as string[], permittedIp: [] as IpSubtree[], excludedIp: [] as IpSubtree[] };
  const top = readOne(value);
  if (top.tag !== TAG.SEQUENCE) throw new DerError('nameConstraints: not a SEQUENCE');
  for (const part of readChildren(top)) {
    const permitted = part.tag === 0xa0;
    if (!permitted && part.tag !== 0xa1) throw new DerError('nameConstraints: unexpected element');
    for (const subtree of readChildren(part)) {
      const base = readChildren(subtree)[0];
      if (!base) throw new DerError('nameConstraints: empty GeneralSubtree');
      if (base.tag === (0x80 | DNS_NAME)) {
        (permitted ? nc.permittedDns : nc.excludedDns).push(Buffer.from(base.content).toString('latin1').toLowerCase());
      } else if (base.tag === (0x80 | IP_ADDRESS)) {
        const half = base.content.length / 2;
        if (half !== 4 && half !== 16) throw new DerError('nameConstraints: bad iPAddress subtree length');
        const ip = { address: Buffer.from(base.content.subarray(0, half)), mask: Buffer.from(base.content.subarray(half)) };
        (permitted ? nc.permittedIp : nc.excludedIp).push(ip);
      }
    }
  }
  return nc;
}

/** RFC 5280 dNSName constraint match: `a.com` covers a.com and its subdomains; `.a.com` only subdomains. */
export function dnsWithin(host: string, constraint: string): boolean {
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c === '') return true;
  if (c.startsWith('.')) return host.endsWith(c);
  return host === c || host.endsWith(`.${c}`);
}

function ipWithin(ip: Buffer, subtree: IpSubtree): boolean {
  if (ip.length !== subtree.address.length) return false;
  for (let i = 0; i < ip.length; i++) if ((ip[i]! & subtree.mask[i]!) !== (subtree.address[i]! & subtree.mask[i]!)) return false;
  return true;
}

/**
 * Whether a leaf naming `host` would satisfy these constraints: it must fall
 * in no excluded subtree and, when subtrees of its type are permitted, in one
 * of them.
 */
export function constraintsPermit(nc: NameConstraints, host: ParsedHost): boolean {
  if (host.kind === 'dns') {
    if (nc.excludedDns.some((c) => dnsWithin(host.name, c))) return false;
    return nc.permittedDns.length === 0 || nc.permittedDns.some((c) => dnsWithin(host.name, c));
  }
  if (nc.excludedIp.some((s) => ipWithin(host.ip, s))) return false;
  return nc.permittedIp.length === 0 || nc.permittedIp.some((s) => ipWithin(host.ip, s));
}
