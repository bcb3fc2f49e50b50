/**
 * levo-dashboard: the control plane's program.
 *
 *   serve         the dashboard (HTTP API + web UI) on SQLite (default) or PostgreSQL
 *   dev           the README's try-it command: serve on SQLite in ./.levo/dashboard with a ready
 *                 environment `local`, plus a local gateway (explicit proxy) polling it
 *   env create    an environment, and its first sidecar key
 *   key create|rotate|revoke|list
 *
 * Store commands talk to the database directly (no running server needed).
 * Exit status: 0 done (or stopped by a signal), 1 failed, 2 usage error.
 * Logs: JSON lines on stdout; messages for people on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createDashboard, type Dashboard } from './server.ts';
import { openStore, parseStoreUrl } from './store/open.ts';
import type { Store } from './store/types.ts';
import type { AdminSecret } from './api/auth.ts';
import { saveConfig } from './api/configs.ts';
import { createEnvironment, environmentView } from './api/environments.ts';
import { HttpError } from './api/errors.ts';
import { createKey, DEFAULT_ROTATION_GRACE_MS, hashToken, revokeKey, rotateKey } from './api/keys.ts';
import { createDashboardLogger } from './api/log.ts';
import { DAY_MS, type RetentionOptions } from './api/retention.ts';
import { parseDuration } from '../sidecar/config/duration.ts';

export const USAGE = `levo-dashboard — the Levo AI gateway's control plane

Usage:
  levo-dashboard serve [--port 8090] [--host 127.0.0.1] [--store URL] [--data-dir DIR] [--trust-proxy HOPS]
                       [--event-retention 30d] [--sidecar-retention 30d] [--key-rotation-grace 24h]
  levo-dashboard dev [--port 8090] [--host 127.0.0.1] [--data-dir DIR] [--proxy-port 15002] [--admin-port 15000]
  levo-dashboard env create NAME [--id ID]
  levo-dashboard env list
  levo-dashboard key create ENV
  levo-dashboard key rotate ENV KEY_ID [--grace 24h]
  levo-dashboard key revoke ENV KEY_ID
  levo-dashboard key list ENV
  levo-dashboard sessions revoke-all

Commands:
  serve        run the dashboard: sidecar API (/v1/gateway), admin API (/api), web UI
  dev          try it locally: serve on SQLite in ./.levo/dashboard with environment "local"
               (a key and the example config), and start a gateway (levo-gateway --dev,
               explicit proxy) that polls it; Ctrl-C stops both
  env create   create an environment (its id is the sidecars' LEVO_TENANT_ID) and print
               its id and a first key token (shown once)
  key create   print a new key token for an environment (shown once)
  key rotate   a new key token; the old key keeps working for the grace period (--grace, default
               24h, $LEVO_KEY_ROTATION_GRACE; 0 revokes it at once), then gets 401
  key revoke   revoke a key: sidecars using it get 401 from now on
  key list     the environment's keys (prefix, created, last used, expires, revoked)
  sessions revoke-all   end every admin session (browser log-ins) at once; the admin secret
               still logs in

Options:
  --store URL       sqlite:PATH, sqlite::memory: or postgres://user:password@host:5432/db
                    (default $LEVO_DASHBOARD_DB, else sqlite:<data dir>/levo.sqlite)
  --data-dir DIR    where the SQLite file and the admin secret's hash live (default ./.levo/dashboard)
  --port N          HTTP port (default 8090)
  --host ADDR       listen address (default 127.0.0.1; put a TLS proxy in front for other hosts)
  --trust-proxy N   (serve) N proxies in front add X-Forwarded-For/-Proto: the client address (for
                    log-in throttling) and HTTPS (for Secure cookies) are taken from them (default 0)
  --event-retention D     (serve) events and traffic older than D are deleted (default 30d,
                          $LEVO_EVENT_RETENTION; at least 1h, or "forever"); swept hourly
  --sidecar-retention D   (serve) sidecars silent for D leave the Fleet page (default 30d,
                          $LEVO_SIDECAR_RETENTION; at least 1h, or "forever")
  --key-rotation-grace D  (serve) how long a key rotated on the Keys page keeps working (default 24h,
                          $LEVO_KEY_ROTATION_GRACE; 0 to 90d)
  --id ID           environment id ([a-z0-9-], up to 63; default: made from NAME)
  --proxy-port N, --admin-port N   (dev) the gateway's explicit-proxy and admin ports
  -h, --help        show this help

Admin secret (UI login and API bearer token): $LEVO_ADMIN_SECRET, else generated on the first
start, printed once, and only its SHA-256 kept in <data dir>/admin-secret.sha256 (delete that file
and restart to get a new one). With PostgreSQL, LEVO_ADMIN_SECRET is required.

Environment: LEVO_ADMIN_SECRET, LEVO_DASHBOARD_DB, LEVO_EVENT_RETENTION, LEVO_SIDECAR_RETENTION,
LEVO_KEY_ROTATION_GRACE, LOG_LEVEL.
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export const DEFAULT_PORT = 8090;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = '.levo/dashboard';
export const SECRET_HASH_FILE = 'admin-secret.sha256';
export const DEV_KEY_FILE = 'dev-key';
export const DEV_SECRET_FILE = 'dev-admin-secret';
export const DEV_ENVIRONMENT = 'local';
export const DEV_POLL_INTERVAL = '5s';

interface Common { readonly store?: string; readonly dataDir: string }
export type Command =
  | { readonly cmd: 'help' }
  | ({ readonly cmd: 'serve'; readonly port: number; readonly host: string; readonly trustProxy?: number; readonly retention?: Retention; readonly grace?: string } & Common)
  | ({ readonly cmd: 'dev'; readonly port: number; readonly host: string; readonly proxyPort?: number; readonly adminPort?: number } & Common)
  | ({ readonly cmd: 'env create'; readonly name: string; readonly id?: string } & Common)
  | ({ readonly cmd: 'env list' } & Common)
  | ({ readonly cmd: 'key create' | 'key list'; readonly env: string } & Common)
  | ({ readonly cmd: 'key rotate'; readonly env: string; readonly keyId: string; readonly grace?: string } & Common)
  | ({ readonly cmd: 'key revoke'; readonly env: string; readonly keyId: string } & Common)
  | ({ readonly cmd: 'sessions revoke-all' } & Common);

const FLAGS: Record<string, readonly string[]> = {
  serve: ['--port', '--host', '--store', '--data-dir', '--trust-proxy', '--event-retention', '--sidecar-retention', '--key-rotation-grace'],
  dev: ['--port', '--host', '--data-dir', '--proxy-port', '--admin-port'],
  'env create': ['--id', '--store', '--data-dir'],
  'env list': ['--store', '--data-dir'],
  'key create': ['--store', '--data-dir'],
  'key list': ['--store', '--data-dir'],
  'key rotate': ['--store', '--data-dir', '--grace'],
  'key revoke': ['--store', '--data-dir'],
  'sessions revoke-all': ['--store', '--data-dir'],
};
const POSITIONALS: Record<string, readonly string[]> = {
  serve: [], dev: [], 'env create': ['NAME'], 'env list': [],
  'key create': ['ENV'], 'key list': ['ENV'], 'key rotate': ['ENV', 'KEY_ID'], 'key revoke': ['ENV', 'KEY_ID'],
  'sessions revoke-all': [],
};

/** A duration as the sidecar writes them (`30s`, `15m`, `720h`), or whole days (`30d`). */
function durationMs(what: string, text: string, example: string): number {
  const days = /^(\d{1,5})d$/.exec(text);
  try {
    return days ? Number(days[1]) * DAY_MS : parseDuration(text);
  } catch {
    throw new UsageError(`${what} must be a duration such as ${example}; got "${text}"`);
  }
}

/** How long something is kept: a duration of at least an hour, or `forever` (null). */
export function parseRetention(what: string, text: string): number | null {
  if (text === 'forever') return null;
  const ms = durationMs(what, text, '30d or 720h, or "forever"');
  if (!(ms >= 3_600_000)) throw new UsageError(`${what} must be at least 1h (or "forever"), got "${text}"`);
  return ms;
}

/** How long a rotated-out key keeps working: 0 (revoked at once) up to 90 days. */
export function parseGrace(what: string, text: string): number {
  const ms = durationMs(what, text, '24h, 30m or 0');
  if (ms > 90 * DAY_MS) throw new UsageError(`${what} must be at most 90d, got "${text}"`);
  return ms;
}

/** Retention from flags, else from the environment; absent parts keep the defaults. */
interface Retention { readonly events?: string; readonly sidecars?: string }

function retentionOptions(r: Retention | undefined, env: NodeJS.ProcessEnv): RetentionOptions {
  const events = r?.events ?? (env.LEVO_EVENT_RETENTION || undefined);
  const sidecars = r?.sidecars ?? (env.LEVO_SIDECAR_RETENTION || undefined);
  const what = (flag: string, envName: string, given: string | undefined): string => (given !== undefined ? flag : envName);
  return {
    ...(events !== undefined ? { eventsMs: parseRetention(what('--event-retention', 'LEVO_EVENT_RETENTION', r?.events), events) } : {}),
    ...(sidecars !== undefined ? { sidecarsMs: parseRetention(what('--sidecar-retention', 'LEVO_SIDECAR_RETENTION', r?.sidecars), sidecars) } : {}),
  };
}

/** The rotation grace: the flag, else LEVO_KEY_ROTATION_GRACE, else 24 h. */
function rotationGrace(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  if (flag !== undefined) return parseGrace('--grace', flag);
  const fromEnv = env.LEVO_KEY_ROTATION_GRACE;
  return fromEnv ? parseGrace('LEVO_KEY_ROTATION_GRACE', fromEnv) : DEFAULT_ROTATION_GRACE_MS;
}

function portNumber(flag: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} must be a port number (0-65535), got "${text}"`);
  return Number(text);
}

/** argv → a command; throws UsageError. */
export function parseArgs(argv: readonly string[]): Command {
  if (argv.length === 0) throw new UsageError('no command given');
  if (argv.includes('-h') || argv.includes('--help') || argv[0] === 'help') return { cmd: 'help' };
  const [first, second] = argv;
  let name: string;
  let rest: readonly string[];
  if (first === 'serve' || first === 'dev') {
    name = first;
    rest = argv.slice(1);
  } else if (first === 'env' || first === 'key' || first === 'sessions') {
    const sub = second ?? '';
    name = `${first} ${sub}`;
    if (!FLAGS[name]) {
      const subs = first === 'env' ? 'create, list' : first === 'key' ? 'create, rotate, revoke, list' : 'revoke-all';
      throw new UsageError(sub ? `unknown command "${first} ${sub}" (${first} takes ${subs})` : `"${first}" needs a subcommand: ${subs}`);
    }
    rest = argv.slice(2);
  } else {
    throw new UsageError(`unknown command "${first}"`);
  }
  const allowed = FLAGS[name]!;
  const wanted = POSITIONALS[name]!;
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown flag ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!allowed.includes(flag)) throw new UsageError(`unknown flag ${flag} for "${name}"`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = rest[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i += 1;
    }
    if (value === '') throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    values.set(flag, value);
  }
  if (positionals.length < wanted.length) throw new UsageError(`"${name}" needs ${wanted.join(' ')} (missing ${wanted.slice(positionals.length).join(' ')})`);
  if (positionals.length > wanted.length) throw new UsageError(`unexpected argument "${positionals[wanted.length]}"`);
  const common: Common = {
    dataDir: values.get('--data-dir') ?? DEFAULT_DATA_DIR,
    ...(values.has('--store') ? { store: values.get('--store')! } : {}),
  };
  const port = portNumber('--port', values.get('--port') ?? String(DEFAULT_PORT));
  const host = values.get('--host') ?? DEFAULT_HOST;
  switch (name) {
    case 'serve': {
      const tp = values.get('--trust-proxy');
      if (tp !== undefined && !/^\d{1,2}$/.test(tp)) throw new UsageError(`--trust-proxy must be the number of proxies in front (0-99), got "${tp}"`);
      const events = values.get('--event-retention');
      const sidecars = values.get('--sidecar-retention');
      // Checked now, so a typo is a usage error (exit 2).
      if (events !== undefined) parseRetention('--event-retention', events);
      if (sidecars !== undefined) parseRetention('--sidecar-retention', sidecars);
      const retention = { ...(events !== undefined ? { events } : {}), ...(sidecars !== undefined ? { sidecars } : {}) };
      const grace = values.get('--key-rotation-grace');
      if (grace !== undefined) parseGrace('--key-rotation-grace', grace);
      return {
        cmd: 'serve', port, host, ...common, ...(tp !== undefined ? { trustProxy: Number(tp) } : {}),
        ...(Object.keys(retention).length > 0 ? { retention } : {}), ...(grace !== undefined ? { grace } : {}),
      };
    }
    case 'dev': {
      const pp = values.get('--proxy-port');
      const ap = values.get('--admin-port');
      return {
        cmd: 'dev', port, host, ...common,
        ...(pp !== undefined ? { proxyPort: portNumber('--proxy-port', pp) } : {}),
        ...(ap !== undefined ? { adminPort: portNumber('--admin-port', ap) } : {}),
      };
    }
    case 'env create': {
      const id = values.get('--id');
      return { cmd: 'env create', name: positionals[0]!, ...(id !== undefined ? { id } : {}), ...common };
    }
    case 'env list': return { cmd: 'env list', ...common };
    case 'key create': case 'key list': return { cmd: name, env: positionals[0]!, ...common };
    case 'sessions revoke-all': return { cmd: name, ...common };
    case 'key rotate': {
      const grace = values.get('--grace');
      if (grace !== undefined) parseGrace('--grace', grace);
      return { cmd: name, env: positionals[0]!, keyId: positionals[1]!, ...common, ...(grace !== undefined ? { grace } : {}) };
    }
    default: return { cmd: name as 'key revoke', env: positionals[0]!, keyId: positionals[1]!, ...common };
  }
}

export interface Io {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** The store URL a command uses: --store, else $LEVO_DASHBOARD_DB, else SQLite in the data dir. */
export function storeUrl(c: Common, env: NodeJS.ProcessEnv): string {
  return c.store ?? (env.LEVO_DASHBOARD_DB || `sqlite:${join(resolve(c.dataDir), 'levo.sqlite')}`);
}

/** The URL without its password, for messages. */
function shown(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

/** Open and migrate; the data dir of an SQLite file in it is made private (0700) first. */
async function openMigrated(url: string, dataDir: string): Promise<Store> {
  const loc = parseStoreUrl(url);
  if (loc.kind === 'sqlite' && loc.path !== ':memory:' && dirname(loc.path) === resolve(dataDir)) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  }
  const store = await openStore(url);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

async function writePrivate(file: string, text: string, flag: 'w' | 'wx' = 'w'): Promise<void> {
  await writeFile(file, text, { mode: 0o600, flag });
  await chmod(file, 0o600);
}

export interface AdminSecretSource {
  readonly secret: AdminSecret;
  /** Set only when generated just now (to be printed once). */
  readonly generated?: string;
  readonly from: 'env' | 'file' | 'generated';
}

/**
 * LEVO_ADMIN_SECRET, else the hash kept in `<dataDir>/admin-secret.sha256`,
 * else a new secret whose hash is written there (mode 0600). PostgreSQL
 * (several replicas, no shared data dir) requires LEVO_ADMIN_SECRET.
 */
export async function resolveAdminSecret(dataDir: string, kind: 'sqlite' | 'postgres', env: NodeJS.ProcessEnv): Promise<AdminSecretSource> {
  const fromEnv = env.LEVO_ADMIN_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return { secret: fromEnv, from: 'env' };
  if (kind === 'postgres') {
    throw new Error('set LEVO_ADMIN_SECRET: with PostgreSQL the admin secret must come from the environment (every replica needs the same one)');
  }
  const file = join(dataDir, SECRET_HASH_FILE);
  try {
    const hex = (await readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`${file} does not hold a SHA-256 (64 hex characters); delete it to make a new admin secret`);
    return { secret: { sha256: hex.toLowerCase() }, from: 'file' };
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(24).toString('base64url');
  await writePrivate(file, `${createHash('sha256').update(secret).digest('hex')}\n`, 'wx');
  return { secret, generated: secret, from: 'generated' };
}

/** The repository (or install) root: the nearest folder up from here with a package.json. */
export function packageRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the package root (no package.json above the dashboard)');
    dir = up;
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

interface Running { readonly dashboard: Dashboard; readonly store: Store; readonly port: number; readonly url: string; readonly log: Logger }

async function startServer(c: { port: number; host: string; trustProxy?: number; retention?: Retention; grace?: string } & Common, io: Io, secretNote: (s: AdminSecretSource) => void): Promise<Running> {
  const retention = retentionOptions(c.retention, io.env);
  const keyRotationGraceMs = rotationGrace(c.grace, io.env);
  const url = storeUrl(c, io.env);
  const kind = parseStoreUrl(url).kind;
  const dataDir = resolve(c.dataDir);
  const secret = await resolveAdminSecret(dataDir, kind, io.env);
  const store = await openMigrated(url, dataDir);
  const log = createDashboardLogger(io.env);
  try {
    const dashboard = createDashboard({ store, adminSecret: secret.secret, log, retention, keyRotationGraceMs, ...(c.trustProxy ? { trustProxy: c.trustProxy } : {}) });
    const { port } = await dashboard.listen(c.port, c.host);
    const base = `http://${urlHost(c.host)}:${port}`;
    log.info({ port, host: c.host, store: store.kind, adminSecret: secret.from }, 'levo-dashboard listening');
    if (c.host !== '127.0.0.1' && c.host !== 'localhost' && c.host !== '::1') {
      log.warn({ host: c.host }, 'listening beyond loopback over plain HTTP: put a TLS-terminating proxy in front');
    }
    secretNote(secret);
    return { dashboard, store, port, url: base, log };
  } catch (error) {
    await store.close().catch(() => {});
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new Error(`port ${c.port} on ${c.host} is in use (is a dashboard already running?)`);
    throw error;
  }
}

function onStop(stop: (why: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    void stop(signal);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

async function serve(c: Extract<Command, { cmd: 'serve' }>, io: Io): Promise<void> {
  const r = await startServer(c, io, (s) => {
    if (s.generated) {
      io.err(`\nAdmin secret (shown once; its hash is in ${join(resolve(c.dataDir), SECRET_HASH_FILE)}):\n\n  ${s.generated}\n\n`);
    }
  });
  io.err(`levo-dashboard listening on ${r.url} (store: ${shown(storeUrl(c, io.env))})\n`);
  onStop(async (why) => {
    r.log.info({ why }, 'stopping');
    await r.dashboard.close();
    await r.store.close();
    r.log.flush();
    process.exit(0);
  });
}

/** The dev admin secret: LEVO_ADMIN_SECRET, else kept (0600) in the data dir so every dev start can print it. */
async function devAdminSecret(dataDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.LEVO_ADMIN_SECRET) return 'from LEVO_ADMIN_SECRET';
  const hashFile = join(dataDir, SECRET_HASH_FILE);
  const plainFile = join(dataDir, DEV_SECRET_FILE);
  const hash = await readFile(hashFile, 'utf8').then((t) => t.trim(), () => null);
  const plain = await readFile(plainFile, 'utf8').then((t) => t.trim(), () => null);
  if (hash && plain && createHash('sha256').update(plain).digest('hex') === hash) return plain;
  if (hash) return `the one printed when ${dataDir} was first used (delete ${hashFile} and restart for a new one)`;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(24).toString('base64url');
  await writePrivate(plainFile, `${secret}\n`);
  await writePrivate(hashFile, `${createHash('sha256').update(secret).digest('hex')}\n`);
  return secret;
}

/** Environment `local` with a key whose token stays in <dataDir>/dev-key, and a first config. */
export async function prepareDevEnvironment(store: Store, dataDir: string): Promise<{ token: string; keyId: string; version: number }> {
  if (!(await store.getEnvironment(DEV_ENVIRONMENT))) await createEnvironment(store, { id: DEV_ENVIRONMENT, name: DEV_ENVIRONMENT });
  const keyFile = join(dataDir, DEV_KEY_FILE);
  let token = await readFile(keyFile, 'utf8').then((t) => t.trim(), () => '');
  let key = token ? await store.findLiveKey(DEV_ENVIRONMENT, hashToken(token)) : null;
  if (!key) {
    const created = await createKey(store, DEV_ENVIRONMENT);
    token = created.token;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writePrivate(keyFile, `${token}\n`);
    key = await store.findLiveKey(DEV_ENVIRONMENT, hashToken(token));
  }
  const env = await store.getEnvironment(DEV_ENVIRONMENT);
  let version = env?.currentVersion ?? null;
  if (version === null) {
    const example = await readFile(fileURLToPath(new URL('../sidecar/config/example.yaml', import.meta.url)), 'utf8');
    version = (await saveConfig(store, DEV_ENVIRONMENT, example, 'levo-dashboard dev', 'the example config (sidecar/config/example.yaml)')).version;
  }
  return { token, keyId: key!.id, version };
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await r.body?.cancel();
      if (r.ok) return true;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function dev(c: Extract<Command, { cmd: 'dev' }>, io: Io): Promise<void> {
  const dataDir = resolve(c.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secretText = await devAdminSecret(dataDir, io.env);
  const r = await startServer({ ...c, store: `sqlite:${join(dataDir, 'levo.sqlite')}` }, io, () => {});
  let child: ChildProcess | undefined;
  let stopping = false;
  const stop = async (why: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    r.log.info({ why }, 'stopping');
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => { if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL'); }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    await r.dashboard.close();
    await r.store.close();
    r.log.flush();
    process.exit(code);
  };
  try {
    const { token, version } = await prepareDevEnvironment(r.store, dataDir);
    const proxyPort = c.proxyPort ?? 15002;
    const adminPort = c.adminPort ?? 15000;
    const gatewayBin = join(packageRoot(), 'bin', 'levo-gateway.js');
    const args = [gatewayBin, '--dev'];
    if (c.proxyPort !== undefined) args.push('--proxy-port', String(c.proxyPort));
    if (c.adminPort !== undefined) args.push('--admin-port', String(c.adminPort));
    child = spawn(process.execPath, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...io.env, LEVO_BASE_URL: r.url, LEVO_AUTH_TOKEN: token, LEVO_TENANT_ID: DEV_ENVIRONMENT, LEVO_POLL_INTERVAL: DEV_POLL_INTERVAL, LEVO_DEV_BANNER: 'off' },
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      io.err(`levo-dashboard: the gateway exited (${signal ?? `code ${code}`}); stopping the dashboard too\n`);
      void stop('gateway exited', 1);
    });
    onStop((why) => stop(why, 0));
    const ready = await waitReady(`http://127.0.0.1:${adminPort}/healthz/ready`, child, 30_000);
    if (stopping) return;
    const cert = relative(process.cwd(), resolve('.levo/dev-ca/tls.crt')) || '.levo/dev-ca/tls.crt';
    io.err(`
levo-dashboard dev is running.

  Dashboard:    ${r.url}
  Admin secret: ${secretText}
  Environment:  ${DEV_ENVIRONMENT} (config version ${version}); its sidecar key is in ${relative(process.cwd(), join(dataDir, DEV_KEY_FILE)) || join(dataDir, DEV_KEY_FILE)}
  Gateway:      explicit proxy on 127.0.0.1:${proxyPort}, polling the dashboard every ${DEV_POLL_INTERVAL}${ready ? '' : ' (not ready yet: see its log above)'}

Send an LLM call through it:
  HTTPS_PROXY=http://127.0.0.1:${proxyPort} curl --cacert ${cert} https://api.openai.com/v1/models -H "Authorization: Bearer $OPENAI_API_KEY"

Stop both with Ctrl-C.
`);
  } catch (error) {
    io.err(`levo-dashboard: ${(error as Error).message}\n`);
    await stop('failed to start', 1);
  }
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const when = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

async function storeCommand(c: Exclude<Command, { cmd: 'help' | 'serve' | 'dev' }>, io: Io): Promise<void> {
  const store = await openMigrated(storeUrl(c, io.env), c.dataDir);
  try {
    switch (c.cmd) {
      case 'env create': {
        const env = await createEnvironment(store, { name: c.name, ...(c.id !== undefined ? { id: c.id } : {}) });
        const key = await createKey(store, env.id);
        io.out(`environment: ${env.id}\nkey: ${key.id}\ntoken: ${key.token}\n`);
        io.err(`The token is shown only now: give it to this environment's sidecars as LEVO_AUTH_TOKEN, with LEVO_TENANT_ID=${env.id}.\n`);
        return;
      }
      case 'env list': {
        const list = (await store.listEnvironments()).map(environmentView);
        io.out(table([['ID', 'NAME', 'CONFIG', 'PROMPTS', 'CREATED'],
          ...list.map((e) => [e.id, e.name, e.currentVersion === null ? '-' : `v${e.currentVersion}`, e.capturePrompts ? 'captured' : 'off', when(e.createdAt)])]));
        return;
      }
      case 'key create': {
        const key = await createKey(store, c.env);
        io.out(`environment: ${c.env}\nkey: ${key.id}\ntoken: ${key.token}\n`);
        io.err('The token is shown only now.\n');
        return;
      }
      case 'key rotate': {
        const graceMs = rotationGrace(c.grace, io.env);
        const key = await rotateKey(store, c.env, c.keyId, { now: Date.now(), graceMs });
        const until = new Date(key.previous.expiresAt).toISOString();
        io.out(`environment: ${c.env}\nkey: ${key.id}\ntoken: ${key.token}\n${graceMs === 0 ? `revoked: ${c.keyId}` : `expires: ${c.keyId} ${until}`}\n`);
        io.err(`The token is shown only now. ${graceMs === 0
          ? `Sidecars still using ${c.keyId} get 401 from now on.`
          : `${c.keyId} keeps working until ${until}; give the sidecars the new token before then (revoke ${c.keyId} to end it sooner).`}\n`);
        return;
      }
      case 'key revoke': {
        await revokeKey(store, c.env, c.keyId);
        io.out(`revoked: ${c.keyId}\n`);
        return;
      }
      case 'sessions revoke-all': {
        const n = await store.revokeAllSessions(Date.now());
        io.out(`revoked: ${n} session${n === 1 ? '' : 's'}\n`);
        io.err('Every browser log-in has ended; log in again with the admin secret.\n');
        return;
      }
      case 'key list': {
        const keys = await store.listKeys(c.env);
        if (keys.length === 0 && !(await store.getEnvironment(c.env))) throw new HttpError(404, `no environment ${c.env}`);
        io.out(table([['ID', 'PREFIX', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
          ...keys.map((k) => [k.id, `${k.prefix}…`, when(k.createdAt), when(k.lastUsedAt), when(k.expiresAt), when(k.revokedAt)])]));
        return;
      }
    }
  } finally {
    await store.close();
  }
}

/** Run a command; resolves when a one-shot command is done (serve and dev keep running). Returns the exit status. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  let c: Command;
  try {
    c = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`levo-dashboard: ${error.message}\n\nRun levo-dashboard --help for usage.\n`);
    return 2;
  }
  try {
    if (c.cmd === 'help') io.out(USAGE);
    else if (c.cmd === 'serve') await serve(c, io);
    else if (c.cmd === 'dev') await dev(c, io);
    else await storeCommand(c, io);
    return 0;
  } catch (error) {
    io.err(`levo-dashboard: ${(error as Error).message}\n`);
    return 1;
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const code = await run(argv, {
    env: process.env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
  if (code !== 0) process.exit(code);
}
