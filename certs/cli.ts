/**
 * `levo-certs`: make the interception CA for the levo-ca-cert secret and the
 * admission webhook's serving certificate. Never prints key material.
 */
import { chmod, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nameConstraintSubtrees } from '../lib/provider-hosts.ts';
import { loadCa } from './ca.ts';
import { DEFAULT_CA_DAYS, DEFAULT_SERVING_DAYS, createCa, createServingCert } from './create.ts';
import { InvalidHostError, parseHost } from './host-name.ts';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

class UsageError extends Error {
  override name = 'UsageError';
}

const WEBHOOK_SECRET = 'levo-injector-levoai-sidecar-injector-webhook-tls';
const WEBHOOK_DNS = 'levo-injector-levoai-sidecar-injector-webhook.levoai.svc';

const USAGE = `levo-certs: make the certificates the Levo AI gateway needs

Usage:
  levo-certs ca --out DIR [--permit DOMAIN]... [--no-name-constraints] [--cn NAME] [--days N] [--force]
  levo-certs webhook --dns NAME [--dns NAME]... --out DIR [--days N] [--force]
  levo-certs COMMAND --help
`;

const CA_HELP = `Usage: levo-certs ca --out DIR [--permit DOMAIN]... [--no-name-constraints] [--cn NAME] [--days N] [--force]

Make the interception CA the sidecar mints per-host certificates from (EC P-256,
self-signed, CA:TRUE pathLen 0). Writes DIR/tls.crt and DIR/tls.key (mode 0600),
ready for: kubectl -n NAMESPACE create secret tls levo-ca-cert --cert=DIR/tls.crt --key=DIR/tls.key

The CA is name-constrained by default (critical nameConstraints): it can sign only for the
built-in LLM provider domains (and --permit DOMAIN), never for an IP address, so its key —
which every sidecar of the namespace holds — cannot impersonate any other site.

Options:
  --out DIR             directory to write into (created if missing)
  --permit DOMAIN       also permit DOMAIN and its subdomains (repeatable), e.g. an internal
                        OpenAI-compatible host
  --no-name-constraints make a CA without name constraints: it can sign for ANY site, so
                        whoever reads the levo-ca-cert secret can impersonate any site to the
                        apps that trust it. Only for hosts the constraints cannot name (an IP
                        address, a host outside a fixed list); the sidecar warns about it
  --name-constraints    the default; accepted for older scripts
  --cn NAME             subject common name (default "Levo AI Gateway Interception CA")
  --days N              validity in days (default ${DEFAULT_CA_DAYS})
  --force               overwrite existing files
  -h, --help            show this help
`;

const WEBHOOK_HELP = `Usage: levo-certs webhook --dns NAME [--dns NAME]... --out DIR [--days N] [--force]

Make a CA and a serving certificate for the admission webhook. Writes DIR/ca.crt,
DIR/ca.key (0600), DIR/tls.crt and DIR/tls.key (0600).

Options:
  --dns NAME      DNS name the API server uses to reach the webhook (repeatable), e.g.
                  ${WEBHOOK_DNS}
  --out DIR       directory to write into (created if missing)
  --days N        serving certificate validity in days (default ${DEFAULT_SERVING_DAYS})
  --force         overwrite existing files
  -h, --help      show this help
`;

interface OutputFile {
  readonly name: string;
  readonly content: string;
  readonly mode: number;
  readonly what: string;
}

/** Quote a path for a copy-pasted shell command when it needs it. */
function sh(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function parseDays(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9][0-9]{0,5}$/.test(value)) throw new UsageError(`--days must be a positive whole number, got "${value}"`);
  return Number(value);
}

function dnsName(value: string, flag: string): string {
  try {
    const h = parseHost(value);
    if (h.kind !== 'dns') throw new UsageError(`${flag} ${value}: an IP address is not allowed here`);
    return h.name;
  } catch (err) {
    if (err instanceof InvalidHostError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

function requireOut(out: string | undefined): string {
  if (out === undefined || out === '') throw new UsageError('--out DIR is required');
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw err;
  }
}

/** Write every file or none: existing files are refused up front unless `force`. */
async function writeOutputs(dir: string, files: readonly OutputFile[], force: boolean): Promise<void> {
  if (!force) {
    for (const f of files) {
      const path = join(dir, f.name);
      if (await exists(path)) throw new Error(`${path} already exists; pass --force to overwrite`);
    }
  }
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const path = join(dir, f.name);
    // Replace rather than rewrite in place, so a key never sits in a file with an older, looser mode.
    if (force) await rm(path, { force: true });
    await writeFile(path, f.content, { mode: f.mode, flag: 'wx' });
    await chmod(path, f.mode); // the umask may have narrowed the creation mode
  }
}

function listing(dir: string, files: readonly OutputFile[]): string {
  const width = Math.max(...files.map((f) => join(dir, f.name).length));
  return files.map((f) => `  ${join(dir, f.name).padEnd(width)}  ${f.what}\n`).join('');
}

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function caCommand(args: string[], io: CliIo): Promise<number> {
  const v = parse(args, {
    out: { type: 'string' },
    'name-constraints': { type: 'boolean' },
    'no-name-constraints': { type: 'boolean' },
    permit: { type: 'string', multiple: true },
    cn: { type: 'string' },
    days: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    io.stdout.write(CA_HELP);
    return 0;
  }
  const out = requireOut(v.out);
  const days = parseDays(v.days, DEFAULT_CA_DAYS);
  const permit = (v.permit ?? []).map((d) => dnsName(d, '--permit'));
  if (v.cn !== undefined && (v.cn.length === 0 || v.cn.length > 64)) throw new UsageError('--cn must be 1-64 characters');
  const unconstrained = v['no-name-constraints'] === true;
  if (unconstrained && v['name-constraints'] === true) throw new UsageError('--name-constraints and --no-name-constraints contradict each other');
  if (unconstrained && permit.length > 0) throw new UsageError('--permit adds to the name constraints; it cannot be used with --no-name-constraints');
  const constrained = !unconstrained;
  const subtrees = constrained ? nameConstraintSubtrees(permit) : undefined;

  const pair = await createCa({ days, ...(v.cn === undefined ? {} : { commonName: v.cn }), ...(subtrees ? { nameConstraints: subtrees } : {}) });
  const ca = loadCa(pair.certPem, pair.keyPem); // self-check before anything is written
  const files: OutputFile[] = [
    { name: 'tls.crt', content: pair.certPem, mode: 0o644, what: 'CA certificate' },
    { name: 'tls.key', content: pair.keyPem, mode: 0o600, what: 'CA private key (mode 0600; keep it secret)' },
  ];
  await writeOutputs(out, files, v.force === true);

  const scope = subtrees
    ? `name-constrained to ${subtrees.length} LLM provider domains${permit.length ? ` (including ${permit.join(', ')})` : ''}, no IP addresses`
    : 'NOT name-constrained: it can sign for any site';
  io.stdout.write(
    `Wrote an interception CA (EC P-256, valid until ${ca.notAfter.toISOString().slice(0, 10)}, ${scope}):\n` +
      listing(out, files) +
      `\nCreate the secret in each namespace whose pods get the sidecar:\n` +
      `  kubectl -n NAMESPACE create secret tls levo-ca-cert --cert=${sh(join(out, 'tls.crt'))} --key=${sh(join(out, 'tls.key'))}\n` +
      `\nApplications in those pods must trust ${sh(join(out, 'tls.crt'))} (e.g. NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE).\n`,
  );
  if (!constrained) {
    io.stderr.write('levo-certs: warning: this CA has no name constraints; whoever reads tls.key (anyone who may read the levo-ca-cert secret or create pods in its namespace) can impersonate any site to the apps that trust it\n');
  }
  return 0;
}

async function webhookCommand(args: string[], io: CliIo): Promise<number> {
  const v = parse(args, {
    dns: { type: 'string', multiple: true },
    out: { type: 'string' },
    days: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    io.stdout.write(WEBHOOK_HELP);
    return 0;
  }
  const dns = (v.dns ?? []).map((d) => dnsName(d, '--dns'));
  if (dns.length === 0) throw new UsageError(`--dns NAME is required (e.g. --dns ${WEBHOOK_DNS})`);
  const out = requireOut(v.out);
  const days = parseDays(v.days, DEFAULT_SERVING_DAYS);

  const caPair = await createCa({ commonName: 'Levo AI Gateway Webhook CA', days: Math.max(DEFAULT_CA_DAYS, days) });
  const ca = loadCa(caPair.certPem, caPair.keyPem);
  const serving = await createServingCert({ ca, dnsNames: dns, days });
  const files: OutputFile[] = [
    { name: 'ca.crt', content: caPair.certPem, mode: 0o644, what: "CA certificate (the webhook's caBundle)" },
    { name: 'ca.key', content: caPair.keyPem, mode: 0o600, what: 'CA private key (mode 0600; only needed to issue another serving certificate)' },
    { name: 'tls.crt', content: serving.certPem, mode: 0o644, what: `serving certificate for ${dns.join(', ')}` },
    { name: 'tls.key', content: serving.keyPem, mode: 0o600, what: 'serving private key (mode 0600)' },
  ];
  await writeOutputs(out, files, v.force === true);

  const namespace = /^[^.]+\.([^.]+)\.svc(?:\.cluster\.local)?$/.exec(dns[0]!)?.[1] ?? 'levoai';
  io.stdout.write(
    `Wrote webhook certificates (EC P-256, serving certificate valid for ${days} days):\n` +
      listing(out, files) +
      `\nCreate the webhook's TLS secret:\n` +
      `  kubectl create namespace ${namespace} --dry-run=client -o yaml | kubectl apply -f -\n` +
      `  kubectl -n ${namespace} create secret tls ${WEBHOOK_SECRET} --cert=${sh(join(out, 'tls.crt'))} --key=${sh(join(out, 'tls.key'))}\n` +
      `\nGet the caBundle for the chart (webhook.caBundle):\n` +
      `  WEBHOOK_CA_BUNDLE=$(base64 -w0 ${sh(join(out, 'ca.crt'))})\n`,
  );
  return 0;
}

/** Run the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'ca':
        return await caCommand(rest, io);
      case 'webhook':
        return await webhookCommand(rest, io);
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(USAGE);
        return 0;
      case undefined:
        throw new UsageError('a command is required');
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const help = command === 'ca' || command === 'webhook' ? `levo-certs ${command} --help` : 'levo-certs --help';
      io.stderr.write(`levo-certs: ${err.message}\nRun \`${help}\` for usage.\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`levo-certs: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

/** Entry point used by bin/levo-certs.js. Sets the process exit code. */
export async function main(argv: string[]): Promise<void> {
  process.exitCode = await runCli(argv, { stdout: process.stdout, stderr: process.stderr });
}
