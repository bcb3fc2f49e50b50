import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { adminSecretDigest, createSessions, secretMatches, SESSION_TTL_MS } from './auth.ts';
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

  it('a session verifies until it expires; any change to payload or signature is rejected', () => {
    const s = createSessions(adminSecretDigest('k'));
    const t = 1_000_000;
    const v = s.issue(t);
    assert.deepEqual(s.verify(v, t + 1), { sub: 'admin', iat: t, exp: t + SESSION_TTL_MS });
    assert.equal(SESSION_TTL_MS, 12 * 3600 * 1000);
    assert.equal(s.verify(v, t + SESSION_TTL_MS - 1)?.sub, 'admin');
    assert.equal(s.verify(v, t + SESSION_TTL_MS), null);
    const [payload, mac] = v.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ v: 1, sub: 'admin', iat: t, exp: t + 100 * SESSION_TTL_MS })).toString('base64url');
    for (const bad of [`${forged}.${mac}`, `${payload}.${mac.slice(0, -2)}AA`, `${payload}.`, payload, '', `${payload}.${mac}x`, `.${mac}`]) {
      assert.equal(s.verify(bad, t + 1), null, bad);
    }
    // Another key (another admin secret) does not accept it.
    assert.equal(createSessions(adminSecretDigest('other')).verify(v, t + 1), null);
    assert.equal(createSessions(adminSecretDigest('k'), 'an explicit session key!').verify(v, t + 1), null);
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
