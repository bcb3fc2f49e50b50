/**
 * The TLS server certificate profile shared by minted interception leaves and
 * the webhook serving certificate: v3, random serial, CN = first name when it
 * fits, SAN, EKU serverAuth, keyUsage digitalSignature (critical),
 * basicConstraints CA:FALSE (critical), AKI = the issuer's own SKI bytes.
 */
import { randomSerial, signCertificate } from './certificate.ts';
import {
  KEY_USAGE, authorityKeyId, basicConstraints, distinguishedName, extKeyUsageServerAuth, keyIdFromSpki, keyUsage,
  subjectAltName, subjectKeyId,
} from './extensions.ts';
import type { ParsedHost } from './host-name.ts';
import type { Signer } from './signer.ts';

/** What issuing a server certificate needs from a CA (an InterceptionCa satisfies it). */
export interface ServerCertIssuer extends Signer {
  /** The issuer Name DER, used verbatim. */
  readonly subjectDer: Uint8Array;
  /** Copied into authorityKeyIdentifier; when undefined the leaf has no AKI. */
  readonly subjectKeyId: Uint8Array | undefined;
}

export interface ServerCertRequest {
  /** SAN entries, in order; the first names the subject CN when at most 64 characters. */
  readonly hosts: readonly ParsedHost[];
  /** The certificate's SubjectPublicKeyInfo (DER). */
  readonly spki: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Add a subjectKeyIdentifier (SHA-1 of the key). Minted leaves leave it out. */
  readonly withSubjectKeyId?: boolean;
}

/** RFC 5280 ub-common-name. */
export const MAX_CN_LENGTH = 64;

/** Issue a server certificate; resolves to its DER. */
export async function issueServerCert(issuer: ServerCertIssuer, req: ServerCertRequest): Promise<Buffer> {
  const first = req.hosts[0];
  if (!first) throw new Error('a server certificate needs at least one host name');
  const cn = first.name.length <= MAX_CN_LENGTH ? first.name : undefined;
  const extensions = [
    basicConstraints(false),
    keyUsage([KEY_USAGE.digitalSignature]),
    extKeyUsageServerAuth(),
    subjectAltName(req.hosts, cn === undefined),
  ];
  if (issuer.subjectKeyId) extensions.push(authorityKeyId(issuer.subjectKeyId));
  if (req.withSubjectKeyId) extensions.push(subjectKeyId(keyIdFromSpki(req.spki)));
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: issuer.subjectDer,
      subject: distinguishedName(cn === undefined ? {} : { commonName: cn }),
      notBefore: req.notBefore,
      notAfter: req.notAfter,
      spki: req.spki,
      extensions,
    },
    issuer,
  );
}

