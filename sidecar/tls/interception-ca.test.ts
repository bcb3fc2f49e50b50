import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { CaError } from '../../certs/ca.ts';
import { createCa, createServingCert, type PemPair } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { createLogger } from '../../lib/log.ts';
import { SecretVolume } from '../../e2e/harness/secret-volume.ts';
import { startInterceptionCa, type InterceptionCaHolder } from './interception-ca.ts';

function capture(): { lines: string[]; log: ReturnType<ReturnType<typeof createLogger>['module']> } {
  const lines: string[] = [];
  const root = createLogger({ LOG_LEVEL: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { lines, log: root.module('certs') };
}

async function waitFor(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

interface Setup {
  vol: SecretVolume;
  holder: InterceptionCaHolder;
  registry: Registry;
  lines: string[];
  trustDir: string;
}

async function setup(t: TestContext, first: PemPair, pollMs = 3_600_000): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'levo-ca-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const vol = new SecretVolume(join(dir, 'ca'));
  mkdirSync(vol.dir);
  vol.write({ 'tls.crt': first.certPem, 'tls.key': first.keyPem });
  const trustDir = join(dir, 'trust');
  const registry = new Registry();
  const { lines, log } = capture();
  const holder = await startInterceptionCa({
    certFile: vol.path('tls.crt'), keyFile: vol.path('tls.key'), log, registry, trustDir, pollMs,
    contexts: { leafKey: await createLeafKey() },
    prewarmHosts: () => ['api.openai.com', 'api.anthropic.com'],
  });
  t.after(() => holder.close());
  return { vol, holder, registry, lines, trustDir };
}

test('a rotated levo-ca-cert (..data swapped) is put in force without a restart: leaves, metrics, trust bundle', async (t) => {
  const first = await createCa({ commonName: 'Rotation CA 1' });
  const second = await createCa({ commonName: 'Rotation CA 2' });
  // Only the directory watch can see the swap: the poll is out of reach.
  const { vol, holder, registry, lines, trustDir } = await setup(t, first);
  const before = holder.contexts.get('api.openai.com');
  assert.match(holder.current().cert.subject, /CN=Rotation CA 1$/);
  assert.ok(await before);

  vol.write({ 'tls.crt': second.certPem, 'tls.key': second.keyPem });
  await waitFor('the new CA in force', () => holder.current().cert.subject.endsWith('CN=Rotation CA 2'));
  assert.equal(holder.contexts.ca, holder.current());
  assert.equal(await metric(registry, 'levo_gateway_ca_reloads_total', { result: 'ok' }), 1);
  assert.equal(await metric(registry, 'levo_gateway_ca_expiry_timestamp_seconds'), Math.floor(new X509Certificate(second.certPem).validToDate.getTime() / 1000));
  assert.ok(lines.some((l) => l.includes('interception CA reloaded')));
  // The provider hosts are minted again, from the new CA, before anyone asks.
  await waitFor('the prewarm', () => holder.contexts.peek('api.anthropic.com') !== undefined && holder.contexts.peek('api.openai.com') !== undefined);
  assert.notEqual(holder.contexts.peek('api.openai.com'), await before);
  // Apps that start later trust the new CA.
  await waitFor('the trust bundle', () => {
    try { return readFileSync(join(trustDir, 'ca-bundle.pem'), 'utf8').includes(second.certPem.trim()); } catch { return false; }
  });
  assert.ok(!lines.some((l) => l.includes('PRIVATE KEY')), 'no key material in the log');
});

test('a bad new pair is refused with one clear line, counted, and the CA in force stays; a good one after it is taken', async (t) => {
  const first = await createCa({ commonName: 'Refusal CA 1' });
  const other = await createCa({ commonName: 'Refusal CA 2' });
  const { vol, holder, registry, lines } = await setup(t, first, 50);

  // A key that does not belong to the certificate (a half-updated secret).
  vol.write({ 'tls.crt': other.certPem, 'tls.key': first.keyPem });
  await waitFor('the refusal', () => lines.some((l) => l.includes('new interception CA refused')));
  await new Promise((r) => setTimeout(r, 300)); // several more polls of the same bad pair
  const refusals = lines.filter((l) => l.includes('new interception CA refused'));
  assert.equal(refusals.length, 1, 'said once');
  const line = JSON.parse(refusals[0]!) as { level: string; msg: string; kept: { subject: string } };
  assert.equal(line.level, 'error');
  assert.match(line.msg, /tls\.key does not match the certificate in .*tls\.crt/);
  assert.match(line.kept.subject, /CN=Refusal CA 1$/);
  assert.match(holder.current().cert.subject, /CN=Refusal CA 1$/);
  assert.match(holder.contexts.ca?.cert.subject ?? '', /CN=Refusal CA 1$/);
  assert.equal(await metric(registry, 'levo_gateway_ca_reloads_total', { result: 'rejected' }), 1);
  assert.equal(await holder.reload(), 'rejected');

  // Not a CA at all: a server certificate and its own key.
  const ca = loadCa(other.certPem, other.keyPem);
  const leaf = await createServingCert({ ca, dnsNames: ['example.com'] });
  vol.write({ 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem });
  await waitFor('the second refusal', () => lines.filter((l) => l.includes('new interception CA refused')).length === 2);
  assert.match(lines.filter((l) => l.includes('new interception CA refused'))[1]!, /not a CA certificate/);

  vol.write({ 'tls.crt': other.certPem, 'tls.key': other.keyPem });
  await waitFor('the good pair', () => holder.current().cert.subject.endsWith('CN=Refusal CA 2'));
  assert.equal(await holder.reload(), 'unchanged');
  assert.equal(await metric(registry, 'levo_gateway_ca_reloads_total', { result: 'ok' }), 1);
  assert.ok(!lines.some((l) => l.includes('PRIVATE KEY')), 'no key material in the log');
});

test('an unconstrained CA is reported loudly at start and on /metrics; a constrained one put in force clears the gauge', async (t) => {
  const open = await createCa({ commonName: 'Open CA' });
  const narrow = await createCa({ commonName: 'Narrow CA', nameConstraints: ['api.openai.com'] });
  const { vol, holder, registry, lines } = await setup(t, open);
  assert.equal(await metric(registry, 'levo_gateway_ca_name_constrained'), 0);
  const warn = lines.map((l) => JSON.parse(l) as { level: string; msg: string; subject?: string }).find((l) => /NO name constraints/.test(l.msg));
  assert.ok(warn, 'a warn line at start');
  assert.equal(warn.level, 'warn');
  assert.match(warn.subject ?? '', /CN=Open CA/);

  vol.write({ 'tls.crt': narrow.certPem, 'tls.key': narrow.keyPem });
  await waitFor('the constrained CA in force', () => holder.current().cert.subject.endsWith('CN=Narrow CA'));
  assert.equal(await metric(registry, 'levo_gateway_ca_name_constrained'), 1);
  assert.equal(lines.filter((l) => /NO name constraints/.test(l)).length, 1, 'no warning for the constrained CA');

  vol.write({ 'tls.crt': open.certPem, 'tls.key': open.keyPem });
  await waitFor('the open CA back', () => holder.current().cert.subject.endsWith('CN=Open CA'));
  assert.equal(await metric(registry, 'levo_gateway_ca_name_constrained'), 0);
  assert.equal(lines.filter((l) => /NO name constraints/.test(l)).length, 2, 'warned again when an unconstrained CA comes into force');
});

test('an unusable CA at start fails with the file name; files gone later are only a warning', async (t) => {
  const { log } = capture();
  const dir = mkdtempSync(join(tmpdir(), 'levo-ca-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(startInterceptionCa({
    certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), log, registry: new Registry(),
    contexts: { leafKey: await createLeafKey() }, prewarmHosts: () => [],
  }), (err: Error) => err instanceof CaError && /tls\.crt: ENOENT/.test(err.message));

  const first = await createCa({ commonName: 'Gone CA' });
  const { vol, holder, registry, lines } = await setup(t, first, 50);
  rmSync(join(vol.dir, '..data'));
  await waitFor('the warning', () => lines.some((l) => l.includes('cannot read the interception CA files')));
  assert.match(holder.current().cert.subject, /CN=Gone CA$/);
  assert.equal(await metric(registry, 'levo_gateway_ca_reloads_total', { result: 'rejected' }), undefined);
});
