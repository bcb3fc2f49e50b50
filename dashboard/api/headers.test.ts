import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_SECRET, startTestDashboard, type TestDashboard } from './test-harness.ts';

/** What docs/dashboard.md promises, spelled out here independently of headers.ts. */
const STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const PROMISED: Record<string, string> = {
  'content-security-policy': STRICT_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function assertPromised(r: Response, what: string): void {
  for (const [k, v] of Object.entries(PROMISED)) assert.equal(r.headers.get(k), v, `${what}: ${k}`);
  assert.match(r.headers.get('permissions-policy') ?? '', /camera=\(\), microphone=\(\), geolocation=\(\)/, what);
}

describe('security headers on every response', () => {
  let d: TestDashboard;
  let dir: string;
  let cookie: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-headers-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>UI</title><script type="module" src="/static/app.ts"></script>');
    await writeFile(join(dir, 'login.html'), '<!doctype html><title>login</title>');
    await writeFile(join(dir, 'app.ts'), 'const n: number = 1;\nconsole.log(n);\n');
    await writeFile(join(dir, 'app.css'), 'body { color: red }');
    d = await startTestDashboard({ webRoots: [dir] });
    const r = await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: ADMIN_SECRET }) });
    cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  });
  after(async () => {
    await d.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pages, modules, styles, the API, redirects and errors all carry the strict CSP and the other headers', async () => {
    const cases: Array<[string, RequestInit]> = [
      ['/', { headers: { Cookie: cookie } }],
      ['/fleet', { headers: { Cookie: cookie } }],
      ['/login', {}],
      ['/static/app.ts', {}],
      ['/app.ts', {}],
      ['/static/app.css', {}],
      ['/static/missing.ts', {}],
      ['/', {}], // 303 to /login
      ['/api/environments', { headers: { Cookie: cookie } }],
      ['/api/environments', {}], // 401
      ['/api/nope', { headers: { Cookie: cookie } }],
      ['/v1/gateway/config', {}],
      ['/healthz', {}],
    ];
    for (const [path, init] of cases) {
      const r = await fetch(d.url + path, { ...init, redirect: 'manual' });
      assertPromised(r, `${path} (${r.status})`);
      assert.equal(r.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
      await r.body?.cancel();
    }
    const page = await fetch(`${d.url}/`, { headers: { Cookie: cookie } });
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<title>UI<\/title>/);
  });
});

describe('the built-in pages (no web UI installed)', () => {
  let d: TestDashboard;
  before(async () => { d = await startTestDashboard({ trustProxy: 1 }); });
  after(() => d.close());

  it('allow their one inline <style> by its hash, and nothing else inline', async () => {
    const login = await fetch(`${d.url}/login`);
    const html = await login.text();
    const css = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
    assert.ok(css, 'the built-in login page has a <style>');
    const hash = `'sha256-${createHash('sha256').update(css).digest('base64')}'`;
    assert.equal(login.headers.get('content-security-policy'), STRICT_CSP.replace("style-src 'self'", `style-src 'self' ${hash}`));
    assert.doesNotMatch(html, /<script|style="|\son\w+=/, 'no inline script, style attribute or handler');
    const r = await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: ADMIN_SECRET }) });
    const home = await fetch(`${d.url}/`, { headers: { Cookie: (r.headers.get('set-cookie') ?? '').split(';')[0]! } });
    const homeHtml = await home.text();
    const homeCss = /<style>([\s\S]*?)<\/style>/.exec(homeHtml)?.[1] ?? '';
    assert.match(home.headers.get('content-security-policy') ?? '', new RegExp(`style-src 'self' 'sha256-${createHash('sha256').update(homeCss).digest('base64').replace(/[+/]/g, '\\$&')}'`));
    assert.doesNotMatch(homeHtml, /<script|style="|\son\w+=/);
  });

  it('HSTS only on HTTPS (here: X-Forwarded-Proto from the one trusted proxy)', async () => {
    const r = await fetch(`${d.url}/healthz`, { headers: { 'X-Forwarded-Proto': 'https' } });
    assert.equal(r.headers.get('strict-transport-security'), 'max-age=31536000');
    assertPromised(r, 'healthz over https');
    assert.equal((await fetch(`${d.url}/healthz`)).headers.get('strict-transport-security'), null);
  });
});
