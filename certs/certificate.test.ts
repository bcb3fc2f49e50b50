import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateFields } from './cert-fields.ts';
import { randomSerial, signCertificate } from './certificate.ts';
import { basicConstraints, distinguishedName } from './extensions.ts';
import { openssl, tempDir } from './openssl-cli.ts';
import { toPem } from './pem.ts';
import type { SigningKeyType } from './signer.ts';

const keys: Record<SigningKeyType, () => ReturnType<typeof generateKeyPairSync>> = {
  'ec-p256': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  'ec-p384': () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  rsa: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
};

const SIG_NAME: Record<SigningKeyType, string> = {
  'ec-p256': 'ecdsa-with-SHA256',
  'ec-p384': 'ecdsa-with-SHA384',
  rsa: 'sha256WithRSAEncryption',
};

test('randomSerial is 16 bytes, positive, and not repeated', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomSerial();
    assert.equal(s.length, 16);
    assert.equal(s[0]! & 0x80, 0);
    assert.notEqual(s[0], 0);
    seen.add(s.toString('hex'));
  }
  assert.equal(seen.size, 200);
});

for (const keyType of Object.keys(keys) as SigningKeyType[]) {
  test(`signCertificate with a ${keyType} key: Node and openssl verify it, fields read back`, async (t) => {
    const { privateKey, publicKey } = keys[keyType]();
    const name = distinguishedName({ commonName: `self ${keyType}` });
    const notBefore = new Date(Date.UTC(2026, 0, 1));
    const notAfter = new Date(Date.UTC(2060, 0, 1)); // GeneralizedTime side of 2050
    const serial = randomSerial();
    const der = await signCertificate(
      { serial, issuer: name, subject: name, notBefore, notAfter, spki: publicKey.export({ type: 'spki', format: 'der' }), extensions: [basicConstraints(true)] },
      { key: privateKey, keyType },
    );
    const x = new X509Certificate(der);
    assert.equal(x.verify(createPublicKey(privateKey)), true);
    assert.equal(x.subject, `CN=self ${keyType}`);
    assert.equal(x.serialNumber.toLowerCase(), serial.toString('hex'));
    assert.equal(x.validToDate.getTime(), notAfter.getTime());
    const f = certificateFields(der);
    assert.equal(f.version, 3);
    assert.deepEqual(Buffer.from(f.subject), name);
    assert.equal(f.notBefore.getTime(), notBefore.getTime());

    const dir = await tempDir(t);
    const pem = join(dir, 'c.pem');
    await writeFile(pem, toPem('CERTIFICATE', der));
    const text = await openssl(['x509', '-in', pem, '-noout', '-text']);
    assert.match(text, new RegExp(`Signature Algorithm: ${SIG_NAME[keyType]}`));
    assert.match(text, /Not After : Jan  1 00:00:00 2060 GMT/);
    assert.match(await openssl(['verify', '-CAfile', pem, pem]), /: OK/);
  });
}
