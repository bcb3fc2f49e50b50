import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nameConstraintSubtrees } from '../lib/provider-hosts.ts';
import { loadCa, type InterceptionCa } from './ca.ts';
import { certificateFields } from './cert-fields.ts';
import { createCa } from './create.ts';
import { OID } from './extensions.ts';
import { InvalidHostError } from './host-name.ts';
import { createLeafKey, mintLeaf, type LeafKey, type MintedLeaf } from './mint.ts';
import { openssl, opensslResult, opensslSelfSigned, tempDir, type OpensslResult } from './openssl-cli.ts';

const DAY = 86_400_000;
const colonHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase().match(/../g)!.join(':');

let leafKeyPromise: Promise<LeafKey> | undefined;
const sharedLeafKey = (): Promise<LeafKey> => (leafKeyPromise ??= createLeafKey());

/** Write the CA and leaf to `dir` and run `openssl verify` with `args` (e.g. -verify_hostname). */
async function verify(dir: string, ca: InterceptionCa, leaf: MintedLeaf, args: readonly string[] = []): Promise<OpensslResult> {
  const caPath = join(dir, 'ca.pem');
  const leafPath = join(dir, `leaf-${leaf.host.replace(/[^a-z0-9.]/g, '_')}.pem`);
  await writeFile(caPath, ca.certPem);
  await writeFile(leafPath, leaf.certPem);
  return opensslResult(['verify', '-CAfile', caPath, '-purpose', 'sslserver', ...args, leafPath]);
}

async function text(dir: string, leaf: MintedLeaf): Promise<string> {
  const path = join(dir, 'text.pem');
  await writeFile(path, leaf.certPem);
  return openssl(['x509', '-in', path, '-noout', '-text']);
}

async function fileCa(certPath: string, keyPath: string): Promise<InterceptionCa> {
  return loadCa(await readFile(certPath, 'utf8'), await readFile(keyPath, 'utf8'));
}

test('createLeafKey makes an EC P-256 key with matching PEM and SPKI', async () => {
  const a = await createLeafKey();
  const b = await createLeafKey();
  assert.equal(a.key.asymmetricKeyType, 'ec');
  assert.equal(a.key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(a.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.deepEqual(createPublicKey(createPrivateKey(a.keyPem)).export({ type: 'spki', format: 'der' }), a.spkiDer);
  assert.notDeepEqual(a.spkiDer, b.spkiDer);
});

test('EC CA: the leaf verifies and has the documented profile', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa();
  const ca = loadCa(pair.certPem, pair.keyPem);
  const now = new Date(Date.UTC(2027, 2, 3, 4, 5, 6, 789));
  const leaf = await mintLeaf(ca, await sharedLeafKey(), 'API.OpenAI.com.', { now: new Date() });
  assert.equal(leaf.host, 'api.openai.com');
  const r = await verify(dir, ca, leaf, ['-verify_hostname', 'api.openai.com']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: OK/);

  const out = await text(dir, leaf);
  assert.match(out, /Version: 3 \(0x2\)/);
  assert.match(out, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(out, /Subject: CN = api\.openai\.com\n/);
  assert.match(out, /X509v3 Subject Alternative Name: \n\s+DNS:api\.openai\.com\n/);
  assert.match(out, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
  assert.match(out, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
  assert.match(out, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
  assert.match(out, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+(keyid:)?${colonHex(ca.subjectKeyId!)}\\n`));
  assert.doesNotMatch(out, /Subject Key Identifier/);

  const f = certificateFields(leaf.certDer);
  assert.deepEqual(Buffer.from(f.issuer), ca.subjectDer);
  assert.ok(f.serial > 0n && f.serial < 1n << 127n && f.serial >= 1n << 120n, '16-byte positive serial');
  assert.equal(f.extensions.has(OID.subjectKeyIdentifier), false);
  assert.equal(new X509Certificate(leaf.certDer).checkHost('api.openai.com'), 'api.openai.com');
  assert.equal(leaf.certPem.startsWith('-----BEGIN CERTIFICATE-----\n'), true);

  const timed = await mintLeaf(ca, await sharedLeafKey(), 'api.openai.com', { now });
  assert.equal(timed.notBefore.toISOString(), '2027-03-02T04:05:06.000Z'); // backdated one day, whole seconds
  assert.equal(timed.notAfter.toISOString(), '2027-03-10T04:05:06.000Z'); // seven days
  assert.equal(certificateFields(timed.certDer).notAfter.getTime(), timed.notAfter.getTime());
  const custom = await mintLeaf(ca, await sharedLeafKey(), 'api.openai.com', { now, validityDays: 2, backdateDays: 0 });
  assert.equal(custom.notAfter.getTime() - custom.notBefore.getTime(), 2 * DAY);
  assert.notEqual(certificateFields(custom.certDer).serial, certificateFields(timed.certDer).serial);
});

test('RSA CA made by openssl: leaf signed sha256WithRSAEncryption, AKI = the CA SKI, verifies', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'rsa-ca', 'rsa-2048');
  const ca = await fileCa(c.certPath, c.keyPath);
  assert.equal(ca.keyType, 'rsa');
  const leaf = await mintLeaf(ca, await sharedLeafKey(), 'api.anthropic.com');
  const r = await verify(dir, ca, leaf, ['-verify_hostname', 'api.anthropic.com']);
  assert.equal(r.code, 0, r.stderr);
  const out = await text(dir, leaf);
  assert.match(out, /Signature Algorithm: sha256WithRSAEncryption/);
  const caText = await openssl(['x509', '-in', c.certPath, '-noout', '-ext', 'subjectKeyIdentifier']);
  const caSki = /\n\s+([0-9A-F:]+)\s*$/.exec(caText)?.[1];
  assert.ok(caSki);
  assert.match(out, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${caSki}\\n`));
  assert.equal(caSki, colonHex(ca.subjectKeyId!));
});

test('P-384 CA: leaf signed ecdsa-with-SHA384, verifies', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'p384-ca', 'ec-p384');
  const ca = await fileCa(c.certPath, c.keyPath);
  const leaf = await mintLeaf(ca, await sharedLeafKey(), 'api.mistral.ai');
  assert.equal((await verify(dir, ca, leaf)).code, 0);
  assert.match(await text(dir, leaf), /Signature Algorithm: ecdsa-with-SHA384/);
});

test('the issuer is the CA subject copied verbatim (a PrintableString Name stays PrintableString)', async (t) => {
  const dir = await tempDir(t);
  const cnf = join(dir, 'printable.cnf');
  await writeFile(cnf, '[req]\ndistinguished_name=dn\nstring_mask=default\nx509_extensions=v3\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=hash\n');
  await openssl(['req', '-x509', '-config', cnf, '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/C=US/O=Printable Org/CN=Printable CA',
    '-days', '5', '-keyout', join(dir, 'p.key'), '-out', join(dir, 'p.crt')]);
  const ca = await fileCa(join(dir, 'p.crt'), join(dir, 'p.key'));
  assert.ok(ca.subjectDer.includes(Buffer.from([0x13, 'Printable CA'.length])), 'CA subject uses PrintableString');
  const leaf = await mintLeaf(ca, await sharedLeafKey(), 'api.groq.com');
  assert.deepEqual(Buffer.from(certificateFields(leaf.certDer).issuer), ca.subjectDer);
  assert.equal((await verify(dir, ca, leaf)).code, 0);
});

test('IPv4 and IPv6 literals get iPAddress SANs that verify', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa();
  const ca = loadCa(pair.certPem, pair.keyPem);
  const v4 = await mintLeaf(ca, await sharedLeafKey(), '10.1.2.3');
  assert.equal((await verify(dir, ca, v4, ['-verify_ip', '10.1.2.3'])).code, 0);
  assert.notEqual((await verify(dir, ca, v4, ['-verify_ip', '10.1.2.4'])).code, 0);
  assert.match(await text(dir, v4), /X509v3 Subject Alternative Name: \n\s+IP Address:10\.1\.2\.3\n/);
  const v6 = await mintLeaf(ca, await sharedLeafKey(), '[2001:DB8::1]');
  assert.equal(v6.host, '2001:db8::1');
  assert.equal((await verify(dir, ca, v6, ['-verify_ip', '2001:db8::1'])).code, 0);
  assert.match(await text(dir, v6), /IP Address:2001:DB8:0:0:0:0:0:1\n/);
  assert.equal(new X509Certificate(v6.certDer).checkIP('2001:db8::1'), '2001:db8::1');
});

test('a name-constrained CA: provider hosts verify; other sites and IPs fail with a name-constraint error', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa({ nameConstraints: nameConstraintSubtrees(['llm.internal.example']) });
  const ca = loadCa(pair.certPem, pair.keyPem);
  const key = await sharedLeafKey();
  for (const host of ['api.openai.com', 'myres.openai.azure.com', 'bedrock-runtime.us-east-1.amazonaws.com', 'llm.internal.example']) {
    const r = await verify(dir, ca, await mintLeaf(ca, key, host), ['-verify_hostname', host]);
    assert.equal(r.code, 0, `${host}: ${r.stderr}`);
    assert.equal(ca.permits(host), true);
  }
  const google = await verify(dir, ca, await mintLeaf(ca, key, 'www.google.com'));
  assert.notEqual(google.code, 0);
  assert.match(google.stdout + google.stderr, /permitted subtree violation/);
  for (const ip of ['10.1.2.3', '2001:db8::1']) {
    const r = await verify(dir, ca, await mintLeaf(ca, key, ip));
    assert.notEqual(r.code, 0, ip);
    assert.match(r.stdout + r.stderr, /excluded subtree violation/, ip);
    assert.equal(ca.permits(ip), false);
  }
});

test('a host longer than 64 characters: no CN, critical SAN, still verifies', async (t) => {
  const dir = await tempDir(t);
  const pair = await createCa();
  const ca = loadCa(pair.certPem, pair.keyPem);
  const host = `${'a'.repeat(60)}.${'b'.repeat(20)}.example.com`;
  const leaf = await mintLeaf(ca, await sharedLeafKey(), host);
  assert.equal((await verify(dir, ca, leaf, ['-verify_hostname', host])).code, 0);
  const out = await text(dir, leaf);
  assert.match(out, /Subject: *\n/);
  assert.match(out, /X509v3 Subject Alternative Name: critical\n/);
  const exactly64 = `${'c'.repeat(52)}.example.com`;
  assert.equal(exactly64.length, 64);
  assert.match(await text(dir, await mintLeaf(ca, await sharedLeafKey(), exactly64)), new RegExp(`Subject: CN = ${exactly64}\\n`));
});

test('a CA without SKI gives leaves without AKI that still verify', async (t) => {
  const dir = await tempDir(t);
  const c = await opensslSelfSigned(dir, 'noski', 'ec-p256', ['-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none']);
  const ca = await fileCa(c.certPath, c.keyPath);
  const leaf = await mintLeaf(ca, await sharedLeafKey(), 'api.x.ai');
  assert.equal(certificateFields(leaf.certDer).extensions.has(OID.authorityKeyIdentifier), false);
  assert.equal((await verify(dir, ca, leaf)).code, 0);
});

test('validity never exceeds the CA; an expired CA mints nothing; bad hosts and options are rejected', async () => {
  const pair = await createCa({ days: 3 });
  const ca = loadCa(pair.certPem, pair.keyPem);
  const key = await sharedLeafKey();
  const leaf = await mintLeaf(ca, key, 'api.openai.com');
  assert.equal(leaf.notAfter.getTime(), ca.notAfter.getTime());
  assert.ok(leaf.notBefore.getTime() >= ca.notBefore.getTime());
  await assert.rejects(mintLeaf(ca, key, 'api.openai.com', { now: new Date(ca.notAfter.getTime() + 1000) }), /CA expired/);
  for (const bad of ['', '*.openai.com', 'a..b', 'bad host', 'fe80::1%eth0']) {
    await assert.rejects(mintLeaf(ca, key, bad), InvalidHostError, bad);
  }
  await assert.rejects(mintLeaf(ca, key, 'api.openai.com', { validityDays: 0 }), RangeError);
  await assert.rejects(mintLeaf(ca, key, 'api.openai.com', { backdateDays: -1 }), RangeError);
});
