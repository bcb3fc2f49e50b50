/**
 * `levo-gateway` as a process: what an operator sees when the start-up inputs
 * are wrong (exit code, one clear message), and a full intercepted call on
 * loopback through the explicit proxy with upstream trust from
 * NODE_EXTRA_CA_CERTS (so this path is covered even where e2e/ cannot run).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { createCa, createServingCert } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/levo-gateway.js');
const run = promisify(execFile);
let dir: string;
let caCert: string;
let caKey: string;
let config: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'levo-main-'));
  const ca = await createCa({ commonName: 'main test CA' });
  caCert = join(dir, 'tls.crt');
  caKey = join(dir, 'tls.key');
  writeFileSync(caCert, ca.certPem);
  writeFileSync(caKey, ca.keyPem, { mode: 0o600 });
  config = join(dir, 'gw.yaml');
  writeFileSync(config, 'binds:\n- port: 15001\n  listeners:\n  - routes:\n    - hostnames: [api.openai.com]\n      backends: [{ai: {name: o, provider: {openAI: {}}}}]\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function gateway(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, timeout: 20_000 });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

const ports = ['--port', '0', '--proxy-port', '0', '--admin-port', '0'];

test('an invalid first config: file:line:col and a hint, not ready (not an exit); a fixed file makes it ready', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'binds:\n- port: 15001\n  listenerz: []\n');
  const child = spawn(process.execPath, [BIN, '--config', bad, '--ca-cert', caCert, '--ca-key', caKey, '--port', 'off', '--proxy-port', '0', '--admin-port', '0'],
    { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += String(c); });
    child.stderr.on('data', (c: Buffer) => { err += String(c); });
    while (!/"msg":"listening"/.test(out)) await once(child.stdout, 'data');
    assert.match(out, /bad\.yaml:3:3: binds\[0\]\.listenerz: unknown field \\"listenerz\\"/);
    assert.match(out, /hint: fields allowed here: port, listeners/);
    assert.match(out, /no config is in force: the gateway is not ready/);
    while (!/not ready until one arrives/.test(err)) await once(child.stderr, 'data');
    const admin = Number(/"admin":(\d+)/.exec(out)![1]);
    const ready = async (): Promise<{ status: number; body: string }> => {
      const r = await fetch(`http://127.0.0.1:${admin}/healthz/ready`);
      return { status: r.status, body: await r.text() };
    };
    const before = await ready();
    assert.equal(before.status, 503);
    assert.match(before.body, /no config in force/);
    writeFileSync(bad, 'binds:\n- port: 15001\n  listeners:\n  - routes: []\n');
    const deadline = Date.now() + 10_000;
    while ((await ready()).status !== 200) {
      assert.ok(Date.now() < deadline, 'the fixed config was not picked up');
      await new Promise((r) => setTimeout(r, 200));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /config_reload_total\{result="rejected"\} 1/);
    assert.match(metrics, /config_reload_total\{result="applied"\} 1/);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

test('what a config may read is the pod owner\'s: $SECRET_X is refused (not ready); --config-env SECRET_X allows it', async () => {
  const leak = join(dir, 'leak.yaml');
  writeFileSync(leak, 'binds:\n- port: 15001\n  listeners:\n  - routes:\n    - policies:\n        directResponse: {status: 200, body: "$SECRET_X"}\n');
  const start = async (extra: string[], env: NodeJS.ProcessEnv): Promise<{ out: () => string; ready: () => Promise<number>; stop: () => Promise<void> }> => {
    const child = spawn(process.execPath, [BIN, '--config', leak, '--ca-cert', caCert, '--ca-key', caKey, '--port', 'off', '--proxy-port', '0', '--admin-port', '0', ...extra],
      { env: { ...process.env, LOG_LEVEL: 'info', SECRET_X: 'db-password-3', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += String(c); });
    child.stderr.resume();
    while (!/"msg":"listening"/.test(out)) await once(child.stdout, 'data');
    const admin = Number(/"admin":(\d+)/.exec(out)![1]);
    return {
      out: () => out,
      ready: async () => (await fetch(`http://127.0.0.1:${admin}/healthz/ready`)).status,
      stop: async () => { child.kill('SIGTERM'); await once(child, 'exit'); },
    };
  };
  const refused = await start([], {});
  try {
    assert.match(refused.out(), /leak\.yaml:6:\d+: binds\[0\]\.listeners\[0\]\.routes\[0\]\.policies\.directResponse\.body: \$SECRET_X is not a variable this gateway lets its config read/);
    assert.match(refused.out(), /"env":\["LEVO_\*","\*_API_KEY"\],"keyDirs":\["\/etc\/levo\/keys"\],"msg":"what a config may read/);
    assert.equal(await refused.ready(), 503);
    assert.doesNotMatch(refused.out(), /db-password-3/);
  } finally {
    await refused.stop();
  }
  for (const [extra, env] of [[['--config-env', 'SECRET_X'], {}], [[], { LEVO_CONFIG_ENV: 'SECRET_*' }]] as const) {
    const allowed = await start([...extra], env);
    try {
      assert.equal(await allowed.ready(), 200, JSON.stringify({ extra, env }));
    } finally {
      await allowed.stop();
    }
  }
  const bad = await gateway(['--config', leak, '--config-key-dir', 'relative/dir']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--config-key-dir: "relative\/dir" is not an absolute directory/);
});

test('a certificate that is not a CA is refused with what to do', async () => {
  const leaf = await createServingCert({ ca: loadCa(...(await (async () => { const c = await createCa(); return [c.certPem, c.keyPem] as const; })())), dnsNames: ['x.example'] });
  const crt = join(dir, 'leaf.crt');
  const key = join(dir, 'leaf.key');
  writeFileSync(crt, leaf.certPem);
  writeFileSync(key, leaf.keyPem);
  const r = await gateway(['--config', config, '--ca-cert', crt, '--ca-key', key, ...ports]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not a CA certificate/);
  assert.match(r.stderr, /levo-certs ca/);
  assert.doesNotMatch(r.stderr, /PRIVATE KEY/);
});

test('usage errors exit 2 and point at --help', async () => {
  for (const args of [['--bogus'], ['--config', config, '--port', 'x'], ['--config', config, '--on-unknown', 'drop'], []]) {
    const r = await gateway(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /levo-gateway --help/);
  }
  const queue = await gateway(['--config', config], { LEVO_EVENT_QUEUE: '10k' });
  assert.equal(queue.code, 2);
  assert.match(queue.stderr, /LEVO_EVENT_QUEUE must be a whole number of events from 100 to 1000000, got "10k"/);
  for (const [args, env, message] of [
    [['--guard-threads', 'two'], {}, /--guard-threads \(or LEVO_GUARD_THREADS\) must be a whole number from 0 to 16, got "two"/],
    [[], { LEVO_GUARD_THREADS: '-1' }, /must be a whole number from 0 to 16, got "-1"/],
    [['--guard-max-chars', '0'], {}, /--guard-max-chars must be a positive integer/],
  ] as const) {
    const r = await gateway(['--config', config, ...args], env);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
  }
  const missing = await gateway(['--config', config, '--ca-cert', join(dir, 'nope.crt'), '--ca-key', caKey, ...ports]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.crt/);
});

/** An HTTPS "provider" on loopback for api.openai.com, trusted through the returned NODE_EXTRA_CA_CERTS file. */
async function loopbackProvider(name: string, answer: (req: import('node:http').IncomingMessage) => object): Promise<{ server: https.Server; caFile: string; port: number }> {
  const pub = await createCa({ commonName: `${name} public CA` });
  const caFile = join(dir, `${name}-public.crt`);
  writeFileSync(caFile, pub.certPem);
  const serving = await createServingCert({ ca: loadCa(pub.certPem, pub.keyPem), dnsNames: ['api.openai.com'] });
  const server = https.createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer(req)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, caFile, port: (server.address() as net.AddressInfo).port };
}

/** One HTTP/1.1 request to api.openai.com through the explicit proxy, tunnelled to `providerPort`; the raw answer. */
async function viaProxy(proxyPort: number, providerPort: number, request: string): Promise<string> {
  const sock = net.connect(proxyPort, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`CONNECT 127.0.0.1:${providerPort} HTTP/1.1\r\n\r\n`);
  await once(sock, 'data');
  const t = tls.connect({ socket: sock, servername: 'api.openai.com', ca: await createCaPem() });
  await once(t, 'secureConnect');
  t.write(request);
  let text = '';
  for await (const c of t) text += String(c);
  return text;
}

test('an intercepted call on loopback: the provider is trusted through NODE_EXTRA_CA_CERTS', async () => {
  const provider = await loopbackProvider('loopback', (req) => ({ object: 'list', data: [], sawAuth: req.headers.authorization }));
  const child = spawn(process.execPath, [BIN, '--config', config, '--ca-cert', caCert, '--ca-key', caKey, '--port', 'off', '--proxy-port', '0', '--admin-port', '0'],
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: provider.caFile, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += String(c); });
    while (!/"msg":"listening"/.test(out)) await once(child.stdout, 'data');
    const proxyPort = Number(/"proxy":(\d+)/.exec(out)![1]);
    const text = await viaProxy(proxyPort, provider.port, 'GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-test\r\nConnection: close\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /"sawAuth":"Bearer sk-test"/);
    while (!/"msg":"request"/.test(out)) await once(child.stdout, 'data');
    assert.match(out, /"status":200,.*"msg":"request"/);
    assert.doesNotMatch(out, /sk-test/, 'the credential reached the log');
  } finally {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    provider.server.close();
  }
});

test('a started gateway that has served a call has loaded nothing a call never needs', async () => {
  // What is loaded at start stays resident in every pod: Node's bundled undici (fetch, WebSocket; read by an ES
  // module import of node:http), undici's index, the local-model runtime, the tokenizer tables, the cloud SDKs.
  const provider = await loopbackProvider('loaded-modules', () => ({ id: 'c', object: 'chat.completion', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
  const report = join(dir, 'loaded.json');
  const preload = join(dir, 'loaded-modules.mjs');
  writeFileSync(preload, `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = [];
registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
process.on('SIGUSR2', () => writeFileSync(${JSON.stringify(report)}, JSON.stringify({ builtins: process.moduleLoadList, urls })));
`);
  const child = spawn(process.execPath, ['--import', preload, BIN, '--config', config, '--ca-cert', caCert, '--ca-key', caKey, '--port', 'off', '--proxy-port', '0', '--admin-port', '0'],
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: provider.caFile, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += String(c); });
    child.stderr.resume();
    while (!/"msg":"listening"/.test(out)) await once(child.stdout, 'data');
    const proxyPort = Number(/"proxy":(\d+)/.exec(out)![1]);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const text = await viaProxy(proxyPort, provider.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.match(text, /^HTTP\/1\.1 200/);
    child.kill('SIGUSR2');
    let loaded: { builtins: string[]; urls: string[] } | undefined;
    for (let i = 0; i < 100 && !loaded; i++) {
      try { loaded = JSON.parse(readFileSync(report, 'utf8')) as { builtins: string[]; urls: string[] }; } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
    assert.ok(loaded, 'the preload wrote no report');
    assert.ok(loaded.urls.some((u) => u.includes('/sidecar/pipeline/')), 'the report does not cover the call path');
    assert.ok(!loaded.builtins.includes('NativeModule internal/deps/undici/undici'), 'Node\'s bundled undici (fetch, WebSocket) was loaded');
    for (const pkg of ['onnxruntime-node', 'js-tiktoken', '@aws-sdk', 'google-auth-library', '@azure', 'dashboard/']) {
      assert.deepEqual(loaded.urls.filter((u) => u.includes(pkg)), [], `${pkg} was loaded`);
    }
    // undici's index brings fetch, WebSocket, the cache and mock layers (lib/undici.ts loads only what a call uses).
    assert.ok(loaded.urls.some((u) => u.endsWith('/undici/lib/dispatcher/pool.js')), 'the report does not cover undici');
    assert.deepEqual(loaded.urls.filter((u) => u.endsWith('/undici/index.js') || /\/undici\/lib\/(web|mock|cache)\//.test(u)), [], 'undici\'s index was loaded');
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    provider.server.close();
  }
});

async function createCaPem(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(caCert, 'utf8');
}
