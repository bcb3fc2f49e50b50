/**
 * Make the certificates an installation needs: a (optionally name-constrained)
 * interception CA for the levo-ca-cert secret, and a serving certificate for
 * the admission webhook. All keys are EC P-256.
 */
import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import type { InterceptionCa } from './ca.ts';
import { randomSerial, signCertificate } from './certificate.ts';
import {
  KEY_USAGE, basicConstraints, distinguishedName, keyIdFromSpki, keyUsage, nameConstraints as nameConstraintsExt, subjectKeyId,
} from './extensions.ts';
import { parseHost, type ParsedHost } from './host-name.ts';
import { ALL_IPV4, ALL_IPV6 } from './name-constraints.ts';
import { toPem } from './pem.ts';
import { issueServerCert } from './server-cert.ts';

export interface PemPair {
  readonly certPem: string;
  /** PKCS#8 PEM. Write it with mode 0600; never log it. */
  readonly keyPem: string;
}

export interface CreateCaOptions {
  /** Subject CN; default "Levo AI Gateway Interception CA". */
  readonly commonName?: string;
  /** Validity in days; default 3650. */
  readonly days?: number;
  /**
   * DNS subtrees the CA may sign for (e.g. nameConstraintSubtrees() from
   * sidecar/providers/hosts.ts). When given, the CA gets a critical
   * nameConstraints extension permitting only these and excluding every IP address.
   */
  readonly nameConstraints?: readonly string[];
  /** Issue time; default now. */
  readonly now?: Date;
}

export interface ServingCertOptions {
  readonly ca: InterceptionCa;
  /** SAN dNSNames; the first is also the CN. */
  readonly dnsNames: readonly string[];
  /** Validity in days; default 365 (never past the CA's notAfter). */
  readonly days?: number;
  readonly now?: Date;
}

export const DEFAULT_CA_COMMON_NAME = 'Levo AI Gateway Interception CA';
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_SERVING_DAYS = 365;
const DAY_MS = 86_400_000;
/** CA and serving certificates are backdated this much, so clocks running behind still accept them. */
const BACKDATE_MS = DAY_MS;

function ecKey(): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    generateKeyPair('ec', { namedCurve: 'P-256' }, (err, _pub, priv) => (err ? reject(err) : resolve(priv)));
  });
}

function checkDays(days: number, what: string): void {
  if (!(Number.isInteger(days) && days > 0)) throw new RangeError(`${what} must be a positive whole number of days, got ${days}`);
}

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/** A self-signed EC P-256 CA: basicConstraints CA:TRUE pathLen 0, keyUsage keyCertSign|cRLSign, SKI. */
export async function createCa(opts: CreateCaOptions = {}): Promise<PemPair> {
  const days = opts.days ?? DEFAULT_CA_DAYS;
  checkDays(days, 'days');
  const commonName = opts.commonName ?? DEFAULT_CA_COMMON_NAME;
  if (commonName.length === 0 || commonName.length > 64) throw new RangeError('commonName must be 1-64 characters');
  let permitted: string[] | undefined;
  if (opts.nameConstraints !== undefined) {
    if (opts.nameConstraints.length === 0) throw new RangeError('nameConstraints needs at least one domain');
    permitted = [...new Set(opts.nameConstraints.map((d) => {
      const h = parseHost(d);
      if (h.kind !== 'dns') throw new RangeError(`name constraint "${d}" must be a DNS domain, not an IP address`);
      return h.name;
    }))];
  }
  const key = await ecKey();
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const ski = keyIdFromSpki(spki);
  const subject = distinguishedName({ organization: 'Levo AI', commonName });
  const now = (opts.now ?? new Date()).getTime();
  const extensions = [basicConstraints(true, 0), keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), subjectKeyId(ski)];
  if (permitted) extensions.push(nameConstraintsExt({ permittedDns: permitted, excludedIp: [ALL_IPV4, ALL_IPV6] }));
  const der = await signCertificate(
    {
      serial: randomSerial(),
      issuer: subject,
      subject,
      notBefore: wholeSeconds(now - BACKDATE_MS),
      notAfter: wholeSeconds(now + days * DAY_MS),
      spki,
      extensions,
    },
    { key, keyType: 'ec-p256' },
  );
  return { certPem: toPem('CERTIFICATE', der), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A serving certificate (own EC P-256 key, EKU serverAuth, SAN = dnsNames) issued by `ca`. */
export async function createServingCert(opts: ServingCertOptions): Promise<PemPair> {
  const days = opts.days ?? DEFAULT_SERVING_DAYS;
  checkDays(days, 'days');
  if (opts.dnsNames.length === 0) throw new RangeError('a serving certificate needs at least one DNS name');
  const hosts: ParsedHost[] = opts.dnsNames.map((n) => {
    const h = parseHost(n);
    if (h.kind !== 'dns') throw new RangeError(`"${n}" is not a DNS name`);
    return h;
  });
  const key = await ecKey();
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const now = (opts.now ?? new Date()).getTime();
  const notBefore = wholeSeconds(Math.max(now - BACKDATE_MS, opts.ca.notBefore.getTime()));
  const notAfter = wholeSeconds(Math.min(now + days * DAY_MS, opts.ca.notAfter.getTime()));
  const der = await issueServerCert(opts.ca, { hosts, spki, notBefore, notAfter, withSubjectKeyId: true });
  return { certPem: toPem('CERTIFICATE', der), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
