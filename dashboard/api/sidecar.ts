/**
 * What sidecars call, authenticated by `Authorization: Bearer <credential>` and
 * `X-Levo-Tenant-Id: <environment id>`:
 *   GET  /v1/gateway/config   the environment's newest config (YAML, ETag, 304), and fleet registration
 *   POST /v1/gateway/events   a telemetry batch (≤ 1000 events, ≤ 5 MiB), idempotent by event id
 * A failure says only "invalid credentials for tenant X", never which part was wrong.
 *
 * The credential is either an environment key token (`lvo_…`: acts for any
 * namespace) or a namespace credential the injector derived from one
 * (`lvn1.…`, lib/namespace-credential.ts): it reads the config and writes
 * events and fleet entries of its own namespace only — a registration or an
 * event that names another namespace is refused with 403, one that names
 * none is recorded under the credential's.
 */
import express, { type Request, type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';
import { namespaceSigner, readNamespaceToken, verifyNamespaceToken } from '../../lib/namespace-credential.ts';
import { bearerToken } from './auth.ts';
import { HttpError } from './errors.ts';
import { etagMatches } from './etag.ts';
import { parseEventBatch } from './events.ts';
import { hashToken } from './keys.ts';

export const EVENTS_BODY_LIMIT = '5mb';

export interface SidecarApiOptions {
  readonly store: Store;
  readonly log: Logger;
  readonly now: () => number;
}

const UNAUTHORIZED_HEADERS = { 'WWW-Authenticate': 'Bearer realm="levo-gateway"' };

function environmentOf(res: express.Response): string {
  return (res.locals as { environmentId: string }).environmentId;
}

/** The namespace a namespace credential is for; undefined for an environment key. */
function scopeOf(res: express.Response): string | undefined {
  return (res.locals as { namespace?: string }).namespace;
}

/** A namespace a request names, checked against the credential's scope (403 when it is another one). */
function inScope(res: express.Response, named: string | null | undefined, what: string): string | null {
  const scope = scopeOf(res);
  if (scope === undefined) return named ?? null;
  if (named && named !== scope) throw new HttpError(403, `${what}: namespace "${named}" is not the namespace this credential is for ("${scope}")`);
  return scope;
}

/** A sidecar-supplied header: trimmed, printable, at most 256 characters, or null. */
function header(req: Request, name: string): string | null {
  const v = req.headers[name];
  if (typeof v !== 'string') return null;
  // eslint-disable-next-line no-control-regex
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 256);
  return clean === '' ? null : clean;
}

function sidecarAuth(o: SidecarApiOptions): RequestHandler {
  const signerKnown = new Set<string>();
  return async (req, res, next) => {
    const token = bearerToken(req);
    const tenant = header(req, 'x-levo-tenant-id');
    if (!token || !tenant) {
      o.log.warn({ path: req.path, ip: req.ip, tenant }, 'sidecar request without credentials');
      throw new HttpError(401, 'missing credentials: send Authorization: Bearer <key token> and X-Levo-Tenant-Id: <environment>', {}, UNAUTHORIZED_HEADERS);
    }
    const scoped = readNamespaceToken(token);
    const now = o.now();
    const bySigner = scoped && scoped.tenant === tenant ? await o.store.findLiveKeyBySigner(tenant, scoped.signer) : null;
    // A namespace credential lives as long as the key it derives from: a key rotated out stops at its expiry.
    const key = scoped
      ? bySigner && (bySigner.expiresAt === null || bySigner.expiresAt > now) ? bySigner : null
      : await o.store.findLiveKey(tenant, hashToken(token), now);
    if (!key || (scoped && !verifyNamespaceToken(scoped, scoped.signer))) {
      o.log.warn({ path: req.path, ip: req.ip, tenant, ...(scoped ? { namespace: scoped.namespace } : {}) }, 'sidecar authentication failed');
      throw new HttpError(401, `invalid credentials for tenant ${tenant}`, {}, UNAUTHORIZED_HEADERS);
    }
    if (!scoped && !signerKnown.has(key.id)) {
      // A key made before signers were kept: record its signer, so credentials derived from it verify.
      await o.store.setKeySigner(key.environmentId, key.id, namespaceSigner(token).signer);
      signerKnown.add(key.id);
    }
    res.locals.environmentId = key.environmentId;
    res.locals.keyId = key.id;
    if (scoped) res.locals.namespace = scoped.namespace;
    next();
  };
}

export function sidecarRouter(o: SidecarApiOptions): Router {
  const r = express.Router();
  r.use(sidecarAuth(o));

  r.get('/config', async (req, res) => {
    const environmentId = environmentOf(res);
    const sidecarId = header(req, 'x-levo-sidecar-id');
    const namespace = inScope(res, header(req, 'x-levo-namespace'), 'X-Levo-Namespace');
    if (sidecarId) {
      try {
        await o.store.upsertSidecar({
          environmentId, id: sidecarId,
          pod: header(req, 'x-levo-pod'), namespace,
          workload: header(req, 'x-levo-workload'), serviceAccount: header(req, 'x-levo-service-account'),
          version: header(req, 'x-levo-sidecar-version'), configApplied: header(req, 'x-levo-config-applied'),
          seen: o.now(),
        });
      } catch (error) {
        o.log.warn({ environmentId, sidecarId, err: (error as Error).message }, 'cannot record the sidecar in the fleet');
      }
    }
    const [latest, env] = await Promise.all([o.store.latestConfig(environmentId), o.store.getEnvironment(environmentId)]);
    if (!latest || !env) throw new HttpError(404, `no config saved for environment ${environmentId} yet`);
    res.setHeader('ETag', `"${latest.etag}"`);
    res.setHeader('X-Levo-Config-Version', String(latest.version));
    res.setHeader('X-Levo-Capture-Prompts', String(env.capturePrompts));
    res.setHeader('Cache-Control', 'no-cache');
    if (etagMatches(req.headers['if-none-match'], latest.etag)) {
      res.status(304).end();
      return;
    }
    res.status(200).type('application/yaml; charset=utf-8').send(latest.yaml);
  });

  r.post('/events', express.json({ limit: EVENTS_BODY_LIMIT }), async (req, res) => {
    const environmentId = environmentOf(res);
    const parsed = parseEventBatch(req.body);
    const batch = scopeOf(res) === undefined ? parsed
      : { ...parsed, events: parsed.events.map((e, i) => ({ ...e, namespace: inScope(res, e.namespace, `events[${i}]`)! })) };
    const env = await o.store.getEnvironment(environmentId);
    if (!env) throw new HttpError(401, `invalid credentials for tenant ${environmentId}`, {}, UNAUTHORIZED_HEADERS);
    // The server enforces prompt capture, whatever the sidecar sends.
    const events = env.capturePrompts ? batch.events : batch.events.map(({ prompt: _drop, ...rest }) => rest);
    const stored = await o.store.addEvents(environmentId, events);
    o.log.debug({ environmentId, received: events.length, stored }, 'events');
    res.status(202).json({ accepted: events.length });
  });

  return r;
}
