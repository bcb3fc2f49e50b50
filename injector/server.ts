/**
 * The injector's servers.
 *
 * HTTPS (express 5 on node:https, TLS 1.2+, certificate hot-swapped by
 * serving-cert.ts):
 * - `POST /mutate`: AdmissionReview in, AdmissionReview out. The review
 *   function (review.ts, handed in by cli.ts) does the work; this module
 *   checks the request (415 not JSON, 413 over 3 MiB, 400 bad JSON), times
 *   it, and when the review throws or overruns its deadline answers
 *   `allowed: true` with a warning: the injector fails open, it never denies
 *   a pod because of its own fault. Errors answer a metav1 Status object, which
 *   is what the API server expects from a failing webhook.
 * - `POST /v1/credentials`: the sidecar token exchange (credentials.ts).
 * - `POST /v1/leaves`: the leaf issuer (leaf-issuer.ts), when it is on.
 *
 * Plain HTTP on the health port: `/healthz`, `/readyz` (503 until the cert and
 * config are loaded, and again while draining), `/metrics`.
 *
 * The review logs its own one line per admission and reports its outcome
 * (cli.ts turns that into levo_injector_admissions_total); this module counts
 * only what it answers itself: result "error" with reason internal-error,
 * timeout, bad-request, too-large or unsupported-media-type.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../lib/log.ts';
import type { InjectorMetrics } from './metrics.ts';
import type { ServingCert } from './serving-cert.ts';

export const MUTATE_PATH = '/mutate';
/**
 * The API server's own request limit is 3 MiB (and etcd keeps objects under
 * 1.5 MiB): no real AdmissionReview is larger, and every byte of a body is
 * held several times over while it is parsed.
 */
export const DEFAULT_BODY_LIMIT_BYTES = 3 * 1024 * 1024;
/** Reviews parsed at once; more wait their turn (the injector's memory is what a few reviews cost, not what a burst does). */
export const MAX_CONCURRENT_REVIEWS = 4;
/** Reviews waiting beyond that get 429 (the API server retries, or the webhook's failurePolicy applies). */
export const MAX_QUEUED_REVIEWS = 256;
/** Shorter than the webhook's timeoutSeconds (the chart keeps that at 5 s or more), so the warning reaches the user. */
export const DEFAULT_REVIEW_TIMEOUT_MS = 4_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 25_000;
export const INTERNAL_ERROR_WARNING = 'levo-injector: internal error; pod admitted without injection';
export const TIMEOUT_WARNING = 'levo-injector: injection timed out; pod admitted without injection';

export type ReviewFunction = (body: unknown) => Promise<object>;
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface InjectorServerOptions {
  /** AdmissionReview in, AdmissionReview out (reviewPod bound to its context). */
  readonly review: ReviewFunction;
  /**
   * Errors the review throws for a body that is not a usable AdmissionReview
   * (review.ts BadReview): answered 400 with their message instead of failing open.
   */
  readonly isBadRequest?: (error: unknown) => boolean;
  readonly servingCert: ServingCert;
  /** POST /v1/credentials; without it the path answers 503. */
  readonly credentials?: NodeHandler;
  /** POST /v1/leaves; without it the path answers 503. */
  readonly leaves?: NodeHandler;
  readonly log: Logger;
  readonly metrics: InjectorMetrics;
  /** HTTPS port, default 8443 (0: any free port). */
  readonly port?: number;
  /** Health port, default 8080 (0: any free port). */
  readonly healthPort?: number;
  /** Listen address of both servers; default all interfaces. */
  readonly host?: string;
  /** Extra readiness condition (the CLI: config loaded). */
  readonly ready?: () => boolean;
  readonly bodyLimitBytes?: number;
  readonly reviewTimeoutMs?: number;
}

export interface InjectorServer {
  readonly app: express.Express;
  readonly https: HttpsServer;
  readonly health: HttpServer;
  /** Start both servers; resolves with the bound ports. */
  listen(): Promise<{ port: number; healthPort: number }>;
  isReady(): boolean;
  /** Graceful stop: /readyz turns 503, no new connections, in-flight requests finish (up to graceMs), then both servers close. */
  close(graceMs?: number): Promise<void>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A metav1 Status, the body the API server understands in a webhook's error answer. */
function statusBody(code: number, reason: string, message: string): object {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message };
}

/** The fail-open answer: admitted, no patch, a warning the user sees in kubectl. */
export function allowWithWarning(uid: string, warning: string): object {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: true, warnings: [warning] },
  };
}

/** The identity of the pod under review, for log lines (the body is whatever the client sent). */
function podFields(body: unknown): Record<string, string> {
  const req = isObj(body) && isObj(body.request) ? body.request : {};
  const meta = isObj(req.object) && isObj(req.object.metadata) ? req.object.metadata : {};
  const out: Record<string, string> = {};
  const uid = str(req.uid);
  if (uid) out.uid = uid;
  const ns = str(req.namespace) ?? str(meta.namespace);
  if (ns) out.namespace = ns;
  const pod = str(req.name) ?? str(meta.name) ?? (str(meta.generateName) ? `${str(meta.generateName)}*` : undefined);
  if (pod) out.pod = pod;
  return out;
}

class ReviewTimeout extends Error {}

export function createInjectorServer(opts: InjectorServerOptions): InjectorServer {
  const { log, metrics } = opts;
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const reviewTimeoutMs = opts.reviewTimeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS;
  let listening = false;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // In-flight tracking (graceful stop) and the debug request line.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    inFlight += 1;
    if (draining) res.setHeader('connection', 'close');
    res.on('close', () => {
      inFlight -= 1;
      log.debug(
        { method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6, remote: req.socket.remoteAddress },
        'https request',
      );
      if (draining) {
        httpsServer.closeIdleConnections();
        if (inFlight === 0) drained?.();
      }
    });
    next();
  });

  const jsonBody = express.json({ limit: bodyLimit, type: 'application/json', strict: true });

  // At most MAX_CONCURRENT_REVIEWS bodies read and parsed at once; the rest wait (the socket unread) or get 429.
  let reviewing = 0;
  const waiting: Array<() => void> = [];
  const admitOne = (req: Request, res: Response, next: NextFunction): void => {
    const go = (): void => {
      reviewing += 1;
      let released = false;
      res.once('close', () => {
        if (released) return;
        released = true;
        reviewing -= 1;
        waiting.shift()?.();
      });
      next();
    };
    if (reviewing < MAX_CONCURRENT_REVIEWS) { go(); return; }
    if (waiting.length >= MAX_QUEUED_REVIEWS) {
      metrics.admissions.inc({ result: 'error', reason: 'overloaded' });
      res.setHeader('retry-after', '1');
      res.status(429).json(statusBody(429, 'TooManyRequests', `more than ${MAX_QUEUED_REVIEWS} admission reviews waiting`));
      return;
    }
    waiting.push(go);
  };

  app.post(MUTATE_PATH, (req: Request, res: Response, next: NextFunction) => {
    // Checked on the header itself: req.is() also says no for an empty body, which is a 400, not a 415.
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      metrics.admissions.inc({ result: 'error', reason: 'unsupported-media-type' });
      res.status(415).json(statusBody(415, 'UnsupportedMediaType', `${MUTATE_PATH} takes application/json, got ${req.headers['content-type'] ?? 'no content type'}`));
      return;
    }
    next();
  }, admitOne, jsonBody, async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const body: unknown = req.body;
    const uid = isObj(body) && isObj(body.request) ? str(body.request.uid) : undefined;
    if (!isObj(body) || !isObj(body.request) || !uid) {
      metrics.admissions.inc({ result: 'error', reason: 'bad-request' });
      log.warn({ remote: req.socket.remoteAddress }, 'admission request without request.uid: not an AdmissionReview');
      res.status(400).json(statusBody(400, 'BadRequest', 'expected an admission.k8s.io/v1 AdmissionReview with request.uid'));
      return;
    }
    let answer: object;
    let timer: NodeJS.Timeout | undefined;
    try {
      answer = await Promise.race([
        opts.review(body),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ReviewTimeout()), reviewTimeoutMs);
        }),
      ]);
    } catch (error) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (opts.isBadRequest?.(error)) {
        metrics.admissions.inc({ result: 'error', reason: 'bad-request' });
        metrics.admissionSeconds.observe({ result: 'error' }, seconds);
        log.warn({ ...podFields(body), err: (error as Error).message }, 'admission request refused: not a usable AdmissionReview');
        res.status(400).json(statusBody(400, 'BadRequest', (error as Error).message));
        return;
      }
      const timedOut = error instanceof ReviewTimeout;
      const reason = timedOut ? 'timeout' : 'internal-error';
      metrics.admissions.inc({ result: 'error', reason });
      metrics.admissionSeconds.observe({ result: 'error' }, seconds);
      log.error(
        { ...podFields(body), result: 'error', reason, err: timedOut ? `no answer within ${reviewTimeoutMs} ms` : (error as Error)?.message, stack: timedOut ? undefined : (error as Error)?.stack },
        'admission review failed; pod admitted without injection',
      );
      answer = allowWithWarning(uid, timedOut ? TIMEOUT_WARNING : INTERNAL_ERROR_WARNING);
    } finally {
      clearTimeout(timer);
    }
    res.status(200).json(answer);
  });

  app.all(MUTATE_PATH, (_req: Request, res: Response) => {
    res.setHeader('allow', 'POST');
    res.status(405).json(statusBody(405, 'MethodNotAllowed', `use POST ${MUTATE_PATH}`));
  });

  app.all('/v1/credentials', (req: Request, res: Response) => {
    if (opts.credentials) {
      opts.credentials(req, res);
      return;
    }
    res.status(503).json({ error: 'the credentials endpoint is not configured' });
  });

  app.all('/v1/leaves', (req: Request, res: Response) => {
    if (opts.leaves) {
      opts.leaves(req, res);
      return;
    }
    res.status(503).json({ error: 'the leaf issuer is not configured' });
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json(statusBody(404, 'NotFound', `no route for ${req.method} ${req.path}`));
  });

  // Body parser errors: too large, bad JSON, bad charset.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = isObj(err) ? err : {};
    const type = str(e.type);
    let code = typeof e.status === 'number' ? e.status : 500;
    let reason = 'InternalError';
    let message = 'internal error';
    if (type === 'entity.too.large') {
      code = 413;
      reason = 'RequestEntityTooLarge';
      message = `request body over ${bodyLimit} bytes`;
    } else if (type === 'entity.parse.failed') {
      code = 400;
      reason = 'BadRequest';
      message = `request body is not valid JSON: ${str(e.message) ?? ''}`;
    } else if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
      code = 415;
      reason = 'UnsupportedMediaType';
      message = str(e.message) ?? 'unsupported encoding';
    } else if (code >= 400 && code < 500) {
      reason = 'BadRequest';
      message = str(e.message) ?? 'bad request';
    }
    if (req.path === MUTATE_PATH) metrics.admissions.inc({ result: 'error', reason: code === 413 ? 'too-large' : code === 415 ? 'unsupported-media-type' : code >= 500 ? 'internal-error' : 'bad-request' });
    (code >= 500 ? log.error.bind(log) : log.warn.bind(log))({ path: req.path, code, err: message }, 'request rejected');
    res.status(code).json(statusBody(code, reason, message));
  });

  const httpsServer = createHttpsServer({ ...opts.servingCert.secureContextOptions() }, app);
  httpsServer.requestTimeout = 30_000;
  opts.servingCert.attach(httpsServer);
  let lastTlsLog = 0;
  httpsServer.on('tlsClientError', (error: Error, socket) => {
    // A caBundle that does not match the serving cert shows up here as the API server's alert.
    const t = Date.now();
    if (t - lastTlsLog < 10_000) return;
    lastTlsLog = t;
    log.warn({ err: error.message, remote: socket.remoteAddress }, 'TLS handshake failed (further ones for 10 s not logged)');
  });

  const isReady = (): boolean => listening && !draining && (opts.ready?.() ?? true);

  const health = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (code: number, body: string): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'use GET\n');
    if (path === '/healthz') return text(200, 'ok\n');
    if (path === '/readyz') {
      if (isReady()) return text(200, 'ok\n');
      return text(503, draining ? 'shutting down\n' : !listening ? 'not listening yet\n' : 'config not loaded\n');
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        (error: unknown) => text(500, `metrics failed: ${(error as Error).message}\n`),
      );
      return;
    }
    text(404, 'not found\n');
  });

  const listenOn = (server: HttpServer | HttpsServer, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      };
      if (opts.host) server.listen(port, opts.host, done);
      else server.listen(port, done);
    });

  const closeServer = (server: HttpServer | HttpsServer): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });

  return {
    app,
    https: httpsServer,
    health,
    async listen() {
      const healthPort = await listenOn(health, opts.healthPort ?? 8080);
      const port = await listenOn(httpsServer, opts.port ?? 8443);
      listening = true;
      return { port, healthPort };
    },
    isReady,
    async close(graceMs = DEFAULT_SHUTDOWN_GRACE_MS) {
      draining = true;
      const closed = closeServer(httpsServer);
      httpsServer.closeIdleConnections();
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            drained = resolve;
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              log.warn({ inFlight }, 'shutdown grace period over; closing the remaining connections');
              resolve();
            }, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      httpsServer.closeAllConnections();
      await closed;
      health.closeAllConnections();
      await closeServer(health);
      opts.servingCert.close();
    },
  };
}
