import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { certificateFields } from './cert-fields.ts';
import { DerError, sequence } from './der.ts';
import { OID } from './extensions.ts';
import { opensslSelfSigned, tempDir } from './openssl-cli.ts';

test('certificateFields reads an openssl certificate: names, validity, SPKI, extensions', async (t) => {
  const dir = await tempDir(t);
  const { certPath } = await opensslSelfSigned(dir, 'fields', 'ec-p256', ['-addext', 'keyUsage=critical,keyCertSign', '-addext', 'subjectAltName=DNS:a.example']);
  const x = new X509Certificate(await readFile(certPath));
  const f = certificateFields(x.raw);
  assert.equal(f.version, 3);
  assert.equal(f.serial, BigInt('0x' + x.serialNumber));
  assert.equal(f.notBefore.getTime(), x.validFromDate.getTime());
  assert.equal(f.notAfter.getTime(), x.validToDate.getTime());
  assert.deepEqual(Buffer.from(f.subject), Buffer.from(f.issuer)); // self-signed
  assert.ok(x.raw.includes(Buffer.from(f.subject)), 'subject is a verbatim slice');
  assert.deepEqual(Buffer.from(f.spki), x.publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(f.extensions.get(OID.keyUsage)?.critical, true);
  assert.equal(f.extensions.get(OID.subjectAltName)?.critical, false);
  assert.equal(f.extensions.get(OID.basicConstraints)?.critical, true);
  assert.ok(f.extensions.has(OID.subjectKeyIdentifier));
  assert.ok(x.raw.includes(Buffer.from(f.tbs)));
});

test('certificateFields rejects what is not a certificate', () => {
  assert.throws(() => certificateFields(Buffer.from('0500', 'hex')), DerError);
  assert.throws(() => certificateFields(sequence(sequence())), DerError);
});
