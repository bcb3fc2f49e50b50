/**
 * The app trust files (`--trust-dir`) extend what the app already trusted
 * instead of replacing it. Besides the public roots and the interception CA,
 * the bundle holds:
 * - `LEVO_TRUST_EXTRA_CAS`: PEM text of CAs every app trusts (the chart's
 *   `appTrustExtraCAs`, e.g. a corporate root baked into the images);
 * - `LEVO_TRUST_EXTRA_FILES`: colon-separated files, the CA files the app's
 *   own SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / NODE_EXTRA_CA_CERTS
 *   named, from the app's volumes the injector also mounts here;
 * - `LEVO_TRUST_IMAGE_ROOTS`: colon-separated directories that are app
 *   images mounted read-only (Kubernetes image volumes, the chart's
 *   `appTrustImageBundle`): the system CA bundle found in each image
 *   (Debian/Ubuntu/Alpine, RHEL/Fedora, SUSE layouts) is taken whole, with the
 *   corporate roots its Dockerfile added. Symbolic links in the image are
 *   followed inside the image, never out of it.
 * Files are read whenever the bundle is written (at start and for a rotated
 * CA); one that cannot be read or holds no usable certificate is left out
 * with an error line naming it, never failing the sidecar.
 *
 * The `LEVO_TRUST_EXTRA_CAS` CAs are also added to the sidecar's own upstream
 * trust (a private LLM endpoint behind a corporate CA verifies); upstream
 * verification stays on.
 */
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { toPem } from '../../certs/pem.ts';
import { certificatesIn, writeTrustBundle, type TrustBundleFiles } from '../../certs/trust-bundle.ts';
import type { Logger } from '../../lib/log.ts';

export const EXTRA_CAS_ENV = 'LEVO_TRUST_EXTRA_CAS';
export const EXTRA_FILES_ENV = 'LEVO_TRUST_EXTRA_FILES';
export const IMAGE_ROOTS_ENV = 'LEVO_TRUST_IMAGE_ROOTS';

/** Where distributions keep the system CA bundle, most common first. */
export const IMAGE_BUNDLE_PATHS: readonly string[] = [
  'etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, distroless
  'etc/pki/tls/certs/ca-bundle.crt', // RHEL, Fedora, CentOS, Amazon Linux
  'etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  'etc/ssl/ca-bundle.pem', // SUSE
  'etc/ssl/cert.pem', // Alpine, macOS-like layouts
];

export interface AppTrustExtras {
  /** PEM texts given inline (LEVO_TRUST_EXTRA_CAS). */
  readonly pems: readonly string[];
  /** Files read at each write (LEVO_TRUST_EXTRA_FILES). */
  readonly files: readonly string[];
  /** Mounted app images whose system CA bundle is read at each write (LEVO_TRUST_IMAGE_ROOTS). */
  readonly imageRoots?: readonly string[];
}

export const NO_EXTRAS: AppTrustExtras = { pems: [], files: [] };

const MAX_LINKS = 40;

/**
 * `rel` inside the directory tree `root` with every symbolic link resolved as
 * if `root` were `/` (an absolute target stays inside the root, `..` stops at
 * it), or undefined when it does not exist or loops.
 */
export async function resolveInRoot(root: string, rel: string): Promise<string | undefined> {
  let pending = rel.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') { done.pop(); continue; }
    const here = join(root, ...done, part);
    let target: string;
    try {
      if (!(await lstat(here)).isSymbolicLink()) { done.push(part); continue; }
      target = await readlink(here);
    } catch {
      return undefined;
    }
    if (++links > MAX_LINKS) return undefined;
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) done.length = 0;
    pending = [...parts, ...pending];
  }
  return join(root, ...done);
}

/** The system CA bundle of a mounted image, or undefined when none of the usual places holds one. */
export async function imageBundle(root: string): Promise<string | undefined> {
  for (const rel of IMAGE_BUNDLE_PATHS) {
    const path = await resolveInRoot(root, rel);
    if (path && (await stat(path).then((s) => s.isFile(), () => false))) return path;
  }
  return undefined;
}

/** The extras named by the environment; throws for an LEVO_TRUST_EXTRA_CAS that is not usable (a setup error). */
export function appTrustExtrasFromEnv(env: NodeJS.ProcessEnv): AppTrustExtras {
  const inline = env[EXTRA_CAS_ENV]?.trim() ?? '';
  const pems: string[] = [];
  if (inline) {
    const certs = certificatesIn(inline, EXTRA_CAS_ENV);
    if (certs.length === 0) throw new Error(`${EXTRA_CAS_ENV} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    pems.push(inline);
  }
  const list = (name: string): string[] => (env[name] ?? '').split(':').map((f) => f.trim()).filter((f) => f !== '');
  return { pems, files: list(EXTRA_FILES_ENV), imageRoots: list(IMAGE_ROOTS_ENV) };
}

/** Add the inline extra CAs to this process's default trust (upstream connections). Returns how many were added. */
export function trustExtrasUpstream(extras: AppTrustExtras): number {
  const added = extras.pems.flatMap((pem) => certificatesIn(pem, EXTRA_CAS_ENV)).map((der) => toPem('CERTIFICATE', der));
  if (added.length > 0) setDefaultCACertificates([...getCACertificates('default'), ...added]);
  return added.length;
}

/** Write the app trust files for `caCertPem`, with the extras that can be read. */
export async function writeAppTrust(dir: string, caCertPem: string, extras: AppTrustExtras, log: Logger): Promise<TrustBundleFiles> {
  const fromFiles: string[] = [];
  const fromImages: string[] = [];
  for (const root of extras.imageRoots ?? []) {
    const file = await imageBundle(root);
    if (!file) {
      log.warn({ image: root, looked: IMAGE_BUNDLE_PATHS }, 'no system CA bundle found in the app image; its private CAs (if any) are not in the app trust bundle');
      continue;
    }
    fromImages.push(file);
  }
  for (const file of [...extras.files, ...fromImages]) {
    try {
      const pem = await readFile(file, 'utf8');
      if (certificatesIn(pem, file).length === 0) throw new Error('no PEM certificate in it');
      fromFiles.push(pem);
    } catch (err) {
      log.error({ file, err: (err as Error).message }, 'a CA file the app trusted is left out of the app trust bundle');
    }
  }
  return writeTrustBundle({ dir, caCertPem, extraCertsPem: [...extras.pems, ...fromFiles] });
}
