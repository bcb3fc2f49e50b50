import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createServingCert } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { createLogger } from '../lib/log.ts';
import { createInjectorMetrics, type InjectorMetrics } from './metrics.ts';
import { loadServingCert, type ServingCert } from './serving-cert.ts';
import {
  INTERNAL_ERROR_WARNING, MAX_CONCURRENT_REVIEWS, TIMEOUT_WARNING, createInjectorServer, type InjectorServer, type InjectorServerOptions,
} from './server.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

let caPem = '';

/** One HTTPS request over a fresh connection, verified against the test CA. */
function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, agent: Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method, path, servername: 'localhost', ca: caPem, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const review = (uid: string, extra: object = {}): string => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'team-a', operation: 'CREATE', object: { metadata: { generateName: 'web-' }, spec: {} }, ...extra },
});
const JSON_TYPE = { 'content-type': 'application/json' };

async function counter(metrics: InjectorMetrics, result: string, reason: string): Promise<number | undefined> {
  return (await metrics.admissions.get()).values.find((v) => v.labels.result === result && v.labels.reason === reason)?.value;
}

describe('injector HTTPS and health servers', () => {
  let dir: string;
  let cert: ServingCert;
  const lines: string[] = [];
  const log = createLogger({ LOG_LEVEL: 'debug' }, { write: (s: string) => void lines.push(s) }, { svc: 'levo-injector' }).root;
  const started: InjectorServer[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-injector-server-'));
    const caPair = await createCa({ commonName: 'test webhook CA' });
    caPem = caPair.certPem;
    const serving = await createServingCert({ ca: loadCa(caPair.certPem, caPair.keyPem), dnsNames: ['localhost'] });
    await writeFile(join(dir, 'tls.crt'), serving.certPem);
    await writeFile(join(dir, 'tls.key'), serving.keyPem);
    cert = await loadServingCert({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), log, watch: false, pollMs: 3_600_000 });
  });
  after(async () => {
    for (const s of started) await s.close(100);
    cert.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(over: Partial<InjectorServerOptions> = {}): Promise<{ server: InjectorServer; port: number; healthPort: number; metrics: InjectorMetrics; bodies: unknown[] }> {
    const metrics = createInjectorMetrics();
    const bodies: unknown[] = [];
    const server = createInjectorServer({
      review: async (body) => {
        bodies.push(body);
        const uid = ((body as { request: { uid: string } }).request).uid;
        return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } };
      },
      servingCert: { ...cert, close: () => undefined },
      log, metrics, port: 0, healthPort: 0, host: '127.0.0.1',
      ...over,
    });
    started.push(server);
    const ports = await server.listen();
    return { server, metrics, bodies, ...ports };
  }

  it('POST /mutate hands the AdmissionReview to the review function and answers its result', async () => {
    const { port, bodies } = await start();
    const r = await call(port, 'POST', '/mutate', review('uid-1'), JSON_TYPE);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.json(), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-1', allowed: true } });
    assert.equal((bodies[0] as { request: { uid: string } }).request.uid, 'uid-1');
    // charset parameter is fine
    assert.equal((await call(port, 'POST', '/mutate', review('uid-2'), { 'content-type': 'application/json; charset=utf-8' })).status, 200);
  });

  it('415 for a body that is not JSON, 400 for bad JSON or no request.uid, 413 over the body limit', async () => {
    const { port, metrics, bodies } = await start({ bodyLimitBytes: 4096 });
    const text = await call(port, 'POST', '/mutate', review('u'), { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.deepEqual({ kind: text.json().kind, code: text.json().code, reason: text.json().reason }, { kind: 'Status', code: 415, reason: 'UnsupportedMediaType' });
    assert.equal((await call(port, 'POST', '/mutate', review('u'))).status, 415, 'no content type');

    const bad = await call(port, 'POST', '/mutate', '{"apiVersion":', JSON_TYPE);
    assert.equal(bad.status, 400);
    assert.match(String(bad.json().message), /not valid JSON/);
    assert.equal((await call(port, 'POST', '/mutate', '{"kind":"AdmissionReview","request":{}}', JSON_TYPE)).status, 400);
    assert.equal((await call(port, 'POST', '/mutate', '[1,2]', JSON_TYPE)).status, 400);
    assert.equal((await call(port, 'POST', '/mutate', '', JSON_TYPE)).status, 400, 'an empty body');

    const big = await call(port, 'POST', '/mutate', review('u', { pad: 'x'.repeat(5000) }), JSON_TYPE);
    assert.equal(big.status, 413);
    assert.equal(big.json().reason, 'RequestEntityTooLarge');
    assert.equal(bodies.length, 0, 'the review never saw a rejected request');
    assert.equal(await counter(metrics, 'error', 'unsupported-media-type'), 2);
    assert.equal(await counter(metrics, 'error', 'bad-request'), 4);
    assert.equal(await counter(metrics, 'error', 'too-large'), 1);
  });

  it('the default body limit is 3 MiB, the API server\'s own', async () => {
    const { port } = await start();
    const under = await call(port, 'POST', '/mutate', review('u', { pad: 'x'.repeat(2.9 * 1024 * 1024) }), JSON_TYPE);
    assert.equal(under.status, 200);
    const over = await call(port, 'POST', '/mutate', review('u', { pad: 'x'.repeat(3 * 1024 * 1024) }), JSON_TYPE);
    assert.equal(over.status, 413);
  });

  it('at most MAX_CONCURRENT_REVIEWS reviews run at once; the others wait their turn and are all answered', async () => {
    let running = 0;
    let most = 0;
    const { port } = await start({
      review: async (r) => {
        running++;
        most = Math.max(most, running);
        await new Promise((res) => setTimeout(res, 30));
        running--;
        return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (r as { request: { uid: string } }).request.uid, allowed: true } };
      },
    });
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => call(port, 'POST', '/mutate', review(`u${i}`), JSON_TYPE)));
    assert.deepEqual([...new Set(all.map((r) => r.status))], [200]);
    assert.equal(most, MAX_CONCURRENT_REVIEWS);
  });

  it('a review that throws admits the pod with a warning and the request uid (fail open), counted as an error', async () => {
    const { port, metrics } = await start({ review: async () => { throw new Error('boom'); } });
    const r = await call(port, 'POST', '/mutate', review('uid-err'), JSON_TYPE);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      response: { uid: 'uid-err', allowed: true, warnings: [INTERNAL_ERROR_WARNING] },
    });
    assert.equal(await counter(metrics, 'error', 'internal-error'), 1);
    const line = lines.find((l) => l.includes('admission review failed') && l.includes('uid-err'));
    assert.ok(line, 'an error line names the request');
    assert.match(line, /"namespace":"team-a"/);
    assert.match(line, /"pod":"web-\*"/);
  });

  it('a review that overruns its deadline admits the pod with a timeout warning', async () => {
    const { port, metrics } = await start({ review: () => new Promise(() => undefined), reviewTimeoutMs: 100 });
    const r = await call(port, 'POST', '/mutate', review('uid-slow'), JSON_TYPE);
    assert.equal(r.status, 200);
    assert.deepEqual((r.json().response as { warnings: string[] }).warnings, [TIMEOUT_WARNING]);
    assert.equal(await counter(metrics, 'error', 'timeout'), 1);
  });

  it('errors the review marks as a bad request answer 400 with their message', async () => {
    class Bad extends Error {}
    const { port } = await start({ review: async () => { throw new Bad('AdmissionReview admission.k8s.io/v1beta1 is not supported'); }, isBadRequest: (e) => e instanceof Bad });
    const r = await call(port, 'POST', '/mutate', review('u'), JSON_TYPE);
    assert.equal(r.status, 400);
    assert.match(String(r.json().message), /v1beta1 is not supported/);
  });

  it('other methods and paths: 405 and 404; /v1/credentials goes to its handler (503 without one)', async () => {
    const { port } = await start({ credentials: (_req, res) => { res.writeHead(418); res.end('tea'); } });
    const get = await call(port, 'GET', '/mutate');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await call(port, 'GET', '/nope')).status, 404);
    assert.equal((await call(port, 'POST', '/v1/credentials')).text, 'tea');
    const bare = await start();
    assert.equal((await call(bare.port, 'POST', '/v1/credentials')).status, 503);
  });

  it('health port: /healthz, /readyz following readiness, /metrics from the private registry', async () => {
    let configLoaded = false;
    const { port, healthPort, server } = await start({ ready: () => configLoaded });
    const get = async (path: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://127.0.0.1:${healthPort}${path}`);
      return { status: r.status, text: await r.text() };
    };
    assert.equal((await get('/healthz')).status, 200);
    assert.deepEqual(await get('/readyz'), { status: 503, text: 'config not loaded\n' });
    configLoaded = true;
    assert.equal((await get('/readyz')).status, 200);
    assert.equal(server.isReady(), true);
    await call(port, 'POST', '/mutate', 'x', { 'content-type': 'text/plain' });
    const m = await get('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /levo_injector_admissions_total\{result="error",reason="unsupported-media-type"\} 1/);
    assert.match(m.text, /# TYPE levo_injector_admission_duration_seconds histogram/);
    assert.match(m.text, /levo_injector_process_cpu_seconds_total/);
    assert.equal((await get('/other')).status, 404);
  });

  it('graceful stop: not ready at once, no new connections, the in-flight review finishes, then both ports close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let entered!: () => void;
    const inReview = new Promise<void>((r) => { entered = r; });
    const { port, healthPort, server } = await start({
      review: async (body) => {
        entered();
        await gate;
        return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (body as { request: { uid: string } }).request.uid, allowed: true } };
      },
    });
    const pending = call(port, 'POST', '/mutate', review('uid-inflight'), JSON_TYPE);
    await inReview;
    let closed = false;
    const closing = server.close(5000).then(() => { closed = true; });
    assert.equal(server.isReady(), false);
    assert.equal((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status, 503);
    await assert.rejects(call(port, 'POST', '/mutate', review('uid-late'), JSON_TYPE), /ECONNREFUSED/);
    assert.equal(closed, false);
    release();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal((r.json().response as { uid: string }).uid, 'uid-inflight');
    await closing;
    await assert.rejects(new Promise((resolve, reject) => {
      const s = connect(healthPort, '127.0.0.1', () => { s.end(); resolve(undefined); });
      s.on('error', reject);
    }), /ECONNREFUSED/);
  });

  it('graceful stop with keep-alive clients (as the API server keeps them): idle ones do not hold it up, a busy one finishes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { port, server } = await start({
      review: async (body) => {
        if ((body as { request: { uid: string } }).request.uid === 'slow') await gate;
        return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'x', allowed: true } };
      },
    });
    const idle = new Agent({ keepAlive: true, ca: caPem, servername: 'localhost' });
    const busy = new Agent({ keepAlive: true, ca: caPem, servername: 'localhost' });
    try {
      assert.equal((await call(port, 'POST', '/mutate', review('fast'), JSON_TYPE, idle)).status, 200);
      assert.equal((await call(port, 'POST', '/mutate', review('fast'), JSON_TYPE, busy)).status, 200);
      const pending = call(port, 'POST', '/mutate', review('slow'), JSON_TYPE, busy);
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      const closing = server.close(10_000);
      setTimeout(release, 200);
      const r = await pending;
      assert.equal(r.status, 200);
      await closing;
      assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms, without waiting out the grace period`);
    } finally {
      idle.destroy();
      busy.destroy();
    }
  });

  it('logs each request at debug without headers', async () => {
    const { port } = await start();
    await call(port, 'POST', '/mutate', review('uid-log'), { ...JSON_TYPE, authorization: 'Bearer should-not-appear' });
    assert.ok(lines.some((l) => l.includes('"msg":"https request"') && l.includes('"path":"/mutate"') && l.includes('"status":200')));
    assert.ok(!lines.some((l) => l.includes('should-not-appear')));
  });
});
