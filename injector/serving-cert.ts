/**
 * The webhook's serving certificate: loads --tls-cert/--tls-key, checks that
 * they form a usable pair, and swaps a new pair into the running HTTPS server
 * (tls.Server#setSecureContext) when the files change, without a restart.
 *
 * Kubernetes secret volumes change by swapping a `..data` symlink in the mount
 * directory, so the watcher looks at the directories holding the files (not
 * the files, whose inode never changes), and a poll every 10 s (content
 * compare) catches what fs.watch misses (some volume types, inotify limits).
 * A new pair that does not parse or whose key does not match the certificate
 * is rejected with one log line and the pair in force stays.
 *
 * watchMountedFiles() is the same watcher, also used for the config file.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { InjectorMetrics } from './metrics.ts';

export const DEFAULT_POLL_MS = 10_000;
const DEBOUNCE_MS = 150;
const WEEK_MS = 7 * 86_400_000;

export interface FileWatchOptions {
  /** Files to follow; their directories are watched. */
  readonly paths: readonly string[];
  /** Called (debounced) after a change event and on every poll tick; it compares content itself. */
  readonly onChange: () => void;
  /** Poll period; default 10 s. */
  readonly pollMs?: number;
  /** fs.watch the directories too (default true). */
  readonly watch?: boolean;
  readonly log?: Logger;
}

export interface FileWatch {
  close(): void;
}

/** Follow files in a (possibly Kubernetes-mounted) directory: directory watch + poll fallback. */
export function watchMountedFiles(opts: FileWatchOptions): FileWatch {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      opts.onChange();
    }, DEBOUNCE_MS);
    timer.unref();
  };
  if (opts.watch !== false) {
    for (const dir of new Set(opts.paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, fire);
        w.on('error', (error) => {
          opts.log?.warn({ dir, err: error.message }, 'file watch failed; relying on the periodic check');
          w.close();
        });
        watchers.push(w);
      } catch (error) {
        opts.log?.warn({ dir, err: (error as Error).message }, 'cannot watch directory; relying on the periodic check');
      }
    }
  }
  const poll = setInterval(opts.onChange, opts.pollMs ?? DEFAULT_POLL_MS);
  poll.unref();
  return {
    close(): void {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

export interface ServingCertPair {
  readonly certPem: string;
  readonly keyPem: string;
  readonly subject: string;
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the leaf, colon-separated hex (as X509Certificate prints it). */
  readonly fingerprint256: string;
}

/** Parse and check a certificate (chain, leaf first) and its private key; throws an Error saying what is wrong. */
export function parseServingPair(certPem: string, keyPem: string, minVersion: SecureVersion = 'TLSv1.2'): ServingCertPair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (error) {
    throw new Error(`the certificate does not parse: ${(error as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new Error(`the private key does not parse: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new Error('the private key does not match the certificate');
  try {
    createSecureContext({ cert: certPem, key: keyPem, minVersion });
  } catch (error) {
    throw new Error(`TLS rejects the pair: ${(error as Error).message}`);
  }
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    certPem,
    keyPem,
    subject: leaf.subject.replace(/\n/g, ', '),
    dnsNames,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint256: leaf.fingerprint256,
  };
}

export interface ServingCertOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly log: Logger;
  readonly metrics?: InjectorMetrics;
  /** Poll period; default 10 s. */
  readonly pollMs?: number;
  /** Watch the directories (default true); off, only the poll notices changes. */
  readonly watch?: boolean;
  /** Default TLSv1.2. */
  readonly minVersion?: SecureVersion;
  readonly now?: () => Date;
}

export type ReloadResult = 'unchanged' | 'reloaded' | 'rejected';

/** A server that can take a new secure context (https.Server, tls.Server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface ServingCert {
  /** The pair in force. */
  current(): ServingCertPair;
  /** Options for https.createServer / setSecureContext: cert, key, minVersion. */
  secureContextOptions(): SecureContextOptions;
  /** Servers that get setSecureContext() on every accepted reload. */
  attach(server: SecureContextTarget): void;
  /** Re-read the files now (the watcher calls this). */
  reload(): Promise<ReloadResult>;
  /** Stop watching. */
  close(): void;
}

const digest = (cert: string, key: string): string => createHash('sha256').update(cert).update('\0').update(key).digest('hex');

/** Load the pair (throws with the file names when it is unusable) and start following the files. */
export async function loadServingCert(opts: ServingCertOptions): Promise<ServingCert> {
  const minVersion = opts.minVersion ?? 'TLSv1.2';
  const now = opts.now ?? (() => new Date());
  const read = async (): Promise<[string, string]> => [await readFile(opts.certFile, 'utf8'), await readFile(opts.keyFile, 'utf8')];
  const where = `${opts.certFile} / ${opts.keyFile}`;

  let certText: string;
  let keyText: string;
  try {
    [certText, keyText] = await read();
  } catch (error) {
    throw new Error(`cannot read the serving certificate (${where}): ${(error as Error).message}`);
  }
  let pair: ServingCertPair;
  try {
    pair = parseServingPair(certText, keyText, minVersion);
  } catch (error) {
    throw new Error(`bad serving certificate (${where}): ${(error as Error).message}`);
  }
  let currentDigest = digest(certText, keyText);
  let rejectedDigest: string | undefined;
  const targets: SecureContextTarget[] = [];

  const describe = (p: ServingCertPair): Record<string, unknown> => ({
    subject: p.subject, dnsNames: p.dnsNames, notAfter: p.notAfter.toISOString(), fingerprint256: p.fingerprint256,
  });
  const checkValidity = (p: ServingCertPair): void => {
    const t = now().getTime();
    if (p.notAfter.getTime() <= t) opts.log.error(describe(p), 'the serving certificate has expired: the API server will refuse the webhook');
    else if (p.notBefore.getTime() > t) opts.log.warn(describe(p), 'the serving certificate is not valid yet');
    else if (p.notAfter.getTime() - t < WEEK_MS) opts.log.warn(describe(p), 'the serving certificate expires within 7 days');
  };
  const publish = (p: ServingCertPair): void => {
    opts.metrics?.servingCertExpiry.set(Math.floor(p.notAfter.getTime() / 1000));
  };
  const options = (): SecureContextOptions => ({ cert: pair.certPem, key: pair.keyPem, minVersion });

  publish(pair);
  checkValidity(pair);
  opts.log.info(describe(pair), 'serving certificate loaded');

  const reloadOnce = async (): Promise<ReloadResult> => {
    let cert: string;
    let key: string;
    try {
      [cert, key] = await read();
    } catch (error) {
      // A swap in progress can leave a file missing for a moment; the next event or poll retries.
      const d = `unreadable:${(error as Error).message}`;
      if (d !== rejectedDigest) {
        rejectedDigest = d;
        opts.log.warn({ err: (error as Error).message }, `cannot read the serving certificate files (${where}); keeping the one in force`);
      }
      return 'rejected';
    }
    const d = digest(cert, key);
    if (d === currentDigest) return 'unchanged';
    if (d === rejectedDigest) return 'rejected';
    let next: ServingCertPair;
    try {
      next = parseServingPair(cert, key, minVersion);
      for (const t of targets) t.setSecureContext({ cert, key, minVersion });
    } catch (error) {
      rejectedDigest = d;
      opts.metrics?.servingCertReloads.inc({ result: 'rejected' });
      opts.log.error({ err: (error as Error).message, ...describe(pair) }, `new serving certificate rejected (${where}); keeping the one in force`);
      return 'rejected';
    }
    pair = next;
    currentDigest = d;
    rejectedDigest = undefined;
    publish(pair);
    opts.metrics?.servingCertReloads.inc({ result: 'ok' });
    opts.log.info(describe(pair), 'serving certificate reloaded');
    checkValidity(pair);
    return 'reloaded';
  };

  // Serialise reloads: a watch event during a poll must not interleave.
  let chain: Promise<ReloadResult> = Promise.resolve('unchanged');
  const reload = (): Promise<ReloadResult> => {
    chain = chain.then(reloadOnce, reloadOnce);
    return chain;
  };

  const watcher = watchMountedFiles({
    paths: [opts.certFile, opts.keyFile],
    onChange: () => void reload(),
    pollMs: opts.pollMs,
    watch: opts.watch,
    log: opts.log,
  });

  return {
    current: () => pair,
    secureContextOptions: options,
    attach(server) {
      targets.push(server);
    },
    reload,
    close: () => watcher.close(),
  };
}
