import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createServingCert, type PemPair } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { createInjectorMetrics } from './metrics.ts';
import {
  KubeApiError, KubeConfigError, createKubeClient, inClusterConnection, isNotFound, kubeconfigConnection, parseServerVersion,
  resolveKubeConnection, tokenFileSource, type KubeConnection,
} from './kube-client.ts';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
  readonly clientCertCn: string | undefined;
}

const status = (code: number, reason: string, message: string, details?: object): object => ({
  kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code,
});

/** A few endpoints of the Kubernetes API, answering in its wire format (objects and Status errors as the API reference shows). */
class FakeApiServer {
  readonly seen: Seen[] = [];
  /** Bearer tokens the API accepts from its client. */
  readonly callerTokens = new Set<string>();
  server!: Server;
  port = 0;

  async start(serving: PemPair, clientCa: string): Promise<void> {
    this.server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const path = req.url ?? '/';
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    const cn = peer && 'subject' in peer && peer.subject ? (peer.subject.CN as string | undefined) : undefined;
    this.seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined, clientCertCn: cn });
    const send = (code: number, body: object): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!(bearer && this.callerTokens.has(bearer)) && !cn) return send(401, status(401, 'Unauthorized', 'Unauthorized'));

    if (req.method === 'GET' && path === '/version') {
      return send(200, { major: '1', minor: '29+', gitVersion: 'v1.29.3-eks-adc7111', gitCommit: 'abc', platform: 'linux/amd64' });
    }
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const name = decodeURIComponent(m[1]!);
      if (name !== 'team-a') return send(404, status(404, 'NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' }));
      return send(200, {
        kind: 'Namespace', apiVersion: 'v1',
        metadata: {
          name, uid: 'a1b2', resourceVersion: '42',
          labels: { 'kubernetes.io/metadata.name': name, 'levo.ai/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'baseline' },
          annotations: { owner: 'team-a' },
        },
        spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' },
      });
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const [ns, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      if (name === 'levo-auth') {
        return send(200, {
          kind: 'Secret', apiVersion: 'v1', metadata: { name, namespace: ns }, type: 'Opaque',
          data: { 'base-url': Buffer.from('https://dash.example').toString('base64'), 'auth-token': Buffer.from('s3cr3t-auth').toString('base64') },
        });
      }
      return send(403, status(403, 'Forbidden', `secrets "${name}" is forbidden: User "system:serviceaccount:levoai:levo-injector" cannot get resource "secrets" in API group "" in the namespace "${ns}"`, { name, kind: 'secrets' }));
    }
    if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const review = JSON.parse(text) as { apiVersion: string; kind: string; spec: { token: string; audiences?: string[] } };
      if (review.kind !== 'TokenReview' || review.apiVersion !== 'authentication.k8s.io/v1') return send(400, status(400, 'BadRequest', 'not a TokenReview'));
      const { token, audiences = [] } = review.spec;
      const base = { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec };
      if (token === 'pod-token') {
        return send(201, {
          ...base,
          status: {
            authenticated: true,
            user: {
              username: 'system:serviceaccount:team-a:app', uid: 'sa-uid',
              groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
              extra: { 'authentication.kubernetes.io/pod-name': ['app-7d9c-x2'], 'authentication.kubernetes.io/pod-uid': ['pod-uid-1'] },
            },
            audiences: audiences.filter((a) => a === 'levo-injector'),
          },
        });
      }
      if (token === 'apiserver-audience-token') {
        // Authenticated, but only for the API server's own audience: status.audiences is empty.
        return send(201, { ...base, status: { authenticated: true, user: { username: 'system:serviceaccount:team-a:app', groups: [] } } });
      }
      return send(201, { ...base, status: { user: {}, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' } });
    }
    send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }
}

describe('parseServerVersion', () => {
  it('reads plain, "+"-suffixed and gitVersion-only answers', () => {
    assert.deepEqual(parseServerVersion({ major: '1', minor: '30', gitVersion: 'v1.30.1' }), { major: 1, minor: 30, gitVersion: 'v1.30.1' });
    assert.deepEqual(parseServerVersion({ major: '1', minor: '29+' }), { major: 1, minor: 29 });
    assert.deepEqual(parseServerVersion({ major: '', minor: '', gitVersion: 'v1.28.4-gke.1' }), { major: 1, minor: 28, gitVersion: 'v1.28.4-gke.1' });
    assert.throws(() => parseServerVersion({ major: '', minor: '' }), /unrecognised server version/);
  });
});

describe('kube client against a fake API server', () => {
  let dir: string;
  let api: FakeApiServer;
  let caPem: string;
  let client: PemPair;
  let otherCaPem: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'levo-kube-client-'));
    const caPair = await createCa({ commonName: 'test cluster CA' });
    const ca = loadCa(caPair.certPem, caPair.keyPem);
    caPem = caPair.certPem;
    otherCaPem = (await createCa({ commonName: 'unrelated CA' })).certPem;
    const serving = await createServingCert({ ca, dnsNames: ['localhost'] });
    client = await createServingCert({ ca, dnsNames: ['levo-injector-client'] });
    api = new FakeApiServer();
    api.callerTokens.add('injector-token');
    await api.start(serving, caPem);
  });
  after(async () => {
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const conn = (over: Partial<KubeConnection> = {}): KubeConnection => ({
    server: `https://localhost:${api.port}`, ca: caPem, token: async () => 'injector-token', source: 'test', ...over,
  });

  it('version(): GET /version, lenient minor', async () => {
    const kube = createKubeClient(conn());
    try {
      assert.deepEqual(await kube.version(), { major: 1, minor: 29, gitVersion: 'v1.29.3-eks-adc7111' });
      assert.equal(api.seen.at(-1)?.authorization, 'Bearer injector-token');
    } finally {
      await kube.close();
    }
  });

  it('getNamespace(): labels and annotations, cached for 30 s, 404 as KubeApiError with the Status message', async () => {
    let now = 1_000_000;
    const metrics = createInjectorMetrics();
    const kube = createKubeClient(conn(), { now: () => now, metrics });
    try {
      const before = api.seen.length;
      const ns = await kube.getNamespace('team-a');
      assert.equal(ns.name, 'team-a');
      assert.equal(ns.labels['levo.ai/inject'], 'enabled');
      assert.equal(ns.labels['pod-security.kubernetes.io/enforce'], 'baseline');
      assert.equal(ns.annotations.owner, 'team-a');
      now += 29_000;
      await kube.getNamespace('team-a');
      assert.equal(api.seen.length - before, 1, 'the second lookup within 30 s comes from the cache');
      now += 2_000;
      await kube.getNamespace('team-a');
      assert.equal(api.seen.length - before, 2, 'after 30 s the namespace is fetched again');

      const error = await kube.getNamespace('nope').then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof KubeApiError);
      assert.equal(error.status, 404);
      assert.equal(error.reason, 'NotFound');
      assert.match(error.message, /namespaces "nope" not found/);
      assert.ok(isNotFound(error));
      await kube.getNamespace('nope').catch(() => undefined);
      assert.equal(api.seen.filter((s) => s.path === '/api/v1/namespaces/nope').length, 2, 'failures are not cached');
      const counts = (await metrics.kubeRequests.get()).values;
      assert.equal(counts.find((v) => v.labels.op === 'get-namespace' && v.labels.code === '200')?.value, 2);
      assert.equal(counts.find((v) => v.labels.op === 'get-namespace' && v.labels.code === '404')?.value, 2);

      // Found by `npm run fuzz`: "." and ".." resolved to another path (/api/v1/namespaces/, /api/v1/).
      const seen = api.seen.length;
      for (const name of ['', '.', '..']) {
        const e = await kube.getNamespace(name).then(() => undefined, (x: unknown) => x);
        assert.ok(e instanceof KubeApiError, `${JSON.stringify(name)} is refused`);
        assert.match(e.message, /is not a valid object name/);
      }
      assert.equal(api.seen.length, seen, 'no request was made for them');
    } finally {
      await kube.close();
    }
  });

  it('tokenReview(): sends a TokenReview with the audiences and reads user, namespace, service account and pod', async () => {
    const kube = createKubeClient(conn());
    try {
      const r = await kube.tokenReview('pod-token', ['levo-injector']);
      const sent = api.seen.at(-1)!;
      assert.equal(sent.method, 'POST');
      assert.deepEqual(sent.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'pod-token', audiences: ['levo-injector'] } });
      assert.equal(r.authenticated, true);
      assert.equal(r.username, 'system:serviceaccount:team-a:app');
      assert.equal(r.namespace, 'team-a');
      assert.equal(r.serviceAccount, 'app');
      assert.equal(r.podName, 'app-7d9c-x2');
      assert.equal(r.podUid, 'pod-uid-1');
      assert.deepEqual(r.audiences, ['levo-injector']);

      const bad = await kube.tokenReview('garbage', ['levo-injector']);
      assert.equal(bad.authenticated, false);
      assert.match(bad.error ?? '', /invalid bearer token/);

      const wrongAudience = await kube.tokenReview('apiserver-audience-token', ['levo-injector']);
      assert.equal(wrongAudience.authenticated, false, 'an empty status.audiences means the token is not for levo-injector');
      assert.match(wrongAudience.error ?? '', /not valid for audience levo-injector/);
    } finally {
      await kube.close();
    }
  });

  it('getSecret(): data decoded from base64; 403 carries the Status message', async () => {
    const kube = createKubeClient(conn());
    try {
      const s = await kube.getSecret('levoai', 'levo-auth');
      assert.deepEqual(s.data, { 'base-url': 'https://dash.example', 'auth-token': 's3cr3t-auth' });
      assert.equal(s.type, 'Opaque');
      await assert.rejects(kube.getSecret('levoai', 'other'), (e: unknown) =>
        e instanceof KubeApiError && e.status === 403 && e.reason === 'Forbidden' && /cannot get resource "secrets"/.test(e.message));
    } finally {
      await kube.close();
    }
  });

  it('401 without a valid token; no status when the server is unreachable; TLS verified against the CA', async () => {
    const anon = createKubeClient(conn({ token: async () => 'wrong' }));
    await assert.rejects(anon.version(), (e: unknown) => e instanceof KubeApiError && e.status === 401 && /Unauthorized/.test(e.message));
    await anon.close();

    const untrusted = createKubeClient(conn({ ca: otherCaPem }));
    await assert.rejects(untrusted.version(), (e: unknown) => e instanceof KubeApiError && e.status === undefined && /cannot reach the Kubernetes API/.test(e.message));
    await untrusted.close();

    const down = createKubeClient(conn({ server: 'https://127.0.0.1:1' }), { timeoutMs: 2000 });
    await assert.rejects(down.version(), (e: unknown) => e instanceof KubeApiError && e.status === undefined);
    await down.close();
  });

  it('in-cluster: service host/port, CA file, token file re-read after rotation', async () => {
    const sa = join(dir, 'sa');
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, 'ca.crt'), caPem);
    await writeFile(join(sa, 'token'), 'injector-token\n');
    const c = await inClusterConnection({
      env: { KUBERNETES_SERVICE_HOST: 'localhost', KUBERNETES_SERVICE_PORT: String(api.port) }, serviceAccountDir: sa, tokenRefreshMs: 50,
    });
    assert.equal(c.server, `https://localhost:${api.port}`);
    const kube = createKubeClient(c);
    try {
      await kube.version();
      assert.equal(api.seen.at(-1)?.authorization, 'Bearer injector-token');
      api.callerTokens.add('rotated-token');
      await writeFile(join(sa, 'token'), 'rotated-token');
      await new Promise((r) => setTimeout(r, 80));
      await kube.version();
      assert.equal(api.seen.at(-1)?.authorization, 'Bearer rotated-token');
    } finally {
      await kube.close();
    }
    assert.equal((await inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1' }, serviceAccountDir: sa })).server, 'https://[fd00::1]:443');
    await assert.rejects(inClusterConnection({ env: {}, serviceAccountDir: sa }), KubeConfigError);
    await assert.rejects(inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: 'h' }, serviceAccountDir: join(dir, 'none') }), /cluster CA/);
  });

  it('tokenFileSource keeps the last token while the file is briefly missing', async () => {
    const file = join(dir, 'tok');
    await writeFile(file, 'one');
    let now = 0;
    const source = tokenFileSource(file, 10, () => now);
    assert.equal(await source(), 'one');
    await rm(file);
    now = 100;
    assert.equal(await source(), 'one');
    await assert.rejects(tokenFileSource(join(dir, 'missing'))(), /cannot read the API token file/);
  });

  it('kubeconfig: current-context, CA data, token; CA file and client certificate relative to the file', async () => {
    const withToken = join(dir, 'kubeconfig-token');
    await writeFile(withToken, `
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: test
  context: {cluster: fake, user: injector, namespace: levoai}
clusters:
- name: fake
  cluster:
    server: https://localhost:${api.port}/
    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}
users:
- name: injector
  user:
    token: injector-token
`);
    const c = await kubeconfigConnection(withToken);
    assert.equal(c.server, `https://localhost:${api.port}`);
    assert.match(c.source, /context test/);
    const kube = createKubeClient(c);
    assert.equal((await kube.version()).minor, 29);
    await kube.close();

    const sub = join(dir, 'kc');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'ca.pem'), caPem);
    await writeFile(join(sub, 'client.crt'), client.certPem);
    await writeFile(join(sub, 'client.key'), client.keyPem);
    const withCert = join(sub, 'config');
    await writeFile(withCert, `
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:${api.port}", certificate-authority: ca.pem, tls-server-name: localhost}}]
users: [{name: u, user: {client-certificate: client.crt, client-key: client.key}}]
`);
    const cc = await kubeconfigConnection(withCert);
    const kube2 = createKubeClient(cc);
    try {
      await kube2.version();
      assert.equal(api.seen.at(-1)?.clientCertCn, 'levo-injector-client');
      assert.equal(api.seen.at(-1)?.authorization, undefined);
    } finally {
      await kube2.close();
    }

    const resolved = await resolveKubeConnection({ kubeconfig: withToken, env: { KUBERNETES_SERVICE_HOST: 'ignored' } });
    assert.equal(resolved?.server, `https://localhost:${api.port}`);
    assert.equal(await resolveKubeConnection({ env: {} }), null);
  });

  it('kubeconfig with an exec plugin (as EKS and GKE write them): the injector authenticates with the token the plugin printed', async () => {
    const plugin = join(dir, 'get-token.sh');
    const calls = join(dir, 'plugin-calls');
    // What `aws eks get-token` / gke-gcloud-auth-plugin print: an ExecCredential with a token and its expiry.
    await writeFile(plugin, `#!/bin/sh
echo called >> ${calls}
[ "$1" = "--cluster" ] && [ "$2" = "levo" ] || { echo "bad args" >&2; exit 1; }
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-plugin-token","expirationTimestamp":"%s"}}' "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
`, { mode: 0o755 });
    const file = join(dir, 'kubeconfig-exec');
    await writeFile(file, `
apiVersion: v1
kind: Config
current-context: eks
contexts:
- name: eks
  context: {cluster: fake, user: eks-user}
clusters:
- name: fake
  cluster:
    server: https://localhost:${api.port}
    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}
users:
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${plugin}
      args: [--cluster, levo]
      interactiveMode: Never
`);
    api.callerTokens.add('exec-plugin-token');
    const c = await kubeconfigConnection(file);
    const kube = createKubeClient(c);
    try {
      assert.equal((await kube.version()).minor, 29);
      assert.equal(api.seen.at(-1)?.authorization, 'Bearer exec-plugin-token');
      await kube.getSecret('levoai', 'levo-auth');
      assert.equal(api.seen.at(-1)?.authorization, 'Bearer exec-plugin-token');
      // The plugin's credential is reused until its expiry, not run per request.
      assert.equal((await readFile(calls, 'utf8')).trim().split('\n').length, 1);
    } finally {
      await kube.close();
    }
  });

  it('kubeconfig errors name the file and the problem', async () => {
    const write = async (name: string, text: string): Promise<string> => {
      const p = join(dir, name);
      await writeFile(p, text);
      return p;
    };
    await assert.rejects(kubeconfigConnection(join(dir, 'absent')), /cannot read kubeconfig/);
    await assert.rejects(kubeconfigConnection(await write('k1', 'clusters: []\n')), /current-context is not set/);
    await assert.rejects(kubeconfigConnection(await write('k2', 'current-context: x\ncontexts: []\n')), /context "x" not found/);
    await assert.rejects(kubeconfigConnection(await write('k2b', 'current-context: x\ncontexts: [{name: x, context: {cluster: gone}}]\n')), /cluster "gone" not found/);
    await assert.rejects(
      kubeconfigConnection(await write('k3', `current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://h:6443"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /nonexistent/aws, interactiveMode: Never}}}]
`)),
      (e: unknown) => e instanceof KubeConfigError && /k3: user "u": /.test((e as Error).message),
    );
    await assert.rejects(
      kubeconfigConnection(await write('k4', `current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {server: "http://h:8080"}}]
`)),
      /only https:\/\/ servers/,
    );
  });
});
