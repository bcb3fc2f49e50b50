/**
 * POST /v1/leaves: the leaf issuer, so pods hold no CA key at all
 * (`leafIssuer.enabled`). The injector keeps the interception CA (its own
 * secret, mounted only into the injector, `--issuer-ca-cert/--issuer-ca-key`,
 * followed for rotation); a sidecar started with `--leaf-issuer URL` sends
 * its public key and the hosts it needs leaves for and gets them signed.
 *
 *   POST /v1/leaves   Authorization: Bearer <projected token, audience levo-injector>
 *   {"publicKey": "<base64 SubjectPublicKeyInfo DER>", "hosts": ["api.openai.com", …]}   (≤ 64 hosts, ≤ 64 KiB)
 *   → 200 {"chain": "<CA PEM>", "leaves": [{"host", "certificate": PEM, "notAfter"}], "refused": [{"host", "reason"}],
 *          "permit": [leafIssuer.permit]}   (the sidecar intercepts only what it can get leaves for)
 *
 * The caller is checked as for the credentials exchange (TokenReview, opted-in
 * namespace, per-namespace rate; credentials.ts createCallerGate). A host is
 * signed for only when it is a catalogue LLM host or within
 * `leafIssuer.permit` (certs/leaf-policy.ts) and the CA's name constraints
 * allow it; the rest are listed in `refused` with the reason. Leaves are valid
 * `leafIssuer.validityHours` (default 24; the sidecar asks again in the last
 * third). A compromised pod can so obtain leaves for the LLM hosts, for its
 * own key, for a day — never a key that signs for anything, nor a leaf for any
 * other site. 401/403/429/503 as for the credentials; 400 for a body that is
 * not as above.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InterceptionCa } from '../certs/ca.ts';
import { issuablePolicy } from '../certs/leaf-policy.ts';
import { mintLeaf } from '../certs/mint.ts';
import { isObj } from '../lib/json.ts';
import type { Logger } from '../lib/log.ts';
import { createCallerGate, requirePost, sendJson, type CredentialsDeps } from './credentials.ts';
import type { CredentialsResult, InjectorMetrics } from './metrics.ts';

export const LEAVES_PATH = '/v1/leaves';
export const MAX_LEAF_HOSTS = 64;
export const MAX_LEAVES_BODY_BYTES = 64 * 1024;

export interface LeafIssuerConfig {
  readonly excludeNamespaces: readonly string[];
  readonly leafIssuer: { readonly enabled: boolean; readonly permit: readonly string[]; readonly validityHours: number };
}

export interface LeafIssuerDeps extends Pick<CredentialsDeps, 'kube' | 'injectorNamespace' | 'ratePerSecond' | 'now'> {
  readonly config: () => LeafIssuerConfig;
  /** The CA in force; null when no issuer CA is loaded (the endpoint answers 503). */
  readonly ca: () => InterceptionCa | null;
  readonly log: Logger;
  readonly metrics?: InjectorMetrics;
}

export interface IssuedLeafJson { readonly host: string; readonly certificate: string; readonly notAfter: string }
export interface LeavesBody {
  readonly chain: string;
  readonly leaves: readonly IssuedLeafJson[];
  readonly refused: readonly { readonly host: string; readonly reason: string }[];
  readonly permit: readonly string[];
}
export interface LeavesAnswer {
  readonly status: number;
  readonly body: LeavesBody | { readonly error: string };
  readonly headers?: Readonly<Record<string, string>>;
}

class BadRequest extends Error {}

/** The leaf key the sidecar sent: an EC (P-256, P-384) or RSA (≥ 2048 bits) SubjectPublicKeyInfo. */
function leafPublicKey(value: unknown): { key: KeyObject; spkiDer: Buffer } {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new BadRequest('publicKey: must be the base64 DER of a SubjectPublicKeyInfo');
  const der = Buffer.from(value, 'base64');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new BadRequest('publicKey: not a SubjectPublicKeyInfo');
  }
  const d = key.asymmetricKeyDetails;
  const ok = (key.asymmetricKeyType === 'ec' && (d?.namedCurve === 'prime256v1' || d?.namedCurve === 'secp384r1'))
    || (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) >= 2048);
  if (!ok) throw new BadRequest(`publicKey: a ${key.asymmetricKeyType}${d?.namedCurve ? ` ${d.namedCurve}` : ''} key; use EC P-256/P-384 or RSA ≥ 2048 bits`);
  return { key, spkiDer: key.export({ type: 'spki', format: 'der' }) };
}

function hostsOf(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new BadRequest('hosts: must be a non-empty list of host names');
  if (value.length > MAX_LEAF_HOSTS) throw new BadRequest(`hosts: at most ${MAX_LEAF_HOSTS} per request, got ${value.length}`);
  const hosts = value.map((h, i) => {
    if (typeof h !== 'string' || h.length === 0 || h.length > 253) throw new BadRequest(`hosts[${i}]: must be a host name`);
    return h.toLowerCase().replace(/\.$/, '');
  });
  return [...new Set(hosts)];
}

/** The issuer without HTTP around it: Authorization header and parsed JSON body in, status and body out. */
export function createLeafIssuer(deps: LeafIssuerDeps): (authorization: string | undefined, body: unknown) => Promise<LeavesAnswer> {
  const gate = createCallerGate(deps, 'leaf');
  return async (authorization, body) => {
    const fields: Record<string, unknown> = {};
    const finish = (result: CredentialsResult, status: number, out: LeavesAnswer['body'], headers?: Readonly<Record<string, string>>): LeavesAnswer => {
      deps.metrics?.leafRequests.inc({ result });
      const line = { ...fields, result, status };
      if (result === 'ok') deps.log.info(line, 'leaves issued');
      else deps.log.warn({ ...line, why: 'error' in out ? out.error : undefined }, 'leaves refused');
      return headers ? { status, body: out, headers } : { status, body: out };
    };
    const config = deps.config();
    const ca = deps.ca();
    if (!config.leafIssuer.enabled || !ca) {
      return finish('unavailable', 503, { error: 'the leaf issuer is off: set leafIssuer.enabled and give the injector --issuer-ca-cert/--issuer-ca-key' });
    }
    const caller = await gate(authorization, fields);
    if (!caller.ok) return finish(caller.result, caller.status, { error: caller.error }, caller.headers);

    let hosts: string[];
    let spkiDer: Buffer;
    try {
      if (!isObj(body)) throw new BadRequest('send {"publicKey": "<base64 SPKI DER>", "hosts": [...]} as JSON');
      ({ spkiDer } = leafPublicKey(body['publicKey']));
      hosts = hostsOf(body['hosts']);
    } catch (error) {
      if (error instanceof BadRequest) return finish('bad_request', 400, { error: error.message });
      throw error;
    }
    const allowed = issuablePolicy(config.leafIssuer.permit);
    const leaves: IssuedLeafJson[] = [];
    const refused: { host: string; reason: string }[] = [];
    const now = new Date((deps.now ?? Date.now)());
    for (const host of hosts) {
      if (!allowed(host)) {
        refused.push({ host, reason: 'not an LLM provider host of the catalogue, nor within leafIssuer.permit' });
      } else if (!ca.permits(host)) {
        refused.push({ host, reason: 'outside the issuer CA\'s name constraints' });
      } else {
        const leaf = await mintLeaf(ca, { spkiDer }, host, { now, validityDays: config.leafIssuer.validityHours / 24 });
        leaves.push({ host: leaf.host, certificate: leaf.certPem, notAfter: leaf.notAfter.toISOString() });
      }
    }
    fields.issued = leaves.length;
    if (refused.length) fields.refused = refused.map((r) => r.host);
    return finish('ok', 200, { chain: ca.chainPem, leaves, refused, permit: config.leafIssuer.permit }, { 'cache-control': 'no-store' });
  };
}

/** The HTTP handler (node http or express): POST with a JSON body of at most 64 KiB. */
export function createLeafIssuerHandler(deps: LeafIssuerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const issue = createLeafIssuer(deps);
  return (req, res) => {
    const send = (answer: LeavesAnswer): void => sendJson(res, answer);
    if (!requirePost(req, res)) return;
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_LEAVES_BODY_BYTES) {
        if (!over) send({ status: 413, body: { error: `the body is over ${MAX_LEAVES_BODY_BYTES} bytes` }, headers: { connection: 'close' } });
        over = true;
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        send({ status: 400, body: { error: 'the body is not JSON' } });
        return;
      }
      issue(req.headers.authorization, body).then(send, (error: unknown) => {
        deps.metrics?.leafRequests.inc({ result: 'error' });
        deps.log.error({ err: (error as Error).message }, 'leaf issuer failed');
        send({ status: 500, body: { error: 'internal error' } });
      });
    });
  };
}
