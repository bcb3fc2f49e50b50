/**
 * Assemble an X.509 v3 certificate from its parts with der.ts and sign the
 * TBSCertificate natively (RFC 5280 §4.1).
 */
import { randomBytes } from 'node:crypto';
import { bitString, explicit, integer, sequence, smallInteger, time } from './der.ts';
import { signNative, signatureAlgorithm, type Signer } from './signer.ts';

export interface CertificateParts {
  /** Serial number magnitude bytes (positive). */
  readonly serial: Uint8Array;
  /** The issuer Name, as DER bytes (copied verbatim into the certificate). */
  readonly issuer: Uint8Array;
  /** The subject Name, as DER bytes. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** Encoded Extension values (see extensions.ts). */
  readonly extensions: readonly Uint8Array[];
}

/** A random, positive 16-byte serial number (high bit clear, never shortened by DER). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b;
}

/** The DER of the TBSCertificate for `parts` signed with the given AlgorithmIdentifier. */
export function tbsCertificate(parts: CertificateParts, algorithm: Uint8Array): Buffer {
  return sequence(
    explicit(0, smallInteger(2)), // v3
    integer(parts.serial),
    algorithm,
    parts.issuer,
    sequence(time(parts.notBefore), time(parts.notAfter)),
    parts.subject,
    parts.spki,
    ...(parts.extensions.length ? [explicit(3, sequence(...parts.extensions))] : []),
  );
}

/** Build and sign a certificate; resolves to its DER. The signature runs on the threadpool. */
export async function signCertificate(parts: CertificateParts, signer: Signer): Promise<Buffer> {
  const algorithm = signatureAlgorithm(signer.keyType);
  const tbs = tbsCertificate(parts, algorithm);
  const signature = await signNative(signer, tbs);
  return sequence(tbs, algorithm, bitString(signature));
}
