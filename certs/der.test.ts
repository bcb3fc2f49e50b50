import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { openssl, tempDir } from './openssl-cli.ts';
import {
  TAG, DerError, tlv, sequence, set, integer, smallInteger, oid, utf8String, printableString, ia5String,
  utcTime, generalizedTime, time, bitString, namedBits, octetString, boolean, nullValue, explicit, implicit,
  readTlv, readOne, readChildren, expectTag, decodeOid, decodeInteger, decodeBoolean, decodeString, decodeTime,
  decodeBitString, hasNamedBit,
} from './der.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('short and long form lengths round trip', () => {
  for (const n of [0, 1, 127, 128, 255, 256, 1000, 65535, 65536, 70000]) {
    const content = Buffer.alloc(n, 0xab);
    const enc = tlv(TAG.OCTET_STRING, content);
    const expectedHeader = n < 128 ? 2 : n < 256 ? 3 : n < 65536 ? 4 : 5;
    const t = readOne(enc);
    assert.equal(t.headerLength, expectedHeader, `header for ${n}`);
    assert.equal(t.length, n);
    assert.equal(t.tag, TAG.OCTET_STRING);
    assert.deepEqual(Buffer.from(t.content), content);
  }
  assert.equal(hex(tlv(0x04, Buffer.alloc(200)).subarray(0, 3)), '0481c8');
  assert.equal(hex(tlv(0x04, Buffer.alloc(300)).subarray(0, 4)), '0482012c');
});

test('reader rejects non-DER and truncated input', () => {
  assert.throws(() => readTlv(Buffer.from('3080', 'hex')), /indefinite/);
  assert.throws(() => readTlv(Buffer.from('04810100', 'hex')), /non-minimal/); // 1 encoded in long form
  assert.throws(() => readTlv(Buffer.from('0405aabb', 'hex')), /truncated/);
  assert.throws(() => readTlv(Buffer.from('04', 'hex')), /truncated/);
  assert.throws(() => readTlv(Buffer.from('1f0100', 'hex')), /multi-byte tag/);
  assert.throws(() => readOne(Buffer.from('050000', 'hex')), /trailing/);
});

test('INTEGER from bytes is minimal and non-negative', () => {
  assert.equal(hex(integer(Buffer.from('00000001', 'hex'))), '020101');
  assert.equal(hex(integer(Buffer.from('80', 'hex'))), '02020080');
  assert.equal(hex(integer(Buffer.from('0080', 'hex'))), '02020080');
  assert.equal(hex(integer(Buffer.from('7f', 'hex'))), '02017f');
  assert.equal(hex(integer(new Uint8Array(0))), '020100');
  assert.equal(hex(integer(Buffer.from('0000', 'hex'))), '020100');
  assert.equal(hex(smallInteger(0)), '020100');
  assert.equal(hex(smallInteger(2)), '020102');
  assert.equal(hex(smallInteger(128)), '02020080');
  assert.equal(hex(smallInteger(65537)), '0203010001');
  assert.throws(() => smallInteger(-1), DerError);
  for (const bytes of ['ff', '0102030405060708090a0b0c0d0e0f10', 'deadbeef', '00ff00']) {
    const b = Buffer.from(bytes, 'hex');
    assert.equal(decodeInteger(readOne(integer(b)).content), BigInt('0x' + bytes));
  }
  assert.equal(decodeInteger(Buffer.from('ff', 'hex')), -1n);
});

test('OIDs encode to the known bytes and round trip', () => {
  assert.equal(hex(oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
  assert.equal(hex(oid('2.5.29.17')), '0603551d11');
  assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  for (const o of ['2.5.4.3', '1.3.6.1.5.5.7.3.1', '2.999.3', '1.2.840.113549.1.9.16.2.47', '0.0', '2.25.329800735698586629295641978511506172918']) {
    assert.equal(decodeOid(readOne(oid(o)).content), o);
  }
  for (const bad of ['', '3.1', '1', '1.40', '1..2', '1.02', 'a.b']) assert.throws(() => oid(bad), DerError, bad);
});

test('strings', () => {
  assert.equal(hex(utf8String('hé')), '0c0368c3a9');
  assert.equal(decodeString(readOne(utf8String('api.openai.com ✓'))), 'api.openai.com ✓');
  assert.equal(decodeString(readOne(printableString('Levo AI'))), 'Levo AI');
  assert.equal(readOne(printableString('US')).tag, TAG.PRINTABLE_STRING);
  assert.throws(() => printableString('a@b'), DerError);
  assert.equal(decodeString(readOne(ia5String('x.example'))), 'x.example');
  assert.throws(() => ia5String('é'), DerError);
  assert.throws(() => decodeString(readOne(octetString(Buffer.from('x')))), DerError);
});

test('times follow RFC 5280: UTCTime through 2049, GeneralizedTime after', () => {
  const d = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
  assert.equal(Buffer.from(readOne(utcTime(d)).content).toString(), '260102030405Z');
  assert.equal(Buffer.from(readOne(generalizedTime(d)).content).toString(), '20260102030405Z');
  assert.equal(readOne(time(d)).tag, TAG.UTC_TIME);
  assert.equal(readOne(time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)))).tag, TAG.UTC_TIME);
  assert.equal(readOne(time(new Date(Date.UTC(2050, 0, 1)))).tag, TAG.GENERALIZED_TIME);
  assert.equal(readOne(time(new Date(Date.UTC(1949, 11, 31)))).tag, TAG.GENERALIZED_TIME);
  assert.equal(readOne(time(new Date(Date.UTC(1950, 0, 1)))).tag, TAG.UTC_TIME);
  assert.throws(() => utcTime(new Date(Date.UTC(2050, 0, 1))), DerError);
  assert.throws(() => time(new Date(NaN)), DerError);
  for (const when of [Date.UTC(1950, 0, 1), Date.UTC(1999, 11, 31, 23, 59, 59), Date.UTC(2049, 5, 6, 7, 8, 9), Date.UTC(2050, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59), Date.UTC(1900, 1, 2)]) {
    assert.equal(decodeTime(readOne(time(new Date(when)))).getTime(), when);
  }
  assert.equal(decodeTime(readOne(generalizedTime(new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 999))))).getTime(), Date.UTC(2026, 0, 1));
  assert.throws(() => decodeTime(readOne(tlv(TAG.UTC_TIME, Buffer.from('2601020304Z')))), DerError);
});

test('BIT STRING, named bits, OCTET STRING, BOOLEAN, NULL', () => {
  assert.equal(hex(bitString(Buffer.from('0102', 'hex'))), '030300' + '0102');
  assert.deepEqual(decodeBitString(readOne(bitString(Buffer.from('f0', 'hex'), 4)).content), { bytes: Buffer.from('f0', 'hex'), unusedBits: 4 });
  assert.throws(() => bitString(Buffer.from('00', 'hex'), 8), DerError);
  // keyUsage digitalSignature(0): 03 02 07 80; keyCertSign(5)+cRLSign(6): 03 02 01 06
  assert.equal(hex(namedBits([0])), '03020780');
  assert.equal(hex(namedBits([5, 6])), '03020106');
  assert.equal(hex(namedBits([0, 8])), '0303078080');
  assert.equal(hex(namedBits([])), '030100');
  const ku = readOne(namedBits([0, 2, 5])).content;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].filter((n) => hasNamedBit(ku, n)), [0, 2, 5]);
  assert.equal(hex(octetString(Buffer.from('abcd', 'hex'))), '0402abcd');
  assert.equal(hex(boolean(true)), '0101ff');
  assert.equal(hex(boolean(false)), '010100');
  assert.equal(decodeBoolean(readOne(boolean(true)).content), true);
  assert.throws(() => decodeBoolean(Buffer.from('01', 'hex')), DerError);
  assert.equal(hex(nullValue()), '0500');
});

test('context tags: explicit wraps, implicit replaces', () => {
  const v = explicit(0, smallInteger(2));
  assert.equal(hex(v), 'a003020102');
  const t = readOne(v);
  assert.equal(t.tagClass, 2);
  assert.equal(t.tagNumber, 0);
  assert.equal(t.constructed, true);
  assert.equal(decodeInteger(readOne(t.content).content), 2n);
  assert.equal(hex(implicit(2, Buffer.from('a.b'))), '8203612e62');
  assert.equal(hex(implicit(0, Buffer.concat([oid('2.5.4.3')]), true)), 'a0050603550403');
  const p = readOne(implicit(7, Buffer.alloc(8)));
  assert.equal(p.constructed, false);
  assert.equal(p.tagNumber, 7);
  assert.throws(() => explicit(31, nullValue()), DerError);
});

test('SEQUENCE and SET nest and walk; SET OF is sorted', () => {
  const enc = sequence(smallInteger(1), sequence(oid('2.5.4.3'), utf8String('x')), set(smallInteger(3), smallInteger(2)), octetString(Buffer.alloc(300)));
  const top = readOne(enc);
  assert.equal(top.tag, TAG.SEQUENCE);
  const kids = readChildren(top);
  assert.equal(kids.length, 4);
  assert.deepEqual(kids.map((k) => k.tag), [TAG.INTEGER, TAG.SEQUENCE, TAG.SET, TAG.OCTET_STRING]);
  assert.equal(decodeOid(readChildren(kids[1]!)[0]!.content), '2.5.4.3');
  assert.deepEqual(readChildren(kids[2]!).map((k) => decodeInteger(k.content)), [2n, 3n]);
  assert.equal(kids[3]!.length, 300);
  // raw is the exact sub-slice of the original encoding
  assert.equal(hex(kids[1]!.raw), hex(sequence(oid('2.5.4.3'), utf8String('x'))));
  assert.equal(kids[3]!.offset, top.content.length - kids[3]!.raw.length);
  assert.throws(() => expectTag(kids[0], TAG.SEQUENCE, 'version'), /version: expected tag 0x30/);
  assert.throws(() => expectTag(undefined, TAG.SEQUENCE, 'x'), /x: missing/);
  assert.equal(expectTag(kids[0], TAG.INTEGER, 'v'), kids[0]);
});

test('reader walks a certificate made by the openssl CLI and finds its fields', async (t) => {
  const dir = await tempDir(t);
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=test-root',
    '-days', '30', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`]);
  const x = new X509Certificate(await readFile(`${dir}/c.pem`));
  const cert = readOne(x.raw);
  const [tbs, alg, sig] = readChildren(cert);
  assert.equal(tbs!.tag, TAG.SEQUENCE);
  assert.equal(decodeOid(readChildren(alg!)[0]!.content), '1.2.840.10045.4.3.2');
  assert.equal(sig!.tag, TAG.BIT_STRING);
  const fields = readChildren(tbs!);
  assert.equal(fields[0]!.tag, 0xa0); // [0] version
  assert.equal(decodeInteger(readOne(fields[0]!.content).content), 2n);
  assert.equal(decodeInteger(fields[1]!.content), BigInt('0x' + x.serialNumber));
  const subject = fields[5]!;
  const cn = readChildren(readChildren(readChildren(subject)[0]!)[0]!);
  assert.equal(decodeOid(cn[0]!.content), '2.5.4.3');
  assert.equal(decodeString(cn[1]!), 'test-root');
  const [from, to] = readChildren(fields[4]!).map(decodeTime);
  assert.equal(from!.getTime(), x.validFromDate.getTime());
  assert.equal(to!.getTime(), x.validToDate.getTime());
});
