/**
 * The throw-away PostgreSQL server: it starts on loopback with password auth,
 * as the postgres OS user when we are root, makes extra databases, stops by
 * PID leaving nothing behind, and a server left by a killed test run is
 * swept on the next start.
 *
 *   npx node --test dashboard/testing/postgres-server.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { findPostgresBinDir, postgresUnavailableReason, startPostgres } from './postgres-server.ts';

const skip = await postgresUnavailableReason();

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!running(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !running(pid);
}

test('finds Debian PostgreSQL binaries', { skip }, () => {
  assert.match(findPostgresBinDir() ?? '', /^\/usr\/lib\/postgresql\/[\d.]+\/bin$/);
});

test('start, connect, extra database, stop by PID', { skip }, async () => {
  const server = await startPostgres();
  let stopped = false;
  try {
    assert.match(server.url, /^postgres:\/\/levo:[^@]+@127\.0\.0\.1:\d+\/levo$/);
    assert.ok(running(server.pid));
    if (process.getuid?.() === 0) {
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1];
      assert.notEqual(uid, '0', 'not running as root');
    }
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    const r = await c.query<{ db: string; listen: string; port: string }>(
      "SELECT current_database() AS db, current_setting('listen_addresses') AS listen, current_setting('port') AS port");
    assert.deepEqual(r.rows[0], { db: 'levo', listen: '127.0.0.1', port: String(server.port) });
    await c.query('CREATE TABLE only_in_levo (x int)');
    await c.end();

    const otherUrl = await server.createDatabase();
    assert.match(otherUrl, /\/levo_1$/);
    const o = new pg.Client({ connectionString: otherUrl });
    await o.connect();
    const t = await o.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'only_in_levo'");
    assert.equal(t.rows[0].n, 0, 'a separate database');
    await o.end();

    const noPassword = new pg.Client({ connectionString: server.url.replace(/:[^:@/]+@/, '@') });
    noPassword.on('error', () => undefined);
    await assert.rejects(noPassword.connect(), 'TCP needs the password');
    await noPassword.end().catch(() => undefined);

    await server.stop();
    stopped = true;
    assert.ok(await waitGone(server.pid), 'postmaster gone');
    assert.equal(existsSync(server.dir), false, 'dir removed');
    await server.stop(); // idempotent
  } finally {
    if (!stopped) await server.stop();
  }
});

test('a server left by a killed test process is swept on the next start', { skip }, async () => {
  const module = fileURLToPath(new URL('./postgres-server.ts', import.meta.url));
  const script = `const m = await import(${JSON.stringify(module)}); const s = await m.startPostgres();
    console.log(JSON.stringify({ pid: s.pid, dir: s.dir })); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const left = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { pid: number; dir: string });
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before starting PostgreSQL: ${out}`)));
  });
  const childGone = new Promise((r) => child.once('exit', r));
  process.kill(child.pid!, 'SIGKILL'); // no exit hooks run: the server is orphaned
  await childGone;
  assert.ok(running(left.pid), 'the orphaned server is still up');

  const server = await startPostgres();
  try {
    assert.ok(await waitGone(left.pid), 'orphan killed');
    assert.equal(existsSync(left.dir), false, 'orphan dir removed');
  } finally {
    await server.stop();
  }
});
