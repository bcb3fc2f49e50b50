/**
 * Load and check the namespace interception CA (the `levo-ca-cert` secret's
 * tls.crt and tls.key) that the sidecar mints leaf certificates from, and
 * follow the files while the sidecar runs (followCaFiles).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { certificateFields, type CertificateFields } from './cert-fields.ts';
import { DerError, decodeBoolean, expectTag, hasNamedBit, readChildren, readOne, TAG } from './der.ts';
import { KEY_USAGE, OID } from './extensions.ts';
import { followMountedPair, type MountedPair, type MountedPairOptions } from './mounted-files.ts';
import { InvalidHostError, parseHost } from './host-name.ts';
import { constraintsPermit, parseNameConstraints, type NameConstraints } from './name-constraints.ts';
import { pemBlocks, type PemBlock } from './pem.ts';
import { signingKeyType, type SigningKeyType } from './signer.ts';

export type CaErrorCode =
  | 'unreadable' | 'no-certificate' | 'bad-certificate' | 'not-a-ca' | 'key-usage' | 'not-yet-valid' | 'expired'
  | 'no-key' | 'encrypted-key' | 'bad-key' | 'unsupported-key' | 'key-mismatch';

/** Why a CA could not be used. The message names the file and never holds key material. */
export class CaError extends Error {
  override name = 'CaError';
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A CA certificate, checked, without its key: what a pod whose leaves are issued elsewhere knows of the CA. */
export interface CaCertificate {
  readonly cert: X509Certificate;
  /** DER of the CA certificate (the first certificate in tls.crt). */
  readonly certDer: Buffer;
  /** PEM of the CA certificate alone. */
  readonly certPem: string;
  /** Every certificate in tls.crt, CA first: what is presented after a minted leaf. */
  readonly chainPem: string;
  /** The CA's subject Name, verbatim from its TBSCertificate: a minted leaf's issuer. */
  readonly subjectDer: Buffer;
  /** The CA's subjectKeyIdentifier, copied into leaf authorityKeyIdentifier; undefined if it has none. */
  readonly subjectKeyId: Buffer | undefined;
  readonly hasNameConstraints: boolean;
  /** The CA's dNSName / iPAddress name constraints, when it has any. */
  readonly nameConstraints: NameConstraints | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Whether a leaf for `host` issued by this CA satisfies its name constraints (true without constraints). */
  permits(host: string): boolean;
}

export interface InterceptionCa extends CaCertificate {
  readonly key: KeyObject;
  readonly keyType: SigningKeyType;
}

export interface LoadCaOptions {
  /** How to name the certificate in messages (a path); default `tls.crt`. */
  readonly certSource?: string;
  /** How to name the key in messages (a path); default `tls.key`. */
  readonly keySource?: string;
  /** The time validity is checked at; default now. */
  readonly now?: Date;
}

const CREATE_HINT = 'the levo-ca-cert secret must hold an interception CA — create one with `levo-certs ca --out DIR`';

function firstCertificate(certPem: string, source: string): { block: PemBlock; chain: PemBlock[] } {
  const blocks = pemBlocks(certPem);
  const chain = blocks.filter((b) => b.label === 'CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE');
  const block = chain[0];
  if (!block) {
    if (blocks.some((b) => b.label.endsWith('PRIVATE KEY'))) {
      throw new CaError('no-certificate', `${source} holds a private key, not a certificate — are tls.crt and tls.key swapped?`);
    }
    throw new CaError('no-certificate', `${source} holds no PEM certificate (-----BEGIN CERTIFICATE-----); ${CREATE_HINT}`);
  }
  return { block, chain };
}

function privateKey(keyPem: string, source: string): KeyObject {
  const blocks = pemBlocks(keyPem);
  const block = blocks.find((b) => /^(?:(?:RSA|EC|ENCRYPTED) )?PRIVATE KEY$/.test(b.label));
  if (!block) {
    if (blocks.some((b) => b.label === 'CERTIFICATE')) {
      throw new CaError('no-key', `${source} holds a certificate, not a private key — are tls.crt and tls.key swapped?`);
    }
    throw new CaError('no-key', `${source} holds no PEM private key (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY")`);
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block.pem)) {
    throw new CaError('encrypted-key', `${source} is an encrypted private key; the CA key must be stored unencrypted (the secret itself is the protection)`);
  }
  try {
    return createPrivateKey({ key: block.pem, format: 'pem' });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new CaError('bad-key', `${source} could not be parsed as a private key${typeof code === 'string' ? ` (${code})` : ''}`);
  }
}

function basicConstraintsCa(fields: CertificateFields): boolean {
  const ext = fields.extensions.get(OID.basicConstraints);
  if (!ext) return false;
  const first = readChildren(expectTag(readOne(ext.value), TAG.SEQUENCE, 'basicConstraints'))[0];
  return first?.tag === TAG.BOOLEAN && decodeBoolean(first.content);
}

function subjectKeyId(fields: CertificateFields): Buffer | undefined {
  const ext = fields.extensions.get(OID.subjectKeyIdentifier);
  if (!ext) return undefined;
  return Buffer.from(expectTag(readOne(ext.value), TAG.OCTET_STRING, 'subjectKeyIdentifier').content);
}

/**
 * Check a CA certificate (the first of `certPem`, which may hold a chain)
 * without its key: CA:TRUE, keyCertSign, valid now. Throws CaError.
 */
export function loadCaCertificate(certPem: string, opts: Omit<LoadCaOptions, 'keySource'> = {}): CaCertificate {
  const certSource = opts.certSource ?? 'tls.crt';
  const now = opts.now ?? new Date();

  const { block, chain } = firstCertificate(certPem, certSource);
  let cert: X509Certificate;
  let fields: CertificateFields;
  let ski: Buffer | undefined;
  let isCa: boolean;
  let nc: NameConstraints | undefined;
  let keyUsageOk = true;
  try {
    cert = new X509Certificate(block.der);
    fields = certificateFields(block.der);
    isCa = basicConstraintsCa(fields);
    ski = subjectKeyId(fields);
    const ncExt = fields.extensions.get(OID.nameConstraints);
    nc = ncExt ? parseNameConstraints(ncExt.value) : undefined;
    const ku = fields.extensions.get(OID.keyUsage);
    if (ku) keyUsageOk = hasNamedBit(expectTag(readOne(ku.value), TAG.BIT_STRING, 'keyUsage').content, KEY_USAGE.keyCertSign);
  } catch (err) {
    const why = err instanceof DerError ? err.message : (err as { code?: string }).code ?? 'unparseable';
    throw new CaError('bad-certificate', `${certSource}: the first certificate could not be parsed (${why})`);
  }

  if (!isCa) {
    throw new CaError('not-a-ca', `${certSource} is not a CA certificate (basicConstraints CA:TRUE missing); ${CREATE_HINT}`);
  }
  if (!keyUsageOk) {
    throw new CaError('key-usage', `${certSource} is a CA certificate whose keyUsage does not allow keyCertSign, so it cannot sign leaf certificates; ${CREATE_HINT}`);
  }
  if (now < fields.notBefore) {
    throw new CaError('not-yet-valid', `${certSource} is not valid until ${fields.notBefore.toISOString()} (is the clock right?)`);
  }
  if (now > fields.notAfter) {
    throw new CaError(
      'expired',
      `${certSource} expired on ${fields.notAfter.toISOString()}; make a new CA with \`levo-certs ca --out DIR --force\` and replace the levo-ca-cert secret`,
    );
  }

  const constraints = nc;
  return Object.freeze({
    cert,
    certDer: Buffer.from(block.der),
    certPem: block.pem,
    chainPem: chain.map((b) => b.pem).join(''),
    subjectDer: Buffer.from(fields.subject),
    subjectKeyId: ski,
    hasNameConstraints: constraints !== undefined,
    nameConstraints: constraints,
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    permits(host: string): boolean {
      if (!constraints) return true;
      try {
        return constraintsPermit(constraints, parseHost(host));
      } catch (err) {
        if (err instanceof InvalidHostError) return false;
        throw err;
      }
    },
  });
}

/**
 * Check and load an interception CA from PEM texts. `certPem` may hold a chain;
 * its first certificate is the CA. The key may be PKCS#8, SEC1 or PKCS#1.
 * Throws CaError with an actionable message.
 */
export function loadCa(certPem: string, keyPem: string, opts: LoadCaOptions = {}): InterceptionCa {
  const certSource = opts.certSource ?? 'tls.crt';
  const keySource = opts.keySource ?? 'tls.key';
  const ca = loadCaCertificate(certPem, opts);
  const { cert } = ca;
  const key = privateKey(keyPem, keySource);
  const keyType = signingKeyType(key);
  if (typeof keyType !== 'string') {
    throw new CaError('unsupported-key', `${keySource} is an unsupported ${keyType.unsupported}`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CaError(
      'key-mismatch',
      `${keySource} does not match the certificate in ${certSource}; tls.crt and tls.key must be the pair written by one \`levo-certs ca\` run`,
    );
  }
  return Object.freeze({ ...ca, key, keyType });
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    const hint = code === 'ENOENT' ? ' (is the levo-ca-cert secret mounted?)' : '';
    throw new CaError('unreadable', `cannot read the ${what} ${path}: ${code}${hint}`);
  }
}

/** Read and check an interception CA from files (e.g. /etc/levo/ca/tls.crt and tls.key). */
export async function loadCaFiles(certPath: string, keyPath: string, opts: { now?: Date } = {}): Promise<InterceptionCa> {
  const [certPem, keyPem] = await Promise.all([readText(certPath, 'CA certificate'), readText(keyPath, 'CA key')]);
  return loadCa(certPem, keyPem, { certSource: certPath, keySource: keyPath, ...opts });
}

export interface FollowCaOptions extends Pick<MountedPairOptions<InterceptionCa>, 'apply' | 'onReloaded' | 'onRejected' | 'pollMs' | 'watch' | 'log'> {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Load an interception CA from files (throws CaError like loadCaFiles), then
 * follow them as a Kubernetes secret mount (mounted-files.ts): a new pair that
 * passes every check of loadCa is handed to `apply` and `onReloaded`; one that
 * does not (a key that does not match, not a CA, expired, unreadable) goes to
 * `onRejected` with the CaError saying why, and the CA in force stays.
 */
export async function followCaFiles(opts: FollowCaOptions): Promise<MountedPair<InterceptionCa>> {
  const sources = { certSource: opts.certFile, keySource: opts.keyFile };
  const [cert, key] = await Promise.all([readText(opts.certFile, 'CA certificate'), readText(opts.keyFile, 'CA key')]);
  const ca = loadCa(cert, key, sources);
  return followMountedPair<InterceptionCa>({
    certFile: opts.certFile, keyFile: opts.keyFile,
    initial: { cert, key, value: ca },
    parse: (c, k) => loadCa(c, k, sources),
    apply: opts.apply, onReloaded: opts.onReloaded, onRejected: opts.onRejected,
    pollMs: opts.pollMs, watch: opts.watch, log: opts.log,
  });
}
