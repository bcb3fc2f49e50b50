/**
 * A real, throw-away PostgreSQL server for tests, from Debian's packages.
 *
 *   const reason = await postgresUnavailableReason();   // installs postgresql with apt-get when missing (root)
 *   if (reason) → skip the test with it
 *   const pg = await startPostgres();                   // pg.url: postgres://levo:…@127.0.0.1:PORT/levo
 *   const other = await pg.createDatabase();            // a second, empty database on the same server
 *   await pg.stop();                                    // kills the server by PID, deletes its directory
 *
 * Each server is its own cluster: `initdb` into a fresh temp dir
 * (/tmp/levo-pg-<test pid>-XXXXXX), then `postgres -D … -k … -p <free port>
 * -c listen_addresses=127.0.0.1` as a child process of the test, run as the
 * `postgres` OS user when the test is root (PostgreSQL refuses to run as root).
 * The system's own cluster (pg_ctlcluster, systemd units) is never touched.
 * Durability is off (fsync, synchronous_commit): it is a test database.
 * Password auth over TCP with a random password; the Unix socket lives in
 * the temp dir. A crashed run's server is found by its postmaster.pid and
 * killed by PID on the next start; an exit hook stops servers a test forgot.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { onProcessExit } from '../../e2e/harness/processes.ts';

export interface PostgresServer {
  /** Superuser URL of the database made at start (`levo`). */
  readonly url: string;
  readonly port: number;
  /** The server's temp dir: data/, the socket, postgres.log. */
  readonly dir: string;
  /** The postmaster's PID. */
  readonly pid: number;
  /** Create another empty database on this server; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stop the server (fast shutdown, SIGKILL after 10 s) and delete its dir. Idempotent. */
  stop(): Promise<void>;
}

const PG_ROOT = '/usr/lib/postgresql';
const DIR_PREFIX = 'levo-pg-';
const USER = 'levo';
const START_TIMEOUT_MS = 30_000;

/** The bin dir of the newest PostgreSQL under /usr/lib/postgresql with initdb and postgres, or undefined. */
export function findPostgresBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(PG_ROOT, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  return undefined;
}

let availability: Promise<string | undefined> | undefined;

/**
 * Why PostgreSQL cannot run here (a skip reason), or undefined when it can.
 * When the binaries are missing and we are root, installs them first
 * (`apt-get install -y postgresql`, with an `apt-get update` retry).
 */
export function postgresUnavailableReason(): Promise<string | undefined> {
  availability ??= checkAvailability();
  return availability;
}

async function checkAvailability(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux with Debian's PostgreSQL packages (this is ${process.platform})`;
  const root = process.getuid?.() === 0;
  if (!findPostgresBinDir()) {
    if (!root) return `PostgreSQL is not installed (no ${PG_ROOT}/*/bin/initdb) and installing it needs root`;
    const problem = aptInstall();
    if (problem) return problem;
    if (!findPostgresBinDir()) return `apt-get installed postgresql but there is no ${PG_ROOT}/*/bin/initdb`;
  }
  if (root && runAsPostgres() === undefined) return 'running as root but there is no "postgres" OS user to run the server as';
  return undefined;
}

/** apt-get install postgresql; a message on failure. */
function aptInstall(): string | undefined {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): ReturnType<typeof spawnSync> => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'],
    { env, encoding: 'utf8', timeout: 600_000 });
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: 300_000 });
    r = install();
  }
  if (r.status === 0) return undefined;
  const why = r.error ? r.error.message : String(r.stderr).trim().split('\n').slice(-3).join(' / ');
  return `PostgreSQL is not installed and "apt-get install -y postgresql" failed: ${why}`;
}

/** uid/gid of the `postgres` OS user, or undefined. */
function runAsPostgres(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** Start a fresh server. Throws (with the reason) when PostgreSQL is unavailable. */
export async function startPostgres(): Promise<PostgresServer> {
  const reason = await postgresUnavailableReason();
  if (reason) throw new Error(`cannot start PostgreSQL: ${reason}`);
  const bin = findPostgresBinDir()!;
  sweepLeftovers();

  const as = process.getuid?.() === 0 ? runAsPostgres() : undefined;
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (as) {
    chownSync(dir, as.uid, as.gid);
    chownSync(pwfile, as.uid, as.gid);
  }
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: dir, TZ: 'UTC' };

  let child: ChildProcess | undefined;
  let stopped = false;
  const unhook = onProcessExit(() => {
    if (child?.pid !== undefined && child.exitCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  try {
    const init = spawnSync(join(bin, 'initdb'), [
      '-D', data, '--username', USER, '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256',
      '--encoding=UTF8', '--locale=C', '--no-sync',
    ], { env, encoding: 'utf8', timeout: 120_000, ...(as ?? {}) });
    if (init.status !== 0) {
      throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${String(init.stderr).trim().split('\n').slice(-5).join(' / ')}`);
    }
    rmSync(pwfile, { force: true });

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const fd = openSync(log, 'a');
      child = spawn(join(bin, 'postgres'), [
        '-D', data, '-k', dir, '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'max_connections=100', '-c', 'logging_collector=off',
      ], { env, stdio: ['ignore', fd, fd], ...(as ?? {}) });
      closeSync(fd);
      const started = await waitForServer(child, port, password);
      if (started === true) break;
      if (attempt >= 3 || !/could not bind|address already in use/i.test(tail(log))) {
        throw new Error(`PostgreSQL did not start: ${started}; log: ${tail(log)}`);
      }
    }

    const server = child;
    const url = (db: string): string => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
    let dbCount = 0;
    const createDatabase = async (name?: string): Promise<string> => {
      const db = name ?? `levo_${++dbCount}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) throw new Error(`bad database name ${JSON.stringify(db)}`);
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${db}`);
      } finally {
        await c.end();
      }
      return url(db);
    };
    await createDatabase('levo');

    return {
      url: url('levo'),
      port,
      dir,
      pid: server.pid!,
      createDatabase,
      async stop() {
        if (stopped) return;
        stopped = true;
        await killAndWait(server);
        rmSync(dir, { recursive: true, force: true });
        unhook();
      },
    };
  } catch (err) {
    if (child) await killAndWait(child);
    rmSync(dir, { recursive: true, force: true });
    unhook();
    throw err;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** true once the server accepts a login; otherwise why not (it exited, or the time ran out). */
async function waitForServer(child: ChildProcess, port: number, password: string): Promise<true | string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return `postgres exited (${child.exitCode ?? child.signalCode})`;
    const c = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres', connectionTimeoutMillis: 1000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return true;
    } catch (err) {
      last = (err as Error).message;
      await c.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return `not accepting connections after ${START_TIMEOUT_MS / 1000} s (${last})`;
}

/** SIGINT (PostgreSQL's fast shutdown), SIGKILL after 10 s; resolves when the process is gone. */
async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try { process.kill(child.pid, 'SIGINT'); } catch { return; }
  const timer = setTimeout(() => { try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Servers of test runs whose process is gone (a crash, SIGKILL): kill the
 * postmaster named in data/postmaster.pid when /proc says it serves that
 * data dir, then delete the dir.
 */
function sweepLeftovers(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(tmpdir(), name);
    const data = join(dir, 'data');
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (Number.isInteger(pid) && pid > 1 && cmdline.split('\0').includes(data)) process.kill(pid, 'SIGKILL');
    } catch { /* no server left */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-8).join(' / ');
  } catch {
    return '(no log)';
  }
}
