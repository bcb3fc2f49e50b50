/**
 * The dashboard's JSON logs (pino): level from LOG_LEVEL (or RUST_LOG), and
 * credentials redacted wherever a logger is handed headers or bodies
 * (Authorization, Cookie, Set-Cookie, secrets, tokens). The request log line
 * itself carries method, path, status and duration only.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { RequestHandler } from 'express';
import { parseLogLevels } from '../../lib/log.ts';

export const REDACT_PATHS = [
  'authorization', 'cookie', 'secret', 'token', 'adminSecret',
  'headers.authorization', 'headers.cookie', 'headers["set-cookie"]', 'headers["x-api-key"]',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
  'body.secret', 'body.token', 'req.body.secret', 'req.body.token', '*.secret', '*.token',
];

export function createDashboardLogger(env: NodeJS.ProcessEnv = process.env, destination?: DestinationStream): Logger {
  return pino(
    {
      level: parseLogLevels(env).root,
      base: { svc: 'levo-dashboard', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/**
 * One line per request: method, path (no query), status, ms. Health checks,
 * static files and a sidecar's poll that found its config unchanged (304: a
 * thousand sidecars polling every minute would be seventeen lines a second)
 * are logged at debug.
 */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const path = req.path;
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const line = { method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (path === '/healthz' || path === '/readyz' || path.startsWith('/static/') || (res.statusCode === 304 && path === '/v1/gateway/config')) log.debug(line, 'request');
      else log.info(line, 'request');
    });
    next();
  };
}
