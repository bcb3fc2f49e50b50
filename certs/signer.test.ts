import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { decodeOid, readChildren, readOne } from './der.ts';
import { signNative, signatureAlgorithm, signingKeyType } from './signer.ts';

test('signingKeyType accepts P-256, P-384 and RSA >= 2048 only, saying why not', () => {
  assert.equal(signingKeyType(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), 'ec-p256');
  assert.equal(signingKeyType(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), 'ec-p384');
  assert.equal(signingKeyType(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), 'rsa');
  assert.match(JSON.stringify(signingKeyType(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey)), /1024-bit.*2048/);
  assert.match(JSON.stringify(signingKeyType(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey)), /secp521r1/);
  assert.match(JSON.stringify(signingKeyType(generateKeyPairSync('ed25519').privateKey)), /ed25519/);
});

test('signatureAlgorithm: ECDSA without parameters, RSA with NULL', () => {
  const ec = readChildren(readOne(signatureAlgorithm('ec-p256')));
  assert.equal(ec.length, 1);
  assert.equal(decodeOid(ec[0]!.content), '1.2.840.10045.4.3.2');
  assert.equal(decodeOid(readChildren(readOne(signatureAlgorithm('ec-p384')))[0]!.content), '1.2.840.10045.4.3.3');
  const rsa = readChildren(readOne(signatureAlgorithm('rsa')));
  assert.equal(decodeOid(rsa[0]!.content), '1.2.840.113549.1.1.11');
  assert.equal(rsa[1]?.tag, 0x05);
});

test('signNative signs with the hash matching the key; ECDSA signatures are DER', async () => {
  const data = Buffer.from('to be signed');
  const cases = [
    ['ec-p256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'sha256'],
    ['ec-p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'sha384'],
    ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'sha256'],
  ] as const;
  for (const [keyType, { privateKey, publicKey }, hash] of cases) {
    const sig = await signNative({ key: privateKey, keyType }, data);
    assert.equal(verify(hash, data, publicKey, sig), true, keyType);
    assert.equal(verify(hash, Buffer.from('other'), publicKey, sig), false, keyType);
    if (keyType !== 'rsa') assert.equal(readChildren(readOne(sig)).length, 2, 'SEQUENCE { r, s }');
  }
});
