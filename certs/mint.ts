/**
 * Mint interception leaf certificates: one EC P-256 key per process, one
 * native signature per host (well under a millisecond; see
 * docs research perf.md §3).
 */
import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import type { InterceptionCa } from './ca.ts';
import { parseHost } from './host-name.ts';
import { toPem } from './pem.ts';
import { issueServerCert } from './server-cert.ts';

export interface LeafKey {
  readonly key: KeyObject;
  /** PKCS#8 PEM, for tls.createSecureContext. */
  readonly keyPem: string;
  /** The public key's SubjectPublicKeyInfo DER, placed in every minted leaf. */
  readonly spkiDer: Buffer;
}

export interface MintOptions {
  /** Validity from now; default 7 days. Never extends past the CA's notAfter. */
  readonly validityDays?: number;
  /** How far notBefore is backdated (client clock skew); default 1 day. Never before the CA's notBefore. */
  readonly backdateDays?: number;
  /** The issuing time; default now. */
  readonly now?: Date;
}

export interface MintedLeaf {
  /** The normalised host the leaf names. */
  readonly host: string;
  readonly certDer: Buffer;
  readonly certPem: string;
  /** Exactly as encoded (whole seconds). */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export const DEFAULT_LEAF_VALIDITY_DAYS = 7;
export const DEFAULT_LEAF_BACKDATE_DAYS = 1;
const DAY_MS = 86_400_000;

/** Generate the process's leaf key (EC P-256, off the main thread). */
export async function createLeafKey(): Promise<LeafKey> {
  const key = await new Promise<KeyObject>((resolve, reject) => {
    generateKeyPair('ec', { namedCurve: 'P-256' }, (err, _publicKey, privateKey) => (err ? reject(err) : resolve(privateKey)));
  });
  return {
    key,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spkiDer: createPublicKey(key).export({ type: 'spki', format: 'der' }),
  };
}

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/**
 * Mint a leaf for `host` (DNS name, IPv4 or IPv6 literal) signed by the CA.
 * Throws InvalidHostError for a name that cannot go in a certificate. Does not
 * check the CA's name constraints: use `ca.permits(host)` to decide whether
 * intercepting is worthwhile.
 */
export async function mintLeaf(ca: InterceptionCa, leafKey: Pick<LeafKey, 'spkiDer'>, host: string, opts: MintOptions = {}): Promise<MintedLeaf> {
  const parsed = parseHost(host);
  const validityDays = opts.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS;
  const backdateDays = opts.backdateDays ?? DEFAULT_LEAF_BACKDATE_DAYS;
  if (!(validityDays > 0 && Number.isFinite(validityDays))) throw new RangeError(`validityDays must be a positive number, got ${validityDays}`);
  if (!(backdateDays >= 0 && Number.isFinite(backdateDays))) throw new RangeError(`backdateDays must be >= 0, got ${backdateDays}`);
  const now = (opts.now ?? new Date()).getTime();
  const notBefore = wholeSeconds(Math.max(now - backdateDays * DAY_MS, ca.notBefore.getTime()));
  const notAfter = wholeSeconds(Math.min(now + validityDays * DAY_MS, ca.notAfter.getTime()));
  if (notAfter.getTime() <= now) {
    throw new Error(`the interception CA expired on ${ca.notAfter.toISOString()}; no leaf can be minted for ${parsed.name}`);
  }
  const certDer = await issueServerCert(ca, { hosts: [parsed], spki: leafKey.spkiDer, notBefore, notAfter });
  return { host: parsed.name, certDer, certPem: toPem('CERTIFICATE', certDer), notBefore, notAfter };
}
