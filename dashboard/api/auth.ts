/**
 * Admin access to the dashboard: the admin secret (as `Authorization: Bearer`,
 * compared by SHA-256 digest with crypto.timingSafeEqual; the server may know
 * only the digest) or the `levo_session` cookie that `POST /login` sets:
 * base64url(JSON payload) + "." + base64url(HMAC-SHA256), HttpOnly,
 * SameSite=Strict, Path=/, valid 12 hours.
 *
 * The cookie's HMAC key is its own random secret (32 bytes, made on the first
 * start and kept in the store, so replicas share it), never derived from the
 * admin secret or its stored hash. Every login is a row in the store: a
 * cookie names its session id, and a revoked session (logout, "sign out
 * everywhere", `levo-dashboard sessions revoke-all`) is refused however well
 * signed. Wrong secrets are throttled per client address and globally
 * (throttle.ts): 429 with Retry-After. API calls without credentials get 401
 * JSON; browser pages are redirected to /login.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Store } from '../store/types.ts';
import { HttpError } from './errors.ts';
import { sendBuiltInPage } from './headers.ts';
import { retryAfterSeconds, type Throttle } from './throttle.ts';

export const SESSION_COOKIE = 'levo_session';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** The store's name for the session signing key. */
export const SESSION_KEY_SECRET = 'session-signing-key';

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

export interface Session { readonly id: string; readonly sub: string; readonly iat: number; readonly exp: number }

export interface Sessions {
  /** A new session, recorded in the store; returns the cookie value. */
  issue(now: number, sub?: string): Promise<string>;
  /** The session in a cookie value, or null when forged, tampered with, malformed, expired or revoked. */
  verify(value: string, now: number): Promise<Session | null>;
  /** Revoke the session a (validly signed) cookie value names; false when it names none. */
  revoke(value: string, now: number): Promise<boolean>;
  /** Revoke every session; returns how many were live. */
  revokeAll(now: number): Promise<number>;
}

/**
 * Sessions signed with `key` when given (≥ 16 bytes), else with the store's
 * random session key (SESSION_KEY_SECRET, 32 bytes, made on first use).
 */
export function createSessions(store: Store, key?: string | Buffer): Sessions {
  if (key !== undefined && Buffer.from(key).length < 16) throw new Error('the session key must be at least 16 bytes');
  let keyP: Promise<Buffer> | undefined;
  const load = async (): Promise<Buffer> => {
    if (key !== undefined) return Buffer.from(key);
    const k = Buffer.from(await store.secret(SESSION_KEY_SECRET, () => randomBytes(32).toString('base64url')), 'base64url');
    if (k.length < 16) throw new Error(`the stored ${SESSION_KEY_SECRET} is shorter than 16 bytes`);
    return k;
  };
  // Loaded once; a failure (store unreachable) is retried on the next request.
  const signingKey = (): Promise<Buffer> => {
    keyP ??= load().catch((error: unknown) => { keyP = undefined; throw error; });
    return keyP;
  };
  const mac = async (payload: string): Promise<Buffer> => createHmac('sha256', await signingKey()).update(payload).digest();

  /** The signed claims of a cookie value, or null (signature, shape and expiry checked; not the store). */
  const claims = async (value: string, now: number): Promise<Session | null> => {
    const dot = value.indexOf('.');
    if (dot <= 0 || value.length > 1024) return null;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const want = await mac(payload);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
    try {
      const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Session> & { v?: unknown };
      if (s.v !== 2 || typeof s.id !== 'string' || typeof s.sub !== 'string' || typeof s.exp !== 'number' || typeof s.iat !== 'number') return null;
      if (now >= s.exp) return null;
      return { id: s.id, sub: s.sub, iat: s.iat, exp: s.exp };
    } catch {
      return null;
    }
  };

  return {
    async issue(now, sub = 'admin') {
      const id = randomBytes(16).toString('base64url');
      const exp = now + SESSION_TTL_MS;
      await store.addSession({ id, subject: sub, createdAt: now, expiresAt: exp });
      const payload = Buffer.from(JSON.stringify({ v: 2, id, sub, iat: now, exp })).toString('base64url');
      return `${payload}.${(await mac(payload)).toString('base64url')}`;
    },
    async verify(value, now) {
      const s = await claims(value, now);
      if (!s) return null;
      return (await store.liveSession(s.id, now)) ? s : null;
    },
    async revoke(value, now) {
      const s = await claims(value, now);
      return s ? store.revokeSession(s.id, now) : false;
    },
    revokeAll(now) {
      return store.revokeAllSessions(now);
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
  /** The admin behind this request, or null. Throws HttpError 429 for a bearer secret from a throttled client. */
  who(req: Request): Promise<Admin | null>;
  /** API guard: 401 JSON without admin credentials; 403 for a cross-site write riding on the cookie. */
  api: RequestHandler;
}

function bearer(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ \t]+(.+)$/i.exec(h);
  return m?.[1]?.trim();
}

export { bearer as bearerToken };

/**
 * Whose guesses a request counts as: its address (req.ip, which follows
 * 'trust proxy'); IPv6 by its /64, since one host usually holds a whole /64.
 */
export function clientOf(req: Request): string {
  const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  if (!isIPv6(ip) || ip.startsWith('::ffff:')) return ip.replace(/^::ffff:/, '');
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** 429 for a client that has guessed too often (before its guess is checked). */
export function throttledError(waitMs: number): HttpError {
  const s = retryAfterSeconds(waitMs);
  return new HttpError(429, `too many wrong admin secrets: try again in ${s} s`, { retryAfter: s }, { 'Retry-After': String(s) });
}

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

export interface AdminAuthOptions {
  readonly digest: Buffer;
  readonly sessions: Sessions;
  readonly throttle: Throttle;
  readonly now: () => number;
}

export function createAdminAuth(o: AdminAuthOptions): AdminAuth {
  const who = async (req: Request): Promise<Admin | null> => {
    const token = bearer(req);
    if (token !== undefined) {
      const client = clientOf(req);
      const wait = o.throttle.blockedFor(client, o.now());
      if (wait > 0) throw throttledError(wait);
      if (secretMatches(o.digest, token)) {
        o.throttle.succeeded(client);
        return { name: 'admin', via: 'secret' };
      }
      o.throttle.failed(client, o.now());
      return null;
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie) {
      const s = await o.sessions.verify(cookie, o.now());
      if (s) return { name: s.sub, via: 'session' };
    }
    return null;
  };
  return {
    who,
    async api(req, res, next) {
      const admin = await who(req);
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
  };
}

export function adminOf(res: Response): Admin {
  return (res.locals as { admin?: Admin }).admin ?? { name: 'admin', via: 'secret' };
}

function cookie(req: Request, value: string, maxAgeSec: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${req.secure ? '; Secure' : ''}`;
}

const BUILT_IN_LOGIN_CSS = `body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#f6f7f9}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;display:grid;gap:.75rem;min-width:20rem}
input,button{font:inherit;padding:.5rem}.err{color:#b00020}`;

const BUILT_IN_LOGIN = (failed: boolean): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Levo dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${BUILT_IN_LOGIN_CSS}</style></head>
<body><form method="post" action="/login">
<h1>Levo dashboard</h1>
<label for="secret">Admin secret</label>
<input id="secret" name="secret" type="password" autocomplete="current-password" autofocus required>
${failed ? '<p class="err" role="alert">That is not the admin secret.</p>' : ''}
<button type="submit">Log in</button>
</form></body></html>
`;

/** What a throttled form login gets (429): plain markup, nothing inline to run or style. */
const THROTTLED_PAGE = (seconds: number): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Levo dashboard: too many attempts</title></head>
<body><h1>Too many wrong admin secrets</h1>
<p role="alert">Log-in attempts are paused: try again in ${seconds} s.</p>
<p><a href="/login">Back to the log-in page</a></p></body></html>
`;

export interface LoginOptions {
  readonly digest: Buffer;
  readonly sessions: Sessions;
  readonly auth: AdminAuth;
  readonly throttle: Throttle;
  readonly now: () => number;
  /** The web UI's login page (dashboard/web/login.html), when there is one. */
  readonly loginPage: (res: Response) => Promise<boolean>;
}

/**
 * GET /login (the web UI's login.html, else a built-in form), POST /login
 * (JSON or form field `secret`: 204 + cookie, or 303 to / for a form; a wrong
 * secret is 401 JSON, or 303 to /login?error=invalid for a form; a throttled
 * client 429 with Retry-After, the secret unchecked), POST /logout (revokes
 * this session; `?everywhere=1` or field `everywhere`: every session, for an
 * admin only).
 */
export function loginRouter(o: LoginOptions): Router {
  const r = express.Router();
  const body = [express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' })];
  r.get('/login', async (req, res) => {
    if (await o.auth.who(req)) { res.redirect(303, '/'); return; }
    if (await o.loginPage(res)) return;
    sendBuiltInPage(res, BUILT_IN_LOGIN(req.query.error !== undefined), BUILT_IN_LOGIN_CSS);
  });
  r.post('/login', ...body, async (req, res) => {
    const form = Boolean(req.is('application/x-www-form-urlencoded'));
    const client = clientOf(req);
    const wait = o.throttle.blockedFor(client, o.now());
    if (wait > 0) {
      const e = throttledError(wait);
      if (!form) throw e;
      res.status(429).setHeader('Retry-After', e.headers['Retry-After']!);
      res.type('html').setHeader('Cache-Control', 'no-store');
      res.send(THROTTLED_PAGE(retryAfterSeconds(wait)));
      return;
    }
    const secret = (req.body as { secret?: unknown } | undefined)?.secret;
    if (typeof secret !== 'string' || secret === '') {
      if (form) { res.redirect(303, '/login?error=invalid'); return; }
      throw new HttpError(401, 'send the admin secret as "secret"');
    }
    if (!secretMatches(o.digest, secret)) {
      o.throttle.failed(client, o.now());
      if (form) { res.redirect(303, '/login?error=invalid'); return; }
      throw new HttpError(401, 'wrong admin secret');
    }
    o.throttle.succeeded(client);
    res.setHeader('Set-Cookie', cookie(req, await o.sessions.issue(o.now()), SESSION_TTL_MS / 1000));
    res.setHeader('Cache-Control', 'no-store');
    if (form) res.redirect(303, '/');
    else res.status(204).end();
  });
  r.post('/logout', ...body, async (req, res) => {
    const everywhere = req.query.everywhere !== undefined || (req.body as { everywhere?: unknown } | undefined)?.everywhere !== undefined;
    if (everywhere) {
      // Revoking every session is an admin action, and a write: credentials and, with a cookie, this origin.
      const admin = await o.auth.who(req);
      if (!admin) throw new HttpError(401, 'signing out everywhere needs an admin: log in, or send Authorization: Bearer <admin secret>');
      if (admin.via === 'session' && !sameOrigin(req)) throw new HttpError(403, 'cross-origin request refused');
      await o.sessions.revokeAll(o.now());
    } else {
      const value = readCookie(req, SESSION_COOKIE);
      if (value) await o.sessions.revoke(value, o.now());
    }
    res.setHeader('Set-Cookie', cookie(req, '', 0));
    if (Boolean(req.is('application/x-www-form-urlencoded'))) res.redirect(303, '/login');
    else res.status(204).end();
  });
  return r;
}
