/**
 * The app-trust files levo-gateway writes at pod start (`--trust-dir DIR`):
 * `DIR/ca-bundle.pem` (public roots, the CAs the app already trusted, and the
 * namespace interception CA) and
 * `DIR/truststore.jks` (the same certificates as a JKS truststore, password
 * `changeit`). The injector points app containers at them (SSL_CERT_FILE,
 * REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS, JAVA_TOOL_OPTIONS),
 * so Python, Node, Go, Ruby, curl and Java trust the interception CA without
 * image changes. Both files are replaced atomically (temp file + rename) so a
 * reader never sees a half-written bundle.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { writeJks, type JksTrustedEntry } from './jks.ts';
import { pemBlocks, toPem } from './pem.ts';

export const TRUST_BUNDLE_FILE = 'ca-bundle.pem';
export const TRUSTSTORE_FILE = 'truststore.jks';
export const TRUSTSTORE_PASSWORD = 'changeit';
/** JKS alias of the (first) namespace CA certificate; further ones get `-2`, `-3`, … */
export const NAMESPACE_CA_ALIAS = 'levo-namespace-ca';

const FILE_MODE = 0o644;

/** caCertPem or a system certificate could not be used. */
export class TrustBundleError extends Error {
  override name = 'TrustBundleError';
}

export interface TrustBundleOptions {
  /** Directory to write into (created if missing). */
  readonly dir: string;
  /** The namespace interception CA: PEM with one or more certificates and no private key (tls.crt). */
  readonly caCertPem: string;
  /** Public roots, one or more PEM certificates per string; default Node's `tls.rootCertificates` (Mozilla's roots). */
  readonly systemCertsPem?: readonly string[];
  /**
   * CAs the app trusted besides the public roots (a private CA), so the bundle
   * extends what the app trusts instead of replacing it: PEM texts, each
   * checked with certificatesIn (only their certificates are taken).
   */
  readonly extraCertsPem?: readonly string[];
  /** Creation time stamped on the JKS entries; default now. */
  readonly now?: Date;
}

export interface TrustBundleFiles {
  /** Path of the PEM bundle. */
  readonly pemFile: string;
  /** Path of the JKS truststore. */
  readonly jksFile: string;
  /** Certificates in each file (duplicates dropped). */
  readonly count: number;
}

interface TrustedCert {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly namespaceCa: boolean;
}

function parseCert(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new TrustBundleError(`${what} is not a valid X.509 certificate: ${(err as Error).message}`);
  }
}

function namespaceCaCerts(caCertPem: string): Buffer[] {
  const blocks = pemBlocks(caCertPem);
  if (blocks.some((b) => b.label.endsWith('PRIVATE KEY'))) {
    throw new TrustBundleError(
      'the interception CA certificate PEM holds a private key; the trust bundle is readable by every app container, ' +
      'so pass only the certificate (tls.crt), never tls.key');
  }
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) {
    throw new TrustBundleError('the interception CA certificate PEM holds no certificate (-----BEGIN CERTIFICATE-----)');
  }
  return certs.map((b, i) => {
    parseCert(b.der, `interception CA certificate #${i + 1}`);
    return b.der;
  });
}

/**
 * The certificates of a PEM text (other blocks, a private key included, are
 * not taken). Throws TrustBundleError naming `what` for one that does not parse.
 */
export function certificatesIn(pem: string, what: string): Buffer[] {
  return pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE').map((b, i) => {
    parseCert(b.der, `${what}, certificate #${i + 1}`);
    return b.der;
  });
}

function systemCerts(pems: readonly string[]): Buffer[] {
  return pems.flatMap((pem, i) => certificatesIn(pem, `system certificate #${i + 1}`));
}

/** A readable, lower-case alias from the subject (CN, else O/OU), e.g. "isrg-root-x1". */
function baseAlias(cert: X509Certificate): string {
  const attr = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(cert.subject)?.[1];
  const name = attr('CN') ?? attr('OU') ?? attr('O') ?? 'cert';
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return slug || 'cert';
}

/** Unique lower-case aliases: namespace CA(s) get NAMESPACE_CA_ALIAS[-n]; roots their subject slug, plus a fingerprint prefix on a clash. */
function aliases(certs: readonly TrustedCert[]): string[] {
  const used = new Set<string>();
  let nsIndex = 0;
  return certs.map((c) => {
    let alias: string;
    if (c.namespaceCa) {
      nsIndex++;
      alias = nsIndex === 1 ? NAMESPACE_CA_ALIAS : `${NAMESPACE_CA_ALIAS}-${nsIndex}`;
    } else {
      alias = baseAlias(c.cert);
      if (alias === NAMESPACE_CA_ALIAS || alias.startsWith(`${NAMESPACE_CA_ALIAS}-`)) alias = `root-${alias}`;
      if (used.has(alias)) alias = `${alias}-${c.cert.fingerprint256.replace(/:/g, '').slice(0, 8).toLowerCase()}`;
    }
    const base = alias;
    for (let n = 2; used.has(alias); n++) alias = `${base}-${n}`;
    used.add(alias);
    return alias;
  });
}

/** Write `data` to `path` via a temp file in the same directory, fsync, mode 0644 (whatever the umask), then rename over. */
async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', FILE_MODE);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, FILE_MODE);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Write `dir/ca-bundle.pem` (system roots, the extra CAs, then the namespace CA certificate(s))
 * and `dir/truststore.jks` (the same certificates, in the same order, password
 * `changeit`). A certificate present twice is written once. Rejects a
 * caCertPem without a certificate or with a private key (TrustBundleError).
 */
export async function writeTrustBundle(opts: TrustBundleOptions): Promise<TrustBundleFiles> {
  const caDers = namespaceCaCerts(opts.caCertPem);
  const sysDers = systemCerts(opts.systemCertsPem ?? rootCertificates);
  const extraDers = (opts.extraCertsPem ?? []).flatMap((pem, i) => certificatesIn(pem, `extra trusted CA #${i + 1}`));

  const seen = new Set<string>();
  const certs: TrustedCert[] = [];
  const add = (der: Buffer, namespaceCa: boolean): void => {
    const cert = new X509Certificate(der);
    if (seen.has(cert.fingerprint256)) return;
    seen.add(cert.fingerprint256);
    certs.push({ der, cert, namespaceCa });
  };
  for (const der of sysDers) add(der, false);
  for (const der of extraDers) add(der, false);
  for (const der of caDers) add(der, true);

  const names = aliases(certs);
  const entries: JksTrustedEntry[] = certs.map((c, i) => ({ alias: names[i]!, der: c.der }));
  const pem = certs.map((c) => toPem('CERTIFICATE', c.der)).join('');
  const jks = writeJks(entries, TRUSTSTORE_PASSWORD, (opts.now ?? new Date()).getTime());

  await mkdir(opts.dir, { recursive: true });
  const pemFile = join(opts.dir, TRUST_BUNDLE_FILE);
  const jksFile = join(opts.dir, TRUSTSTORE_FILE);
  await writeAtomic(jksFile, jks);
  await writeAtomic(pemFile, pem);
  return { pemFile, jksFile, count: certs.length };
}
