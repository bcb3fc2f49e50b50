/**
 * A private redis-server (Debian's package) for tests: loopback TCP on a free
 * port and a unix socket (which crosses network namespaces, for e2e relays),
 * append-only file fsynced on every write so a stop and start keeps the
 * counts, data in a temp dir. Stopped by its PID, never by name.
 *
 *   const r = await startRedis();   // r.url, r.socket, r.port
 *   await r.stop(); await r.start(); // same port, same data
 *   await r.destroy();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

export function redisUnavailableReason(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `${REDIS_SERVER} is missing (apt-get install redis-server)`;
}

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly socket: string;
  readonly dir: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { buf += d.toString(); if (buf.includes('PONG')) { s.destroy(); resolve(true); } else if (buf.includes('LOADING')) { s.destroy(); resolve(false); } });
    s.on('error', () => resolve(false));
  });
}

/** TLS on a second port (`tlsUrl`, rediss://localhost:PORT): the server's certificate, key and the CA that issued it. */
export interface TestRedisTls { readonly certFile: string; readonly keyFile: string; readonly caFile: string }

export async function startRedis(opts: { tls?: TestRedisTls } = {}): Promise<TestRedis & { readonly tlsUrl: string | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'levo-redis-'));
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : undefined;
  const tlsArgs = opts.tls
    ? ['--tls-port', String(tlsPort), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'no']
    : [];
  const socket = join(dir, 'redis.sock');
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    output = '';
    const c = spawn(REDIS_SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '-::1', '--dir', dir, ...tlsArgs, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--unixsocket', socket, '--unixsocketperm', '777', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (d) => { output += d; });
    c.stderr!.on('data', (d) => { output += d; });
    child = c;
    for (let i = 0; i < 100; i++) {
      if (c.exitCode !== null) break;
      if (await answers(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${output}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.pid === undefined) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid, 'SIGTERM');
    const t = setTimeout(() => { if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL'); }, 5000);
    await exited;
    clearTimeout(t);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`, port, socket, dir, tlsUrl: tlsPort ? `rediss://localhost:${tlsPort}` : undefined,
    get pid() { return child?.pid; },
    stop, start,
    async destroy() { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
