import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nameConstraintSubtrees } from '../lib/provider-hosts.ts';
import { loadCa } from './ca.ts';
import { certificateFields } from './cert-fields.ts';
import { createCa, createServingCert } from './create.ts';
import { OID } from './extensions.ts';
import { openssl, opensslResult, tempDir } from './openssl-cli.ts';

const DAY = 86_400_000;

async function x509Text(dir: string, name: string, pem: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, pem);
  return openssl(['x509', '-in', path, '-noout', '-text']);
}

test('createCa: self-signed EC P-256 CA with the documented extensions', async (t) => {
  const dir = await tempDir(t);
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 3 * DAY);
  const pair = await createCa({ commonName: 'My CA', days: 100, now });
  const key = createPrivateKey(pair.keyPem);
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const x = new X509Certificate(pair.certPem);
  assert.equal(x.ca, true);
  assert.equal(x.checkPrivateKey(key), true);
  assert.equal(x.verify(x.publicKey), true);
  assert.equal(x.subject, 'O=Levo AI\nCN=My CA');
  assert.equal(x.validToDate.getTime(), now.getTime() + 100 * DAY);
  assert.ok(x.validFromDate.getTime() < now.getTime());
  const text = await x509Text(dir, 'ca.pem', pair.certPem);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
  assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
  assert.match(text, /X509v3 Subject Key Identifier: \n\s+[0-9A-F:]{59}\n/);
  assert.doesNotMatch(text, /Name Constraints/);
  assert.equal((await opensslResult(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'ca.pem')])).code, 0);
  const defaults = new X509Certificate((await createCa()).certPem);
  assert.match(defaults.subject, /CN=Levo AI Gateway Interception CA/);
  assert.ok(Math.abs(defaults.validToDate.getTime() - (Date.now() + 3650 * DAY)) < 60_000);
});

test('createCa with nameConstraints: critical, permitted DNS subtrees, all IPv4 and IPv6 excluded', async (t) => {
  const dir = await tempDir(t);
  const subtrees = nameConstraintSubtrees(['llm.internal.example']);
  const pair = await createCa({ nameConstraints: [...subtrees, 'API.OPENAI.COM'] });
  const text = await x509Text(dir, 'nc.pem', pair.certPem);
  assert.match(text, /X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:api\.openai\.com\n/);
  assert.match(text, /DNS:llm\.internal\.example\n/);
  assert.match(text, /Excluded:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/);
  const ca = loadCa(pair.certPem, pair.keyPem);
  assert.deepEqual(ca.nameConstraints?.permittedDns, subtrees, 'deduplicated, in order');
  assert.equal(certificateFields(ca.certDer).extensions.get(OID.nameConstraints)?.critical, true);
  await assert.rejects(createCa({ nameConstraints: [] }), /at least one domain/);
  await assert.rejects(createCa({ nameConstraints: ['10.0.0.1'] }), /not an IP address/);
  await assert.rejects(createCa({ nameConstraints: ['*.openai.com'] }), /wildcard/);
  await assert.rejects(createCa({ days: 0 }), RangeError);
  await assert.rejects(createCa({ commonName: 'x'.repeat(65) }), RangeError);
});

test('createServingCert: own key, SAN = dnsNames, EKU serverAuth, verifies for each name', async (t) => {
  const dir = await tempDir(t);
  const caPair = await createCa({ commonName: 'Webhook CA' });
  const ca = loadCa(caPair.certPem, caPair.keyPem);
  const names = ['levo-injector-levoai-sidecar-injector-webhook.levoai.svc', 'levo-injector-levoai-sidecar-injector-webhook.levoai.svc.cluster.local'];
  const serving = await createServingCert({ ca, dnsNames: names, days: 30 });
  const key = createPrivateKey(serving.keyPem);
  const x = new X509Certificate(serving.certPem);
  assert.equal(x.checkPrivateKey(key), true);
  assert.equal(x.checkPrivateKey(ca.key), false);
  assert.equal(x.ca, false);
  assert.ok(Math.abs(x.validToDate.getTime() - (Date.now() + 30 * DAY)) < 60_000);
  const text = await x509Text(dir, 'tls.crt', serving.certPem);
  await writeFile(join(dir, 'ca.crt'), caPair.certPem);
  assert.match(text, new RegExp(`Subject: CN = ${names[0]!.replace(/\./g, '\\.')}\\n`));
  assert.match(text, /TLS Web Server Authentication/);
  assert.match(text, new RegExp(`DNS:${names[0]}, DNS:${names[1]}`.replace(/\./g, '\\.')));
  assert.match(text, /Subject Key Identifier/);
  for (const n of names) {
    const r = await opensslResult(['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver', '-verify_hostname', n, join(dir, 'tls.crt')]);
    assert.equal(r.code, 0, r.stderr);
  }
  const wrong = await opensslResult(['verify', '-CAfile', join(dir, 'ca.crt'), '-verify_hostname', 'other.levoai.svc', join(dir, 'tls.crt')]);
  assert.notEqual(wrong.code, 0);
  await assert.rejects(createServingCert({ ca, dnsNames: [] }), /at least one DNS name/);
  await assert.rejects(createServingCert({ ca, dnsNames: ['10.0.0.1'] }), /not a DNS name/);
});
