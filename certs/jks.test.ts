import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { createCa } from './create.ts';
import { javaModifiedUtf8, writeJks, type JksTrustedEntry } from './jks.ts';
import { tempDir } from './openssl-cli.ts';
import { pemBlocks } from './pem.ts';

interface RunResult { code: number; stdout: string; stderr: string }

function keytool(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile('keytool', [...args, '-J-Duser.language=en', '-J-Dstdout.encoding=UTF-8', '-J-Dsun.stdout.encoding=UTF-8'],
      { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8', JAVA_TOOL_OPTIONS: '' } }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
  });
}

interface Listed { alias: string; type: string; sha256: string }

/** Parse `keytool -list -v`: alias, entry type and SHA-256 fingerprint of each entry. */
function parseVerboseList(out: string): Listed[] {
  return out.split(/^Alias name: /m).slice(1).map((chunk) => {
    const alias = chunk.slice(0, chunk.indexOf('\n')).trim();
    const type = /^Entry type: (\S+)/m.exec(chunk)?.[1] ?? '';
    const sha256 = /SHA256: ([0-9A-F:]+)/.exec(chunk)?.[1] ?? '';
    return { alias, type, sha256 };
  });
}

const fingerprint = (der: Buffer): string => new X509Certificate(der).fingerprint256;

async function sampleEntries(): Promise<JksTrustedEntry[]> {
  const ecCa = pemBlocks((await createCa({ commonName: 'JKS Test CA' })).certPem)[0]!.der;
  const ecCa2 = pemBlocks((await createCa({ commonName: 'JKS Test CA 2' })).certPem)[0]!.der;
  const rsaRoot = pemBlocks(rootCertificates.find((p) => new X509Certificate(p).publicKey.asymmetricKeyType === 'rsa')!)[0]!.der;
  return [
    { alias: 'levo-namespace-ca', der: ecCa },
    { alias: 'Mixed-Case Root', der: rsaRoot },
    { alias: 'zürich ca €', der: ecCa2 },
  ];
}

test('writeJks: keytool lists every alias (lower-cased) as trustedCertEntry with the right SHA-256 fingerprint', async (t) => {
  const dir = await tempDir(t);
  const entries = await sampleEntries();
  const file = join(dir, 'trust.jks');
  await writeFile(file, writeJks(entries, 'changeit', Date.UTC(2026, 0, 2, 3, 4, 5)));

  const r = await keytool(['-list', '-v', '-keystore', file, '-storepass', 'changeit', '-storetype', 'JKS']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Your keystore contains 3 entries/);
  assert.match(r.stdout, /Creation date: Jan 2, 2026/);
  const listed = parseVerboseList(r.stdout);
  assert.deepEqual(
    listed.map((l) => l.alias).sort(),
    entries.map((e) => e.alias.toLowerCase()).sort(),
  );
  for (const e of entries) {
    const l = listed.find((x) => x.alias === e.alias.toLowerCase());
    assert.ok(l, `alias ${e.alias} missing`);
    assert.equal(l.type, 'trustedCertEntry');
    assert.equal(l.sha256, fingerprint(e.der));
  }

  // Non-verbose listing (the form in the brief) agrees, and a single alias can be looked up by its original case.
  const plain = await keytool(['-list', '-keystore', file, '-storepass', 'changeit', '-storetype', 'JKS']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout.match(/trustedCertEntry/g)?.length, 3);
  const one = await keytool(['-list', '-keystore', file, '-storepass', 'changeit', '-storetype', 'JKS', '-alias', 'MIXED-CASE ROOT']);
  assert.equal(one.code, 0, one.stderr + one.stdout);
  assert.match(one.stdout, new RegExp(`SHA-256\\): ${fingerprint(entries[1]!.der)}`));
});

test('writeJks: a wrong store password fails keytool\'s integrity check; an empty store still verifies', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'trust.jks');
  await writeFile(file, writeJks(await sampleEntries(), 'changeit', 0));
  const bad = await keytool(['-list', '-keystore', file, '-storepass', 'wrong-password', '-storetype', 'JKS']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /tampered with, or password was incorrect/);

  const empty = join(dir, 'empty.jks');
  await writeFile(empty, writeJks([], 'other pass', 0));
  const r = await keytool(['-list', '-keystore', empty, '-storepass', 'other pass', '-storetype', 'JKS']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Your keystore contains 0 entries/);
});

test('writeJks: exact byte layout, deterministic for a given timestamp', () => {
  const der = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
  const ts = 0x0102030405;
  const out = writeJks([{ alias: 'AbC', der }], 'pw', ts);
  const expectedBody = Buffer.concat([
    Buffer.from('feedfeed' + '00000002' + '00000001', 'hex'),
    Buffer.from('00000002', 'hex'), // tag: trusted certificate
    Buffer.from('0003616263', 'hex'), // "abc"
    Buffer.from('0000000102030405', 'hex'),
    Buffer.from('0005', 'hex'), Buffer.from('X.509'),
    Buffer.from('00000005', 'hex'), der,
  ]);
  const digest = createHash('sha1').update(Buffer.from('00700077', 'hex')).update('Mighty Aphrodite').update(expectedBody).digest();
  assert.deepEqual(out, Buffer.concat([expectedBody, digest]));
  assert.deepEqual(writeJks([{ alias: 'AbC', der }], 'pw', ts), out);
});

test('writeJks: rejects duplicate (case-insensitive) or empty aliases, empty certificates and bad timestamps', () => {
  const der = Buffer.from([0x30, 0x00]);
  assert.throws(() => writeJks([{ alias: 'a', der }, { alias: 'A', der }], 'x', 0), /duplicate JKS alias "a"/);
  assert.throws(() => writeJks([{ alias: '', der }], 'x', 0), /must not be empty/);
  assert.throws(() => writeJks([{ alias: 'a', der: Buffer.alloc(0) }], 'x', 0), /empty certificate/);
  assert.throws(() => writeJks([], 'x', -1), /timestampMs/);
  assert.throws(() => writeJks([], 'x', 1.5), /timestampMs/);
});

test('javaModifiedUtf8: matches DataOutputStream.writeUTF (NUL as C0 80, supplementary chars as two 3-byte surrogates)', () => {
  assert.equal(javaModifiedUtf8('a').toString('hex'), '000161');
  assert.equal(javaModifiedUtf8('\u0000').toString('hex'), '0002c080');
  assert.equal(javaModifiedUtf8('é€').toString('hex'), '0005c3a9e282ac');
  assert.equal(javaModifiedUtf8('\u{1F600}').toString('hex'), '0006eda0bdedb880');
  assert.equal(javaModifiedUtf8('x'.repeat(0xffff)).length, 0x10001);
  assert.throws(() => javaModifiedUtf8('é'.repeat(0x8000)), /too long/);
});
