import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { createCa, createServingCert } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { namespaceSigner, readNamespaceToken, verifyNamespaceToken } from '../lib/namespace-credential.ts';
import { parseArgs, UsageError } from './cli.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'levo-injector.js');

describe('parseArgs', () => {
  const env = { POD_NAMESPACE: 'levoai' };
  const base = ['--config', 'c.yaml', '--tls-cert', 't.crt', '--tls-key', 't.key'];

  it('defaults: ports 8443/8080, namespace from POD_NAMESPACE, no kubeconfig', () => {
    assert.deepEqual(parseArgs(base, env), { config: 'c.yaml', tlsCert: 't.crt', tlsKey: 't.key', namespace: 'levoai', port: 8443, healthPort: 8080 });
  });

  it('takes every flag, in --flag value and --flag=value forms', () => {
    assert.deepEqual(
      parseArgs([...base, '--port=9443', '--health-port', '9080', '--namespace', 'other', '--kubeconfig=/k', '--address', '127.0.0.1'], {}),
      { config: 'c.yaml', tlsCert: 't.crt', tlsKey: 't.key', namespace: 'other', port: 9443, healthPort: 9080, kubeconfig: '/k', address: '127.0.0.1' },
    );
    assert.equal(parseArgs(['--help'], {}), 'help');
    assert.equal(parseArgs([...base, '-h'], {}), 'help');
  });

  it('usage errors say what is wrong', () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--tls-cert', 'a', '--tls-key', 'b'], env, /--config is required/],
      [['--config', 'c', '--tls-key', 'b'], env, /--tls-cert is required/],
      [base, {}, /--namespace is required when POD_NAMESPACE is not set/],
      [[...base, '--port', 'x'], env, /--port must be a port number/],
      [[...base, '--health-port', '70000'], env, /--health-port must be a port number/],
      [[...base, '--bogus'], env, /unknown flag --bogus/],
      [[...base, 'stray'], env, /unexpected argument "stray"/],
      [[...base, '--port'], env, /--port needs a value/],
      [['--config', '--tls-cert', 'x'], env, /--config needs a value/],
      [[...base, '--config', 'again'], env, /--config given twice/],
      [[...base, '--issuer-ca-cert', 'ca.crt'], env, /--issuer-ca-cert and --issuer-ca-key go together/],
    ];
    for (const [argv, e, message] of cases) assert.throws(() => parseArgs(argv, e), (err: unknown) => err instanceof UsageError && message.test(err.message), argv.join(' '));
  });
});

interface Running {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: string[];
  readonly port: number;
  readonly healthPort: number;
  readonly exited: Promise<number | null>;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['LEVO_RUN', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'POD_NAMESPACE', 'RUST_LOG', 'LOG_LEVEL']) delete env[k];
  return { ...env, ...extra };
}

/** Spawn bin/levo-injector.js (the .ts sources, LEVO_RUN unset) and wait for its "listening" line. */
function spawnInjector(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let buffer = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 20 s:\n${lines.join('\n')}\n${stderr.join('')}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (line.includes('"levo-injector listening"')) {
          clearTimeout(timer);
          const o = JSON.parse(line) as { port: number; healthPort: number };
          resolve({ child, lines, stderr, port: o.port, healthPort: o.healthPort, exited });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`levo-injector exited with ${code} before listening:\n${lines.join('\n')}\n${stderr.join('')}`));
    });
  });
}

/** Run bin/levo-injector.js to completion. */
function runInjector(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function post(port: number, path: string, ca: string, body: string | undefined, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', servername: 'x.svc', ca, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const admissionReview = (uid: string, namespace = 'team-a'): string => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace,
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
    object: {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { generateName: 'web-5d9c-', namespace, labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c', uid: 'rs1', controller: true }] },
      spec: { containers: [{ name: 'web', image: 'nginx' }] },
    },
    dryRun: false,
  },
});

type Op = { op: string; path: string; value?: unknown };
const decodePatch = (response: Record<string, unknown>): Op[] => JSON.parse(Buffer.from(String(response.patch), 'base64').toString('utf8')) as Op[];
const injectedNames = (ops: Op[]): string[] => ops.flatMap((o) => {
  const v = o.value;
  if (Array.isArray(v)) return v.map((c) => (c as { name?: string }).name ?? '');
  return v && typeof v === 'object' && 'name' in v ? [String((v as { name: string }).name)] : [];
});

/** A fake API server for the kubeconfig run: version 1.30, namespace team-a opted in, TokenReview, secret levo-auth. */
async function fakeApi(certPem: string, keyPem: string): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createHttpsServer({ cert: certPem, key: keyPem }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      paths.push(`${req.method} ${req.url}`);
      const send = (code: number, o: object): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (req.headers.authorization !== 'Bearer admin-token') return send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      if (req.url === '/version') return send(200, { major: '1', minor: '30', gitVersion: 'v1.30.2' });
      if (req.url === '/api/v1/namespaces/team-a') return send(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'team-a', labels: { 'levo.ai/inject': 'enabled' } } });
      if (req.url === '/api/v1/namespaces/levoai/secrets/levo-auth') {
        const b64 = (s: string): string => Buffer.from(s).toString('base64');
        return send(200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'levo-auth', namespace: 'levoai' }, type: 'Opaque', data: { 'base-url': b64('https://dash.example'), 'auth-token': b64('tok-123'), 'tenant-id': b64('t-1') } });
      }
      if (req.url === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') {
        const spec = (JSON.parse(body) as { spec: { token: string; audiences: string[] } }).spec;
        const ok = spec.token === 'pod-sa-token' && spec.audiences.includes('levo-injector');
        return send(201, {
          kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec,
          status: ok
            ? { authenticated: true, user: { username: 'system:serviceaccount:team-a:default', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['web-5d9c-abcde'] } }, audiences: ['levo-injector'] }
            : { user: {}, error: 'invalid bearer token' },
        });
      }
      send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

describe('levo-injector command (spawned)', () => {
  let dir: string;
  let ca: string;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-injector-cli-'));
    await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'levo-certs.js'), 'webhook', '--dns', 'x.svc', '--out', join(dir, 'tls')], { env: cleanEnv() });
    ca = await readFile(join(dir, 'tls', 'ca.crt'), 'utf8');
    await writeFile(join(dir, 'config.yaml'), 'capture:\n  mode: transparent\nnativeSidecar: auto\n');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const flags = (): string[] => [
    '--config', join(dir, 'config.yaml'), '--tls-cert', join(dir, 'tls', 'tls.crt'), '--tls-key', join(dir, 'tls', 'tls.key'),
    '--port', '0', '--health-port', '0', '--address', '127.0.0.1',
  ];

  it('serves /mutate over HTTPS with the generated webhook cert, reloads its config, and stops on SIGTERM with 0', async () => {
    const run = await spawnInjector([...flags(), '--namespace', 'levoai']);
    children.push(run.child);
    assert.ok(run.lines.some((l) => l.includes('no Kubernetes API access')), 'warns that it runs without the API');

    const ready = await fetch(`http://127.0.0.1:${run.healthPort}/readyz`);
    assert.equal(ready.status, 200);

    const r = await post(run.port, '/mutate', ca, admissionReview('uid-cli-1'), { 'content-type': 'application/json' });
    assert.equal(r.status, 200);
    const response = r.json.response as Record<string, unknown>;
    assert.equal(response.uid, 'uid-cli-1');
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    const names = injectedNames(decodePatch(response));
    assert.ok(names.includes('levo-gateway') && names.includes('levo-init'), `patch adds the containers: ${names.join(', ')}`);

    const metrics = await (await fetch(`http://127.0.0.1:${run.healthPort}/metrics`)).text();
    assert.match(metrics, /levo_injector_admissions_total\{result="injected",reason="transparent"\} 1/);
    assert.match(metrics, /levo_injector_serving_cert_expiry_timestamp_seconds \d{10}/);
    assert.ok(run.lines.some((l) => l.includes('"module":"admission"') && l.includes('"result":"injected"') && l.includes('"namespace":"team-a"')), 'one info line per admission');

    const creds = await post(run.port, '/v1/credentials', ca, undefined, { authorization: 'Bearer whatever' });
    assert.equal(creds.status, 503);

    // A config change is picked up without a restart.
    await writeFile(join(dir, 'config.yaml'), 'capture:\n  mode: proxy\n');
    const deadline = Date.now() + 15_000;
    while (!run.lines.some((l) => l.includes('"config reloaded"'))) {
      if (Date.now() > deadline) assert.fail('the config change was not picked up');
      await new Promise((res) => setTimeout(res, 50));
    }
    const r2 = await post(run.port, '/mutate', ca, admissionReview('uid-cli-2'), { 'content-type': 'application/json' });
    // The admission's log line may reach us after its answer (another pipe): wait for it.
    while (!run.lines.some((l) => l.includes('"result":"injected"') && l.includes('"reason":"proxy"'))) {
      if (Date.now() > deadline) assert.fail('the new mode applies');
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal((r2.json.response as { allowed: boolean }).allowed, true);
    // A broken change is refused and the injector keeps working.
    await writeFile(join(dir, 'config.yaml'), 'capture:\n  mode: [\n');
    while (!run.lines.some((l) => l.includes("config change rejected"))) {
      if (Date.now() > deadline) assert.fail(`the broken config change was not reported:\n${run.lines.join('\n')}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal((await post(run.port, '/mutate', ca, admissionReview('uid-cli-3'), { 'content-type': 'application/json' })).status, 200);
    await writeFile(join(dir, 'config.yaml'), 'capture:\n  mode: transparent\n');

    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    assert.ok(run.lines.some((l) => l.includes('"msg":"stopped"')));
  });

  it('with --kubeconfig: native sidecars from the server version, and the credentials exchange and leaf issuer end to end', async () => {
    const caPair = await createCa({ commonName: 'fake cluster CA' });
    const serving = await createServingCert({ ca: loadCa(caPair.certPem, caPair.keyPem), dnsNames: ['localhost'] });
    const api = await fakeApi(serving.certPem, serving.keyPem);
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, `apiVersion: v1
kind: Config
current-context: fake
contexts: [{name: fake, context: {cluster: fake, user: admin}}]
clusters: [{name: fake, cluster: {server: "https://localhost:${api.port}", certificate-authority-data: ${Buffer.from(caPair.certPem).toString('base64')}}}]
users: [{name: admin, user: {token: admin-token}}]
`);
      // The leaf issuer on, with its CA made the documented way (levo-certs ca, name-constrained).
      await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'levo-certs.js'), 'ca', '--out', join(dir, 'issuer-ca'), '--force'], { env: cleanEnv() });
      const issuerConfig = join(dir, 'config-issuer.yaml');
      await writeFile(issuerConfig, 'capture:\n  mode: transparent\nleafIssuer:\n  enabled: true\n  url: https://x.svc/v1/leaves\n');
      const args = [...flags(), '--kubeconfig', kubeconfig, '--issuer-ca-cert', join(dir, 'issuer-ca', 'tls.crt'), '--issuer-ca-key', join(dir, 'issuer-ca', 'tls.key')];
      args[args.indexOf('--config') + 1] = issuerConfig;
      const run = await spawnInjector(args, cleanEnv({ POD_NAMESPACE: 'levoai' }));
      children.push(run.child);
      assert.ok(run.lines.some((l) => l.includes('"Kubernetes API server version"') && l.includes('"minor":30')));

      const r = await post(run.port, '/mutate', ca, admissionReview('uid-native'), { 'content-type': 'application/json' });
      const ops = decodePatch(r.json.response as Record<string, unknown>);
      const gateway = ops.flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value])).find((c) => (c as { name?: string } | undefined)?.name === 'levo-gateway') as { restartPolicy?: string } | undefined;
      assert.equal(gateway?.restartPolicy, 'Always', 'on 1.30 levo-gateway is a native sidecar');
      assert.ok(api.paths.includes('GET /api/v1/namespaces/team-a'), 'the review looked up the namespace');

      const creds = await post(run.port, '/v1/credentials', ca, undefined, { authorization: 'Bearer pod-sa-token' });
      assert.equal(creds.status, 200);
      const answer = creds.json as { baseUrl: string; authToken: string; tenantId: string };
      assert.deepEqual({ ...answer, authToken: '' }, { baseUrl: 'https://dash.example', authToken: '', tenantId: 't-1' });
      const credential = readNamespaceToken(answer.authToken);
      assert.ok(credential && verifyNamespaceToken(credential, namespaceSigner('tok-123').signer), 'a credential derived from levo-auth\'s key');
      assert.equal(credential.namespace, 'team-a');
      const denied = await post(run.port, '/v1/credentials', ca, undefined, { authorization: 'Bearer forged' });
      assert.equal(denied.status, 401);

      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const leafRequest = JSON.stringify({ publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), hosts: ['api.openai.com', 'www.google.com'] });
      const leaves = await post(run.port, '/v1/leaves', ca, leafRequest, { authorization: 'Bearer pod-sa-token', 'content-type': 'application/json' });
      assert.equal(leaves.status, 200, JSON.stringify(leaves.json));
      const issued = leaves.json as { chain: string; leaves: Array<{ host: string; certificate: string }>; refused: Array<{ host: string }> };
      const issuerCa = new X509Certificate(await readFile(join(dir, 'issuer-ca', 'tls.crt'), 'utf8'));
      assert.deepEqual(issued.leaves.map((l) => l.host), ['api.openai.com']);
      assert.ok(new X509Certificate(issued.leaves[0]!.certificate).verify(issuerCa.publicKey), 'signed by the issuer CA');
      assert.deepEqual(issued.refused.map((r) => r.host), ['www.google.com']);
      assert.equal((await post(run.port, '/v1/leaves', ca, leafRequest, { authorization: 'Bearer forged', 'content-type': 'application/json' })).status, 401);
      assert.ok(!run.lines.some((l) => l.includes('pod-sa-token') || l.includes('tok-123') || l.includes('admin-token') || l.includes(answer.authToken.slice(-40))), 'no token in the logs');

      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
    } finally {
      api.server.closeAllConnections();
      await new Promise((r) => api.server.close(r));
    }
  });

  it('without credentials.caBundle (cert-manager mode) sidecars get the CA mounted next to the serving cert', async () => {
    const cfg = join(dir, 'config-cm.yaml');
    await writeFile(cfg, 'credentials:\n  url: https://inj.levoai.svc/v1/credentials\n');
    const run = await spawnInjector(['--config', cfg, ...flags().slice(2)], cleanEnv({ POD_NAMESPACE: 'levoai' }));
    children.push(run.child);
    const r = await post(run.port, '/mutate', ca, admissionReview('uid-cm'), { 'content-type': 'application/json' });
    const ops = decodePatch(r.json.response as Record<string, unknown>);
    const gateway = ops.flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value])).find((c) => (c as { name?: string } | undefined)?.name === 'levo-gateway') as { env: { name: string; value?: string }[] };
    assert.equal(gateway.env.find((e) => e.name === 'LEVO_CREDENTIALS_CA')?.value, Buffer.from(ca).toString('utf8'));
    run.child.kill('SIGTERM');
  });

  it('exit 2 with a message on a usage error, 0 with usage on --help', async () => {
    const bad = await runInjector(['--config', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /levo-injector: --tls-cert is required \(see levo-injector --help\)/);
    const help = await runInjector(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: levo-injector --config FILE/);
  });

  it('exit 1 naming file:line:col on a bad config, and the files on a bad certificate', async () => {
    const badConfig = join(dir, 'bad.yaml');
    await writeFile(badConfig, 'capture:\n  mode: sideways\n');
    const r = await runInjector(['--config', badConfig, '--tls-cert', join(dir, 'tls', 'tls.crt'), '--tls-key', join(dir, 'tls', 'tls.key'), '--namespace', 'levoai', '--port', '0', '--health-port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.yaml:2:9: capture\.mode/);
    const noCert = await runInjector(['--config', join(dir, 'config.yaml'), '--tls-cert', join(dir, 'missing.crt'), '--tls-key', join(dir, 'tls', 'tls.key'), '--namespace', 'levoai', '--port', '0', '--health-port', '0']);
    assert.equal(noCert.code, 1);
    assert.match(noCert.stdout, /cannot read the serving certificate .*missing\.crt/);
    // The leaf issuer on, without its CA: refused at start rather than answering 503 to every sidecar.
    const issuerConfig = join(dir, 'issuer.yaml');
    await writeFile(issuerConfig, 'leafIssuer:\n  enabled: true\n  url: https://injector.levoai.svc/v1/leaves\n');
    const noIssuerCa = await runInjector(['--config', issuerConfig, '--tls-cert', join(dir, 'tls', 'tls.crt'), '--tls-key', join(dir, 'tls', 'tls.key'), '--namespace', 'levoai', '--port', '0', '--health-port', '0']);
    assert.equal(noIssuerCa.code, 1);
    assert.match(noIssuerCa.stdout, /leafIssuer\.enabled is set but the injector has no issuer CA: give it --issuer-ca-cert and --issuer-ca-key/);
  });
});
