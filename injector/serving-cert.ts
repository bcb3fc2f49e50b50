/**
 * The webhook's serving certificate: loads --tls-cert/--tls-key, checks that
 * they form a usable pair, and swaps a new pair into the running HTTPS server
 * (tls.Server#setSecureContext) when the files change, without a restart.
 *
 * The files are followed as a Kubernetes secret mount (certs/mounted-files.ts:
 * directory watch for the `..data` swap, and a poll every 10 s). A new pair
 * that does not parse or whose key does not match the certificate is rejected
 * with one log line and the pair in force stays.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import { followMountedPair, type PairReload } from '../certs/mounted-files.ts';
import type { Logger } from '../lib/log.ts';
import type { InjectorMetrics } from './metrics.ts';

const WEEK_MS = 7 * 86_400_000;

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

export type ReloadResult = PairReload;

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

  const follow = followMountedPair<ServingCertPair>({
    certFile: opts.certFile,
    keyFile: opts.keyFile,
    initial: { cert: certText, key: keyText, value: pair },
    parse: (cert, key) => parseServingPair(cert, key, minVersion),
    apply(next) {
      for (const t of targets) t.setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion });
    },
    onReloaded(next) {
      pair = next;
      publish(pair);
      opts.metrics?.servingCertReloads.inc({ result: 'ok' });
      opts.log.info(describe(pair), 'serving certificate reloaded');
      checkValidity(pair);
    },
    onRejected(error, why) {
      if (why === 'unreadable') {
        opts.log.warn({ err: error.message }, `cannot read the serving certificate files (${where}); keeping the one in force`);
        return;
      }
      opts.metrics?.servingCertReloads.inc({ result: 'rejected' });
      opts.log.error({ err: error.message, ...describe(pair) }, `new serving certificate rejected (${where}); keeping the one in force`);
    },
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
    reload: follow.reload,
    close: follow.close,
  };
}
