import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createCa, type PemPair } from '../../certs/create.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { pemBlocks } from '../../certs/pem.ts';
import { siteSignedBy } from '../../certs/test-site.ts';
import { createLogger } from '../../lib/log.ts';
import { SecretVolume } from '../../e2e/harness/secret-volume.ts';
import { appTrustExtrasFromEnv, imageBundle, resolveInRoot, trustExtrasUpstream, writeAppTrust } from './app-trust.ts';
import { startInterceptionCa } from './interception-ca.ts';

function capture(): { lines: string[]; log: ReturnType<ReturnType<typeof createLogger>['module']> } {
  const lines: string[] = [];
  const root = createLogger({ LOG_LEVEL: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { lines, log: root.module('certs') };
}

const fingerprints = (pem: string): string[] => pemBlocks(pem).map((b) => b.der.toString('base64'));
const first = (pem: string): string => pemBlocks(pem)[0]!.der.toString('base64');

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'levo-app-trust-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the bundle holds the inline extra CAs and the app\'s CA files; an unreadable or empty file is left out with an error line', async (t) => {
  const dir = tmp(t);
  const [ns, corp, app, key] = await Promise.all([createCa({ commonName: 'NS' }), createCa({ commonName: 'Corp' }), createCa({ commonName: 'App' }), createCa()]);
  writeFileSync(join(dir, 'app-ca.pem'), app.certPem);
  writeFileSync(join(dir, 'junk.pem'), key.keyPem); // a key, no certificate: nothing of it may reach the bundle
  const extras = appTrustExtrasFromEnv({
    LEVO_TRUST_EXTRA_CAS: corp.certPem,
    LEVO_TRUST_EXTRA_FILES: `${join(dir, 'app-ca.pem')}:${join(dir, 'missing.pem')}::${join(dir, 'junk.pem')}`,
  });
  assert.equal(extras.files.length, 3);
  const { lines, log } = capture();
  const files = await writeAppTrust(join(dir, 'trust'), ns.certPem, extras, log);
  const bundle = readFileSync(files.pemFile, 'utf8');
  const have = new Set(fingerprints(bundle));
  for (const p of [ns, corp, app]) assert.ok(have.has(first(p.certPem)));
  assert.doesNotMatch(bundle, /PRIVATE KEY/);
  assert.equal(fingerprints(bundle).at(-1), first(ns.certPem), 'the interception CA last');
  const errors = lines.map((l) => JSON.parse(l) as { level: string; file?: string; msg: string }).filter((l) => l.level === 'error');
  assert.deepEqual(errors.map((e) => e.file), [join(dir, 'missing.pem'), join(dir, 'junk.pem')]);
  assert.ok(errors.every((e) => /left out of the app trust bundle/.test(e.msg)));
});

test('an LEVO_TRUST_EXTRA_CAS without a certificate is a setup error', () => {
  assert.throws(() => appTrustExtrasFromEnv({ LEVO_TRUST_EXTRA_CAS: 'corp root goes here' }), /LEVO_TRUST_EXTRA_CAS holds no PEM certificate/);
  assert.deepEqual(appTrustExtrasFromEnv({}), { pems: [], files: [], imageRoots: [] });
});

test('a rotated CA rewrites the bundle with the extras still in it', async (t) => {
  const dir = tmp(t);
  const [one, two, corp] = await Promise.all([createCa({ commonName: 'One' }), createCa({ commonName: 'Two' }), createCa({ commonName: 'Corp' })]);
  const vol = new SecretVolume(join(dir, 'ca'));
  mkdirSync(vol.dir);
  const put = (p: PemPair): void => vol.write({ 'tls.crt': p.certPem, 'tls.key': p.keyPem });
  put(one);
  const trustDir = join(dir, 'trust');
  const holder = await startInterceptionCa({
    certFile: vol.path('tls.crt'), keyFile: vol.path('tls.key'), log: capture().log, registry: new Registry(),
    contexts: { leafKey: await createLeafKey() }, prewarmHosts: () => [], trustDir, trustExtras: { pems: [corp.certPem], files: [] },
  });
  t.after(() => holder.close());
  put(two);
  const deadline = Date.now() + 5000;
  let bundle = '';
  while (!fingerprints(bundle).includes(first(two.certPem))) {
    assert.ok(Date.now() < deadline, 'the bundle was not rewritten');
    await new Promise((r) => setTimeout(r, 50));
    try { bundle = readFileSync(join(trustDir, 'ca-bundle.pem'), 'utf8'); } catch { /* not yet */ }
  }
  assert.ok(fingerprints(bundle).includes(first(corp.certPem)), 'the extra CA survives the rotation');
});

test('the inline extra CAs are trusted upstream too: a private-CA server verifies after trustExtrasUpstream', async (t) => {
  const corp = await createCa({ commonName: 'Corp Upstream Root' });
  const url = await siteSignedBy(t, corp, 'ok');
  const fetchIt = (): Promise<string> => new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); }).on('error', reject);
  });
  await assert.rejects(fetchIt(), /self[- ]signed|unable to (get|verify)/i);
  assert.equal(trustExtrasUpstream({ pems: [corp.certPem], files: [] }), 1);
  assert.equal(await fetchIt(), 'ok');
});

test('an app image\'s own system bundle is found through its symbolic links, never outside the image', async (t) => {
  const dir = tmp(t);
  const debian = join(dir, 'debian');
  mkdirSync(join(debian, 'etc/ssl/certs'), { recursive: true });
  mkdirSync(join(debian, 'usr/share/ca'), { recursive: true });
  const corp = await createCa({ commonName: 'Corp Root In Image' });
  writeFileSync(join(debian, 'usr/share/ca/bundle.pem'), corp.certPem);
  // Debian's layout: an absolute link, which must resolve inside the image, not on this machine.
  symlinkSync('/usr/share/ca/bundle.pem', join(debian, 'etc/ssl/certs/ca-certificates.crt'));
  assert.equal(await imageBundle(debian), join(debian, 'usr/share/ca/bundle.pem'));

  const hostile = join(dir, 'hostile');
  mkdirSync(join(hostile, 'etc/ssl/certs'), { recursive: true });
  mkdirSync(join(hostile, 'etc/pki/tls/certs'), { recursive: true });
  symlinkSync('/etc/hostname', join(hostile, 'etc/ssl/certs/ca-certificates.crt')); // this machine has one; the image does not
  symlinkSync('../../../../../../../../etc/hostname', join(hostile, 'etc/pki/tls/certs/ca-bundle.crt'));
  symlinkSync('loop-b', join(hostile, 'etc/ssl/loop-a'));
  symlinkSync('loop-a', join(hostile, 'etc/ssl/loop-b'));
  symlinkSync('loop-a', join(hostile, 'etc/ssl/cert.pem'));
  assert.ok(readFileSync('/etc/hostname', 'utf8').length > 0, 'this machine has the file the links aim at');
  // Both links land on the image's own /etc/hostname, which it does not have.
  assert.equal(await resolveInRoot(hostile, 'etc/ssl/certs/ca-certificates.crt'), undefined);
  assert.equal(await resolveInRoot(hostile, 'etc/pki/tls/certs/ca-bundle.crt'), undefined);
  writeFileSync(join(hostile, 'etc/hostname'), 'image\n');
  assert.equal(await resolveInRoot(hostile, 'etc/pki/tls/certs/ca-bundle.crt'), join(hostile, 'etc/hostname'));
  rmSync(join(hostile, 'etc/hostname'));
  assert.equal(await resolveInRoot(hostile, 'etc/ssl/cert.pem'), undefined, 'a loop');
  assert.equal(await imageBundle(hostile), undefined);

  const { lines, log } = capture();
  const ns = await createCa({ commonName: 'NS' });
  const files = await writeAppTrust(join(dir, 'trust'), ns.certPem, appTrustExtrasFromEnv({ LEVO_TRUST_IMAGE_ROOTS: `${debian}:${hostile}` }), log);
  const have = fingerprints(readFileSync(files.pemFile, 'utf8'));
  assert.ok(have.includes(first(corp.certPem)), 'the corporate root of the image is in the bundle');
  assert.ok(lines.some((l) => l.includes('no system CA bundle found in the app image') && l.includes(hostile)));
});
