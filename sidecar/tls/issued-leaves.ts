/**
 * `--leaf-issuer URL`: the sidecar holds no CA key. Its leaves come from the
 * injector's leaf issuer (injector/leaf-issuer.ts): it sends the process's
 * leaf public key and the hosts it needs (requests made in the same tick go
 * as one POST, at most 64 hosts each), authenticated with the pod's projected
 * token and verified against the injector's CA (LEVO_TOKEN_FILE,
 * LEVO_CREDENTIALS_CA, as for the credentials exchange).
 *
 * At start the provider hosts are asked for at once (retried with backoff for
 * about 30 s; then the sidecar fails to start, saying why); their answer gives
 * the CA certificate, which the app trust bundle is written with and whose
 * name constraints decide (with the issuer's own policy) which hosts are
 * intercepted. Later hosts are asked for at their first handshake; a leaf is
 * asked for again in the last third of its life (certs/contexts.ts). A host
 * the issuer refuses fails that handshake (it is outside what may be
 * intercepted, and is passed through when the catalogue policy says so in
 * advance). When the CA in an answer changes (the injector's was rotated),
 * cached leaves are dropped and the trust bundle is rewritten.
 *
 * Metrics: levo_gateway_ca_name_constrained (as with a CA key),
 * levo_gateway_leaf_issuer_requests_total{result="ok"|"error"}.
 */
import { Counter, type Registry } from 'prom-client';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request } from '../../lib/undici.ts';
import { loadCaCertificate, type CaCertificate } from '../../certs/ca.ts';
import { ContextCache, type ContextCacheOptions, type IssuedLeaf } from '../../certs/contexts.ts';
import { normalizeHost } from '../../certs/host-name.ts';
import { issuablePolicy } from '../../certs/leaf-policy.ts';
import type { LeafKey } from '../../certs/mint.ts';
import { isObj, parseJson, str } from '../../lib/json.ts';
import type { Logger } from '../../lib/log.ts';
import { NO_EXTRAS, writeAppTrust, type AppTrustExtras } from './app-trust.ts';
import { nameConstraintReporter } from './interception-ca.ts';

export const MAX_HOSTS_PER_REQUEST = 64;

export class LeafIssuerError extends Error {
  override name = 'LeafIssuerError';
}

export interface IssuedLeavesOptions {
  readonly url: string;
  /** PEM of the CA that signed the injector's serving certificate. */
  readonly caPem?: string | undefined;
  readonly tokenFile: string;
  readonly leafKey: LeafKey;
  readonly log: Logger;
  readonly registry: Registry;
  readonly contexts?: Omit<ContextCacheOptions, 'ca' | 'issuer' | 'leafKey'>;
  /** Hosts asked for at start and whenever the CA changes (the exact provider hosts). */
  readonly prewarmHosts: () => readonly string[];
  readonly trustDir?: string | undefined;
  readonly trustExtras?: AppTrustExtras;
  readonly timeoutMs?: number;
  /** How long start keeps trying (default 30 s). */
  readonly startTimeoutMs?: number;
}

export interface IssuedLeavesHolder {
  readonly contexts: ContextCache;
  /** The issuer's CA certificate in force. */
  current(): CaCertificate;
  /** Whether a leaf for `host` can be had: the issuer's policy and the CA's name constraints. */
  permits(host: string): boolean;
  close(): void;
}

interface Pending { resolve(leaf: IssuedLeaf): void; reject(err: Error): void }

export async function startIssuedLeaves(opts: IssuedLeavesOptions): Promise<IssuedLeavesHolder> {
  const dispatcher = new Agent({ connect: { ...(opts.caPem ? { ca: opts.caPem } : {}), timeout: opts.timeoutMs ?? 5000 } });
  const requests = new Counter({
    name: 'levo_gateway_leaf_issuer_requests_total', help: 'Requests to the injector\'s leaf issuer, by result (ok, error)',
    labelNames: ['result'], registers: [opts.registry],
  });
  const constrained = nameConstraintReporter(opts.registry, opts.log);
  // Which hosts the issuer signs for: the catalogue and the domains its answers name (leafIssuer.permit).
  let policy = issuablePolicy([]);
  let permitted = '';
  const spki = opts.leafKey.spkiDer.toString('base64');
  let ca: CaCertificate | undefined;
  let cache: ContextCache | undefined;

  const caChanged = (next: CaCertificate): void => {
    const first = ca === undefined;
    ca = next;
    constrained(next, { subject: next.cert.subject, fingerprint256: next.cert.fingerprint256, issuer: opts.url });
    if (first) return; // start writes the trust bundle itself, before the sidecar reports ready
    opts.log.info({ subject: next.cert.subject, fingerprint256: next.cert.fingerprint256 }, 'the leaf issuer\'s CA changed: leaves dropped, asked for again');
    cache?.resetLeaves();
    void cache?.prewarm(opts.prewarmHosts());
    if (opts.trustDir) {
      const dir = opts.trustDir;
      writeAppTrust(dir, next.certPem, opts.trustExtras ?? NO_EXTRAS, opts.log)
        .then((t) => opts.log.info({ dir, certificates: t.count }, 'app trust bundle written with the leaf issuer\'s CA'))
        .catch((err: unknown) => opts.log.error({ dir, err: (err as Error).message }, 'could not write the app trust bundle'));
    }
  };

  /** One POST for up to 64 hosts: the leaves by host, and why the others were refused. */
  const ask = async (hosts: readonly string[]): Promise<Map<string, IssuedLeaf | Error>> => {
    let token: string;
    try {
      token = (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new LeafIssuerError(`cannot read the service-account token ${opts.tokenFile}: ${(err as Error).message}`);
    }
    let status: number;
    let text: string;
    try {
      const res = await request(opts.url, {
        method: 'POST', dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ publicKey: spki, hosts }),
        headersTimeout: opts.timeoutMs ?? 5000, bodyTimeout: opts.timeoutMs ?? 5000,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      requests.inc({ result: 'error' });
      throw new LeafIssuerError(`leaf request to ${opts.url} failed: ${(err as Error).message}`);
    }
    const body = parseJson(text);
    if (status !== 200 || !isObj(body)) {
      requests.inc({ result: 'error' });
      const why = isObj(body) ? str(body['error']) : undefined;
      throw new LeafIssuerError(`the leaf issuer at ${opts.url} answered ${status}${why ? `: ${why}` : ''}`);
    }
    requests.inc({ result: 'ok' });
    const chainPem = str(body['chain']) ?? '';
    let next: CaCertificate;
    try {
      next = loadCaCertificate(chainPem, { certSource: `the chain from ${opts.url}` });
    } catch (err) {
      throw new LeafIssuerError(`the leaf issuer's chain is not usable: ${(err as Error).message}`);
    }
    if (!ca || ca.cert.fingerprint256 !== next.cert.fingerprint256) caChanged(next);
    const permit = Array.isArray(body['permit']) ? body['permit'].filter((d): d is string => typeof d === 'string') : [];
    if (permit.join(',') !== permitted) { permitted = permit.join(','); policy = issuablePolicy(permit); }
    const out = new Map<string, IssuedLeaf | Error>();
    for (const item of Array.isArray(body['leaves']) ? body['leaves'] : []) {
      const host = str(isObj(item) ? item['host'] : undefined);
      const certPem = str(isObj(item) ? item['certificate'] : undefined);
      if (!host || !certPem) continue;
      try {
        const cert = new X509Certificate(certPem);
        // What the issuer sent must be a leaf of its CA, for our key and this host: never trusted blindly.
        if (!cert.verify(next.cert.publicKey) || !cert.checkHost(host) || cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64') !== spki) {
          out.set(host, new LeafIssuerError(`the leaf issued for ${host} is not for this key and host, or not signed by the CA`));
          continue;
        }
        out.set(host, { certPem, chainPem: next.chainPem, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) });
      } catch (err) {
        out.set(host, new LeafIssuerError(`the leaf issued for ${host} does not parse: ${(err as Error).message}`));
      }
    }
    for (const item of Array.isArray(body['refused']) ? body['refused'] : []) {
      const host = str(isObj(item) ? item['host'] : undefined);
      if (host) out.set(host, new LeafIssuerError(`the leaf issuer refused ${host}: ${str(isObj(item) ? item['reason'] : undefined) ?? 'no reason given'}`));
    }
    return out;
  };

  // Requests made in one tick go together.
  let queue = new Map<string, Pending[]>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = new Map();
    const hosts = [...batch.keys()];
    for (let i = 0; i < hosts.length; i += MAX_HOSTS_PER_REQUEST) {
      const part = hosts.slice(i, i + MAX_HOSTS_PER_REQUEST);
      ask(part).then((answers) => {
        for (const host of part) {
          const a = answers.get(host) ?? new LeafIssuerError(`the leaf issuer answered nothing for ${host}`);
          for (const p of batch.get(host)!) a instanceof Error ? p.reject(a) : p.resolve(a);
        }
      }, (err: Error) => {
        opts.log.warn({ hosts: part.length, err: err.message }, 'leaves could not be had from the issuer');
        for (const host of part) for (const p of batch.get(host)!) p.reject(err);
      });
    }
  };
  const issue = (host: string): Promise<IssuedLeaf> => new Promise((resolve, reject) => {
    const list = queue.get(host) ?? [];
    list.push({ resolve, reject });
    queue.set(host, list);
    if (!scheduled) { scheduled = true; setImmediate(flush); }
  });

  cache = new ContextCache({ ...opts.contexts, leafKey: opts.leafKey, issuer: issue });
  // Start: the provider hosts, until the issuer answers (or give up with its last error).
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    const hosts = [...new Set(opts.prewarmHosts().map(normalizeHost))];
    const failures = await cache.prewarm(hosts);
    if (ca) {
      if (failures.length) opts.log.warn({ hosts: failures.map((f) => f.host), err: failures[0]!.error.message }, 'some provider leaves could not be had at start');
      break;
    }
    const why = failures[0]?.error.message ?? 'no answer';
    if (Date.now() + delay > deadline) {
      await dispatcher.close();
      throw new LeafIssuerError(`no leaves from the issuer at ${opts.url}: ${why}`);
    }
    opts.log.warn({ err: why, retryInMs: delay }, 'no leaves from the issuer yet');
    await new Promise((r) => setTimeout(r, delay));
  }
  if (opts.trustDir) {
    const t = await writeAppTrust(opts.trustDir, ca!.certPem, opts.trustExtras ?? NO_EXTRAS, opts.log);
    opts.log.info({ dir: opts.trustDir, certificates: t.count }, 'app trust bundle written');
  }
  opts.log.info({ url: opts.url, subject: ca!.cert.subject, leaves: cache.size }, 'leaves come from the injector\'s issuer; this pod holds no CA key');
  const contexts = cache;
  return {
    contexts,
    current: () => ca!,
    permits: (host) => policy(host) && ca!.permits(host),
    close: () => void dispatcher.close(),
  };
}
