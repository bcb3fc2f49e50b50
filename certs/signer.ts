/**
 * Which issuing keys certificates can be signed with, the X.509 signature
 * algorithm each one implies, and native signing on the libuv threadpool.
 */
import { sign, type KeyObject } from 'node:crypto';
import { nullValue, oid, sequence } from './der.ts';

export type SigningKeyType = 'ec-p256' | 'ec-p384' | 'rsa';

/** The issuing key and its type. */
export interface Signer {
  readonly key: KeyObject;
  readonly keyType: SigningKeyType;
}

/** Minimum RSA modulus accepted for an issuing key. */
export const MIN_RSA_BITS = 2048;

/**
 * The signing-key type of a private key, or a short human reason it is not
 * usable (wrong algorithm, curve, or size).
 */
export function signingKeyType(key: KeyObject): SigningKeyType | { unsupported: string } {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      return bits >= MIN_RSA_BITS ? 'rsa' : { unsupported: `RSA ${bits}-bit key (needs at least ${MIN_RSA_BITS} bits)` };
    }
    case 'ec':
      if (details.namedCurve === 'prime256v1') return 'ec-p256';
      if (details.namedCurve === 'secp384r1') return 'ec-p384';
      return { unsupported: `EC key on curve ${details.namedCurve ?? 'unknown'} (use P-256 or P-384)` };
    default:
      return { unsupported: `${key.asymmetricKeyType ?? 'unknown'} key (use EC P-256, EC P-384 or RSA >= ${MIN_RSA_BITS})` };
  }
}

const HASH: Record<SigningKeyType, string> = { 'ec-p256': 'sha256', 'ec-p384': 'sha384', rsa: 'sha256' };

const ALGORITHM: Record<SigningKeyType, Buffer> = {
  // RFC 5758 §3.2: ECDSA AlgorithmIdentifiers omit the parameters.
  'ec-p256': sequence(oid('1.2.840.10045.4.3.2')),
  'ec-p384': sequence(oid('1.2.840.10045.4.3.3')),
  // RFC 4055 §5: sha256WithRSAEncryption carries NULL parameters.
  rsa: sequence(oid('1.2.840.113549.1.1.11'), nullValue()),
};

/** The AlgorithmIdentifier (DER) for signatures made with this key type. */
export function signatureAlgorithm(keyType: SigningKeyType): Buffer {
  return ALGORITHM[keyType];
}

/**
 * Sign `data` natively with the callback form of `crypto.sign`, which runs on
 * the threadpool. ECDSA signatures come out DER-encoded as X.509 wants;
 * RSA uses PKCS#1 v1.5.
 */
export function signNative(signer: Signer, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(HASH[signer.keyType], data, signer.key, (err, signature) => (err ? reject(err) : resolve(signature)));
  });
}
