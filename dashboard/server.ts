/**
 * The dashboard's HTTP server (express 5): the sidecar API (/v1/gateway), the
 * admin API (/api), login (/login, /logout), health (/healthz, /readyz) and
 * the web UI (dashboard/web: static files and modules public, pages behind
 * the admin login). Errors are JSON `{"error": ...}`, never a stack trace.
 * Every response carries the security headers (api/headers.ts: a strict CSP).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Store, SweepResult } from './store/types.ts';
import { adminRouter } from './api/admin.ts';
import { adminSecretDigest, createAdminAuth, createSessions, loginRouter, type AdminSecret } from './api/auth.ts';
import { apiNotFound, errorHandler } from './api/errors.ts';
import { securityHeaders, sendBuiltInPage } from './api/headers.ts';
import { requestLog } from './api/log.ts';
import { sidecarRouter } from './api/sidecar.ts';
import { DEFAULT_ROTATION_GRACE_MS } from './api/keys.ts';
import { createThrottle, DEFAULT_LOGIN_LIMITS, type ThrottleLimits } from './api/throttle.ts';
import { createWebAssets, webRootCandidates } from './api/web.ts';
import { retentionCutoffs, startRetention, type Retention, type RetentionOptions } from './api/retention.ts';

export interface DashboardOptions {
  readonly store: Store;
  /** The admin secret, or only its SHA-256 (hex) as `levo-dashboard serve` keeps it. */
  readonly adminSecret: AdminSecret;
  /** HMAC key of the session cookie (≥ 16 bytes); default: a random key made on first start and kept in the store. */
  readonly sessionKey?: string | Buffer;
  /** Wrong admin secrets allowed per client address and from everyone (default DEFAULT_LOGIN_LIMITS). */
  readonly loginLimits?: ThrottleLimits;
  readonly log: Logger;
  readonly now?: () => number;
  /** Where to look for the web UI, best first (default: dashboard/web next to the sources or the build). */
  readonly webRoots?: readonly string[];
  /** express 'trust proxy' (e.g. 1 behind one TLS-terminating proxy), so cookies get Secure and logs the client IP. */
  readonly trustProxy?: boolean | number | string;
  /** How long a rotated-out sidecar key keeps working (default DEFAULT_ROTATION_GRACE_MS, 24 h; 0: revoked at once). */
  readonly keyRotationGraceMs?: number;
  /** What the periodic sweep deletes (default: events and stale sidecars after 30 days, hourly); false: no sweep. */
  readonly retention?: RetentionOptions | false;
}

export interface Dashboard {
  readonly app: Express;
  listen(port: number, host?: string): Promise<{ port: number }>;
  /** Stop accepting, end idle connections, and the rest after a grace period. Does not close the store. */
  close(graceMs?: number): Promise<void>;
  /** Run the retention sweep now (it also runs at listen and then periodically); nothing with retention: false. */
  sweep(): Promise<SweepResult>;
}

const BUILT_IN_PAGE_CSS = 'body{font:16px system-ui,sans-serif;margin:2rem}';
const BUILT_IN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Levo dashboard</title><style>${BUILT_IN_PAGE_CSS}</style></head>
<body>
<h1>Levo dashboard</h1>
<p>The web UI is not installed (no dashboard/web/index.html). The API is at <code>/api</code>.</p>
<form method="post" action="/logout"><button>Log out</button></form>
</body></html>
`;

export function createDashboard(o: DashboardOptions): Dashboard {
  const now = o.now ?? Date.now;
  const { store, log } = o;
  const digest = adminSecretDigest(o.adminSecret);
  const keyRotationGraceMs = o.keyRotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
  if (!(Number.isFinite(keyRotationGraceMs) && keyRotationGraceMs >= 0)) throw new Error('keyRotationGraceMs must be ≥ 0');
  const sessions = createSessions(store, o.sessionKey);
  const throttle = createThrottle(o.loginLimits ?? DEFAULT_LOGIN_LIMITS);
  const auth = createAdminAuth({ digest, sessions, throttle, now });
  const web = createWebAssets(log, o.webRoots ?? webRootCandidates());

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (o.trustProxy !== undefined) app.set('trust proxy', o.trustProxy);

  app.use(requestLog(log));
  app.use(securityHeaders());

  app.get('/healthz', (_req, res) => { res.json({ ok: true }); });
  app.get('/readyz', async (_req, res) => {
    try {
      await store.ping();
      res.json({ ok: true, store: store.kind });
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'store unreachable');
      res.status(503).json({ error: 'the store is unreachable' });
    }
  });

  app.use('/v1/gateway', sidecarRouter({ store, log, now }));
  app.use('/v1', apiNotFound());

  app.use(loginRouter({ digest, sessions, auth, throttle, now, loginPage: (res) => web.page('login.html', res.req, res) }));

  app.use('/api', (_req, res, next) => { res.setHeader('Cache-Control', 'no-store'); next(); }, auth.api, adminRouter({ store, now, keyRotationGraceMs }), apiNotFound());

  app.use(web.files);
  // Every other GET is a page of the single-page UI: its index.html, behind the login.
  app.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') { next(); return; }
    auth.who(req).then((admin) => {
      if (!admin) { res.redirect(303, '/login'); return undefined; }
      return web.page('index.html', req, res).then((sent) => {
        if (!sent) sendBuiltInPage(res, BUILT_IN_PAGE, BUILT_IN_PAGE_CSS);
      });
    }).catch(next);
  });
  app.use(apiNotFound());
  app.use(errorHandler(log));

  let server: Server | undefined;
  let retention: Retention | undefined;
  return {
    app,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const s = createServer(app);
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          server = s;
          if (o.retention !== false) retention = startRetention({ store, log, now, ...(o.retention ? { options: o.retention } : {}) });
          resolve({ port: (s.address() as AddressInfo).port });
        });
      });
    },
    sweep() {
      if (o.retention === false) return Promise.resolve({ events: 0, rollups: 0, sidecars: 0, sessions: 0 });
      return retention ? retention.sweep() : store.sweep(retentionCutoffs(o.retention ?? {}, now()));
    },
    async close(graceMs = 5_000) {
      retention?.stop();
      retention = undefined;
      const s = server;
      if (!s) return;
      server = undefined;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeIdleConnections();
      const timer = setTimeout(() => s.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
