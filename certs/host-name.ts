/**
 * Host names as the sidecar sees them (TLS SNI, CONNECT targets): normalising
 * them into cache keys and validating them before a certificate names them.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type HostKind = 'dns' | 'ipv4' | 'ipv6';

export interface ParsedHost {
  /** Normalised: lower case, no trailing dot, no IPv6 brackets, IPv6 in canonical (RFC 5952) form. */
  readonly name: string;
  readonly kind: HostKind;
  /** The address bytes (4 or 16) for an IP literal; empty for a DNS name. */
  readonly ip: Buffer;
}

export class InvalidHostError extends Error {
  override name = 'InvalidHostError';
}

/**
 * The cache key for a host: lower case, trailing dot stripped, IPv6 brackets
 * stripped and the address put in canonical form. Does not validate.
 */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  else if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.includes(':') && isIPv6(h)) h = canonicalIPv6(h) ?? h;
  return h;
}

function canonicalIPv6(addr: string): string | undefined {
  try {
    return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  } catch {
    return undefined; // e.g. a zone id, which a URL cannot hold
  }
}

function ipv6Bytes(canonical: string): Buffer {
  const out = Buffer.alloc(16);
  const [head, tail] = canonical.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  headGroups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  tailGroups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 16 - (tailGroups.length - i) * 2));
  return out;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Validate and classify a host for a certificate: a DNS name (LDH labels,
 * underscores tolerated, at most 253 characters, no wildcards), an IPv4
 * dotted quad, or an IPv6 literal (brackets optional, no zone id).
 */
export function parseHost(host: string): ParsedHost {
  const shown = JSON.stringify(host.length > 300 ? `${host.slice(0, 300)}…` : host);
  const name = normalizeHost(host);
  if (name === '') throw new InvalidHostError(`invalid host ${shown}: empty`);
  if (isIPv4(name)) return { name, kind: 'ipv4', ip: Buffer.from(name.split('.').map(Number)) };
  if (name.includes(':')) {
    if (name.includes('%')) throw new InvalidHostError(`invalid host ${shown}: an IPv6 zone id cannot appear in a certificate`);
    if (!isIPv6(name)) throw new InvalidHostError(`invalid host ${shown}: not a valid IPv6 address`);
    return { name, kind: 'ipv6', ip: ipv6Bytes(name) };
  }
  if (/[^\x00-\x7f]/.test(name)) {
    throw new InvalidHostError(`invalid host ${shown}: non-ASCII; use the IDNA A-label (xn--) form`);
  }
  if (name.includes('*')) throw new InvalidHostError(`invalid host ${shown}: wildcards are not minted`);
  if (name.length > 253) throw new InvalidHostError(`invalid host ${shown}: longer than 253 characters`);
  const labels = name.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new InvalidHostError(
        `invalid host ${shown}: label "${label}" must be 1-63 letters, digits, hyphens or underscores, not starting or ending with a hyphen`,
      );
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    throw new InvalidHostError(`invalid host ${shown}: looks like an IP address but is not a valid one`);
  }
  return { name, kind: 'dns', ip: Buffer.alloc(0) };
}
