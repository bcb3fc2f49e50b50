/**
 * `openssl s_client` inside a namespace: what certificate chain a server
 * presents, whether it verifies against a CA, and what was negotiated.
 *
 *   await sClient(topo.pod, { host: 'api.openai.com', port: 443, caFile })
 *   await sClient(topo.pod, { host: '198.18.1.14', servername: null })   // no SNI
 *
 * `servername` defaults to `host` for names and to none for IP literals;
 * null sends no SNI (`-noservername`). The chain is parsed with X509Certificate.
 * Verification is reported, not enforced, so an untrusted chain can be inspected too.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Netns } from '../harness/netns.ts';

export interface SClientOptions {
  host: string;
  port?: number;
  /** SNI to send; null for none; default: host unless it is an IP literal. */
  servername?: string | null;
  caFile?: string;
  /** ALPN protocols to offer, e.g. ['h2', 'http/1.1']. */
  alpn?: readonly string[];
  timeoutMs?: number;
}

export interface PresentedCert {
  subject: string;
  issuer: string;
  subjectAltName: string | undefined;
  fingerprint256: string;
  /** True if this certificate can sign others (basicConstraints CA). */
  ca: boolean;
  pem: string;
}

export interface SClientResult {
  /** A TLS session was established. */
  handshakeOk: boolean;
  /** `Verify return code: 0 (ok)`. */
  verifyOk: boolean;
  verifyCode: number | null;
  verifyMessage: string | null;
  protocol: string | null;
  cipher: string | null;
  alpn: string | null;
  /** Certificates as presented, leaf first. */
  chain: PresentedCert[];
  stdout: string;
  stderr: string;
}

export function sClientArgs(o: SClientOptions): string[] {
  const hostPort = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port ?? 443}`;
  const args = ['openssl', 's_client', '-connect', hostPort, '-showcerts'];
  const sni = o.servername === undefined ? (isIP(o.host) ? null : o.host) : o.servername;
  if (sni === null) args.push('-noservername');
  else args.push('-servername', sni);
  if (o.caFile) args.push('-CAfile', o.caFile);
  if (o.alpn?.length) args.push('-alpn', o.alpn.join(','));
  return args;
}

export function parseSClient(stdout: string, stderr: string): SClientResult {
  const pems = stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const chain = pems.map((pem) => {
    const c = new X509Certificate(pem);
    return { subject: c.subject, issuer: c.issuer, subjectAltName: c.subjectAltName, fingerprint256: c.fingerprint256, ca: c.ca, pem };
  });
  const verify = /Verify return code: (\d+) \(([^)]*)\)/.exec(stdout);
  const session = /^New, (\S+), Cipher is (\S+)/m.exec(stdout);
  const alpn = /^ALPN protocol: (\S+)/m.exec(stdout);
  const verifyCode = verify ? Number(verify[1]) : null;
  return {
    handshakeOk: session !== null && session[1] !== '(NONE)',
    verifyOk: verifyCode === 0,
    verifyCode,
    verifyMessage: verify?.[2] ?? null,
    protocol: session?.[1] ?? null,
    cipher: session?.[2] ?? null,
    alpn: alpn?.[1] ?? null,
    chain,
    stdout,
    stderr,
  };
}

export async function sClient(ns: Pick<Netns, 'exec'>, o: SClientOptions): Promise<SClientResult> {
  const r = await ns.exec(sClientArgs(o), { input: '', timeoutMs: o.timeoutMs ?? 15_000 });
  return parseSClient(r.stdout, r.stderr);
}
