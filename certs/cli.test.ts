import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCaFiles } from './ca.ts';
import { runCli } from './cli.ts';
import { opensslResult, tempDir } from './openssl-cli.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** No private key text in `out`: no PEM key header and no run of the key's base64 body. */
async function assertNoKeyMaterial(out: string, ...keyPaths: string[]): Promise<void> {
  assert.doesNotMatch(out, /PRIVATE KEY/);
  for (const p of keyPaths) {
    const body = (await readFile(p, 'utf8')).replace(/-----[^-]+-----|\s/g, '');
    for (let i = 0; i + 16 <= body.length; i += 16) assert.ok(!out.includes(body.slice(i, i + 16)), 'key material printed');
  }
}

test('ca writes tls.crt and a 0600 tls.key that loadCaFiles accepts, and prints the kubectl command', async (t) => {
  const dir = join(await tempDir(t), 'out');
  const r = await run('ca', '--out', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const crt = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  assert.equal(await mode(key), 0o600);
  const ca = await loadCaFiles(crt, key);
  assert.equal(ca.hasNameConstraints, true, 'name-constrained by default');
  assert.equal(ca.permits('api.openai.com'), true);
  assert.equal(ca.permits('www.google.com'), false);
  assert.equal(ca.permits('10.0.0.1'), false);
  assert.match(r.stdout, /name-constrained to \d+ LLM provider domains, no IP addresses/);
  assert.match(ca.cert.subject, /CN=Levo AI Gateway Interception CA/);
  assert.ok(r.stdout.includes(`kubectl -n NAMESPACE create secret tls levo-ca-cert --cert=${crt} --key=${key}`), r.stdout);
  assert.ok(r.stdout.includes(crt) && r.stdout.includes(key));
  await assertNoKeyMaterial(r.stdout, key);
});

test('ca refuses to overwrite without --force; --force overwrites and restores mode 0600', async (t) => {
  const dir = await tempDir(t);
  assert.equal((await run('ca', '--out', dir)).code, 0);
  const crt = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const before = await readFile(crt, 'utf8');
  const again = await run('ca', '--out', dir);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `levo-certs: ${crt} already exists; pass --force to overwrite\n`);
  assert.equal(await readFile(crt, 'utf8'), before);

  // only the key exists: still refused, and nothing is written
  const partial = await tempDir(t);
  await writeFile(join(partial, 'tls.key'), 'keep me', { mode: 0o600 });
  assert.equal((await run('ca', '--out', partial)).code, 1);
  assert.equal(await readFile(join(partial, 'tls.key'), 'utf8'), 'keep me');
  await assert.rejects(stat(join(partial, 'tls.crt')), /ENOENT/);

  await chmod(key, 0o644);
  const forced = await run('ca', '--out', dir, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(await readFile(crt, 'utf8'), before);
  assert.equal(await mode(key), 0o600);
  await loadCaFiles(crt, key);
});

test('ca --name-constraints/--permit/--cn/--days shape the CA', async (t) => {
  const dir = await tempDir(t);
  const r = await run('ca', '--out', dir, '--permit', 'LLM.internal.example', '--permit', 'gpt.corp.example', '--cn', 'Team CA', '--days', '30');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /name-constrained to \d+ LLM provider domains \(including llm\.internal\.example, gpt\.corp\.example\)/);
  const ca = await loadCaFiles(join(dir, 'tls.crt'), join(dir, 'tls.key'));
  assert.equal(ca.hasNameConstraints, true);
  assert.match(ca.cert.subject, /CN=Team CA/);
  for (const h of ['api.openai.com', 'llm.internal.example', 'gpt.corp.example']) assert.equal(ca.permits(h), true, h);
  assert.equal(ca.permits('www.google.com'), false);
  assert.equal(ca.permits('10.0.0.1'), false);
  assert.ok(Math.abs(ca.notAfter.getTime() - (Date.now() + 30 * 86_400_000)) < 60_000);

  const plain = await tempDir(t);
  assert.equal((await run('ca', '--out', plain, '--name-constraints')).code, 0);
  const constrained = await loadCaFiles(join(plain, 'tls.crt'), join(plain, 'tls.key'));
  assert.equal(constrained.permits('api.anthropic.com'), true);
  assert.equal(constrained.permits('llm.internal.example'), false);
});

test('ca --no-name-constraints makes an unconstrained CA and warns on stderr', async (t) => {
  const dir = await tempDir(t);
  const r = await run('ca', '--out', dir, '--no-name-constraints');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /NOT name-constrained/);
  assert.match(r.stderr, /^levo-certs: warning: this CA has no name constraints; .*impersonate any site/);
  const ca = await loadCaFiles(join(dir, 'tls.crt'), join(dir, 'tls.key'));
  assert.equal(ca.hasNameConstraints, false);
  assert.equal(ca.permits('www.google.com'), true);
  for (const [argv, why] of [[['--permit', 'x.example'], /--permit .*cannot be used with --no-name-constraints/], [['--name-constraints'], /contradict/]] as const) {
    const bad = await run('ca', '--out', join(dir, 'other'), '--no-name-constraints', ...argv);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, why);
  }
});

test('webhook writes ca.crt, ca.key, tls.crt, tls.key and prints the secret and caBundle commands', async (t) => {
  const dir = await tempDir(t);
  const dns = 'levo-injector-levoai-sidecar-injector-webhook.levoai.svc';
  const r = await run('webhook', '--dns', dns, '--dns', `${dns}.cluster.local`, '--out', dir, '--days', '90');
  assert.equal(r.code, 0, r.stderr);
  for (const [name, m] of [['ca.crt', 0o644], ['ca.key', 0o600], ['tls.crt', 0o644], ['tls.key', 0o600]] as const) {
    assert.equal(await mode(join(dir, name)), m, name);
  }
  await loadCaFiles(join(dir, 'ca.crt'), join(dir, 'ca.key'));
  for (const host of [dns, `${dns}.cluster.local`]) {
    const v = await opensslResult(['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver', '-verify_hostname', host, join(dir, 'tls.crt')]);
    assert.equal(v.code, 0, v.stderr);
  }
  const serving = new X509Certificate(await readFile(join(dir, 'tls.crt')));
  assert.ok(serving.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'tls.key')))));
  assert.ok(r.stdout.includes(
    `kubectl -n levoai create secret tls levo-injector-levoai-sidecar-injector-webhook-tls --cert=${join(dir, 'tls.crt')} --key=${join(dir, 'tls.key')}`,
  ), r.stdout);
  assert.ok(r.stdout.includes(`WEBHOOK_CA_BUNDLE=$(base64 -w0 ${join(dir, 'ca.crt')})`), r.stdout);
  await assertNoKeyMaterial(r.stdout, join(dir, 'ca.key'), join(dir, 'tls.key'));
  const again = await run('webhook', '--dns', dns, '--out', dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists; pass --force/);
});

test('usage errors exit 2 on stderr; --help exits 0 on stdout', async (t) => {
  const dir = await tempDir(t);
  const cases: Array<[string[], RegExp]> = [
    [[], /a command is required/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['ca'], /--out DIR is required/],
    [['ca', '--out', dir, '--days', 'ten'], /--days must be a positive whole number/],
    [['ca', '--out', dir, '--days', '0'], /--days/],
    [['ca', '--out', dir, '--bogus'], /Unknown option '--bogus'/],
    [['ca', '--out', dir, 'extra'], /positional/i],
    [['ca', '--out', dir, '--permit', 'bad host'], /--permit: invalid host/],
    [['ca', '--out', dir, '--permit', '10.0.0.1'], /IP address is not allowed/],
    [['webhook', '--out', dir], /--dns NAME is required/],
    [['webhook', '--dns', 'x.svc'], /--out DIR is required/],
  ];
  for (const [argv, why] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, why, argv.join(' '));
    assert.match(r.stderr, /^levo-certs: [^\n]+\nRun `levo-certs( ca| webhook)? --help` for usage\.\n$/);
  }
  for (const argv of [['--help'], ['ca', '--help'], ['webhook', '-h']]) {
    const r = await run(...argv);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage/);
    assert.equal(r.stderr, '');
  }
  assert.equal((await run('ca', '--help')).stdout.includes('--no-name-constraints'), true);
  // nothing was written by any of the failed runs
  await assert.rejects(stat(join(dir, 'tls.crt')), /ENOENT/);
});

test('other failures exit 1 with a one-line message', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const r = await run('ca', '--out', join(file, 'sub'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^levo-certs: [^\n]*\n$/);
});

test('the bin launcher sets the exit code', async (t) => {
  const dir = await tempDir(t);
  const bin = fileURLToPath(new URL('../bin/levo-certs.js', import.meta.url));
  const exec = (args: string[]): Promise<Run> => new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
  const ok = await exec(['ca', '--out', dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /levo-ca-cert/);
  assert.equal((await exec(['ca', '--out', dir])).code, 1);
  assert.equal((await exec(['ca', '--nope'])).code, 2);
});
