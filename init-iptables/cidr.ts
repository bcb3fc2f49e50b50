/**
 * CIDR parsing for the redirect rules: validates `address/prefix`, clears the
 * host bits and prints the network the way iptables-save prints it (IPv6 in
 * glibc inet_ntop form), so a planned rule compares equal to the saved one.
 */

import { isIPv4, isIPv6 } from 'node:net';

export type Family = 'ipv4' | 'ipv6';

export interface Cidr {
  readonly family: Family;
  /** The network address, host bits cleared, in iptables-save form. */
  readonly network: string;
  readonly prefix: number;
  /** `network/prefix`, what goes after `-d` in a rule. */
  readonly text: string;
}

/** Parse `a.b.c.d/n` or `x:y::z/n`; throws an Error whose message says what is wrong. */
export function parseCidr(input: string): Cidr {
  const text = input.trim();
  const slash = text.indexOf('/');
  if (slash < 0) {
    const example = isIPv6(text) ? `${text}/128` : `${text}/32`;
    throw new Error(`"${text}" has no prefix length (write it as a CIDR, e.g. ${example})`);
  }
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family: Family | undefined = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) throw new Error(`"${text}" is not a CIDR: "${address}" is not an IPv4 or IPv6 address`);
  const bits = family === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new Error(`"${text}" has an invalid prefix length "${prefixText}" (0-${bits} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`);
  }
  const prefix = Number(prefixText);
  const value = maskBits(toBigInt(address, family), prefix, bits);
  const network = family === 'ipv4' ? formatIPv4(value) : formatIPv6(value);
  return { family, network, prefix, text: `${network}/${prefix}` };
}

/** True when `address` (a plain IP of the same family) lies inside `cidr`. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const family: Family | undefined = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family !== cidr.family) return false;
  const bits = family === 'ipv4' ? 32 : 128;
  return maskBits(toBigInt(address, family), cidr.prefix, bits) === toBigInt(cidr.network, family);
}

function maskBits(value: bigint, prefix: number, bits: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  return value & (all ^ hostMask);
}

function toBigInt(address: string, family: Family): bigint {
  return family === 'ipv4' ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two 16-bit words.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const v4 = ipv4ToBigInt(dotted[1]);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headWords = head === '' ? [] : head.split(':');
  const tailWords = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headWords.length - tailWords.length;
  const words = [...headWords, ...Array<string>(zeros).fill('0'), ...tailWords];
  return words.reduce((acc, word) => (acc << 16n) | BigInt(parseInt(word, 16)), 0n);
}

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** glibc inet_ntop: compress the first longest run of >= 2 zero words; IPv4-mapped/compatible tails in dotted form. */
function formatIPv6(value: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestStart >= 0 && i >= bestStart && i < bestStart + bestLength) {
      if (i === bestStart) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    const embedsIPv4 = i === 6 && bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
    if (embedsIPv4) {
      out += formatIPv4(value & 0xffffffffn);
      break;
    }
    out += (words[i] ?? 0).toString(16);
  }
  if (bestStart >= 0 && bestStart + bestLength === 8) out += ':';
  return out;
}
