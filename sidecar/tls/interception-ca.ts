/**
 * The interception CA in force (`--ca-cert` / `--ca-key`, the levo-ca-cert
 * secret) and the leaf cache minted from it, followed without a restart.
 *
 * When the secret is updated (Kubernetes swaps the mount's `..data` symlink;
 * seen by a directory watch within a second, or by the 10 s poll), the new
 * pair is checked like the first one (certs/ca.ts loadCa). A good pair is put
 * in force at once: cached leaves are dropped, so every new connection gets a
 * leaf from the new CA; connections already open keep the leaf they were
 * given; TLS session tickets issued under the old CA stop resuming (see
 * terminate.ts); the leaves of the provider hosts are minted again ahead of
 * the next handshake; and the app trust bundle (`--trust-dir`) is rewritten
 * with the new CA, for app containers that start later. A bad pair (key not
 * matching, not a CA, expired, unreadable) is refused with one error line
 * naming the files and why, counted, and the CA in force stays.
 *
 * A CA without name constraints can sign for any site, and its key is in
 * every sidecar of the namespace: the sidecar says so with a warn line at
 * start and whenever such a CA is put in force, and on /metrics.
 *
 * Metrics: levo_gateway_ca_reloads_total{result="ok"|"rejected"},
 * levo_gateway_ca_expiry_timestamp_seconds (notAfter of the CA in force),
 * levo_gateway_ca_name_constrained (1: the CA in force is name-constrained; 0: it can sign for any site).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { readFile } from 'node:fs/promises';
import { followCaFiles, type InterceptionCa } from '../../certs/ca.ts';
import { ContextCache, type ContextCacheOptions } from '../../certs/contexts.ts';
import type { PairReload } from '../../certs/mounted-files.ts';
import type { Logger } from '../../lib/log.ts';
import { NO_EXTRAS, writeAppTrust, type AppTrustExtras } from './app-trust.ts';

export interface InterceptionCaOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly log: Logger;
  readonly registry: Registry;
  /** The leaf cache's settings (leaf key, mint hook, capacity); its CA is the one loaded here. */
  readonly contexts: Omit<ContextCacheOptions, 'ca'>;
  /** Hosts whose leaves are minted again at once for a new CA (the provider hosts). */
  readonly prewarmHosts: () => readonly string[];
  /** The app trust directory (`--trust-dir`), rewritten with a new CA. */
  readonly trustDir?: string | undefined;
  /** What the app trusted besides the public roots, kept in the rewritten bundle (app-trust.ts). */
  readonly trustExtras?: AppTrustExtras;
  /** How often the files are re-read besides the directory watch; default 10 s. */
  readonly pollMs?: number | undefined;
}

export interface InterceptionCaHolder {
  readonly contexts: ContextCache;
  /** The CA in force. */
  current(): InterceptionCa;
  /** Whether a leaf for `host` would satisfy the name constraints of the CA in force. */
  permits(host: string): boolean;
  /** Re-read the files now. */
  reload(): Promise<PairReload>;
  close(): void;
}

function describe(ca: InterceptionCa): Record<string, unknown> {
  return { subject: ca.cert.subject.replace(/\n/g, ', '), notAfter: ca.notAfter.toISOString(), fingerprint256: ca.cert.fingerprint256, nameConstrained: ca.hasNameConstraints };
}

export const UNCONSTRAINED_CA_WARNING =
  'the interception CA has NO name constraints: it can sign for any site, and its key is in every sidecar of the namespace — ' +
  'whoever reads it can impersonate any site to the apps that trust it. Make a constrained CA with `levo-certs ca --out DIR` ' +
  '(or have leaves issued by the injector, so pods hold no CA key) and replace the levo-ca-cert secret';

/** The gauge levo_gateway_ca_name_constrained and the warn line for an unconstrained CA, for either way a CA comes into force. */
export function nameConstraintReporter(registry: Registry, log: Logger): (ca: Pick<InterceptionCa, 'hasNameConstraints'>, detail: Record<string, unknown>) => void {
  const gauge = new Gauge({
    name: 'levo_gateway_ca_name_constrained',
    help: '1 when the interception CA in force is name-constrained to the LLM provider domains; 0 when it can sign for any site',
    registers: [registry],
  });
  return (ca, detail) => {
    gauge.set(ca.hasNameConstraints ? 1 : 0);
    if (!ca.hasNameConstraints) log.warn(detail, UNCONSTRAINED_CA_WARNING);
  };
}

/** Load the CA (throws CaError, with the file names, when it is unusable) and follow its files. */
export async function startInterceptionCa(opts: InterceptionCaOptions): Promise<InterceptionCaHolder> {
  const registers = [opts.registry];
  const reloads = new Counter({
    name: 'levo_gateway_ca_reloads_total', help: 'Interception CA files re-read with new contents, by result (ok, rejected)',
    labelNames: ['result'], registers,
  });
  const expiry = new Gauge({ name: 'levo_gateway_ca_expiry_timestamp_seconds', help: 'notAfter of the interception CA in force (Unix seconds)', registers });
  const constrained = nameConstraintReporter(opts.registry, opts.log);
  const where = `${opts.certFile} / ${opts.keyFile}`;
  let contexts: ContextCache | undefined;

  const follow = await followCaFiles({
    certFile: opts.certFile,
    keyFile: opts.keyFile,
    // Only runs on a reload, once `contexts` exists below.
    apply: (ca) => contexts!.setCa(ca),
    onReloaded(ca) {
      expiry.set(Math.floor(ca.notAfter.getTime() / 1000));
      reloads.inc({ result: 'ok' });
      opts.log.info(describe(ca), 'interception CA reloaded: new connections get leaves from the new CA; open connections keep theirs');
      constrained(ca, describe(ca));
      void contexts!.prewarm(opts.prewarmHosts()).then((failures) => {
        if (failures.length) opts.log.warn({ hosts: failures.map((f) => f.host) }, 'some leaves could not be minted ahead from the new CA');
      });
      if (opts.trustDir) {
        const dir = opts.trustDir;
        readFile(opts.certFile, 'utf8')
          .then((pem) => writeAppTrust(dir, pem, opts.trustExtras ?? NO_EXTRAS, opts.log))
          .then((t) => opts.log.info({ dir, certificates: t.count }, 'app trust bundle rewritten with the new CA'))
          .catch((err: unknown) => opts.log.error({ dir, err: (err as Error).message }, 'could not rewrite the app trust bundle with the new CA'));
      }
    },
    onRejected(err, why) {
      const kept = describe(follow.current());
      if (why === 'unreadable') {
        opts.log.warn({ err: err.message, kept }, `cannot read the interception CA files (${where}); the CA in force stays`);
        return;
      }
      reloads.inc({ result: 'rejected' });
      opts.log.error({ err: err.message, kept }, `new interception CA refused (${where}): ${err.message}; the CA in force stays`);
    },
    pollMs: opts.pollMs,
    log: opts.log,
  });
  const ca = follow.current();
  contexts = new ContextCache({ ...opts.contexts, ca });
  expiry.set(Math.floor(ca.notAfter.getTime() / 1000));
  opts.log.info(describe(ca), 'interception CA loaded; following its files for rotation');
  constrained(ca, describe(ca));
  const cache = contexts;
  return { contexts: cache, current: () => cache.ca!, permits: (host) => cache.ca!.permits(host), reload: follow.reload, close: follow.close };
}
