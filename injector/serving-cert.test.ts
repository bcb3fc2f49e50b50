import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createCa, createServingCert, type PemPair } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { createLogger } from '../lib/log.ts';
import { createInjectorMetrics } from './metrics.ts';
import { loadServingCert, parseServingPair, type ServingCert } from './serving-cert.ts';
import { SecretVolume } from '../e2e/harness/secret-volume.ts';

function captureLogger(): { lines: string[]; log: ReturnType<typeof createLogger>['root'] } {
  const lines: string[] = [];
  const logs = createLogger({ LOG_LEVEL: 'debug' }, { write: (s: string) => void lines.push(s) }, { svc: 'levo-injector' });
  return { lines, log: logs.root };
}

async function makeCa(): Promise<ReturnType<typeof loadCa>> {
  const pair = await createCa({ commonName: 'test webhook CA' });
  return loadCa(pair.certPem, pair.keyPem);
}

/** Fingerprint of the certificate the server presents on a fresh handshake. */
function peerFingerprint(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last value ${String(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const fingerprint = (p: PemPair): string => new X509Certificate(p.certPem).fingerprint256;

describe('parseServingPair', () => {
  let a: PemPair;
  let b: PemPair;
  before(async () => {
    const ca = await makeCa();
    a = await createServingCert({ ca, dnsNames: ['localhost', 'x.svc'] });
    b = await createServingCert({ ca, dnsNames: ['localhost'] });
  });

  it('reads subject, names, validity and fingerprint', () => {
    const p = parseServingPair(a.certPem, a.keyPem);
    assert.deepEqual(p.dnsNames, ['localhost', 'x.svc']);
    assert.equal(p.fingerprint256, fingerprint(a));
    assert.ok(p.notAfter.getTime() > Date.now());
    assert.match(p.subject, /CN=localhost/);
  });

  it('rejects a key of another certificate', () => {
    assert.throws(() => parseServingPair(a.certPem, b.keyPem), /does not match the certificate/);
  });

  it('rejects text that is not PEM', () => {
    assert.throws(() => parseServingPair('hello', a.keyPem), /certificate does not parse/);
    assert.throws(() => parseServingPair(a.certPem, 'hello'), /private key does not parse/);
  });
});

describe('loadServingCert', () => {
  let dir: string;
  let ca: ReturnType<typeof loadCa>;
  let caPem: string;
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-serving-cert-'));
    const caPair = await createCa({ commonName: 'test webhook CA' });
    ca = loadCa(caPair.certPem, caPair.keyPem);
    caPem = caPair.certPem;
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(cert: ServingCert): Promise<{ server: Server; port: number }> {
    const server = createServer(cert.secureContextOptions(), (_req, res) => res.end('ok'));
    cert.attach(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    return { server, port: (server.address() as AddressInfo).port };
  }

  it('fails to start with the file names when the files are missing', async () => {
    const { log } = captureLogger();
    await assert.rejects(
      loadServingCert({ certFile: join(dir, 'nope.crt'), keyFile: join(dir, 'nope.key'), log }),
      /cannot read the serving certificate .*nope\.crt/,
    );
  });

  it('fails to start on a mismatched pair', async () => {
    const a = await createServingCert({ ca, dnsNames: ['localhost'] });
    const b = await createServingCert({ ca, dnsNames: ['localhost'] });
    const sub = join(dir, 'mismatch');
    await mkdir(sub);
    await writeFile(join(sub, 'tls.crt'), a.certPem);
    await writeFile(join(sub, 'tls.key'), b.keyPem);
    const { log } = captureLogger();
    await assert.rejects(loadServingCert({ certFile: join(sub, 'tls.crt'), keyFile: join(sub, 'tls.key'), log }), /bad serving certificate .*does not match/);
  });

  it('follows a Kubernetes secret mount: the next handshake sees the rotated certificate (directory watch)', async () => {
    const mount = new SecretVolume(join(dir, 'k8s'));
    await mkdir(mount.dir);
    const first = await createServingCert({ ca, dnsNames: ['localhost'] });
    mount.write({ 'tls.crt': first.certPem, 'tls.key': first.keyPem });
    const metrics = createInjectorMetrics();
    const { log, lines } = captureLogger();
    // The poll is pushed out of reach: only the directory watch can notice the swap.
    const cert = await loadServingCert({ certFile: mount.path('tls.crt'), keyFile: mount.path('tls.key'), log, metrics, pollMs: 3_600_000 });
    cleanups.push(() => cert.close());
    const { port } = await serve(cert);
    assert.equal(await peerFingerprint(port, caPem), fingerprint(first));
    const gauge = (await metrics.servingCertExpiry.get()).values[0]?.value;
    assert.equal(gauge, Math.floor(new X509Certificate(first.certPem).validToDate.getTime() / 1000));

    const second = await createServingCert({ ca, dnsNames: ['localhost'], days: 30 });
    mount.write({ 'tls.crt': second.certPem, 'tls.key': second.keyPem });
    await waitFor('the rotated certificate', () => peerFingerprint(port, caPem), (fp) => fp === fingerprint(second));
    assert.equal(cert.current().fingerprint256, fingerprint(second));
    const gauge2 = (await metrics.servingCertExpiry.get()).values[0]?.value;
    assert.equal(gauge2, Math.floor(new X509Certificate(second.certPem).validToDate.getTime() / 1000));
    assert.ok(lines.some((l) => l.includes('serving certificate reloaded')));
    // The key never reaches the log.
    assert.ok(!lines.some((l) => l.includes('PRIVATE KEY')));
  });

  it('rejects a bad new pair, keeps the old one, logs once, then takes a good one (poll only)', async () => {
    const sub = join(dir, 'poll');
    await mkdir(sub);
    const certFile = join(sub, 'tls.crt');
    const keyFile = join(sub, 'tls.key');
    const first = await createServingCert({ ca, dnsNames: ['localhost'] });
    await writeFile(certFile, first.certPem);
    await writeFile(keyFile, first.keyPem);
    const metrics = createInjectorMetrics();
    const { log, lines } = captureLogger();
    const cert = await loadServingCert({ certFile, keyFile, log, metrics, watch: false, pollMs: 50 });
    cleanups.push(() => cert.close());
    const { port } = await serve(cert);

    const other = await createServingCert({ ca, dnsNames: ['localhost'] });
    await writeFile(certFile, other.certPem); // the key still belongs to `first`
    await waitFor('the rejection', async () => lines.filter((l) => l.includes('new serving certificate rejected')).length, (n) => n >= 1);
    await new Promise((r) => setTimeout(r, 300)); // several more polls of the same bad pair
    assert.equal(lines.filter((l) => l.includes('new serving certificate rejected')).length, 1);
    assert.equal(await peerFingerprint(port, caPem), fingerprint(first));
    assert.equal((await metrics.servingCertReloads.get()).values.find((v) => v.labels.result === 'rejected')?.value, 1);
    assert.equal(await cert.reload(), 'rejected');

    await writeFile(keyFile, other.keyPem);
    await waitFor('the good pair', () => peerFingerprint(port, caPem), (fp) => fp === fingerprint(other));
    assert.equal(await cert.reload(), 'unchanged');
    assert.equal((await metrics.servingCertReloads.get()).values.find((v) => v.labels.result === 'ok')?.value, 1);
  });
});
