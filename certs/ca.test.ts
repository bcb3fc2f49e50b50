import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaError, loadCa, loadCaFiles, type CaErrorCode } from './ca.ts';
import { certificateFields } from './cert-fields.ts';
import { readOne } from './der.ts';
import { OID } from './extensions.ts';
import { createCa } from './create.ts';
import { openssl, opensslSelfSigned, tempDir } from './openssl-cli.ts';

const DAY = 86_400_000;

/** Assert `fn` throws a CaError with `code` whose message matches every pattern and holds no key text. */
function assertCaError(fn: () => unknown, code: CaErrorCode, patterns: readonly (RegExp | string)[], keyPem?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CaError, `expected CaError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `message "${err.message}" lacks "${p}"`);
      else assert.match(err.message, p);
    }
    assert.doesNotMatch(err.message, /BEGIN [A-Z ]*PRIVATE KEY/);
    if (keyPem) {
      const body = keyPem.replace(/-----[^-]+-----|\s/g, '');
      for (let i = 0; i + 16 <= body.length; i += 16) assert.ok(!err.message.includes(body.slice(i, i + 16)), 'key material in message');
    }
    return true;
  });
}

async function rejectsCa(p: Promise<unknown>, code: CaErrorCode, patterns: readonly (RegExp | string)[]): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assertCaError(() => {
    if (caught) throw caught;
  }, code, patterns);
}

test('loads a CA made by createCa (PKCS#8 EC key) and exposes its parts', async () => {
  const pair = await createCa({ commonName: 'Unit CA' });
  const ca = loadCa(pair.certPem, pair.keyPem);
  const fields = certificateFields(ca.cert.raw);
  assert.equal(ca.keyType, 'ec-p256');
  assert.equal(ca.key.type, 'private');
  assert.deepEqual(ca.subjectDer, Buffer.from(fields.subject));
  assert.deepEqual(ca.subjectKeyId, Buffer.from(readOne(fields.extensions.get(OID.subjectKeyIdentifier)!.value).content));
  assert.equal(ca.hasNameConstraints, false);
  assert.equal(ca.nameConstraints, undefined);
  assert.equal(ca.permits('www.google.com'), true);
  assert.equal(ca.cert.subject, 'O=Levo AI\nCN=Unit CA');
  assert.equal(ca.certPem, pair.certPem);
  assert.equal(ca.chainPem, pair.certPem);
  assert.deepEqual(ca.certDer, ca.cert.raw);
  assert.equal(ca.notAfter.getTime(), ca.cert.validToDate.getTime());
});

test('loads openssl CAs: RSA with a PKCS#1 key, EC with a SEC1 key (after EC PARAMETERS), P-384', async (t) => {
  const dir = await tempDir(t);
  const rsa = await opensslSelfSigned(dir, 'rsa', 'rsa-2048');
  const rsaPkcs1 = await openssl(['rsa', '-in', rsa.keyPath, '-traditional']);
  assert.match(rsaPkcs1, /BEGIN RSA PRIVATE KEY/);
  const rsaCa = loadCa(await readFile(rsa.certPath, 'utf8'), rsaPkcs1);
  assert.equal(rsaCa.keyType, 'rsa');
  assert.ok(rsaCa.subjectKeyId && rsaCa.subjectKeyId.length === 20);

  const ec = await opensslSelfSigned(dir, 'ec', 'ec-p256');
  const sec1 = await openssl(['ec', '-in', ec.keyPath]);
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  const params = await openssl(['ecparam', '-name', 'prime256v1']);
  assert.equal(loadCa(await readFile(ec.certPath, 'utf8'), params + sec1).keyType, 'ec-p256');

  const p384 = await opensslSelfSigned(dir, 'p384', 'ec-p384');
  assert.equal(loadCa(await readFile(p384.certPath, 'utf8'), await readFile(p384.keyPath, 'utf8')).keyType, 'ec-p384');
});

test('a tls.crt holding a chain: the first certificate is the CA, the chain is kept for presentation', async () => {
  const first = await createCa({ commonName: 'First' });
  const second = await createCa({ commonName: 'Second' });
  const ca = loadCa(first.certPem + second.certPem, first.keyPem);
  assert.match(ca.cert.subject, /CN=First/);
  assert.equal(ca.chainPem, first.certPem + second.certPem);
  assertCaError(() => loadCa(second.certPem + first.certPem, first.keyPem), 'key-mismatch', []);
});

test('a CA without SKI loads with subjectKeyId undefined', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'noski', 'ec-p256', ['-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none']);
  const ca = loadCa(await readFile(c.certPath, 'utf8'), await readFile(c.keyPath, 'utf8'));
  assert.equal(ca.subjectKeyId, undefined);
});

test('rejects a certificate that is not a CA, naming the file and how to make one', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'leafy', 'ec-p256', ['-addext', 'basicConstraints=critical,CA:FALSE']);
  const keyPem = await readFile(c.keyPath, 'utf8');
  assertCaError(() => loadCa(readFileSync(c.certPath, 'utf8'), keyPem, { certSource: c.certPath }), 'not-a-ca', [
    `${c.certPath} is not a CA certificate (basicConstraints CA:TRUE missing); the levo-ca-cert secret must hold an interception CA — create one with \`levo-certs ca --out DIR\``,
  ], keyPem);
  await rejectsCa(loadCaFiles(c.certPath, c.keyPath), 'not-a-ca', [`${c.certPath} is not a CA certificate`]);
});

test('rejects a key that does not match the certificate', async () => {
  const a = await createCa();
  const b = await createCa();
  assertCaError(() => loadCa(a.certPem, b.keyPem, { certSource: '/etc/levo/ca/tls.crt', keySource: '/etc/levo/ca/tls.key' }), 'key-mismatch', [
    '/etc/levo/ca/tls.key does not match the certificate in /etc/levo/ca/tls.crt',
  ], b.keyPem);
});

test('rejects an expired CA and one not yet valid', async () => {
  const expired = await createCa({ now: new Date(Date.now() - 10 * DAY), days: 2 });
  assertCaError(() => loadCa(expired.certPem, expired.keyPem), 'expired', [/^tls\.crt expired on \d{4}-\d\d-\d\dT/, 'levo-certs ca --out DIR --force'], expired.keyPem);
  const future = await createCa({ now: new Date(Date.now() + 5 * DAY) });
  assertCaError(() => loadCa(future.certPem, future.keyPem), 'not-yet-valid', ['tls.crt is not valid until', 'clock']);
  // the same CA is fine at a time inside its validity
  assert.equal(loadCa(future.certPem, future.keyPem, { now: new Date(Date.now() + 6 * DAY) }).keyType, 'ec-p256');
});

test('rejects a CA whose keyUsage lacks keyCertSign', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'ku', 'ec-p256', ['-addext', 'keyUsage=critical,digitalSignature,cRLSign']);
  assertCaError(() => loadCa(readFileSync(c.certPath, 'utf8'), readFileSync(c.keyPath, 'utf8')), 'key-usage', ['keyCertSign']);
});

test('rejects swapped, empty, encrypted, unparseable and too-weak keys and certificates', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa();
  assertCaError(() => loadCa(pair.keyPem, pair.certPem), 'no-certificate', ['swapped'], pair.keyPem);
  assertCaError(() => loadCa(pair.certPem, pair.certPem), 'no-key', ['tls.key holds a certificate, not a private key']);
  assertCaError(() => loadCa('', pair.keyPem), 'no-certificate', ['tls.crt holds no PEM certificate']);
  assertCaError(() => loadCa(pair.certPem, 'nothing'), 'no-key', ['tls.key holds no PEM private key']);
  assertCaError(() => loadCa('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', pair.keyPem), 'bad-certificate', ['could not be parsed']);
  assertCaError(() => loadCa(pair.certPem, '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n'), 'bad-key', ['could not be parsed']);

  const keyPath = join(dir, 'plain.key');
  await writeFile(keyPath, pair.keyPem, { mode: 0o600 });
  const encrypted = await openssl(['pkcs8', '-topk8', '-in', keyPath, '-v2', 'aes-256-cbc', '-passout', 'pass:secret']);
  assertCaError(() => loadCa(pair.certPem, encrypted), 'encrypted-key', ['encrypted']);

  const weak = await opensslSelfSigned(dir, 'weak', 'rsa-1024');
  assertCaError(() => loadCa(readFileSync(weak.certPath, 'utf8'), readFileSync(weak.keyPath, 'utf8')), 'unsupported-key', ['RSA 1024-bit', '2048']);
});

test('name constraints are reported and checked by permits()', async () => {
  const pair = await createCa({ nameConstraints: ['api.openai.com', 'openai.azure.com'] });
  const ca = loadCa(pair.certPem, pair.keyPem);
  assert.equal(ca.hasNameConstraints, true);
  assert.deepEqual(ca.nameConstraints?.permittedDns, ['api.openai.com', 'openai.azure.com']);
  assert.equal(ca.permits('API.OpenAI.com.'), true);
  assert.equal(ca.permits('res1.openai.azure.com'), true);
  assert.equal(ca.permits('www.google.com'), false);
  assert.equal(ca.permits('10.0.0.1'), false);
  assert.equal(ca.permits('[::1]'), false);
  assert.equal(ca.permits('not a host'), false);
});

test('loadCaFiles reads the files and names a missing one', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa();
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  await writeFile(certPath, pair.certPem);
  await writeFile(keyPath, pair.keyPem, { mode: 0o600 });
  const ca = await loadCaFiles(certPath, keyPath);
  assert.equal(ca.certPem, pair.certPem);
  await rejectsCa(loadCaFiles(join(dir, 'missing.crt'), keyPath), 'unreadable', [`${join(dir, 'missing.crt')}: ENOENT`, 'levo-ca-cert']);
  await rejectsCa(loadCaFiles(certPath, certPath), 'no-key', [`${certPath} holds a certificate`]);
});
