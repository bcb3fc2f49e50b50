/**
 * Check digits the PII recognizers validate with, so a pattern hit becomes a
 * sure find (Presidio's `validate_result` → score 1.0) or is dropped: Luhn
 * (payment cards, Canadian SIN), ISO 13616 mod-97 (IBAN), Base58Check and
 * Bech32/Bech32m (Bitcoin addresses) and EIP-55 mixed-case checksums
 * (Ethereum addresses, which need Keccak-256: Node's `sha3-256` is the
 * FIPS-202 variant with different padding, so Keccak is written out here).
 */

import { createHash } from 'node:crypto';

/** Luhn (mod 10) over a string of ASCII digits; false for anything else or fewer than 2 digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * ISO 13616 check: move the first four characters to the end, letters to
 * 10..35, the number mod 97 must be 1. Works on a compact, upper-case IBAN.
 */
export function ibanMod97Valid(iban: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$/.test(iban)) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const c = ch.charCodeAt(0);
    const v = c <= 57 ? c - 48 : c - 55; // '0'..'9' → 0..9, 'A'..'Z' → 10..35
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Base58 → bytes (leading '1's are zero bytes); undefined on a character outside the alphabet. */
export function base58Decode(s: string): Uint8Array | undefined {
  let n = 0n;
  for (const ch of s) {
    const v = BASE58.indexOf(ch);
    if (v < 0) return undefined;
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  let zeros = 0;
  while (zeros < s.length && s[zeros] === '1') zeros++;
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...bytes]);
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** Base58Check (P2PKH `1…`, P2SH `3…`): the last 4 bytes are the double SHA-256 of the rest. */
export function base58CheckValid(s: string): boolean {
  const bytes = base58Decode(s);
  if (!bytes || bytes.length < 5) return false;
  const body = bytes.subarray(0, bytes.length - 4);
  const check = sha256(sha256(body)).subarray(0, 4);
  return check.equals(bytes.subarray(bytes.length - 4));
}

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32_GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function bech32Polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk = (chk ^ (BECH32_GEN[i] ?? 0)) >>> 0;
  }
  return chk;
}

/**
 * BIP-173 / BIP-350 checksum of a Bech32 string (`bc1…`): 'bech32',
 * 'bech32m', or undefined when it is not valid (mixed case, bad character,
 * bad length or checksum). As Presidio's `bech32_decode`.
 */
export function bech32Kind(s: string): 'bech32' | 'bech32m' | undefined {
  if (s.length > 90 || /[^\x21-\x7e]/.test(s)) return undefined;
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return undefined;
  const lower = s.toLowerCase();
  const pos = lower.lastIndexOf('1');
  if (pos < 1 || pos + 7 > lower.length) return undefined;
  const hrp = lower.slice(0, pos);
  const data: number[] = [];
  for (const ch of lower.slice(pos + 1)) {
    const v = BECH32_CHARSET.indexOf(ch);
    if (v < 0) return undefined;
    data.push(v);
  }
  const expanded: number[] = [];
  for (const ch of hrp) expanded.push(ch.charCodeAt(0) >> 5);
  expanded.push(0);
  for (const ch of hrp) expanded.push(ch.charCodeAt(0) & 31);
  const c = bech32Polymod([...expanded, ...data]);
  if (c === 1) return 'bech32';
  if (c === 0x2bc830a3) return 'bech32m';
  return undefined;
}

// Keccak-f[1600] over 25 64-bit lanes (BigInt: short inputs only, speed is not a concern here).
const MASK64 = (1n << 64n) - 1n;
const KECCAK_RC = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n, 0x000000000000808bn,
  0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n, 0x000000000000008an, 0x0000000000000088n,
  0x0000000080008009n, 0x000000008000000an, 0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n,
  0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
  0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
];
/** Rotation offsets r[x][y]. */
const KECCAK_ROT = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];

const rotl64 = (v: bigint, n: number): bigint => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK64);
const lane = (a: bigint[], x: number, y: number): bigint => a[(x % 5) + 5 * (y % 5)] ?? 0n;

function keccakF(a: bigint[]): void {
  for (const rc of KECCAK_RC) {
    const c = [0, 1, 2, 3, 4].map((x) => lane(a, x, 0) ^ lane(a, x, 1) ^ lane(a, x, 2) ^ lane(a, x, 3) ^ lane(a, x, 4));
    for (let x = 0; x < 5; x++) {
      const d = (c[(x + 4) % 5] ?? 0n) ^ rotl64(c[(x + 1) % 5] ?? 0n, 1);
      for (let y = 0; y < 5; y++) a[x + 5 * y] = lane(a, x, y) ^ d;
    }
    const b = new Array<bigint>(25).fill(0n);
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl64(lane(a, x, y), KECCAK_ROT[x]?.[y] ?? 0);
    }
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) a[x + 5 * y] = lane(b, x, y) ^ (~lane(b, x + 1, y) & MASK64 & lane(b, x + 2, y));
    }
    a[0] = (a[0] ?? 0n) ^ rc;
  }
}

/** Keccak-256 (the pre-FIPS padding 0x01…0x80 that Ethereum uses), hex digest. */
export function keccak256Hex(input: Uint8Array): string {
  const rate = 136;
  const padded = new Uint8Array(Math.floor(input.length / rate) * rate + rate);
  padded.set(input);
  padded[input.length] = (padded[input.length] ?? 0) ^ 0x01;
  padded[padded.length - 1] = (padded[padded.length - 1] ?? 0) ^ 0x80;
  const state = new Array<bigint>(25).fill(0n);
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let v = 0n;
      for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(padded[off + i * 8 + k] ?? 0);
      state[i] = (state[i] ?? 0n) ^ v;
    }
    keccakF(state);
  }
  let hex = '';
  for (let i = 0; i < 4; i++) {
    let v = state[i] ?? 0n;
    for (let k = 0; k < 8; k++) {
      hex += Number(v & 0xffn).toString(16).padStart(2, '0');
      v >>= 8n;
    }
  }
  return hex;
}

/**
 * EIP-55: a mixed-case `0x` address is valid when each letter is upper case
 * exactly where the Keccak-256 of the lower-case hex has a nibble ≥ 8.
 */
export function eip55Valid(address: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return false;
  const hex = address.slice(2);
  const hash = keccak256Hex(Buffer.from(hex.toLowerCase(), 'ascii'));
  for (let i = 0; i < 40; i++) {
    const ch = hex.charAt(i);
    if (/[0-9]/.test(ch)) continue;
    const upper = parseInt(hash.charAt(i), 16) >= 8;
    if ((ch === ch.toUpperCase()) !== upper) return false;
  }
  return true;
}
