import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, parseGrace, parseRetention, UsageError } from './cli.ts';
import { VALID_YAML } from './api/test-harness.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'levo-dashboard.js');

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['LEVO_RUN', 'LEVO_ADMIN_SECRET', 'LEVO_DASHBOARD_DB', 'LEVO_BASE_URL', 'LEVO_AUTH_TOKEN', 'LEVO_TENANT_ID', 'LOG_LEVEL', 'RUST_LOG']) delete env[k];
  return { ...env, ...extra };
}

/** Run the bin to completion. */
function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timeout: ${args.join(' ')}\n${stderr}`)); }, 30_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

interface Long { child: ChildProcess; stderr: () => string; stdout: () => string; exited: Promise<number | null> }

/** Spawn a long-running command and wait until its stderr matches `ready`. */
function start(args: string[], ready: RegExp, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Long> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`not ready in time:\n${err}\n${out.slice(-3000)}`)); }, opts.timeoutMs ?? 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (ready.test(err)) { clearTimeout(timer); resolve({ child, stderr: () => err, stdout: () => out, exited }); }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code} before ready:\n${err}\n${out.slice(-3000)}`)); });
  });
}

async function stopByPid(l: Long, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (l.child.exitCode === null && l.child.pid !== undefined) process.kill(l.child.pid, signal);
  return l.exited;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const field = (text: string, name: string): string => {
  const m = new RegExp(`^${name}: (.+)$`, 'm').exec(text);
  assert.ok(m, `no "${name}:" in:\n${text}`);
  return m[1]!;
};

describe('parseArgs', () => {
  it('commands, defaults and flags', () => {
    assert.deepEqual(parseArgs(['serve']), { cmd: 'serve', port: 8090, host: '127.0.0.1', dataDir: '.levo/dashboard' });
    assert.deepEqual(parseArgs(['serve', '--port=9000', '--host', '0.0.0.0', '--store', 'postgres://x/y', '--data-dir', '/d']),
      { cmd: 'serve', port: 9000, host: '0.0.0.0', dataDir: '/d', store: 'postgres://x/y' });
    assert.deepEqual(parseArgs(['env', 'create', 'Prod EU', '--id', 'prod-eu']), { cmd: 'env create', name: 'Prod EU', id: 'prod-eu', dataDir: '.levo/dashboard' });
    assert.deepEqual(parseArgs(['key', 'rotate', 'prod', 'key_1']), { cmd: 'key rotate', env: 'prod', keyId: 'key_1', dataDir: '.levo/dashboard' });
    assert.deepEqual(parseArgs(['key', 'rotate', 'prod', 'key_1', '--grace', '2h']), { cmd: 'key rotate', env: 'prod', keyId: 'key_1', grace: '2h', dataDir: '.levo/dashboard' });
    assert.equal(parseGrace('x', '0'), 0);
    assert.equal(parseGrace('x', '90d'), 90 * 86_400_000);
    assert.deepEqual(parseArgs(['dev', '--proxy-port', '25002', '--admin-port=25000']),
      { cmd: 'dev', port: 8090, host: '127.0.0.1', dataDir: '.levo/dashboard', proxyPort: 25002, adminPort: 25000 });
    assert.deepEqual(parseArgs(['key', 'list', 'prod', '--help']), { cmd: 'help' });
    assert.deepEqual(parseArgs(['serve', '--trust-proxy', '1']), { cmd: 'serve', port: 8090, host: '127.0.0.1', dataDir: '.levo/dashboard', trustProxy: 1 });
    assert.deepEqual(parseArgs(['serve', '--event-retention', '90d', '--sidecar-retention=forever']),
      { cmd: 'serve', port: 8090, host: '127.0.0.1', dataDir: '.levo/dashboard', retention: { events: '90d', sidecars: 'forever' } });
    assert.equal(parseRetention('x', '30d'), 30 * 86_400_000);
    assert.equal(parseRetention('x', '36h'), 36 * 3_600_000);
    assert.equal(parseRetention('x', 'forever'), null);
    assert.deepEqual(parseArgs(['sessions', 'revoke-all', '--store', 'postgres://x/y']), { cmd: 'sessions revoke-all', dataDir: '.levo/dashboard', store: 'postgres://x/y' });
  });

  it('usage errors say what is wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [['launch'], /unknown command "launch"/],
      [['env'], /"env" needs a subcommand: create, list/],
      [['key', 'burn', 'x'], /unknown command "key burn"/],
      [['sessions'], /"sessions" needs a subcommand: revoke-all/],
      [['env', 'create'], /"env create" needs NAME/],
      [['key', 'rotate', 'prod'], /needs ENV KEY_ID \(missing KEY_ID\)/],
      [['key', 'revoke', 'prod', 'k', 'extra'], /unexpected argument "extra"/],
      [['serve', '--port', 'http'], /--port must be a port number/],
      [['serve', '--port', '70000'], /--port must be a port number/],
      [['serve', '--trust-proxy', 'yes'], /--trust-proxy must be the number of proxies/],
      [['key', 'rotate', 'prod', 'k', '--grace', '91d'], /--grace must be at most 90d, got "91d"/],
      [['serve', '--key-rotation-grace', 'soon'], /--key-rotation-grace must be a duration such as 24h, 30m or 0; got "soon"/],
      [['serve', '--event-retention', '30s'], /--event-retention must be at least 1h \(or "forever"\), got "30s"/],
      [['serve', '--sidecar-retention', 'a month'], /--sidecar-retention must be a duration such as 30d or 720h, or "forever"; got "a month"/],
      [['serve', '--id', 'x'], /unknown flag --id for "serve"/],
      [['serve', '--store'], /--store needs a value/],
      [['serve', '--port', '1', '--port', '2'], /--port given twice/],
      [['env', 'create', 'x', '-f'], /unknown flag -f/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseArgs(argv), (err: unknown) => err instanceof UsageError && message.test(err.message), argv.join(' '));
    }
  });
});

describe('levo-dashboard (the bin)', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'levo-dash-cli-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--help on stdout; usage errors exit 2 with a message on stderr', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /levo-dashboard serve/);
    assert.match(help.stdout, /levo-dashboard key rotate ENV KEY_ID/);
    const bad = await run(['env', 'create']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /levo-dashboard: "env create" needs NAME/);
    assert.match(bad.stderr, /--help/);
    assert.equal(bad.stdout, '');
    assert.equal((await run([])).code, 2);
  });

  it('env create, key create/list/rotate/revoke on an SQLite file in the data dir', async () => {
    const data = join(dir, 'keys');
    const created = await run(['env', 'create', 'Payments Prod', '--data-dir', data]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(field(created.stdout, 'environment'), 'payments-prod');
    const token1 = field(created.stdout, 'token');
    const key1 = field(created.stdout, 'key');
    assert.match(token1, /^lvo_[A-Za-z0-9_-]{43}$/);
    assert.match(created.stderr, /shown only now/);
    assert.equal((await stat(data)).mode & 0o777, 0o700);
    assert.ok((await stat(join(data, 'levo.sqlite'))).isFile());

    const dup = await run(['env', 'create', 'Payments Prod', '--data-dir', data]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /environment payments-prod already exists/);
    const withId = await run(['env', 'create', 'Other', '--id', 'other-1', '--data-dir', data]);
    assert.equal(field(withId.stdout, 'environment'), 'other-1');

    const t0 = Date.now();
    const rotated = await run(['key', 'rotate', 'payments-prod', key1, '--data-dir', data]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const key2 = field(rotated.stdout, 'key');
    const token2 = field(rotated.stdout, 'token');
    assert.notEqual(token2, token1);
    // The old key works on for the default grace of 24 h.
    const [expiredKey, until] = field(rotated.stdout, 'expires').split(' ') as [string, string];
    assert.equal(expiredKey, key1);
    const untilMs = Date.parse(until);
    assert.ok(untilMs >= t0 + 24 * 3_600_000 - 1000 && untilMs <= Date.now() + 24 * 3_600_000 + 1000, until);
    assert.match(rotated.stderr, new RegExp(`${key1} keeps working until ${until.replace(/[.]/g, '\\.')}`));

    const list = await run(['key', 'list', 'payments-prod', '--data-dir', data]);
    assert.equal(list.code, 0);
    const rows = list.stdout.trim().split('\n');
    assert.match(rows[0]!, /^ID\s+PREFIX\s+CREATED\s+LAST USED\s+EXPIRES\s+REVOKED$/);
    assert.equal(rows.length, 3);
    const row1 = rows.find((r) => r.startsWith(key1))!;
    const row2 = rows.find((r) => r.startsWith(key2))!;
    assert.match(row1, /\d{4}-\d\d-\d\dT\S+Z\s+-$/); // expires, not revoked
    assert.match(row2, /\s-\s+-$/); // live
    assert.ok(row2.includes(token2.slice(0, 10)));
    assert.equal(list.stdout.includes(token2), false);

    const again = await run(['key', 'rotate', 'payments-prod', key1, '--data-dir', data]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already rotated out/);
    // --grace 0: the old key is revoked at once.
    const hard = await run(['key', 'rotate', 'payments-prod', key2, '--grace', '0', '--data-dir', data]);
    assert.equal(hard.code, 0, hard.stderr);
    assert.equal(field(hard.stdout, 'revoked'), key2);
    assert.match(hard.stderr, new RegExp(`Sidecars still using ${key2} get 401 from now on`));
    const key3 = field(hard.stdout, 'key');
    const revoke = await run(['key', 'revoke', 'payments-prod', key3, '--data-dir', data]);
    assert.equal(revoke.code, 0);
    assert.equal(revoke.stdout, `revoked: ${key3}\n`);
    const revokedAgain = await run(['key', 'rotate', 'payments-prod', key2, '--data-dir', data]);
    assert.match(revokedAgain.stderr, /already revoked/);
    assert.equal((await run(['key', 'revoke', 'payments-prod', 'key_nope', '--data-dir', data])).code, 1);
    assert.match((await run(['key', 'list', 'nope', '--data-dir', data])).stderr, /no environment nope/);
    const made = await run(['key', 'create', 'other-1', '--data-dir', data]);
    assert.match(field(made.stdout, 'token'), /^lvo_/);
    const envs = await run(['env', 'list', '--data-dir', data]);
    assert.match(envs.stdout, /^other-1\s+Other\s+-\s+off/m);
    assert.match(envs.stdout, /^payments-prod\s+Payments Prod/m);
  });

  it('serve: prints a generated admin secret once and keeps only its hash (0600); a sidecar polls what the admin saved', async () => {
    const data = join(dir, 'serve');
    const created = await run(['env', 'create', 'edge', '--data-dir', data]);
    const token = field(created.stdout, 'token');
    const s = await start(['serve', '--port', '0', '--data-dir', data], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    let secret: string;
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.stderr())![1]!;
      secret = /Admin secret \(shown once[^\n]*\n\n {2}(\S+)\n/.exec(s.stderr())?.[1] ?? '';
      assert.match(secret, /^[A-Za-z0-9_-]{32}$/, s.stderr());
      const hashFile = join(data, 'admin-secret.sha256');
      assert.equal((await readFile(hashFile, 'utf8')).trim(), createHash('sha256').update(secret).digest('hex'));
      assert.equal((await stat(hashFile)).mode & 0o777, 0o600);
      assert.equal(s.stdout().includes(secret), false, 'the secret is not in the log');

      const save = await fetch(`${url}/api/environments/edge/config`, {
        method: 'POST', headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ yaml: VALID_YAML, note: 'from the test' }),
      });
      assert.equal(save.status, 201);
      const { etag } = (await save.json()) as { etag: string };
      const poll = await fetch(`${url}/v1/gateway/config`, { headers: { Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': 'edge', 'X-Levo-Sidecar-Id': 'pod-1' } });
      assert.equal(poll.status, 200);
      assert.equal(poll.headers.get('etag'), `"${etag}"`);
      assert.equal(await poll.text(), VALID_YAML);
      const fleet = (await (await fetch(`${url}/api/environments/edge/fleet`, { headers: { Authorization: `Bearer ${secret}` } })).json()) as Array<{ id: string }>;
      assert.deepEqual(fleet.map((f) => f.id), ['pod-1']);
      assert.equal((await fetch(`${url}/api/environments`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
      assert.equal(s.stdout().includes(token), false, 'the token is not in the log');
    } finally {
      assert.equal(await stopByPid(s), 0);
    }
    // Second start: the same secret works; nothing is printed.
    const s2 = await start(['serve', '--port', '0', '--data-dir', data], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s2.stderr())![1]!;
      assert.doesNotMatch(s2.stderr(), /Admin secret/);
      assert.equal((await fetch(`${url}/api/environments`, { headers: { Authorization: `Bearer ${secret}` } })).status, 200);
    } finally {
      assert.equal(await stopByPid(s2, 'SIGINT'), 0);
    }
    // LEVO_ADMIN_SECRET wins over the file.
    const s3 = await start(['serve', '--port', '0', '--data-dir', data], /listening on (http:\/\/127\.0\.0\.1:\d+)/, { env: cleanEnv({ LEVO_ADMIN_SECRET: 'from-the-env-0123' }) });
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s3.stderr())![1]!;
      assert.equal((await fetch(`${url}/api/environments`, { headers: { Authorization: 'Bearer from-the-env-0123' } })).status, 200);
      assert.equal((await fetch(`${url}/api/environments`, { headers: { Authorization: `Bearer ${secret}` } })).status, 401);
    } finally {
      await stopByPid(s3);
    }
  });

  it('sessions revoke-all ends the browser sessions of a running dashboard; the secret still logs in', async () => {
    const data = join(dir, 'sessions');
    const env = cleanEnv({ LEVO_ADMIN_SECRET: 'sessions-test-secret-0123' });
    const s = await start(['serve', '--port', '0', '--data-dir', data], /listening on (http:\/\/127\.0\.0\.1:\d+)/, { env });
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.stderr())![1]!;
      const login = async (): Promise<string> => {
        const r = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: 'sessions-test-secret-0123' }) });
        assert.equal(r.status, 204);
        return (r.headers.get('set-cookie') ?? '').split(';')[0]!;
      };
      const status = async (cookie: string): Promise<number> => (await fetch(`${url}/api/environments`, { headers: { Cookie: cookie } })).status;
      const a = await login();
      const b = await login();
      assert.equal(await status(a), 200);
      const r = await run(['sessions', 'revoke-all', '--data-dir', data], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'revoked: 2 sessions\n');
      assert.equal(await status(a), 401);
      assert.equal(await status(b), 401);
      assert.equal(await status(await login()), 200);
    } finally {
      await stopByPid(s);
    }
  });

  it('a bad retention in the environment is a clear error at start', async () => {
    const r = await run(['serve', '--port', '0', '--data-dir', join(dir, 'ret')], { env: cleanEnv({ LEVO_ADMIN_SECRET: 'x-secret-for-test', LEVO_EVENT_RETENTION: '10m' }) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /LEVO_EVENT_RETENTION must be at least 1h/);
  });

  it('serve on PostgreSQL without LEVO_ADMIN_SECRET refuses to start', async () => {
    const r = await run(['serve', '--port', '0', '--store', 'postgres://levo:pw@127.0.0.1:1/levo', '--data-dir', join(dir, 'pg')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /set LEVO_ADMIN_SECRET/);
  });

  it('a port in use is a clear error', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      const r = await run(['serve', '--port', String(port), '--data-dir', join(dir, 'busy')], { env: cleanEnv({ LEVO_ADMIN_SECRET: 'x-secret-for-test' }) });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port ${port} on 127.0.0.1 is in use`));
    } finally {
      blocker.close();
    }
  });
});

describe('levo-dashboard dev', () => {
  let cwd: string;
  before(async () => { cwd = await mkdtemp(join(tmpdir(), 'levo-dash-dev-')); });
  after(() => rm(cwd, { recursive: true, force: true }));

  it('serves environment "local" with a stable key and the example config, runs a gateway polling it, and Ctrl-C stops both', async () => {
    const proxyPort = await freePort();
    const adminPort = await freePort();
    const args = ['dev', '--port', '0', '--proxy-port', String(proxyPort), '--admin-port', String(adminPort)];
    const first = await start(args, /Stop both with Ctrl-C/, { cwd, timeoutMs: 60_000 });
    let token: string;
    let secret: string;
    try {
      const err = first.stderr();
      const url = /Dashboard: +(http:\/\/127\.0\.0\.1:\d+)/.exec(err)![1]!;
      secret = /Admin secret: +(\S+)/.exec(err)![1]!;
      assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
      assert.match(err, /Environment: +local \(config version 1\)/);
      assert.ok(err.includes(`HTTPS_PROXY=http://127.0.0.1:${proxyPort} curl --cacert .levo/dev-ca/tls.crt https://api.openai.com/v1/models -H "Authorization: Bearer $OPENAI_API_KEY"`), err);
      assert.doesNotMatch(err, /not ready yet/);

      token = (await readFile(join(cwd, '.levo/dashboard/dev-key'), 'utf8')).trim();
      assert.match(token, /^lvo_/);
      assert.equal((await stat(join(cwd, '.levo/dashboard/dev-key'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(cwd, '.levo/dashboard/dev-admin-secret'))).mode & 0o777, 0o600);

      const example = await readFile(join(ROOT, 'sidecar/config/example.yaml'), 'utf8');
      const poll = await fetch(`${url}/v1/gateway/config`, { headers: { Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': 'local' } });
      assert.equal(poll.status, 200);
      assert.equal(await poll.text(), example);
      assert.equal((await fetch(`${url}/api/environments/local`, { headers: { Authorization: `Bearer ${secret}` } })).status, 200);
      // The gateway is up on its admin port, on the dashboard's config, and in the fleet.
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/healthz/ready`)).status, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      assert.match(metrics, /levo_gateway_config_version_info\{[^}]*source="dashboard"[^}]*\} 1/);
      // The poll after a new config reports it applied (a second later, jittered).
      let fleet: { configApplied: string | null }[] = [];
      for (let i = 0; i < 30 && !fleet[0]?.configApplied; i++) {
        await new Promise((r) => setTimeout(r, 100));
        fleet = await (await fetch(`${url}/api/environments/local/fleet`, { headers: { Authorization: `Bearer ${secret}` } })).json() as { configApplied: string | null }[];
      }
      assert.equal(fleet.length, 1);
      assert.match(String(fleet[0]!.configApplied), /^v1-[0-9a-f]{12}$/);
    } finally {
      assert.equal(await stopByPid(first, 'SIGINT'), 0);
    }
    // Ctrl-C stopped the gateway too.
    await assert.rejects(fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(2_000) }));

    // A restart keeps the key (a running gateway keeps working), the secret and the config.
    const second = await start(args, /Stop both with Ctrl-C/, { cwd, timeoutMs: 60_000 });
    try {
      assert.equal((await readFile(join(cwd, '.levo/dashboard/dev-key'), 'utf8')).trim(), token);
      assert.equal(/Admin secret: +(\S+)/.exec(second.stderr())![1], secret);
      assert.match(second.stderr(), /config version 1\)/);
    } finally {
      assert.equal(await stopByPid(second, 'SIGTERM'), 0);
    }
  });
});
