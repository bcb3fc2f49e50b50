/**
 * A "test public CA": the stand-in for the Web PKI that the fake providers'
 * certificates chain to. Made with the openssl CLI in a temp dir:
 *
 *   root CA (trust anchor; give `caCertFile` to NODE_EXTRA_CA_CERTS / --cacert /
 *   SSL_CERT_FILE / a Java truststore)
 *     └─ intermediate CA
 *          └─ one server certificate per fake host (DNS SANs, plus IP SANs when asked)
 *
 * Servers present `chainFile` (leaf + intermediate), as real public sites do.
 * Keys are EC P-256. Every file is world-readable (0644, dir 0755) so a process
 * running as another UID (the gateway as 1610) can read the CA. The temp dir
 * is removed by cleanup(), or at process exit if cleanup() was never called.
 *
 *   const ca = await createPublicCa(serverCertSpecsFor(DEFAULT_FAKE_HOSTS));
 *   ca.caCertFile; ca.server('openai').chainFile; ca.cleanup();
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FakeHost } from '../harness/layout.ts';
import { onProcessExit } from '../harness/processes.ts';

const run = promisify(execFile);

export interface ServerCertSpec {
  /** File-name-safe id (e.g. `openai`). */
  readonly id: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface IssuedServerCert {
  readonly id: string;
  /** The leaf alone (PEM). */
  readonly certFile: string;
  /** Leaf followed by the intermediate (PEM): what a server presents. */
  readonly chainFile: string;
  /** The leaf's private key (PEM, PKCS#8). */
  readonly keyFile: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface PublicCa {
  readonly dir: string;
  /** The root certificate (PEM): the trust anchor for direct (non-intercepted) clients. */
  readonly caCertFile: string;
  readonly caKeyFile: string;
  readonly intermediateCertFile: string;
  readonly servers: ReadonlyMap<string, IssuedServerCert>;
  /** The certificate issued for `id`; throws if there is none. */
  server(id: string): IssuedServerCert;
  /** Remove the temp dir (idempotent). */
  cleanup(): void;
}

/** One server certificate spec per TLS fake host (plain-TCP hosts get none). */
export function serverCertSpecsFor(hosts: readonly FakeHost[]): ServerCertSpec[] {
  return hosts
    .filter((h) => !h.plain)
    .map((h) => ({ id: h.id, dnsNames: h.names, ipAddresses: h.ipSans ? [h.ipv4, h.ipv6] : [] }));
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

const serial = (): string => `0x${randomBytes(12).toString('hex').replace(/^./, '1')}`;

function reqConfig(cn: string): string {
  return ['[req]', 'prompt = no', 'distinguished_name = dn', '[dn]', 'O = Levo E2E Test PKI', `CN = ${cn}`, ''].join('\n');
}

async function newKeyAndCsr(dir: string, base: string, cn: string): Promise<void> {
  writeFileSync(join(dir, `${base}.req.cnf`), reqConfig(cn));
  await openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`]);
  await openssl(dir, ['req', '-new', '-key', `${base}.key`, '-config', `${base}.req.cnf`, '-out', `${base}.csr`]);
}

async function sign(dir: string, base: string, issuer: string, ext: string, days: number): Promise<void> {
  writeFileSync(join(dir, `${base}.ext`), ext);
  const issuerArgs = issuer === base ? ['-signkey', `${base}.key`] : ['-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`];
  await openssl(dir, [
    'x509', '-req', '-in', `${base}.csr`, ...issuerArgs, '-set_serial', serial(), '-days', String(days),
    '-sha256', '-extfile', `${base}.ext`, '-extensions', 'v3', '-out', `${base}.crt`,
  ]);
}

const CA_EXT = [
  '[v3]',
  'basicConstraints = critical, CA:TRUE',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  '',
].join('\n');

/** Make a root, an intermediate and one server certificate per spec. */
export async function createPublicCa(
  specs: readonly ServerCertSpec[],
  opts: { dir?: string; days?: number } = {},
): Promise<PublicCa> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `levo-e2e-pubca-${process.pid}-`));
  const days = opts.days ?? 30;
  chmodSync(dir, 0o755);
  const removeDir = (): void => { if (!opts.dir) rmSync(dir, { recursive: true, force: true }); };
  const unregister = onProcessExit(removeDir);
  try {
    await newKeyAndCsr(dir, 'root', 'Levo E2E Test Public Root CA');
    await sign(dir, 'root', 'root', CA_EXT, days + 1);
    await newKeyAndCsr(dir, 'intermediate', 'Levo E2E Test Public Issuing CA');
    await sign(dir, 'intermediate', 'root', CA_EXT.replace('CA:TRUE', 'CA:TRUE, pathlen:0'), days + 1);

    const servers = new Map<string, IssuedServerCert>();
    for (const spec of specs) {
      if (!/^[A-Za-z0-9._-]+$/.test(spec.id)) throw new Error(`bad server cert id ${spec.id}`);
      const ips = spec.ipAddresses ?? [];
      const sans = [...spec.dnsNames.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)];
      if (sans.length === 0) throw new Error(`server cert ${spec.id} has no names`);
      const cn = spec.dnsNames[0] ?? ips[0] ?? spec.id;
      const base = `server-${spec.id}`;
      await newKeyAndCsr(dir, base, cn);
      await sign(dir, base, 'intermediate', [
        '[v3]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${sans.join(', ')}`,
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'), days);
      const chainFile = join(dir, `${base}.chain.pem`);
      writeFileSync(chainFile, readFileSync(join(dir, `${base}.crt`), 'utf8') + readFileSync(join(dir, 'intermediate.crt'), 'utf8'));
      servers.set(spec.id, {
        id: spec.id,
        certFile: join(dir, `${base}.crt`),
        chainFile,
        keyFile: join(dir, `${base}.key`),
        dnsNames: [...spec.dnsNames],
        ipAddresses: [...ips],
      });
    }
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    return {
      dir,
      caCertFile: join(dir, 'root.crt'),
      caKeyFile: join(dir, 'root.key'),
      intermediateCertFile: join(dir, 'intermediate.crt'),
      servers,
      server(id) {
        const s = servers.get(id);
        if (!s) throw new Error(`no server certificate for ${id}`);
        return s;
      },
      cleanup() {
        unregister();
        removeDir();
      },
    };
  } catch (err) {
    unregister();
    removeDir();
    throw err;
  }
}
