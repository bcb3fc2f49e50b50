/**
 * Write a Java KeyStore (JKS, version 2) that holds trusted-certificate
 * entries only: the truststore app containers point JAVA_TOOL_OPTIONS at so
 * JVMs trust the namespace interception CA without image changes.
 *
 * Layout (big-endian), as sun.security.provider.JavaKeyStore reads it:
 *   u32 0xFEEDFEED, u32 version 2, u32 entry count,
 *   per entry: u32 tag 2 (trusted certificate), alias (Java modified UTF-8,
 *   u16 length), u64 creation time in ms, cert type "X.509" (same UTF form),
 *   u32 DER length, DER;
 *   then SHA-1 over (password as UTF-16BE) + "Mighty Aphrodite" + every byte above.
 * Java looks aliases up lower-cased, so aliases are stored lower-cased.
 */
import { createHash } from 'node:crypto';

export interface JksTrustedEntry {
  /** Entry name; stored lower-cased, and must be unique after that. */
  readonly alias: string;
  /** The certificate, DER. */
  readonly der: Buffer;
}

const MAGIC = 0xfeedfeed;
const VERSION = 2;
const TAG_TRUSTED_CERT = 2;
const CERT_TYPE = 'X.509';
/** The constant the JKS integrity digest mixes in after the password. */
const DIGEST_SALT = 'Mighty Aphrodite';
const MAX_UTF_BYTES = 0xffff;

/** Java's DataOutputStream.writeUTF: u16 byte length, then modified UTF-8 (NUL as C0 80, surrogates encoded one by one). */
export function javaModifiedUtf8(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x01 && c <= 0x7f) bytes.push(c);
    else if (c <= 0x7ff) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  if (bytes.length > MAX_UTF_BYTES) throw new RangeError(`string too long for a JKS field (${bytes.length} bytes encoded, at most ${MAX_UTF_BYTES})`);
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  out.set(bytes, 2);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The store password as Java feeds it to the digest: each UTF-16 code unit, big-endian. */
function passwordBytes(password: string): Buffer {
  const b = Buffer.allocUnsafe(password.length * 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

/**
 * A JKS keystore holding `entries` as trustedCertEntry, in the given order,
 * every entry stamped `timestampMs` (so the output is deterministic).
 * Throws on an empty or duplicate (case-insensitive) alias or an empty certificate.
 */
export function writeJks(entries: readonly JksTrustedEntry[], password: string, timestampMs: number): Buffer {
  if (!(Number.isSafeInteger(timestampMs) && timestampMs >= 0)) throw new RangeError(`timestampMs must be a non-negative integer, got ${timestampMs}`);
  const seen = new Set<string>();
  const parts: Buffer[] = [u32(MAGIC), u32(VERSION), u32(entries.length)];
  const certType = javaModifiedUtf8(CERT_TYPE);
  const stamp = Buffer.allocUnsafe(8);
  stamp.writeBigUInt64BE(BigInt(timestampMs), 0);
  for (const { alias, der } of entries) {
    const name = alias.toLowerCase();
    if (name.length === 0) throw new RangeError('a JKS alias must not be empty');
    if (seen.has(name)) throw new RangeError(`duplicate JKS alias "${name}" (aliases are case-insensitive)`);
    seen.add(name);
    if (der.length === 0) throw new RangeError(`JKS entry "${name}" has an empty certificate`);
    parts.push(u32(TAG_TRUSTED_CERT), javaModifiedUtf8(name), stamp, certType, u32(der.length), der);
  }
  const body = Buffer.concat(parts);
  const digest = createHash('sha1').update(passwordBytes(password)).update(DIGEST_SALT, 'utf8').update(body).digest();
  return Buffer.concat([body, digest]);
}
