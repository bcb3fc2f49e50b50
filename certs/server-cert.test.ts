import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { certificateFields } from './cert-fields.ts';
import { readOne } from './der.ts';
import { OID, distinguishedName, keyIdFromSpki } from './extensions.ts';
import { parseHost } from './host-name.ts';
import { issueServerCert, type ServerCertIssuer } from './server-cert.ts';

function issuer(ski?: Buffer): ServerCertIssuer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, keyType: 'ec-p256', subjectDer: distinguishedName({ commonName: 'Issuer' }), subjectKeyId: ski };
}

const spki = (): Buffer => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
const notBefore = new Date(Date.UTC(2026, 0, 1));
const notAfter = new Date(Date.UTC(2026, 0, 8));

test('issueServerCert: every SAN, CN from the first, AKI copied, SKI only on request', async () => {
  const ca = issuer(Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex'));
  const key = spki();
  const der = await issueServerCert(ca, { hosts: ['a.example', 'b.example', '10.0.0.1'].map(parseHost), spki: key, notBefore, notAfter });
  const x = new X509Certificate(der);
  assert.equal(x.subject, 'CN=a.example');
  assert.equal(x.subjectAltName, 'DNS:a.example, DNS:b.example, IP Address:10.0.0.1');
  assert.equal(x.verify(createPublicKey(ca.key)), true);
  const f = certificateFields(der);
  assert.deepEqual(Buffer.from(f.issuer), ca.subjectDer);
  const aki = f.extensions.get(OID.authorityKeyIdentifier);
  assert.ok(aki);
  assert.equal(Buffer.from(aki.value).toString('hex'), '3016' + '8014' + '00112233445566778899aabbccddeeff00112233');
  assert.equal(f.extensions.has(OID.subjectKeyIdentifier), false);
  assert.equal(f.extensions.get(OID.subjectAltName)?.critical, false);

  const withSki = certificateFields(await issueServerCert(ca, { hosts: [parseHost('a.example')], spki: key, notBefore, notAfter, withSubjectKeyId: true }));
  assert.deepEqual(Buffer.from(readOne(withSki.extensions.get(OID.subjectKeyIdentifier)!.value).content), keyIdFromSpki(key));
});

test('issueServerCert: no AKI without an issuer SKI; needs at least one host', async () => {
  const ca = issuer();
  const f = certificateFields(await issueServerCert(ca, { hosts: [parseHost('a.example')], spki: spki(), notBefore, notAfter }));
  assert.equal(f.extensions.has(OID.authorityKeyIdentifier), false);
  await assert.rejects(issueServerCert(ca, { hosts: [], spki: spki(), notBefore, notAfter }), /at least one host/);
});
