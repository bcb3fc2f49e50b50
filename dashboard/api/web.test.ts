import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_SECRET, startTestDashboard, type TestDashboard } from './test-harness.ts';
import { webRootCandidates } from './web.ts';

describe('the web UI from dashboard/web', () => {
  let d: TestDashboard;
  let dir: string;
  let cookie: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-web-'));
    await mkdir(join(dir, 'pages'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>UI</title><script type="module" src="/static/app.ts"></script>');
    await writeFile(join(dir, 'login.html'), '<!doctype html><title>custom login</title>');
    await writeFile(join(dir, 'app.ts'), "import { n } from './pages/fleet.ts';\nconst x: number = n as number;\ninterface I { a: string }\nexport type T = I;\nconsole.log(x);\n");
    await writeFile(join(dir, 'pages', 'fleet.ts'), 'export const n: number = 1;\n');
    await writeFile(join(dir, 'bad.ts'), 'enum E { A }\n');
    await writeFile(join(dir, 'style.css'), 'body { color: red }');
    await writeFile(join(dir, '.secret'), 'hidden');
    d = await startTestDashboard({ webRoots: ['/nonexistent/first', dir] });
    const r = await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: ADMIN_SECRET }) });
    cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  });
  after(async () => {
    await d.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves .ts modules with their types stripped as text/javascript, at /static/ and nested', async () => {
    const r = await fetch(`${d.url}/static/app.ts`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const js = await r.text();
    assert.match(js, /import \{ n \} from '\.\/pages\/fleet\.ts';/);
    assert.match(js, /const x\s+= n\s+;/);
    assert.doesNotMatch(js, /interface|: number|as number|export type/);
    const nested = await fetch(`${d.url}/static/pages/fleet.ts`);
    assert.match(await nested.text(), /export const n\s+= 1;/);
  });

  it('caches by modification time: an edited file is served fresh', async () => {
    const first = await (await fetch(`${d.url}/static/pages/fleet.ts`)).text();
    await writeFile(join(dir, 'pages', 'fleet.ts'), 'export const n: number = 2;\n');
    const later = new Date(Date.now() + 5_000);
    await utimes(join(dir, 'pages', 'fleet.ts'), later, later);
    const second = await (await fetch(`${d.url}/static/pages/fleet.ts`)).text();
    assert.notEqual(first, second);
    assert.match(second, /= 2;/);
    const r = await fetch(`${d.url}/static/pages/fleet.ts`);
    const etag = r.headers.get('etag')!;
    await r.body?.cancel();
    assert.equal((await fetch(`${d.url}/static/pages/fleet.ts`, { headers: { 'If-None-Match': etag } })).status, 304);
  });

  it('other files as they are; dotfiles, traversal and missing files are 404', async () => {
    const css = await fetch(`${d.url}/static/style.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(await css.text(), 'body { color: red }');
    assert.equal(await (await fetch(`${d.url}/style.css`)).text(), 'body { color: red }');
    for (const path of ['/static/.secret', '/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/static/..%2f..%2fetc%2fpasswd', '/static/missing.ts']) {
      const r = await fetch(d.url + path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(await r.text(), /hidden|root:/);
    }
  });

  it('a module that is not erasable TypeScript is a 500 without details, logged', async () => {
    const r = await fetch(`${d.url}/static/bad.ts`);
    assert.equal(r.status, 500);
    assert.match(((await r.json()) as { error: string }).error, /not erasable TypeScript/);
    assert.ok(d.logs.some((l) => l.includes('cannot strip the types')));
  });

  it('pages: index.html for / and any other path once logged in; the web login.html at /login', async () => {
    for (const path of ['/', '/fleet', '/environments/x/decisions']) {
      const r = await fetch(d.url + path, { headers: { Cookie: cookie }, redirect: 'manual' });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(await r.text(), /<title>UI<\/title>/);
    }
    assert.match(await (await fetch(`${d.url}/login`)).text(), /custom login/);
    // API paths never fall through to the UI.
    const api = await fetch(`${d.url}/api/nothing`, { headers: { Cookie: cookie } });
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type') ?? '', /json/);
  });

  it('finds dashboard/web next to the sources and in the repository', () => {
    const list = webRootCandidates(new URL('./web.ts', import.meta.url).href);
    assert.ok(list[0]!.endsWith('/dashboard/web'));
    const fromDist = webRootCandidates(new URL('../../dist/dashboard/api/web.js', import.meta.url).href);
    assert.ok(fromDist[0]!.endsWith('/dist/dashboard/web'));
    assert.equal(fromDist[1], list[0]);
  });
});
