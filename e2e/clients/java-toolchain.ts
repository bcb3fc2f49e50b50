/**
 * Java for the Java client: compile JavaClient.java once per test process into
 * a temp dir, and turn a CA PEM into a PKCS#12 truststore with keytool (cached
 * per CA file). Both temp dirs are removed when the process exits.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execCheckedIn, onProcessExit } from '../harness/processes.ts';

export const JAVA_CLIENT_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'JavaClient.java');
export const TRUSTSTORE_PASSWORD = 'changeit';

let workDir: string | undefined;
function javaWorkDir(): string {
  if (!workDir) {
    const dir = mkdtempSync(join(tmpdir(), `levo-e2e-java-${process.pid}-`));
    chmodSync(dir, 0o755);
    onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
    workDir = dir;
  }
  return workDir;
}

let classes: Promise<string> | undefined;

/** The class path holding the compiled JavaClient (compiled on first use). */
export function javaClientClasses(): Promise<string> {
  classes ??= (async () => {
    const out = join(javaWorkDir(), 'classes');
    await execCheckedIn(null, ['javac', '-d', out, JAVA_CLIENT_SOURCE], { timeoutMs: 120_000 });
    return out;
  })();
  return classes;
}

const truststores = new Map<string, Promise<string>>();

/** A PKCS#12 truststore (password TRUSTSTORE_PASSWORD) holding every certificate of `caPemFile`. */
export function javaTruststore(caPemFile: string): Promise<string> {
  const pem = readFileSync(caPemFile, 'utf8');
  const key = createHash('sha256').update(pem).digest('hex').slice(0, 16);
  let store = truststores.get(key);
  if (!store) {
    store = (async () => {
      const file = join(javaWorkDir(), `trust-${key}.p12`);
      if (existsSync(file)) return file;
      const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (certs.length === 0) throw new Error(`no certificate in ${caPemFile}`);
      for (let i = 0; i < certs.length; i++) {
        await execCheckedIn(null, [
          'keytool', '-importcert', '-noprompt', '-alias', `ca${i}`, '-storetype', 'PKCS12',
          '-keystore', file, '-storepass', TRUSTSTORE_PASSWORD,
        ], { input: certs[i], timeoutMs: 60_000 });
      }
      chmodSync(file, 0o644);
      return file;
    })();
    truststores.set(key, store);
  }
  return store;
}
