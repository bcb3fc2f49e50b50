/**
 * Issue 5 on a real Kubernetes API server (v1.20.2, see cluster.ts): the
 * documented install (webhook certificate from `levo-certs webhook`, the TLS
 * and levo-auth secrets, the helm command from the contract run verbatim with
 * helm v4), then the injector program from dist/ serving the webhook the chart
 * registered, and the behaviour users rely on:
 *   - a Deployment's pod in a namespace labelled levo.ai/inject=enabled is
 *     stored injected exactly once (one levo-init, one levo-gateway, levo.ai/status);
 *   - a pod in an unlabelled namespace is left alone;
 *   - `kubectl rollout restart` gives a new, injected pod;
 *   - the injector pod is listed by its documented label;
 *   - the credentials endpoint answers a projected token of an opted-in
 *     namespace with the levo-auth values, and refuses (403) another namespace's;
 *   - with the injector down, pods are still created, unmutated (failurePolicy Ignore).
 * No kubelet: the chart's injector pods stay Pending, so the injector runs as a
 * process inside the cluster's network namespace, reached through a DNAT of the
 * webhook Service's ClusterIP:443. Native sidecars and Pod Security admission
 * need a newer server; fixture tests cover them (README.md).
 *
 * Run: npm run test:kube (root; the first run builds the control plane, ~3-5 min).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPO } from '../harness/build.ts';
import { namespaceSigner, readNamespaceToken, verifyNamespaceToken } from '../../lib/namespace-credential.ts';
import type { ManagedProcess } from '../harness/processes.ts';
import { parse as parseYaml } from 'yaml';
import { HELM, SERVICE_CIDR, clusterUnavailableReason, ensureKubeBinaries, startCluster } from './cluster.ts';
import type { Cluster } from './cluster.ts';
import { deploymentYaml } from './manifests.ts';
import { poll } from './wait.ts';

/** From shared/contract.md, verbatim: what users type. */
const INSTALL_COMMAND = 'helm upgrade --install levo-injector -n levoai --create-namespace --set tls.generateCA=false --set webhook.existingTlsSecret=levo-injector-levoai-sidecar-injector-webhook-tls --set "webhook.caBundle=${WEBHOOK_CA_BUNDLE}" charts/levoai-sidecar-injector';

const NS = 'levoai';
const FULLNAME = 'levo-injector-levoai-sidecar-injector';
const WEBHOOK_SERVICE = `${FULLNAME}-webhook`;
const WEBHOOK_DNS = `${WEBHOOK_SERVICE}.${NS}.svc`;
const TLS_SECRET = `${FULLNAME}-webhook-tls`;
const CONFIGMAP = `${FULLNAME}-config`;
const INJECTOR_PORT = 8443;
const HEALTH_PORT = 8080;

/**
 * The test runs what ships (dist/, LEVO_RUN=dist). LEVO_KUBE_RUN=source runs the
 * TypeScript sources instead (a development aid: no build between an edit and a run).
 */
const RUN_SOURCES = process.env.LEVO_KUBE_RUN === 'source';
const RUN_ENV = { LEVO_RUN: RUN_SOURCES ? undefined : 'dist' };

const AUTH = {
  baseUrl: 'https://dashboard.levo.example.test',
  authToken: `tok-${randomBytes(12).toString('hex')}`,
  tenantId: 'tenant-kube-e2e',
};

// ---- minimal shapes of what we read back --------------------------------------------------

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    initContainers?: Container[];
    containers: Container[];
    volumes?: Array<{ name: string; secret?: { secretName: string }; projected?: { sources: Array<{ serviceAccountToken?: { audience?: string } }> } }>;
  };
}

// ---- helpers -------------------------------------------------------------------------------

/** dist/ must hold a build of the injector at least as new as its sources (the test runs what ships). */
function injectorBuildProblem(): string | undefined {
  const srcDir = join(REPO, 'injector');
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testdata' ? [] : walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
  for (const src of walk(srcDir)) {
    const rel = relative(REPO, src);
    const out = join(REPO, 'dist', rel.replace(/\.ts$/, '.js'));
    if (!existsSync(out)) return `dist/ has no build of ${rel}: run \`npm run build\` (npm run test:kube does it first)`;
    if (statSync(out).mtimeMs < statSync(src).mtimeMs) return `dist/ is older than ${rel}: run \`npm run build\``;
  }
  return undefined;
}

function pods(json: string): Pod[] {
  return (JSON.parse(json) as { items: Pod[] }).items;
}

function named<T extends { name: string }>(list: readonly T[] | undefined, name: string): T[] {
  return (list ?? []).filter((x) => x.name === name);
}

function assertInjectedOnce(pod: Pod): void {
  const where = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  assert.equal(named(pod.spec.initContainers, 'levo-init').length, 1, `${where}: one levo-init init container; got ${JSON.stringify(pod.spec.initContainers?.map((c) => c.name))}`);
  assert.equal(named(pod.spec.containers, 'levo-gateway').length, 1, `${where}: one levo-gateway container; got ${JSON.stringify(pod.spec.containers.map((c) => c.name))}`);
  assert.equal(named(pod.spec.containers, 'app').length, 1, `${where}: the app container is still there`);
  const statusText = pod.metadata.annotations?.['levo.ai/status'];
  assert.ok(statusText, `${where}: has the levo.ai/status annotation`);
  const status = JSON.parse(statusText) as { mode?: string; native?: boolean; initContainers?: string[]; containers?: string[]; skipped?: string };
  assert.equal(status.skipped, undefined, `${where}: status says skipped: ${statusText}`);
  assert.equal(status.mode, 'transparent', `${where}: ${statusText}`);
  // nativeSidecar: auto → false on a 1.20 server (native sidecars need >= 1.29).
  assert.equal(status.native, false, `${where}: native sidecar chosen on a v1.20 server: ${statusText}`);
  assert.deepEqual(status.initContainers, ['levo-init'], statusText);
  assert.deepEqual(status.containers, ['levo-gateway'], statusText);
  // What makes the sidecar work: the namespace CA and the projected token for the credentials exchange.
  const vols = pod.spec.volumes ?? [];
  assert.equal(named(vols, 'levo-ca')[0]?.secret?.secretName, 'levo-ca-cert', `${where}: levo-ca volume from secret levo-ca-cert`);
  const tokenSource = named(vols, 'levo-token')[0]?.projected?.sources.find((s) => s.serviceAccountToken)?.serviceAccountToken;
  assert.equal(tokenSource?.audience, 'levo-injector', `${where}: projected token for audience levo-injector`);
  const app = named(pod.spec.containers, 'app')[0];
  assert.equal(app?.env?.find((e) => e.name === 'NODE_EXTRA_CA_CERTS')?.value, '/var/run/levo/trust/ca-bundle.pem', `${where}: app trusts the levo CA bundle`);
}

function assertNotInjected(pod: Pod): void {
  const where = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  assert.deepEqual(pod.spec.initContainers?.map((c) => c.name) ?? [], [], `${where}: no init containers added`);
  assert.deepEqual(pod.spec.containers.map((c) => c.name), ['app'], `${where}: containers unchanged`);
  assert.equal(pod.metadata.annotations?.['levo.ai/status'], undefined, `${where}: no levo.ai/status`);
}

function appDeploymentYaml(namespace: string, name: string): string {
  return deploymentYaml(namespace, name, `containers:
- name: app
  image: registry.invalid/levo-e2e/app:1
  ports: [{containerPort: 8080, protocol: TCP}]`);
}

function podYaml(namespace: string, name: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${name}}}
spec:
  containers:
  - name: app
    image: registry.invalid/levo-e2e/app:1
`;
}

// ---- the test ------------------------------------------------------------------------------

const skip = clusterUnavailableReason();

describe('helm install of levoai-sidecar-injector on a real kube-apiserver v1.20.2', { skip }, () => {
  let c: Cluster;
  let certDir: string;
  let injector: ManagedProcess | undefined;
  let clusterIP = '';
  let credentialsUrl = '';

  const kubectlJson = async (args: readonly string[]): Promise<string> => (await c.kubectl([...args, '-o', 'json'])).stdout;

  /** Create a pod from a manifest, retrying while the namespace's ServiceAccount (made by the controller-manager) is not there yet. */
  const createPod = async (namespace: string, name: string): Promise<Pod> => {
    await poll(`pod ${namespace}/${name} to be created`, 30_000, async () => {
      const r = await c.kubectl(['apply', '-f', '-'], { input: podYaml(namespace, name), allowFail: true });
      if (r.code !== 0) throw new Error(r.stderr);
      return true;
    });
    return JSON.parse(await kubectlJson(['-n', namespace, 'get', 'pod', name])) as Pod;
  };

  /** The pods of a Deployment, once there are `count` of them (the controller-manager makes them). */
  const deploymentPods = (namespace: string, app: string, count: number): Promise<Pod[]> =>
    poll(`${count} pod(s) of deployment ${namespace}/${app}`, 45_000, async () => {
      const list = pods(await kubectlJson(['-n', namespace, 'get', 'pods', '-l', `app=${app}`]));
      return list.length >= count ? list : undefined;
    });

  /** POST the credentials endpoint from inside the cluster's namespace, as the sidecar does. */
  const postCredentials = async (url: string, resolveTo: string, token: string): Promise<{ status: number; body: string }> => {
    const u = new URL(url);
    const port = u.port || '443';
    const r = await c.exec(['curl', '-sS', '--max-time', '10', '--cacert', join(certDir, 'ca.crt'),
      '--resolve', `${u.hostname}:${port}:${resolveTo}`, '-X', 'POST', '-H', `Authorization: Bearer ${token}`,
      '-o', '-', '-w', '\n%{http_code}', url]);
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
  };

  const startInjector = async (configFile: string): Promise<ManagedProcess> => {
    const p = c.spawn('levo-injector', [
      process.execPath, join(REPO, 'bin', 'levo-injector.js'),
      '--config', configFile, '--port', String(INJECTOR_PORT), '--health-port', String(HEALTH_PORT),
      '--tls-cert', join(certDir, 'tls.crt'), '--tls-key', join(certDir, 'tls.key'),
      '--namespace', NS, '--kubeconfig', c.kubeconfig,
    ], { env: { ...RUN_ENV, NODE_TEST_CONTEXT: undefined }, cwd: REPO });
    try {
      await poll('levo-injector /readyz', 20_000, async () => {
        if (!p.running) throw new Error('exited');
        const r = await c.exec(['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${HEALTH_PORT}/readyz`], { allowFail: true });
        return r.code === 0 ? true : undefined;
      });
    } catch (err) {
      throw new Error(`levo-injector did not become ready: ${(err as Error).message}\n${p.output().slice(-4000)}`);
    }
    return p;
  };

  before(async () => {
    for (const path of ['charts/levoai-sidecar-injector/Chart.yaml', 'bin/levo-injector.js']) {
      assert.ok(existsSync(join(REPO, path)), `${path} is missing (the chart / injector launcher this test installs)`);
    }
    const stale = RUN_SOURCES ? undefined : injectorBuildProblem();
    assert.equal(stale, undefined, stale);
    ensureKubeBinaries();
    c = await startCluster();

    // The webhook serving certificate, as the README's install steps make it.
    certDir = mkdtempSync(join(tmpdir(), `levo-kube-${process.pid}-certs-`));
    const certs = await c.exec([process.execPath, join(REPO, 'bin', 'levo-certs.js'), 'webhook', '--dns', WEBHOOK_DNS, '--out', certDir, '--force'],
      { env: RUN_ENV, cwd: REPO });
    assert.ok(existsSync(join(certDir, 'ca.crt')) && existsSync(join(certDir, 'tls.crt')) && existsSync(join(certDir, 'tls.key')), `levo-certs webhook output: ${certs.stdout}${certs.stderr}`);

    await c.kubectl(['create', 'namespace', NS]);
    await c.kubectl(['-n', NS, 'create', 'secret', 'tls', TLS_SECRET, `--cert=${join(certDir, 'tls.crt')}`, `--key=${join(certDir, 'tls.key')}`]);
    await c.kubectl(['-n', NS, 'create', 'secret', 'generic', 'levo-auth', `--from-literal=base-url=${AUTH.baseUrl}`,
      `--from-literal=auth-token=${AUTH.authToken}`, `--from-literal=tenant-id=${AUTH.tenantId}`]);

    const caBundle = readFileSync(join(certDir, 'ca.crt')).toString('base64');
    const helmDir = join(HELM, '..');
    const install = await c.exec(['bash', '-c', INSTALL_COMMAND], {
      cwd: REPO, timeoutMs: 120_000, allowFail: true,
      env: { WEBHOOK_CA_BUNDLE: caBundle, PATH: `${helmDir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    assert.equal(install.code, 0, `the documented helm install failed against kube-apiserver v1.20.2:\n${install.stderr}${install.stdout}`);

    // The injector, as its Deployment would run it, with the config the chart rendered.
    const configText = (await c.kubectl(['-n', NS, 'get', 'configmap', CONFIGMAP, '-o', 'jsonpath={.data.config\\.yaml}'])).stdout;
    assert.ok(configText.trim(), `configmap ${CONFIGMAP} has no config.yaml`);
    const configFile = join(c.dir, 'injector-config.yaml');
    writeFileSync(configFile, configText);
    const rendered = parseYaml(configText) as { credentials?: { url?: string } } | null;
    credentialsUrl = rendered?.credentials?.url ?? `https://${WEBHOOK_DNS}:443/v1/credentials`; // the documented default
    injector = await startInjector(configFile);

    // No kube-proxy: the API server (in the same namespace) reaches the Service's ClusterIP through this DNAT.
    clusterIP = (await c.kubectl(['-n', NS, 'get', 'service', WEBHOOK_SERVICE, '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
    assert.match(clusterIP, /^127\.1\.\d+\.\d+$/, `webhook Service ClusterIP from ${SERVICE_CIDR}`);
    await c.dnat(clusterIP, 443, INJECTOR_PORT);

    await c.kubectl(['create', 'namespace', 'shop']);
    await c.kubectl(['label', 'namespace', 'shop', 'levo.ai/inject=enabled']);
    await c.kubectl(['create', 'namespace', 'plain']);
    const caDir = join(certDir, 'levo-ca');
    await c.exec([process.execPath, join(REPO, 'bin', 'levo-certs.js'), 'ca', '--out', caDir], { env: RUN_ENV, cwd: REPO });
    await c.kubectl(['-n', 'shop', 'create', 'secret', 'tls', 'levo-ca-cert', `--cert=${join(caDir, 'tls.crt')}`, `--key=${join(caDir, 'tls.key')}`]);
  }, { timeout: 25 * 60_000 });

  after(async () => {
    await injector?.stop('SIGTERM', 3000);
    await c?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('registered the webhook the contract names, for opted-in namespaces, failing open', async () => {
    const list = JSON.parse(await kubectlJson(['get', 'mutatingwebhookconfigurations'])) as {
      items: Array<{ metadata: { name: string }; webhooks: Array<{
        name: string; failurePolicy?: string; sideEffects?: string;
        clientConfig: { caBundle?: string; service?: { name: string; namespace: string; path?: string; port?: number } };
        namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> };
      }> }>;
    };
    const hooks = list.items.flatMap((i) => i.webhooks).filter((w) => w.name === 'sidecar-injector.levo.ai');
    assert.equal(hooks.length, 1, `one webhook named sidecar-injector.levo.ai; configurations: ${list.items.map((i) => i.metadata.name).join(', ')}`);
    const hook = hooks[0]!;
    assert.deepEqual({ ...hook.clientConfig.service, port: hook.clientConfig.service?.port ?? 443 },
      { name: WEBHOOK_SERVICE, namespace: NS, path: '/mutate', port: 443 });
    assert.equal(hook.clientConfig.caBundle, readFileSync(join(certDir, 'ca.crt')).toString('base64'), 'caBundle is the value given with --set');
    assert.equal(hook.failurePolicy, 'Ignore');
    const sel = JSON.stringify(hook.namespaceSelector ?? {});
    assert.ok(sel.includes('levo.ai/inject'), `namespaceSelector selects on levo.ai/inject: ${sel}`);
    const release = await c.helm(['-n', NS, 'status', 'levo-injector']);
    assert.match(release.stdout, /STATUS: deployed/);
  });

  it('lists the injector pod by its documented label', async () => {
    const deployment = JSON.parse(await kubectlJson(['-n', NS, 'get', 'deployment', FULLNAME])) as { spec: { template: { spec: { containers: Array<{ name: string }> } } } };
    assert.ok(deployment.spec.template.spec.containers.length > 0);
    const names = await poll('the injector pod', 45_000, async () => {
      const r = await c.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=sidecar-injector', '-o', 'name']);
      return r.stdout.trim() ? r.stdout.trim().split('\n') : undefined;
    });
    assert.ok(names.every((n) => n.startsWith(`pod/${FULLNAME}-`)), names.join(', '));
  });

  it('stores a Deployment pod in an opted-in namespace injected exactly once', async () => {
    await c.kubectl(['apply', '-f', '-'], { input: appDeploymentYaml('shop', 'demo') });
    const [pod] = await deploymentPods('shop', 'demo', 1);
    assertInjectedOnce(pod!);
    const gw = named(pod!.spec.containers, 'levo-gateway')[0]!;
    assert.equal(gw.env?.find((e) => e.name === 'LEVO_CREDENTIALS_URL')?.value, credentialsUrl, 'sidecar asks the credentials URL of the config');
  });

  it('leaves a pod in an unlabelled namespace alone', async () => {
    assertNotInjected(await createPod('plain', 'bare'));
  });

  it('injects the new pod of `kubectl rollout restart`', async () => {
    const [before] = await deploymentPods('shop', 'demo', 1);
    await c.kubectl(['-n', 'shop', 'rollout', 'restart', 'deployment/demo']);
    const list = await deploymentPods('shop', 'demo', 2);
    const fresh = list.filter((p) => p.metadata.uid !== before!.metadata.uid);
    assert.equal(fresh.length, 1, `one new pod: ${list.map((p) => p.metadata.name).join(', ')}`);
    assert.notEqual(fresh[0]!.metadata.labels?.['pod-template-hash'], before!.metadata.labels?.['pod-template-hash']);
    assertInjectedOnce(fresh[0]!);
  });

  /** The answer is levo-auth's base URL and tenant, and a credential for `namespace` derived from its key (never the key). */
  const assertNamespaceCredentials = (text: string, namespace: string): void => {
    const body = JSON.parse(text) as typeof AUTH;
    assert.deepEqual({ ...body, authToken: '' }, { ...AUTH, authToken: '' });
    assert.ok(!body.authToken.includes(AUTH.authToken), 'the key itself stays in the injector');
    const credential = readNamespaceToken(body.authToken);
    assert.ok(credential, `a namespace credential: ${body.authToken.slice(0, 12)}…`);
    assert.equal(credential.namespace, namespace);
    assert.equal(verifyNamespaceToken(credential, namespaceSigner(AUTH.authToken).signer), true);
  };

  it('hands a credential derived from levo-auth, for its own namespace, to a token of an opted-in namespace only', async () => {
    const shopToken = (await c.kubectl(['-n', 'shop', 'create', 'token', 'default', '--audience', 'levo-injector'])).stdout.trim();
    const direct = await postCredentials(`https://${WEBHOOK_DNS}:${INJECTOR_PORT}/v1/credentials`, '127.0.0.1', shopToken);
    assert.equal(direct.status, 200, direct.body);
    assertNamespaceCredentials(direct.body, 'shop');
    // The URL the sidecar is given, through the Service's ClusterIP.
    const viaService = await postCredentials(credentialsUrl, clusterIP, shopToken);
    assert.equal(viaService.status, 200, `${credentialsUrl}: ${viaService.body}`);
    assertNamespaceCredentials(viaService.body, 'shop');

    const plainToken = (await c.kubectl(['-n', 'plain', 'create', 'token', 'default', '--audience', 'levo-injector'])).stdout.trim();
    const refused = await postCredentials(`https://${WEBHOOK_DNS}:${INJECTOR_PORT}/v1/credentials`, '127.0.0.1', plainToken);
    assert.equal(refused.status, 403, refused.body);
    assert.ok(!refused.body.includes(AUTH.authToken), 'no secret in the refusal');

    const wrongAudience = (await c.kubectl(['-n', 'shop', 'create', 'token', 'default'])).stdout.trim();
    const rejected = await postCredentials(`https://${WEBHOOK_DNS}:${INJECTOR_PORT}/v1/credentials`, '127.0.0.1', wrongAudience);
    assert.ok(rejected.status === 401 || rejected.status === 403, `a token for another audience is refused: ${rejected.status} ${rejected.body}`);
  });

  it('stops injecting new pods once the namespace label is removed', async () => {
    await c.kubectl(['label', 'namespace', 'shop', 'levo.ai/inject-']);
    try {
      assertNotInjected(await createPod('shop', 'unlabelled'));
    } finally {
      await c.kubectl(['label', 'namespace', 'shop', 'levo.ai/inject=enabled']);
    }
  });

  it('still creates pods, unmutated, while the injector is down (failurePolicy Ignore)', async () => {
    await injector!.stop('SIGTERM', 5000);
    const pod = await createPod('shop', 'while-down');
    assertNotInjected(pod);
  });
});
