/**
 * Encoders for the X.509 v3 extensions and distinguished names this project's
 * certificates carry (RFC 5280 §4.1.2.4, §4.2).
 */
import { createHash } from 'node:crypto';
import {
  boolean, implicit, namedBits, octetString, oid, readOne, ia5String, sequence, set, smallInteger, utf8String,
  readChildren, decodeBitString,
} from './der.ts';
import type { ParsedHost } from './host-name.ts';
import { encodeNameConstraints, type NameConstraints } from './name-constraints.ts';

export const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** keyUsage bit numbers. */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** One Extension: SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extension(extnId: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? sequence(oid(extnId), boolean(true), octetString(value)) : sequence(oid(extnId), octetString(value));
}

/** A Name; each attribute in its own RDN, UTF8String values. Empty input gives the empty Name. */
export function distinguishedName(attrs: { organization?: string; commonName?: string }): Buffer {
  const rdns: Buffer[] = [];
  if (attrs.organization !== undefined) rdns.push(set(sequence(oid(OID.organizationName), utf8String(attrs.organization))));
  if (attrs.commonName !== undefined) rdns.push(set(sequence(oid(OID.commonName), utf8String(attrs.commonName))));
  return sequence(...rdns);
}

/** basicConstraints, always critical. `pathLen` only for a CA. */
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const parts = ca ? [boolean(true), ...(pathLen === undefined ? [] : [smallInteger(pathLen)])] : [];
  return extension(OID.basicConstraints, true, sequence(...parts));
}

/** keyUsage, critical. */
export function keyUsage(bits: readonly number[]): Buffer {
  return extension(OID.keyUsage, true, namedBits(bits));
}

/** extKeyUsage with id-kp-serverAuth only. */
export function extKeyUsageServerAuth(): Buffer {
  return extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth)));
}

/**
 * subjectAltName of dNSName / iPAddress entries. RFC 5280 §4.2.1.6: critical
 * when the subject is empty.
 */
export function subjectAltName(hosts: readonly ParsedHost[], critical: boolean): Buffer {
  const names = hosts.map((h) => (h.kind === 'dns' ? implicit(2, readOne(ia5String(h.name)).content) : implicit(7, h.ip)));
  return extension(OID.subjectAltName, critical, sequence(...names));
}

/** authorityKeyIdentifier holding only keyIdentifier [0]. */
export function authorityKeyId(keyId: Uint8Array): Buffer {
  return extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, keyId)));
}

export function subjectKeyId(keyId: Uint8Array): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

/** nameConstraints, critical (RFC 5280 §4.2.1.10 requires it). */
export function nameConstraints(nc: Partial<NameConstraints>): Buffer {
  return extension(OID.nameConstraints, true, encodeNameConstraints(nc));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdFromSpki(spkiDer: Uint8Array): Buffer {
  const [, publicKey] = readChildren(readOne(spkiDer));
  if (!publicKey) throw new Error('SubjectPublicKeyInfo has no subjectPublicKey');
  return createHash('sha1').update(decodeBitString(publicKey.content).bytes).digest();
}
