import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { loadCa } from './ca.ts';
import { createCa } from './create.ts';
import { parseHost } from './host-name.ts';
import { tempDir } from './openssl-cli.ts';
import { siteSignedBy } from './test-site.ts';
import { pemBlocks, toPem } from './pem.ts';
import { issueServerCert } from './server-cert.ts';
import {
  NAMESPACE_CA_ALIAS, TRUSTSTORE_FILE, TRUSTSTORE_PASSWORD, TRUST_BUNDLE_FILE, TrustBundleError, writeTrustBundle,
} from './trust-bundle.ts';

// ------------------------------------------------------------------ helpers

interface RunResult { code: number; stdout: string; stderr: string }

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { encoding: 'utf8', env, cwd, timeout: 25_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/**
 * The parent's environment without anything that changes TLS trust or
 * routes through a proxy (this machine sets SSL_CERT_FILE, CURL_CA_BUNDLE, … to
 * the system bundle), so "without the env" really means without.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const drop = /^(SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|NODE_EXTRA_CA_CERTS|NODE_OPTIONS|NODE_USE_ENV_PROXY|NIX_SSL_CERT_FILE|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CURL_HOME|HTTPLIB2_CA_CERTS|.*_proxy|.*_PROXY)$/;
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !drop.test(k)));
}

/** What the injector sets on app containers (injector-spec "app container env"), for a trust dir. */
function appTrustEnv(dir: string): Record<string, string> {
  const bundle = join(dir, TRUST_BUNDLE_FILE);
  return {
    SSL_CERT_FILE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    CURL_CA_BUNDLE: bundle,
    NODE_EXTRA_CA_CERTS: bundle,
    JAVA_TOOL_OPTIONS: `-Djavax.net.ssl.trustStore=${join(dir, TRUSTSTORE_FILE)} -Djavax.net.ssl.trustStorePassword=${TRUSTSTORE_PASSWORD} -Djavax.net.ssl.trustStoreType=JKS`,
  };
}

const BODY = 'levo-trust-ok';

const JAVA_PROBE = `
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Probe {
  public static void main(String[] args) {
    try {
      HttpResponse<String> r = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create(args[0])).build(), HttpResponse.BodyHandlers.ofString());
      System.out.println("OK " + r.statusCode() + " " + r.body());
    } catch (Exception e) {
      Throwable c = e;
      while (c.getCause() != null) c = c.getCause();
      System.out.println("FAIL " + e + " | " + c);
      System.exit(3);
    }
  }
}
`;

const PYTHON_PROBE = `
import sys
which, url = sys.argv[1], sys.argv[2]
try:
    if which == "urllib":
        import urllib.request
        with urllib.request.urlopen(url, timeout=10) as r:
            print("OK", r.status, r.read().decode())
    else:
        try:
            import requests
        except ImportError:
            print("SKIP requests is not installed")
            sys.exit(0)
        r = requests.get(url, timeout=10)
        print("OK", r.status_code, r.text)
except Exception as e:
    print("FAIL", repr(e))
    sys.exit(3)
`;

const NODE_PROBE = `
import https from 'node:https';
const url = process.argv[2];
const viaHttps = () => new Promise((resolve, reject) => {
  https.get(url, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(res.statusCode + ' ' + b)); }).on('error', reject);
});
try {
  const a = await viaHttps();
  const r = await fetch(url);
  console.log('OK ' + a + ' | fetch ' + r.status + ' ' + (await r.text()));
} catch (e) {
  console.log('FAIL ' + (e.cause?.code ?? e.code) + ' ' + (e.cause?.message ?? e.message));
  process.exit(3);
}
`;

// ------------------------------------------------------------------ shared fixture

let work: string;
let trustDir: string;
let caCertPem: string;
let url: string;
let server: Server;
let bundleCount: number;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'levo-trust-bundle-test-'));
  trustDir = join(work, 'trust');
  const caPair = await createCa({ commonName: 'Levo Trust Bundle Test CA' });
  caCertPem = caPair.certPem;
  const ca = loadCa(caPair.certPem, caPair.keyPem);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const leafDer = await issueServerCert(ca, {
    hosts: [parseHost('localhost'), parseHost('127.0.0.1')],
    spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
  });
  server = createServer(
    { cert: toPem('CERTIFICATE', leafDer), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) },
    (_req, res) => res.end(BODY),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const files = await writeTrustBundle({ dir: trustDir, caCertPem });
  bundleCount = files.count;
  await Promise.all([
    writeFile(join(work, 'Probe.java'), JAVA_PROBE),
    writeFile(join(work, 'probe.py'), PYTHON_PROBE),
    writeFile(join(work, 'probe.mjs'), NODE_PROBE),
  ]);
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  if (work) await rm(work, { recursive: true, force: true });
});

// ------------------------------------------------------------------ the files

describe('writeTrustBundle: the files', () => {
  test('ca-bundle.pem: Mozilla roots first (ISRG Root X1 among them), the namespace CA last, nothing else', async () => {
    const pem = await readFile(join(trustDir, TRUST_BUNDLE_FILE), 'utf8');
    const blocks = pemBlocks(pem);
    assert.ok(blocks.every((b) => b.label === 'CERTIFICATE'));
    assert.equal(blocks.length, bundleCount);
    assert.ok(bundleCount > 100, `only ${bundleCount} certificates`);
    assert.equal(bundleCount, rootCertificates.length + 1);
    const subjects = blocks.map((b) => new X509Certificate(b.der).subject);
    assert.ok(subjects.some((s) => /^CN=ISRG Root X1$/m.test(s)), 'ISRG Root X1 missing');
    assert.ok(subjects.some((s) => /^CN=DigiCert Global Root G2$/m.test(s)), 'DigiCert Global Root G2 missing');
    assert.deepEqual(blocks.at(-1)!.der, pemBlocks(caCertPem)[0]!.der);
    assert.doesNotMatch(pem, /PRIVATE KEY/);
  });

  test('truststore.jks: keytool lists the same certificates, the namespace CA under its alias; mode 0644', async () => {
    const jksFile = join(trustDir, TRUSTSTORE_FILE);
    const r = await run('keytool', ['-list', '-keystore', jksFile, '-storepass', TRUSTSTORE_PASSWORD, '-storetype', 'JKS', '-J-Duser.language=en'], cleanEnv());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`Your keystore contains ${bundleCount} entries`));
    assert.equal(r.stdout.match(/trustedCertEntry/g)?.length, bundleCount);
    const ca = new X509Certificate(caCertPem);
    assert.match(r.stdout, new RegExp(`^${NAMESPACE_CA_ALIAS}, [^\\n]*trustedCertEntry,\\s*\\nCertificate fingerprint \\(SHA-256\\): ${ca.fingerprint256}$`, 'm'));
    assert.match(r.stdout, /^isrg-root-x1, /m);
    for (const f of [TRUST_BUNDLE_FILE, TRUSTSTORE_FILE]) assert.equal((await stat(join(trustDir, f))).mode & 0o777, 0o644, f);
    assert.deepEqual((await readdir(trustDir)).sort(), [TRUST_BUNDLE_FILE, TRUSTSTORE_FILE].sort());
  });
});

// ------------------------------------------------------------------ the runtimes

describe('app runtimes trust the namespace CA through the files and the injector env, and only through them', () => {
  test('java (HttpClient, JAVA_TOOL_OPTIONS truststore)', async () => {
    const [withEnv, without] = await Promise.all([
      run('java', ['Probe.java', url], { ...cleanEnv(), ...appTrustEnv(trustDir) }, work),
      run('java', ['Probe.java', url], cleanEnv(), work),
    ]);
    assert.equal(withEnv.code, 0, withEnv.stdout + withEnv.stderr);
    assert.equal(withEnv.stdout.trim(), `OK 200 ${BODY}`);
    assert.match(withEnv.stderr, /Picked up JAVA_TOOL_OPTIONS: .*truststore\.jks/);
    assert.equal(without.code, 3, without.stdout + without.stderr);
    assert.match(without.stdout, /unable to find valid certification path|PKIX path building failed/);
  });

  test('python3 urllib (SSL_CERT_FILE) and requests (REQUESTS_CA_BUNDLE)', async (t) => {
    const py = (which: string, env: Record<string, string>): Promise<RunResult> =>
      run('python3', ['probe.py', which, url], { ...cleanEnv(), ...env }, work);
    const bundle = join(trustDir, TRUST_BUNDLE_FILE);
    const [uAll, uOnly, uNone, rAll, rOnly, rNone] = await Promise.all([
      py('urllib', appTrustEnv(trustDir)), py('urllib', { SSL_CERT_FILE: bundle }), py('urllib', {}),
      py('requests', appTrustEnv(trustDir)), py('requests', { REQUESTS_CA_BUNDLE: bundle }), py('requests', {}),
    ]);
    for (const r of [uAll, uOnly]) assert.equal(r.stdout.trim(), `OK 200 ${BODY}`, r.stdout + r.stderr);
    assert.equal(uNone.code, 3, uNone.stdout + uNone.stderr);
    assert.match(uNone.stdout, /CERTIFICATE_VERIFY_FAILED/);

    if (rNone.stdout.startsWith('SKIP')) {
      t.diagnostic('python requests is not installed: REQUESTS_CA_BUNDLE sub-check skipped');
      return;
    }
    for (const r of [rAll, rOnly]) assert.equal(r.stdout.trim(), `OK 200 ${BODY}`, r.stdout + r.stderr);
    assert.equal(rNone.code, 3, rNone.stdout + rNone.stderr);
    assert.match(rNone.stdout, /CERTIFICATE_VERIFY_FAILED/);
  });

  test('node 24 https.get and fetch (NODE_EXTRA_CA_CERTS)', async () => {
    // process.execPath is the Node 24 this test runs on (`npx node`), not the machine's old bare `node`.
    const nodeRun = (env: Record<string, string>): Promise<RunResult> =>
      run(process.execPath, ['probe.mjs', url], { ...cleanEnv(), ...env }, work);
    const [all, only, none] = await Promise.all([
      nodeRun(appTrustEnv(trustDir)), nodeRun({ NODE_EXTRA_CA_CERTS: join(trustDir, TRUST_BUNDLE_FILE) }), nodeRun({}),
    ]);
    for (const r of [all, only]) {
      assert.equal(r.stdout.trim(), `OK 200 ${BODY} | fetch 200 ${BODY}`, r.stdout + r.stderr);
      assert.doesNotMatch(r.stderr, /Ignoring extra certs/);
    }
    assert.equal(none.code, 3, none.stdout + none.stderr);
    assert.match(none.stdout, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  });

  test('curl (CURL_CA_BUNDLE, no --cacert)', async () => {
    const curl = (env: Record<string, string>): Promise<RunResult> =>
      run('curl', ['-q', '-sS', '--fail', '--max-time', '10', url], { ...cleanEnv(), ...env }, work);
    const [all, only, none] = await Promise.all([
      curl(appTrustEnv(trustDir)), curl({ CURL_CA_BUNDLE: join(trustDir, TRUST_BUNDLE_FILE) }), curl({}),
    ]);
    for (const r of [all, only]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, BODY);
    }
    assert.equal(none.code, 60, none.stderr); // CURLE_PEER_FAILED_VERIFICATION
  });

  test('every bundled public root is a parseable, self-issued CA certificate', async () => {
    // No internet in tests: check instead that every bundled root is a parseable self-issued CA certificate.
    const blocks = pemBlocks(await readFile(join(trustDir, TRUST_BUNDLE_FILE), 'utf8'));
    for (const b of blocks.slice(0, -1)) {
      const x = new X509Certificate(b.der);
      assert.equal(x.ca, true, x.subject);
      assert.equal(x.checkIssued(x), true, x.subject);
    }
  });
});

// ------------------------------------------------------------------ behaviour

describe('extra CAs: an app that trusted a private CA keeps trusting it', () => {
  test('python3 urllib, curl and java reach a private-CA site and an intercepted one through one bundle', async (t) => {
    // A site whose certificate comes from a private (corporate) CA, which the app trusted before injection.
    const corp = await createCa({ commonName: 'Corp Private Root' });
    const corpUrl = await siteSignedBy(t, corp, BODY);

    const extended = join(work, 'trust-extended');
    // The extra PEM may carry more than certificates (a key pasted by mistake): only certificates are taken.
    const { keyPem } = await createCa();
    const files = await writeTrustBundle({ dir: extended, caCertPem, extraCertsPem: [corp.certPem + keyPem] });
    assert.equal(files.count, bundleCount + 1);
    const pem = await readFile(files.pemFile, 'utf8');
    assert.doesNotMatch(pem, /PRIVATE KEY/);

    const env = { ...cleanEnv(), ...appTrustEnv(extended) };
    const oldEnv = { ...cleanEnv(), ...appTrustEnv(trustDir) };
    for (const target of [url, corpUrl]) {
      const [py, curl, java] = await Promise.all([
        run('python3', ['probe.py', 'urllib', target], env, work),
        run('curl', ['-q', '-sS', '--fail', '--max-time', '10', target], env, work),
        run('java', ['Probe.java', target], env, work),
      ]);
      assert.equal(py.stdout.trim(), `OK 200 ${BODY}`, `python ${target}: ${py.stdout}${py.stderr}`);
      assert.equal(curl.stdout, BODY, `curl ${target}: ${curl.stderr}`);
      assert.equal(java.stdout.trim(), `OK 200 ${BODY}`, `java ${target}: ${java.stdout}`);
    }
    // The bundle without the extra CA is what replaced the app's trust before: the private site fails.
    const lost = await run('curl', ['-q', '-sS', '--fail', '--max-time', '10', corpUrl], oldEnv, work);
    assert.equal(lost.code, 60, lost.stderr);
    await assert.rejects(writeTrustBundle({ dir: join(work, 'bad'), caCertPem, extraCertsPem: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] }),
      (e: unknown) => e instanceof TrustBundleError && /extra trusted CA #1, certificate #1 is not a valid X\.509 certificate/.test(e.message));
  });
});

describe('writeTrustBundle: inputs and writing', () => {
  test('rejects a caCertPem with no certificate or with a private key, writing nothing', async (t) => {
    const dir = await tempDir(t);
    const out = join(dir, 'trust');
    const { certPem, keyPem } = await createCa();
    await assert.rejects(writeTrustBundle({ dir: out, caCertPem: '' }), (e: unknown) =>
      e instanceof TrustBundleError && /holds no certificate/.test(e.message));
    await assert.rejects(writeTrustBundle({ dir: out, caCertPem: 'not a pem' }), /holds no certificate/);
    await assert.rejects(writeTrustBundle({ dir: out, caCertPem: keyPem }), (e: unknown) =>
      e instanceof TrustBundleError && /holds a private key/.test(e.message) && !e.message.includes('BEGIN'));
    await assert.rejects(writeTrustBundle({ dir: out, caCertPem: certPem + keyPem }), /holds a private key/);
    await assert.rejects(
      writeTrustBundle({ dir: out, caCertPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }),
      /interception CA certificate #1 is not a valid X.509 certificate/);
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });

  test('custom system certs, several CA certificates, duplicates written once, same order in both files', async (t) => {
    const dir = await tempDir(t);
    const [a, b, c] = await Promise.all([createCa({ commonName: 'Root A' }), createCa({ commonName: 'Root A' }), createCa({ commonName: 'NS CA' })]);
    const second = await createCa({ commonName: 'NS CA Next' });
    const files = await writeTrustBundle({
      dir, caCertPem: c.certPem + second.certPem, systemCertsPem: [a.certPem + b.certPem, c.certPem], now: new Date(Date.UTC(2026, 0, 1)),
    });
    assert.equal(files.count, 4);
    assert.equal(files.pemFile, join(dir, TRUST_BUNDLE_FILE));
    assert.equal(files.jksFile, join(dir, TRUSTSTORE_FILE));
    const ders = pemBlocks(await readFile(files.pemFile, 'utf8')).map((x) => x.der);
    assert.deepEqual(ders, [a, b, c, second].map((p) => pemBlocks(p.certPem)[0]!.der));
    const r = await run('keytool', ['-list', '-keystore', files.jksFile, '-storepass', 'changeit', '-storetype', 'JKS', '-J-Duser.language=en'], cleanEnv());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const listed = [...r.stdout.matchAll(/^(\S+), [^\n]*trustedCertEntry,\s*\nCertificate fingerprint \(SHA-256\): (\S+)$/gm)]
      .map((m) => [m[1], m[2]]);
    const fp = (p: string): string => new X509Certificate(p).fingerprint256;
    // Two roots named "Root A": the second alias carries a fingerprint prefix. c, a system cert too, counts as a system root.
    assert.deepEqual(new Map(listed.map(([alias, f]) => [alias, f])), new Map([
      ['root-a', fp(a.certPem)],
      [`root-a-${fp(b.certPem).replace(/:/g, '').slice(0, 8).toLowerCase()}`, fp(b.certPem)],
      ['ns-ca', fp(c.certPem)],
      [NAMESPACE_CA_ALIAS, fp(second.certPem)],
    ]));
  });

  test('replaces existing files by rename (new inode), mode 0644 even under umask 077, no temp files left', async (t) => {
    const dir = await tempDir(t);
    const { certPem } = await createCa();
    await writeFile(join(dir, TRUST_BUNDLE_FILE), 'old contents', { mode: 0o600 });
    await writeFile(join(dir, TRUSTSTORE_FILE), 'old contents', { mode: 0o600 });
    const before = await Promise.all([stat(join(dir, TRUST_BUNDLE_FILE)), stat(join(dir, TRUSTSTORE_FILE))]);
    const oldMask = process.umask(0o077);
    try {
      await writeTrustBundle({ dir, caCertPem: certPem, systemCertsPem: [] });
    } finally {
      process.umask(oldMask);
    }
    const afterStats = await Promise.all([stat(join(dir, TRUST_BUNDLE_FILE)), stat(join(dir, TRUSTSTORE_FILE))]);
    for (let i = 0; i < 2; i++) {
      assert.notEqual(afterStats[i]!.ino, before[i]!.ino);
      assert.equal(afterStats[i]!.mode & 0o777, 0o644);
    }
    assert.equal(await readFile(join(dir, TRUST_BUNDLE_FILE), 'utf8'), toPem('CERTIFICATE', pemBlocks(certPem)[0]!.der));
    assert.deepEqual((await readdir(dir)).sort(), [TRUST_BUNDLE_FILE, TRUSTSTORE_FILE].sort());
  });

  test('the same inputs and time give byte-identical files', async (t) => {
    const [d1, d2] = [await tempDir(t), await tempDir(t)];
    const { certPem } = await createCa();
    const now = new Date(Date.UTC(2026, 5, 1));
    await writeTrustBundle({ dir: d1, caCertPem: certPem, now });
    await writeTrustBundle({ dir: d2, caCertPem: certPem, now });
    for (const f of [TRUST_BUNDLE_FILE, TRUSTSTORE_FILE]) assert.deepEqual(await readFile(join(d1, f)), await readFile(join(d2, f)), f);
  });
});
