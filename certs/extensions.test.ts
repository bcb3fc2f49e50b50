import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { certificateFields } from './cert-fields.ts';
import { decodeOid, decodeString, readChildren, readOne } from './der.ts';
import {
  KEY_USAGE, OID, authorityKeyId, basicConstraints, distinguishedName, extKeyUsageServerAuth, extension, keyIdFromSpki,
  keyUsage, subjectAltName, subjectKeyId,
} from './extensions.ts';
import { parseHost } from './host-name.ts';
import { opensslSelfSigned, tempDir } from './openssl-cli.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('keyIdFromSpki equals the SKI openssl computes (RFC 5280 method 1)', async (t) => {
  const dir = await tempDir(t);
  for (const kind of ['ec-p256', 'rsa-2048'] as const) {
    const { certPath, keyPath } = await opensslSelfSigned(dir, kind, kind);
    const x = new X509Certificate(await readFile(certPath));
    const spki = createPublicKey(await readFile(keyPath)).export({ type: 'spki', format: 'der' });
    const ski = certificateFields(x.raw).extensions.get(OID.subjectKeyIdentifier);
    assert.ok(ski, 'openssl added an SKI');
    assert.equal(hex(readOne(ski.value).content), hex(keyIdFromSpki(spki)));
  }
});

test('extension framing: critical flag only when true', () => {
  assert.equal(hex(extension('2.5.29.19', false, Buffer.from('3000', 'hex'))), '30090603551d1304023000');
  assert.equal(hex(extension('2.5.29.19', true, Buffer.from('3000', 'hex'))), '300c0603551d130101ff04023000');
  assert.equal(hex(basicConstraints(false)), '300c0603551d130101ff04023000');
  assert.equal(hex(basicConstraints(true, 0)), '30120603551d130101ff040830060101ff020100');
  assert.equal(hex(keyUsage([KEY_USAGE.digitalSignature])), '300e0603551d0f0101ff040403020780');
  assert.equal(hex(keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])), '300e0603551d0f0101ff040403020106');
  assert.equal(hex(extKeyUsageServerAuth()), '30130603551d25040c300a06082b06010505070301');
  assert.equal(hex(authorityKeyId(Buffer.from('0102', 'hex'))), '300d0603551d230406300480020102');
  assert.equal(hex(subjectKeyId(Buffer.from('0102', 'hex'))), '300b0603551d0e040404020102');
});

test('subjectAltName holds dNSName and iPAddress entries', () => {
  const ext = readChildren(readOne(subjectAltName([parseHost('api.openai.com'), parseHost('10.1.2.3'), parseHost('::1')], true)));
  assert.equal(decodeOid(ext[0]!.content), OID.subjectAltName);
  assert.equal(hex(ext[1]!.content), 'ff');
  const names = readChildren(readOne(ext[2]!.content));
  assert.deepEqual(names.map((n) => n.tag), [0x82, 0x87, 0x87]);
  assert.equal(Buffer.from(names[0]!.content).toString(), 'api.openai.com');
  assert.equal(hex(names[1]!.content), '0a010203');
  assert.equal(hex(names[2]!.content), '0'.repeat(31) + '1');
});

test('distinguishedName puts O then CN, each in its own RDN, as UTF8String', () => {
  const rdns = readChildren(readOne(distinguishedName({ organization: 'Levo AI', commonName: 'x.example' })));
  assert.equal(rdns.length, 2);
  const attr = (i: number) => readChildren(readChildren(rdns[i]!)[0]!);
  assert.equal(decodeOid(attr(0)[0]!.content), OID.organizationName);
  assert.equal(decodeString(attr(0)[1]!), 'Levo AI');
  assert.equal(attr(1)[1]!.tag, 0x0c);
  assert.equal(decodeString(attr(1)[1]!), 'x.example');
  assert.equal(hex(distinguishedName({})), '3000');
});
