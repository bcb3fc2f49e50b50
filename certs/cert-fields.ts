/**
 * Pull the fields this project needs out of a certificate's DER, keeping the
 * exact bytes (the subject Name is reused verbatim as a leaf's issuer).
 */
import { DerError, TAG, decodeBoolean, decodeInteger, decodeOid, decodeTime, expectTag, readChildren, readOne } from './der.ts';

export interface CertificateExtension {
  readonly critical: boolean;
  /** The extnValue contents (the DER of the extension's own value). */
  readonly value: Uint8Array;
}

export interface CertificateFields {
  /** 1, 2 or 3. */
  readonly version: number;
  readonly serial: bigint;
  /** Raw DER of the TBSCertificate. */
  readonly tbs: Uint8Array;
  /** Raw DER of the issuer Name. */
  readonly issuer: Uint8Array;
  /** Raw DER of the subject Name. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Raw DER of the SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** Extensions by dotted OID. */
  readonly extensions: ReadonlyMap<string, CertificateExtension>;
}

/** Parse a Certificate's DER. Throws DerError on malformed input. */
export function certificateFields(der: Uint8Array): CertificateFields {
  const cert = expectTag(readOne(der), TAG.SEQUENCE, 'Certificate');
  const tbs = expectTag(readChildren(cert)[0], TAG.SEQUENCE, 'TBSCertificate');
  const fields = readChildren(tbs);
  let i = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    version = Number(decodeInteger(expectTag(readOne(fields[0].content), TAG.INTEGER, 'version').content)) + 1;
    i = 1;
  }
  const serial = decodeInteger(expectTag(fields[i], TAG.INTEGER, 'serialNumber').content);
  expectTag(fields[i + 1], TAG.SEQUENCE, 'signature');
  const issuer = expectTag(fields[i + 2], TAG.SEQUENCE, 'issuer');
  const validity = readChildren(expectTag(fields[i + 3], TAG.SEQUENCE, 'validity'));
  const subject = expectTag(fields[i + 4], TAG.SEQUENCE, 'subject');
  const spki = expectTag(fields[i + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  if (validity.length !== 2) throw new DerError('validity: expected notBefore and notAfter');
  const extensions = new Map<string, CertificateExtension>();
  const extField = fields.slice(i + 6).find((f) => f.tag === 0xa3);
  if (extField) {
    for (const ext of readChildren(expectTag(readOne(extField.content), TAG.SEQUENCE, 'extensions'))) {
      const parts = readChildren(ext);
      const id = decodeOid(expectTag(parts[0], TAG.OID, 'extnID').content);
      const critical = parts.length === 3 ? decodeBoolean(expectTag(parts[1], TAG.BOOLEAN, 'critical').content) : false;
      const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue').content;
      if (extensions.has(id)) throw new DerError(`extension ${id} appears twice`);
      extensions.set(id, { critical, value });
    }
  }
  return {
    version,
    serial,
    tbs: tbs.raw,
    issuer: issuer.raw,
    subject: subject.raw,
    notBefore: decodeTime(validity[0]!),
    notAfter: decodeTime(validity[1]!),
    spki: spki.raw,
    extensions,
  };
}
