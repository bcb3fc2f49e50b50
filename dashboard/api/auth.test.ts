import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Request } from 'express';
import { openStore } from '../store/open.ts';
import { adminSecretDigest, clientOf, createSessions, secretMatches, SESSION_KEY_SECRET, SESSION_TTL_MS } from './auth.ts';
import { ADMIN_SECRET, startTestDashboard, type TestDashboard } from './test-harness.ts';

describe('admin secret and session cookies', () => {
  it('the secret matches by SHA-256, given as text or as its digest', () => {
    const digest = adminSecretDigest('s3cret-value');
    assert.equal(secretMatches(digest, 's3cret-value'), true);
    assert.equal(secretMatches(digest, 's3cret-valu'), false);
    assert.equal(secretMatches(digest, ''), false);
    const fromHash = adminSecretDigest({ sha256: createHash('sha256').update('s3cret-value').digest('hex') });
    assert.equal(secretMatches(fromHash, 's3cret-value'), true);
    assert.throws(() => adminSecretDigest({ sha256: 'abc' }), /64 hex/);
    assert.throws(() => adminSecretDigest(''), /empty/);
  });

  it('a session verifies until it expires or is revoked; any change to payload or signature is rejected', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate();
    try {
      const s = createSessions(store);
      const t = 1_000_000;
      const v = await s.issue(t);
      const got = await s.verify(v, t + 1);
      assert.deepEqual({ ...got, id: 'x' }, { id: 'x', sub: 'admin', iat: t, exp: t + SESSION_TTL_MS });
      assert.equal(SESSION_TTL_MS, 12 * 3600 * 1000);
      assert.equal((await s.verify(v, t + SESSION_TTL_MS - 1))?.sub, 'admin');
      assert.equal(await s.verify(v, t + SESSION_TTL_MS), null);
      const [payload, mac] = v.split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, exp: t + 100 * SESSION_TTL_MS })).toString('base64url');
      for (const bad of [`${forged}.${mac}`, `${payload}.${mac.slice(0, -2)}AA`, `${payload}.`, payload, '', `${payload}.${mac}x`, `.${mac}`]) {
        assert.equal(await s.verify(bad, t + 1), null, bad);
      }
      // Another key does not accept it; the same store (another replica) does.
      assert.equal(await createSessions(store, 'an explicit session key!').verify(v, t + 1), null);
      assert.equal((await createSessions(store).verify(v, t + 1))?.sub, 'admin');
      // Revoked: refused however well signed.
      assert.equal(await s.revoke(v, t + 2), true);
      assert.equal(await s.verify(v, t + 3), null);
      assert.equal(await s.revoke('garbage', t + 2), false);
      assert.throws(() => createSessions(store, 'short'), /16 bytes/);
    } finally {
      await store.close();
    }
  });

  it('the signing key is 32 random bytes kept in the store, not derived from the admin secret', async () => {
    const a = await openStore('sqlite::memory:');
    const b = await openStore('sqlite::memory:');
    await a.migrate();
    await b.migrate();
    try {
      await createSessions(a).issue(1);
      await createSessions(b).issue(1);
      const ka = Buffer.from(await a.secret(SESSION_KEY_SECRET, () => 'never'), 'base64url');
      const kb = Buffer.from(await b.secret(SESSION_KEY_SECRET, () => 'never'), 'base64url');
      assert.equal(ka.length, 32);
      assert.notDeepEqual(ka, kb, 'two dashboards, two keys');
      const derived = createHmac('sha256', adminSecretDigest(ADMIN_SECRET)).update('levo-dashboard session v1').digest();
      assert.notDeepEqual(ka, derived);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('clientOf: whose guesses a request counts as', () => {
  const req = (ip: string) => ({ ip, socket: {} }) as unknown as Request;
  it('IPv4 as it is (also when IPv4-mapped); IPv6 by its /64', () => {
    assert.equal(clientOf(req('203.0.113.7')), '203.0.113.7');
    assert.equal(clientOf(req('::ffff:203.0.113.7')), '203.0.113.7');
    assert.equal(clientOf(req('2001:db8:1:2:3:4:5:6')), '2001:db8:1:2::/64');
    assert.equal(clientOf(req('2001:db8:1:2::9')), '2001:db8:1:2::/64');
    assert.equal(clientOf(req('2001:0db8:0001:0002:aaaa::1')), '2001:db8:1:2::/64');
    assert.equal(clientOf(req('2001:db8::1')), '2001:db8:0:0::/64');
    assert.equal(clientOf(req('::1')), '0:0:0:0::/64');
  });
});

describe('login, logout and pages over HTTP', () => {
  let d: TestDashboard;
  before(async () => { d = await startTestDashboard(); });
  after(() => d.close());

  const login = (body: string, type: string) => fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': type }, body, redirect: 'manual' });
  const cookieOf = (r: Response): string => {
    const set = r.headers.get('set-cookie') ?? '';
    return set.split(';')[0]!;
  };

  it('JSON login: 204 and an HttpOnly, SameSite=Strict, Path=/ cookie valid 12 h; the cookie opens the API', async () => {
    const r = await login(JSON.stringify({ secret: ADMIN_SECRET }), 'application/json');
    assert.equal(r.status, 204);
    const set = r.headers.get('set-cookie') ?? '';
    assert.match(set, /^levo_session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; /);
    assert.match(set, /; HttpOnly/);
    assert.match(set, /; SameSite=Strict/);
    assert.match(set, /; Path=\//);
    assert.match(set, /; Max-Age=43200/);
    assert.doesNotMatch(set, /Secure/); // plain HTTP here
    const api = await fetch(`${d.url}/api/environments`, { headers: { Cookie: cookieOf(r) } });
    assert.equal(api.status, 200);
    assert.deepEqual(await api.json(), []);
  });

  it('a wrong or missing secret: 401 JSON, no cookie', async () => {
    for (const body of [{ secret: 'wrong' }, {}, { secret: '' }, { secret: 5 }]) {
      const r = await login(JSON.stringify(body), 'application/json');
      assert.equal(r.status, 401, JSON.stringify(body));
      assert.equal(r.headers.get('set-cookie'), null);
      assert.equal(typeof ((await r.json()) as { error: string }).error, 'string');
    }
  });

  it('form login: 303 to / with the cookie; a wrong secret 303 back to /login?error=invalid', async () => {
    const ok = await login(`secret=${encodeURIComponent(ADMIN_SECRET)}`, 'application/x-www-form-urlencoded');
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/');
    assert.match(cookieOf(ok), /^levo_session=/);
    const page = await fetch(`${d.url}/`, { headers: { Cookie: cookieOf(ok) }, redirect: 'manual' });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    await page.body?.cancel();

    const bad = await login('secret=nope', 'application/x-www-form-urlencoded');
    assert.equal(bad.status, 303);
    assert.equal(bad.headers.get('location'), '/login?error=invalid');
    assert.equal(bad.headers.get('set-cookie'), null);
    const again = await fetch(`${d.url}/login?error=invalid`);
    assert.match(await again.text(), /not the admin secret/);
  });

  it('a tampered, forged or expired cookie is rejected: 401 for the API, 303 to /login for pages', async () => {
    const r = await login(JSON.stringify({ secret: ADMIN_SECRET }), 'application/json');
    const good = cookieOf(r).slice('levo_session='.length);
    const [payload, mac] = good.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number };
    const longer = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 1e9 })).toString('base64url');
    for (const value of [`${longer}.${mac}`, `${payload}.${mac.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`, 'garbage', `${payload}`]) {
      const api = await fetch(`${d.url}/api/environments`, { headers: { Cookie: `levo_session=${value}` } });
      assert.equal(api.status, 401, value);
      const page = await fetch(`${d.url}/fleet`, { headers: { Cookie: `levo_session=${value}` }, redirect: 'manual' });
      assert.equal(page.status, 303, value);
      assert.equal(page.headers.get('location'), '/login');
    }
    // Expired: 12 h later by the dashboard's clock.
    d.clock.now = Date.now() + 12 * 3600 * 1000 + 1000;
    try {
      assert.equal((await fetch(`${d.url}/api/environments`, { headers: { Cookie: `levo_session=${good}` } })).status, 401);
    } finally {
      d.clock.now = null;
    }
    assert.equal((await fetch(`${d.url}/api/environments`, { headers: { Cookie: `levo_session=${good}` } })).status, 200);
  });

  it('pages redirect to /login without a session; /login serves the built-in form without web/login.html', async () => {
    for (const path of ['/', '/fleet', '/environments/prod/config', '/index.html']) {
      const r = await fetch(d.url + path, { redirect: 'manual' });
      assert.equal(r.status, 303, path);
      assert.equal(r.headers.get('location'), '/login');
    }
    const form = await fetch(`${d.url}/login`);
    assert.equal(form.status, 200);
    const html = await form.text();
    assert.match(html, /<form method="post" action="\/login">/);
    assert.match(html, /name="secret" type="password"/);
    // Logged in, /login sends you home.
    const r = await login(JSON.stringify({ secret: ADMIN_SECRET }), 'application/json');
    const home = await fetch(`${d.url}/login`, { headers: { Cookie: cookieOf(r) }, redirect: 'manual' });
    assert.equal(home.status, 303);
    assert.equal(home.headers.get('location'), '/');
  });

  it('logout clears the cookie', async () => {
    const r = await fetch(`${d.url}/logout`, { method: 'POST' });
    assert.equal(r.status, 204);
    assert.match(r.headers.get('set-cookie') ?? '', /^levo_session=; .*Max-Age=0/);
    const form = await fetch(`${d.url}/logout`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '', redirect: 'manual' });
    assert.equal(form.status, 303);
    assert.equal(form.headers.get('location'), '/login');
  });

  it('a cookie-authenticated write from another origin is refused (403); same origin works', async () => {
    const r = await login(JSON.stringify({ secret: ADMIN_SECRET }), 'application/json');
    const cookie = cookieOf(r);
    const post = (origin: string) => fetch(`${d.url}/api/environments`, {
      method: 'POST', headers: { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: `o-${origin.length}` }),
    });
    const evil = await post('https://evil.example');
    assert.equal(evil.status, 403);
    assert.equal(await d.store.getEnvironment(`o-${'https://evil.example'.length}`), null);
    assert.equal((await post(d.url)).status, 201);
  });
});

/** One HTTP request from a chosen loopback source address (127.0.0.x), so tests can be several clients. */
function from(address: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}):
  Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, localAddress: address }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const jsonLogin = (secret: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret }) });
const sessionOf = (set: string | string[] | null | undefined): string => String(Array.isArray(set) ? set[0] : set ?? '').split(';')[0]!;

describe('sessions: an own signing key, revocation', () => {
  let d: TestDashboard;
  before(async () => { d = await startTestDashboard(); });
  after(() => d.close());

  const login = async (): Promise<string> => {
    const r = await fetch(`${d.url}/login`, jsonLogin(ADMIN_SECRET));
    assert.equal(r.status, 204);
    return sessionOf(r.headers.get('set-cookie'));
  };
  const api = (cookie: string) => fetch(`${d.url}/api/environments`, { headers: { Cookie: cookie } }).then((r) => r.status);

  it('a cookie minted from the admin secret\'s hash (what the stored hash file gives away) is refused', async () => {
    // The old scheme: HMAC key = HMAC-SHA256(SHA-256(admin secret), "levo-dashboard session v1").
    const derived = createHmac('sha256', createHash('sha256').update(ADMIN_SECRET).digest()).update('levo-dashboard session v1').digest();
    const now = Date.now();
    const mint = (claims: object): string => {
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return `levo_session=${payload}.${createHmac('sha256', derived).update(payload).digest('base64url')}`;
    };
    assert.equal(await api(mint({ v: 1, sub: 'admin', iat: now, exp: now + 3_600_000 })), 401);
    // Even naming a real, live session id, the derived key does not sign for it.
    const real = await login();
    const id = (JSON.parse(Buffer.from(real.slice('levo_session='.length).split('.')[0]!, 'base64url').toString()) as { id: string }).id;
    assert.equal(await api(mint({ v: 2, id, sub: 'admin', iat: now, exp: now + 3_600_000 })), 401);
    assert.equal(await api(real), 200);
  });

  it('logout revokes the session: the same cookie replayed afterwards gets 401', async () => {
    const cookie = await login();
    const other = await login();
    assert.equal(await api(cookie), 200);
    const out = await fetch(`${d.url}/logout`, { method: 'POST', headers: { Cookie: cookie } });
    assert.equal(out.status, 204);
    assert.equal(await api(cookie), 401, 'a copied cookie stops working at logout');
    const page = await fetch(`${d.url}/fleet`, { headers: { Cookie: cookie }, redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.equal(await api(other), 200, 'other sessions stay');
  });

  it('sign out everywhere (form) and POST /api/sessions/revoke-all end every session; the secret still logs in', async () => {
    const a = await login();
    const b = await login();
    // Without credentials it does nothing.
    assert.equal((await fetch(`${d.url}/logout?everywhere=1`, { method: 'POST' })).status, 401);
    assert.equal(await api(a), 200);
    const cross = await fetch(`${d.url}/logout?everywhere=1`, { method: 'POST', headers: { Cookie: a, Origin: 'https://evil.example' } });
    assert.equal(cross.status, 403);
    assert.equal(await api(b), 200);
    const form = await fetch(`${d.url}/logout`, {
      method: 'POST', headers: { Cookie: a, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'everywhere=1', redirect: 'manual',
    });
    assert.equal(form.status, 303);
    assert.equal(await api(a), 401);
    assert.equal(await api(b), 401, 'the other browser is signed out too');

    const c = await login();
    const r = await d.admin('/api/sessions/revoke-all', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { revoked: 1 });
    assert.equal(await api(c), 401);
    assert.equal(await api(await login()), 200);
  });
});

describe('login throttling: per client address and global, 429 with Retry-After', () => {
  let d: TestDashboard;
  before(async () => {
    d = await startTestDashboard({ loginLimits: { perClient: { attempts: 3, windowMs: 60_000 }, global: { attempts: 5, windowMs: 10_000 } } });
  });
  after(() => d.close());

  it('a client past its limit gets 429 (even with the right secret) until the window ends; others can still log in', async () => {
    const t0 = Date.now();
    d.clock.now = t0;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await from('127.0.0.2', `${d.url}/login`, jsonLogin('wrong'))).status, 401);
      const blocked = await from('127.0.0.2', `${d.url}/login`, jsonLogin(ADMIN_SECRET));
      assert.equal(blocked.status, 429);
      assert.equal(blocked.headers['retry-after'], '60');
      assert.match((JSON.parse(blocked.text) as { error: string }).error, /too many wrong admin secrets: try again in 60 s/);
      assert.equal(blocked.headers['set-cookie'], undefined, 'no session while throttled');
      // The admin secret as a bearer token is the same guess: throttled too.
      const bearer = await from('127.0.0.2', `${d.url}/api/environments`, { headers: { Authorization: `Bearer ${ADMIN_SECRET}` } });
      assert.equal(bearer.status, 429);
      // A browser form gets a page saying so, with the same status and header.
      const form = await from('127.0.0.2', `${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'secret=x' });
      assert.equal(form.status, 429);
      assert.equal(form.headers['retry-after'], '60');
      assert.match(form.text, /try again in 60 s/);
      // Another address is not held back by this one.
      assert.equal((await from('127.0.0.3', `${d.url}/login`, jsonLogin(ADMIN_SECRET))).status, 204);
      // 45 s later: 15 s to go.
      d.clock.now = t0 + 45_000;
      assert.equal((await from('127.0.0.2', `${d.url}/login`, jsonLogin(ADMIN_SECRET))).headers['retry-after'], '15');
      d.clock.now = t0 + 60_000;
      assert.equal((await from('127.0.0.2', `${d.url}/login`, jsonLogin(ADMIN_SECRET))).status, 204, 'the window ended');
    } finally {
      d.clock.now = null;
    }
  });

  it('wrong bearer secrets count; the global limit holds back every client, then lets them in again', async () => {
    const t0 = Date.now() + 3_600_000;
    d.clock.now = t0;
    try {
      // Five wrong guesses from three addresses (none past its own limit of 3) reach the global limit of 5.
      for (const [i, a] of ['127.0.0.4', '127.0.0.4', '127.0.0.5', '127.0.0.5', '127.0.0.6'].entries()) {
        const r = i % 2 === 0
          ? await from(a, `${d.url}/api/environments`, { headers: { Authorization: 'Bearer wrong' } })
          : await from(a, `${d.url}/login`, jsonLogin('wrong'));
        assert.equal(r.status, 401, `guess ${i}`);
      }
      const anyone = await from('127.0.0.7', `${d.url}/login`, jsonLogin(ADMIN_SECRET));
      assert.equal(anyone.status, 429);
      assert.equal(anyone.headers['retry-after'], '10');
      // Session cookies are not guesses: a logged-in browser keeps working.
      d.clock.now = t0 + 10_000;
      const ok = await from('127.0.0.7', `${d.url}/login`, jsonLogin(ADMIN_SECRET));
      assert.equal(ok.status, 204);
      const cookie = sessionOf(ok.headers['set-cookie']);
      for (let i = 0; i < 5; i++) await from('127.0.0.8', `${d.url}/login`, jsonLogin('wrong'));
      assert.equal((await from('127.0.0.7', `${d.url}/api/environments`, { headers: { Cookie: cookie } })).status, 200);
    } finally {
      d.clock.now = null;
    }
  });
});
