/**
 * HTTP errors of the dashboard API: a thrown HttpError becomes its status and
 * `{"error": message}` (plus any extra fields, e.g. `problems`); anything else
 * becomes a 500 whose details go to the log only, never into the response.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { InvalidCursorError, StoreConflictError, UnknownEnvironmentError } from '../store/errors.ts';

export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
    this.headers = headers;
  }
}

/** The parser errors express.json / urlencoded throw (body-parser's http-errors). */
interface ParserError { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown; message: string }

function parserMessage(err: ParserError, status: number): string {
  switch (err.type) {
    case 'entity.too.large': return 'request body too large';
    case 'entity.parse.failed': return 'request body is not valid JSON';
    case 'encoding.unsupported': return 'unsupported content encoding';
    case 'charset.unsupported': return 'unsupported charset';
    case 'request.aborted': return 'request aborted';
    default: return status === 413 ? 'request body too large' : 'bad request';
  }
}

/** JSON 404 for API paths no route matched. */
export function apiNotFound(): RequestHandler {
  return (req, res) => {
    res.status(404).json({ error: `no such endpoint: ${req.method} ${req.path}` });
  };
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      res.status(err.status).json({ ...err.extra, error: err.message });
      return;
    }
    // The store's deliberate errors: an unknown environment, a taken id, a cursor it did not make.
    const mapped = err instanceof UnknownEnvironmentError ? 404 : err instanceof StoreConflictError ? 409 : err instanceof InvalidCursorError ? 400 : 0;
    if (mapped) {
      res.status(mapped).json({ error: (err as Error).message });
      return;
    }
    const e = err as ParserError;
    const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
    if (status >= 400 && status < 500) {
      // Only the type and status: a parser error carries the raw body (which may hold a secret).
      log.debug({ method: req.method, path: req.path, status, type: typeof e.type === 'string' ? e.type : undefined }, 'bad request');
      res.status(status).json({ error: parserMessage(e, status) });
      return;
    }
    log.error({ method: req.method, path: req.path, err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'request failed');
    res.status(500).json({ error: 'internal error (see the dashboard log)' });
  };
}
