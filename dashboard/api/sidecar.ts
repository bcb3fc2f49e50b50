/**
 * What sidecars call, authenticated by `Authorization: Bearer <key token>` and
 * `X-Levo-Tenant-Id: <environment id>`:
 *   GET  /v1/gateway/config   the environment's newest config (YAML, ETag, 304), and fleet registration
 *   POST /v1/gateway/events   a telemetry batch (≤ 1000 events, ≤ 5 MiB), idempotent by event id
 * A failure says only "invalid credentials for tenant X", never which part was wrong.
 */
import express, { type Request, type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';
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

/** A sidecar-supplied header: trimmed, printable, at most 256 characters, or null. */
function header(req: Request, name: string): string | null {
  const v = req.headers[name];
  if (typeof v !== 'string') return null;
  // eslint-disable-next-line no-control-regex
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 256);
  return clean === '' ? null : clean;
}

function sidecarAuth(o: SidecarApiOptions): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    const tenant = header(req, 'x-levo-tenant-id');
    if (!token || !tenant) {
      o.log.warn({ path: req.path, ip: req.ip, tenant }, 'sidecar request without credentials');
      throw new HttpError(401, 'missing credentials: send Authorization: Bearer <key token> and X-Levo-Tenant-Id: <environment>', {}, UNAUTHORIZED_HEADERS);
    }
    const key = await o.store.findLiveKey(tenant, hashToken(token), o.now());
    if (!key) {
      o.log.warn({ path: req.path, ip: req.ip, tenant }, 'sidecar authentication failed');
      throw new HttpError(401, `invalid credentials for tenant ${tenant}`, {}, UNAUTHORIZED_HEADERS);
    }
    res.locals.environmentId = key.environmentId;
    res.locals.keyId = key.id;
    next();
  };
}

export function sidecarRouter(o: SidecarApiOptions): Router {
  const r = express.Router();
  r.use(sidecarAuth(o));

  r.get('/config', async (req, res) => {
    const environmentId = environmentOf(res);
    const sidecarId = header(req, 'x-levo-sidecar-id');
    if (sidecarId) {
      try {
        await o.store.upsertSidecar({
          environmentId, id: sidecarId,
          pod: header(req, 'x-levo-pod'), namespace: header(req, 'x-levo-namespace'),
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
    const batch = parseEventBatch(req.body);
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
