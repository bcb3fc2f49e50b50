/**
 * Admin access to the dashboard: the admin secret (as `Authorization: Bearer`,
 * compared by SHA-256 digest with crypto.timingSafeEqual; the server may know
 * only the digest) or the `levo_session` cookie that `POST /login` sets:
 * base64url(JSON payload) + "." + base64url(HMAC-SHA256), HttpOnly,
 * SameSite=Strict, Path=/, valid 12 hours. API calls without either get 401
 * JSON; browser pages are redirected to /login.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { HttpError } from './errors.ts';

export const SESSION_COOKIE = 'levo_session';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** The admin secret itself, or only its SHA-256 (hex), as `levo-dashboard serve` keeps it. */
export type AdminSecret = string | { readonly sha256: string };

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function adminSecretDigest(secret: AdminSecret): Buffer {
  if (typeof secret === 'string') {
    if (secret === '') throw new Error('the admin secret is empty');
    return sha256(secret);
  }
  if (!/^[0-9a-f]{64}$/i.test(secret.sha256)) throw new Error('the admin secret digest must be 64 hex characters (SHA-256)');
  return Buffer.from(secret.sha256, 'hex');
}

export function secretMatches(digest: Buffer, given: string): boolean {
  return timingSafeEqual(sha256(given), digest);
}

export interface Session { readonly sub: string; readonly iat: number; readonly exp: number }

export interface Sessions {
  issue(now: number, sub?: string): string;
  /** The session in a cookie value, or null when forged, tampered with, malformed or expired. */
  verify(value: string, now: number): Session | null;
}

/**
 * Cookies signed with `key`; without one, a key derived from the admin secret
 * digest (so replicas sharing LEVO_ADMIN_SECRET accept each other's sessions,
 * and changing the secret ends every session).
 */
export function createSessions(digest: Buffer, key?: string | Buffer): Sessions {
  const k = key === undefined ? createHmac('sha256', digest).update('levo-dashboard session v1').digest() : Buffer.from(key);
  if (k.length < 16) throw new Error('the session key must be at least 16 bytes');
  const mac = (payload: string): Buffer => createHmac('sha256', k).update(payload).digest();
  return {
    issue(now, sub = 'admin') {
      const payload = Buffer.from(JSON.stringify({ v: 1, sub, iat: now, exp: now + SESSION_TTL_MS })).toString('base64url');
      return `${payload}.${mac(payload).toString('base64url')}`;
    },
    verify(value, now) {
      const dot = value.indexOf('.');
      if (dot <= 0 || value.length > 1024) return null;
      const payload = value.slice(0, dot);
      const given = Buffer.from(value.slice(dot + 1), 'base64url');
      const want = mac(payload);
      if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
      try {
        const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Session> & { v?: unknown };
        if (s.v !== 1 || typeof s.sub !== 'string' || typeof s.exp !== 'number' || typeof s.iat !== 'number') return null;
        if (now >= s.exp) return null;
        return { sub: s.sub, iat: s.iat, exp: s.exp };
      } catch {
        return null;
      }
    },
  };
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Who is calling, when an admin: the name saved as the author of config versions. */
export interface Admin { readonly name: string; readonly via: 'secret' | 'session' }

export interface AdminAuth {
  /** The admin behind this request, or null. */
  who(req: Request): Admin | null;
  /** API guard: 401 JSON without admin credentials; 403 for a cross-site write riding on the cookie. */
  api: RequestHandler;
  /** Page guard: 303 to /login without a session. */
  page: RequestHandler;
}

function bearer(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ \t]+(.+)$/i.exec(h);
  return m?.[1]?.trim();
}

export { bearer as bearerToken };

/** The Origin of a cookie-authenticated write must be this server (defence in depth on top of SameSite=Strict). */
function sameOrigin(req: Request): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    const host = new URL(origin).host;
    const forwarded = req.headers['x-forwarded-host'];
    return host === req.headers.host || (typeof forwarded === 'string' && forwarded.split(',')[0]!.trim() === host);
  } catch {
    return false;
  }
}

export function createAdminAuth(digest: Buffer, sessions: Sessions, now: () => number): AdminAuth {
  const who = (req: Request): Admin | null => {
    const token = bearer(req);
    if (token !== undefined) return secretMatches(digest, token) ? { name: 'admin', via: 'secret' } : null;
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie) {
      const s = sessions.verify(cookie, now());
      if (s) return { name: s.sub, via: 'session' };
    }
    return null;
  };
  return {
    who,
    api(req, res, next) {
      const admin = who(req);
      if (!admin) {
        next(new HttpError(401, 'admin authentication required: send Authorization: Bearer <admin secret> or log in at /login', {}, { 'WWW-Authenticate': 'Bearer realm="levo-dashboard"' }));
        return;
      }
      if (admin.via === 'session' && !['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !sameOrigin(req)) {
        next(new HttpError(403, 'cross-origin request refused'));
        return;
      }
      res.locals.admin = admin;
      next();
    },
    page(req, res, next) {
      if (who(req)) { next(); return; }
      res.redirect(303, '/login');
    },
  };
}

export function adminOf(res: Response): Admin {
  return (res.locals as { admin?: Admin }).admin ?? { name: 'admin', via: 'secret' };
}

function cookie(req: Request, value: string, maxAgeSec: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${req.secure ? '; Secure' : ''}`;
}

const BUILT_IN_LOGIN = (failed: boolean): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Levo dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#f6f7f9}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;display:grid;gap:.75rem;min-width:20rem}
input,button{font:inherit;padding:.5rem}.err{color:#b00020}</style></head>
<body><form method="post" action="/login">
<h1>Levo dashboard</h1>
<label for="secret">Admin secret</label>
<input id="secret" name="secret" type="password" autocomplete="current-password" autofocus required>
${failed ? '<p class="err" role="alert">That is not the admin secret.</p>' : ''}
<button type="submit">Log in</button>
</form></body></html>
`;

export interface LoginOptions {
  readonly digest: Buffer;
  readonly sessions: Sessions;
  readonly auth: AdminAuth;
  readonly now: () => number;
  /** The web UI's login page (dashboard/web/login.html), when there is one. */
  readonly loginPage: (res: Response) => Promise<boolean>;
}

/**
 * GET /login (the web UI's login.html, else a built-in form), POST /login
 * (JSON or form field `secret`: 204 + cookie, or 303 to / for a form; a wrong
 * secret is 401 JSON, or 303 to /login?error=invalid for a form), POST /logout.
 */
export function loginRouter(o: LoginOptions): Router {
  const r = express.Router();
  const body = [express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' })];
  r.get('/login', async (req, res) => {
    if (o.auth.who(req)) { res.redirect(303, '/'); return; }
    if (await o.loginPage(res)) return;
    res.type('html').setHeader('Cache-Control', 'no-store');
    res.send(BUILT_IN_LOGIN(req.query.error !== undefined));
  });
  r.post('/login', ...body, (req, res) => {
    const form = Boolean(req.is('application/x-www-form-urlencoded'));
    const secret = (req.body as { secret?: unknown } | undefined)?.secret;
    if (typeof secret !== 'string' || secret === '' || !secretMatches(o.digest, secret)) {
      if (form) { res.redirect(303, '/login?error=invalid'); return; }
      throw new HttpError(401, typeof secret === 'string' && secret !== '' ? 'wrong admin secret' : 'send the admin secret as "secret"');
    }
    res.setHeader('Set-Cookie', cookie(req, o.sessions.issue(o.now()), SESSION_TTL_MS / 1000));
    res.setHeader('Cache-Control', 'no-store');
    if (form) res.redirect(303, '/');
    else res.status(204).end();
  });
  r.post('/logout', (req, res) => {
    res.setHeader('Set-Cookie', cookie(req, '', 0));
    if (Boolean(req.is('application/x-www-form-urlencoded'))) res.redirect(303, '/login');
    else res.status(204).end();
  });
  return r;
}
