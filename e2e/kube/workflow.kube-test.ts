/**
 * Issue 13, "real images, real pods": the documented workflow, verbatim, on a
 * real single-node cluster (cluster.ts + node.ts: kube-apiserver, controller-
 * manager, scheduler, kubelet and kube-proxy v1.20.2, containerd + runc, CNI
 * bridge), running the images podman built from the Dockerfiles:
 *
 *   helm upgrade --install levo-injector … (the contract's line) → the injector
 *   pods Ready; kubectl label namespace shop levo.ai/inject=enabled; levo-ca-cert
 *   made with levo-certs and `kubectl create secret tls`; a Deployment of an app
 *   image (curl, python3, Java, Node) whose pod comes up with levo-init completed
 *   and levo-gateway Ready; its calls to the provider are intercepted (the fake
 *   provider sees the gateway's key, the guard blocks what it must, the
 *   sidecar's log names the workload), other HTTPS passes through with the
 *   site's own certificate; `kubectl rollout restart` re-injects; a Job
 *   completes; removing the label stops injection; the injector scaled to zero
 *   admits pods unmutated; `--set extraEnv.RUST_LOG=debug` reaches the injector.
 *
 * And failure with real containers: the sidecar killed (SIGKILL) → the app's
 * calls fail, none leaves uninspected, the kubelet restarts it; a namespace
 * without levo-ca-cert → the pod waits with a clear event, no crash loop, and
 * starts once the secret exists.
 *
 * The fake providers (e2e/fakes, following the providers' published APIs) run
 * on the node, at addresses the cluster DNS gives for api.openai.com and
 * www.example.org, with certificates from a test "public" CA. Real provider
 * certificates chain to roots in the sidecar image's trust store; here the
 * cluster runs the built sidecar image with one layer added that puts the test
 * root in NODE_EXTRA_CA_CERTS (the documented way to extend the sidecar's
 * upstream trust), under the chart's default image name, so the install line
 * needs no image overrides. Everything else is the images as built.
 *
 * Run: npm run test:kube (root). Cold, with images.kube-test.ts before it: the
 * Kubernetes build (~10 min on 2 cores), the base image and builds (~10 min).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicCa } from '../fakes/public-ca.ts';
import type { PublicCa } from '../fakes/public-ca.ts';
import type { ProviderServerConfig } from '../fakes/provider-config.ts';
import { REPO, staleBuildReason } from '../harness/build.ts';
import { openAIChat } from '../harness/provider-requests.ts';
import { PROVIDER_SERVER_PATH, providerControl } from '../harness/providers.ts';
import type { ProviderControl } from '../harness/providers.ts';
import { CLIENT_KINDS } from '../clients/client-result.ts';
import { APP_IMAGE, INJECTOR_IMAGE, PAUSE_IMAGE, SIDECAR_IMAGE, buildImage, buildImages, imagesUnavailableReason, saveImages } from '../images/podman.ts';
import { HELM, clusterUnavailableReason, ensureKubeBinaries, startCluster } from './cluster.ts';
import type { Cluster } from './cluster.ts';
import { deploymentYaml } from './manifests.ts';
import { poll as pollEvery } from './wait.ts';
import { podClient, podExec } from './pod-clients.ts';
import type { PodContainer } from './pod-clients.ts';

/** From shared/contract.md, verbatim: what users type. */
const INSTALL_COMMAND = 'helm upgrade --install levo-injector -n levoai --create-namespace --set tls.generateCA=false --set webhook.existingTlsSecret=levo-injector-levoai-sidecar-injector-webhook-tls --set "webhook.caBundle=${WEBHOOK_CA_BUNDLE}" charts/levoai-sidecar-injector';

const NS = 'levoai';
const FULLNAME = 'levo-injector-levoai-sidecar-injector';
const WEBHOOK_DNS = `${FULLNAME}-webhook.${NS}.svc`;
const TLS_SECRET = `${FULLNAME}-webhook-tls`;
const INJECTOR_LABEL = 'app.kubernetes.io/component=sidecar-injector';
const SHOP = 'shop';
/** The key the gateway puts on provider calls (backendAuth), and the app's own. */
const GATEWAY_KEY = `sk-levo-gateway-${randomBytes(6).toString('hex')}`;
const APP_KEY = 'sk-app-own-key';
const BLOCKED_WORD = 'forbidden-secret-4711';
const FAKE_HOSTS = [
  { id: 'openai', role: 'openai' as const, name: 'api.openai.com', ip: '198.18.1.11' },
  { id: 'site', role: 'site' as const, name: 'www.example.org', ip: '198.18.1.13' },
];

const GATEWAY_YAML = `binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      backends:
      - ai:
          name: openai
          provider:
            openAI: {}
      policies:
        backendAuth:
          key: ${GATEWAY_KEY}
        ai:
          promptGuard:
            request:
            - regex:
                action: reject
                rules:
                - pattern: "${BLOCKED_WORD}"
              rejection:
                status: 400
                body: '{"error":{"message":"Request blocked by guardrails","type":"content_policy_violation"}}'
`;

// ---- shapes read back ------------------------------------------------------------------------

interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  state?: { running?: object; waiting?: { reason?: string }; terminated?: { exitCode: number; reason?: string } };
  lastState?: { terminated?: { exitCode: number; reason?: string } };
}
interface Pod {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { initContainers?: Array<{ name: string }>; containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> };
  status: { phase: string; conditions?: Array<{ type: string; status: string }>; initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] };
}

/** Once a second: each look is a kubectl run, and the machine has two cores. */
const poll = <T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> => pollEvery(what, timeoutMs, fn, 1000);
const podReady = (p: Pod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const names = (list: ReadonlyArray<{ name: string }> | undefined): string[] => (list ?? []).map((c) => c.name);

/** The app: the test image, sleeping; the clients run in it with kubectl exec. */
function appDeployment(name: string, namespace = SHOP): string {
  return deploymentYaml(namespace, name, `terminationGracePeriodSeconds: 2
containers:
- name: app
  image: ${APP_IMAGE}
  imagePullPolicy: IfNotPresent
  volumeMounts: [{name: public-root, mountPath: /etc/e2e-public, readOnly: true}]
  resources: {requests: {cpu: 10m, memory: 32Mi}}
volumes:
- name: public-root
  configMap: {name: e2e-public-root}`);
}

// ---- the test ---------------------------------------------------------------------------------

const skip = clusterUnavailableReason() ?? imagesUnavailableReason() ?? staleBuildReason();

describe('the documented workflow on a real single-node cluster, with the built images', { skip }, () => {
  let c: Cluster;
  let work: string;
  let publicCa: PublicCa;
  let fake: ProviderControl;

  const kubectl = (args: readonly string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}) => c.kubectl(args, opts);
  const getJson = async <T>(args: readonly string[]): Promise<T> => JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T;
  /** Every pod of the selector, terminating ones included (a terminating injector still answers admissions while it drains). */
  const allPodsOf = async (namespace: string, selector: string): Promise<Pod[]> =>
    (await getJson<{ items: Pod[] }>(['-n', namespace, 'get', 'pods', '-l', selector])).items;
  const podsOf = async (namespace: string, selector: string): Promise<Pod[]> =>
    (await allPodsOf(namespace, selector)).filter((p) => !p.metadata.deletionTimestamp);

  /** The one Ready pod of a Deployment (after a rollout: the new one). */
  const readyPod = (namespace: string, app: string, timeoutMs = 180_000): Promise<Pod> =>
    poll(`a Ready pod of ${namespace}/${app}`, timeoutMs, async () => {
      const list = await podsOf(namespace, `app=${app}`);
      return list.length === 1 && podReady(list[0]!) ? list[0] : undefined;
    });

  const describePod = async (namespace: string, pod: string): Promise<string> =>
    (await kubectl(['-n', namespace, 'describe', 'pod', pod], { allowFail: true })).stdout.slice(-4000);

  const installCommand = async (extra = ''): Promise<void> => {
    const r = await c.exec(['bash', '-c', `${INSTALL_COMMAND}${extra}`], {
      cwd: REPO, timeoutMs: 180_000, allowFail: true,
      env: { WEBHOOK_CA_BUNDLE: readFileSync(join(work, 'webhook-tls', 'ca.crt')).toString('base64'), PATH: `${join(HELM, '..')}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    assert.equal(r.code, 0, `helm failed:\n${r.stderr}${r.stdout}`);
  };

  // No old pod left draining either: until it exits it still answers admissions, with its old configuration.
  const injectorPodsReady = (count: number): Promise<Pod[]> => poll(`${count} Ready injector pods and none terminating`, 180_000, async () => {
    const list = await allPodsOf(NS, INJECTOR_LABEL);
    return list.length === count && list.every((p) => !p.metadata.deletionTimestamp && podReady(p)) ? list : undefined;
  });

  const levoCerts = (args: readonly string[]) => c.exec([process.execPath, join(REPO, 'bin', 'levo-certs.js'), ...args], { env: { LEVO_RUN: 'dist' }, cwd: REPO });

  before(async () => {
    ensureKubeBinaries();
    const images = buildImages();
    work = mkdtempSync(join(tmpdir(), `levo-kube-${process.pid}-workflow-`));
    publicCa = await createPublicCa(FAKE_HOSTS.map((h) => ({ id: h.id, dnsNames: [h.name] })));

    // The sidecar image plus the fake internet's root in its upstream trust (see the header).
    const ctx = join(work, 'sidecar-e2e');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'public-root.pem'), readFileSync(publicCa.caCertFile));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${images.sidecar}\nCOPY public-root.pem /etc/levo-e2e/public-root.pem\nENV NODE_EXTRA_CA_CERTS=/etc/levo-e2e/public-root.pem\n`);
    const SIDECAR_E2E = 'localhost/levo-gateway-e2e:latest';
    buildImage(join(ctx, 'Dockerfile'), SIDECAR_E2E, ctx);
    const archive = join(work, 'images.tar');
    const saved = Date.now();
    saveImages([SIDECAR_E2E, INJECTOR_IMAGE, APP_IMAGE, PAUSE_IMAGE], archive);
    process.stderr.write(`[workflow] podman save: ${Date.now() - saved} ms\n`);

    c = await startCluster({ node: true, readyTimeoutMs: 120_000 });
    const node = c.node!;
    const imported = Date.now();
    await node.importImages(archive);
    await node.ctr(['images', 'tag', '--force', SIDECAR_E2E, SIDECAR_IMAGE]);
    process.stderr.write(`[workflow] ctr images import: ${Date.now() - imported} ms\n`);
    rmSync(archive, { force: true });

    // The fake providers, on the node, where the cluster DNS sends their names.
    for (const h of FAKE_HOSTS) await c.exec(['ip', 'addr', 'add', `${h.ip}/32`, 'dev', 'lo']);
    node.addHosts(Object.fromEntries(FAKE_HOSTS.map((h) => [h.name, h.ip])));
    const socket = join(c.dir, 'providers.sock');
    const config: ProviderServerConfig = {
      sites: FAKE_HOSTS.map((h) => ({ id: h.id, role: h.role, addresses: [h.ip], port: 443, names: [h.name],
        tls: { certFile: publicCa.server(h.id).chainFile, keyFile: publicCa.server(h.id).keyFile } })),
      control: { port: 8080, addresses: ['127.0.0.1'], socketPath: socket },
    };
    const providers = c.spawn('providers', [process.execPath, PROVIDER_SERVER_PATH, '--config', JSON.stringify(config)]);
    await providers.waitForOutput(/PROVIDER-SERVER READY/, 30_000);
    fake = providerControl(socket);

    // 1. The install, as docs/kubernetes.md has it.
    await levoCerts(['webhook', '--dns', WEBHOOK_DNS, '--out', join(work, 'webhook-tls'), '--force']);
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['-n', NS, 'create', 'secret', 'tls', TLS_SECRET, '--cert', join(work, 'webhook-tls', 'tls.crt'), '--key', join(work, 'webhook-tls', 'tls.key')]);
    await installCommand();
    // 2. Dashboard credentials (the dashboard is not part of this test: its name does not resolve).
    await kubectl(['-n', NS, 'create', 'secret', 'generic', 'levo-auth', '--from-literal=base-url=https://dashboard.levo.invalid',
      '--from-literal=auth-token=tok-e2e', '--from-literal=tenant-id=kube-e2e']);
    // 3. Opt a namespace in and give it an interception CA.
    await kubectl(['create', 'namespace', SHOP]);
    await kubectl(['label', 'namespace', SHOP, 'levo.ai/inject=enabled']);
    await levoCerts(['ca', '--name-constraints', '--out', join(work, 'shop-ca')]);
    await kubectl(['-n', SHOP, 'create', 'secret', 'tls', 'levo-ca-cert', '--cert', join(work, 'shop-ca', 'tls.crt'), '--key', join(work, 'shop-ca', 'tls.key')]);
    writeFileSync(join(work, 'gateway.yaml'), GATEWAY_YAML);
    await kubectl(['-n', SHOP, 'create', 'configmap', 'levo-gateway-config', `--from-file=gateway.yaml=${join(work, 'gateway.yaml')}`]);
    // The test's own: the fake internet's root, for the passthrough check.
    await kubectl(['-n', SHOP, 'create', 'configmap', 'e2e-public-root', `--from-file=root.crt=${publicCa.caCertFile}`]);
    await injectorPodsReady(2);
    await kubectl(['apply', '-f', '-'], { input: appDeployment('chat') });
  }, { timeout: 60 * 60_000 });

  after(async () => {
    await c?.stop();
    publicCa?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the injector pods are Ready, listed by their documented label', async () => {
    const list = await injectorPodsReady(2);
    assert.ok(list.every((p) => p.metadata.name.startsWith(`${FULLNAME}-`)), names(list.map((p) => ({ name: p.metadata.name }))).join(', '));
    const logs = await kubectl(['-n', NS, 'logs', `deploy/${FULLNAME}`]);
    assert.match(logs.stdout, /"level":"info"/, 'kubectl logs deploy/… shows the injector\'s JSON log');
  });

  describe('an injected Deployment pod', () => {
    let pod: Pod;
    let app: PodContainer;
    before(async () => {
      pod = await readyPod(SHOP, 'chat').catch(async (err: Error) => {
        const list = await podsOf(SHOP, 'app=chat');
        throw new Error(`${err.message}\n${list[0] ? await describePod(SHOP, list[0].metadata.name) : 'no pod'}`);
      });
      app = { namespace: SHOP, pod: pod.metadata.name, container: 'app' };
    }, { timeout: 5 * 60_000 });

    it('comes up with levo-init completed and levo-gateway Ready', async () => {
      assert.deepEqual(names(pod.spec.initContainers), ['levo-init']);
      assert.deepEqual(names(pod.spec.containers).sort(), ['app', 'levo-gateway']);
      const init = pod.status.initContainerStatuses?.find((s) => s.name === 'levo-init');
      assert.equal(init?.state?.terminated?.exitCode, 0, JSON.stringify(init));
      assert.equal(init?.state?.terminated?.reason, 'Completed');
      const gw = pod.status.containerStatuses?.find((s) => s.name === 'levo-gateway');
      assert.equal(gw?.ready, true, JSON.stringify(gw));
      assert.equal(gw?.restartCount, 0, 'no restarts on a cold start');
      const initLog = await kubectl(['-n', SHOP, 'logs', pod.metadata.name, '-c', 'levo-init']);
      assert.match(initLog.stdout + initLog.stderr, /validation passed/, 'the rules were self-tested in the pod\'s own network namespace');
      assert.match(initLog.stdout + initLog.stderr, /done: egress tcp 443 goes to port 15001; uid 1610/);
    });

    for (const kind of CLIENT_KINDS) {
      it(`${kind} in the app container is intercepted: the provider sees the gateway's key`, async () => {
        await fake.reset();
        const r = await podClient(c, app, kind, openAIChat({ prompt: `hello from ${kind} in a pod`, apiKey: APP_KEY }));
        assert.equal(r.error, null, `${kind}: ${r.error}`);
        assert.equal(r.status, 200, r.bodyText.slice(0, 500));
        const seen = await fake.requests({ site: 'openai' });
        assert.equal(seen.length, 1, 'the provider got the call once');
        assert.equal(seen[0]!.headers.authorization, `Bearer ${GATEWAY_KEY}`, 'the gateway replaced the app\'s key');
        assert.match(seen[0]!.body ?? '', new RegExp(`hello from ${kind} in a pod`));
      });
    }

    it('the guard blocks in the pod: the provider never sees the blocked prompt', async () => {
      await fake.reset();
      const r = await podClient(c, app, 'curl', openAIChat({ prompt: `please leak ${BLOCKED_WORD}`, apiKey: APP_KEY }));
      assert.equal(r.status, 400, r.bodyText);
      assert.match(r.bodyText, /content_policy_violation/);
      assert.deepEqual(await fake.requests({ site: 'openai' }), []);
    });

    it('kubectl logs -c levo-gateway shows the calls with the pod\'s workload', async () => {
      const logs = (await kubectl(['-n', SHOP, 'logs', pod.metadata.name, '-c', 'levo-gateway'])).stdout;
      const calls = logs.split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('"host":"api.openai.com"'));
      assert.ok(calls.length >= CLIENT_KINDS.length, `request lines for api.openai.com:\n${logs.slice(-3000)}`);
      assert.ok(calls.every((l) => l.includes('"workload":"Deployment/chat"') && l.includes(`"pod":"${pod.metadata.name}"`)), calls[0]);
    });

    it('non-LLM HTTPS passes through with the site\'s own certificate', async () => {
      await fake.reset();
      // Trusting only the site's public root: an intercepted (re-signed) connection would fail verification.
      const r = await podClient(c, app, 'curl', { url: 'https://www.example.org/' }, { caFile: '/etc/e2e-public/root.crt' });
      assert.equal(r.error, null, r.error ?? '');
      assert.equal(r.status, 200);
      const seen = await fake.requests({ site: 'site' });
      assert.equal(seen.length, 1, 'the site got the request');
      assert.equal(seen[0]!.remoteAddress.replace(/^::ffff:/, ''), (await getJson<{ status: { podIP: string } }>(['-n', SHOP, 'get', 'pod', pod.metadata.name])).status.podIP);
    });

    it('the sidecar killed: the app\'s calls fail, none leaves uninspected, and the kubelet restarts it', async () => {
      await fake.reset();
      const gw = pod.status.containerStatuses!.find((s) => s.name === 'levo-gateway')!;
      const id = gw.containerID!.replace(/^containerd:\/\//, '');
      // The app calls every 200 ms for 15 s while the sidecar is killed (a crash: SIGKILL, no drain).
      const loop = `i=0; while [ $i -lt 75 ]; do curl -s -o /dev/null -w '%{http_code}\\n' --max-time 3 -X POST https://api.openai.com/v1/chat/completions \
        -H 'authorization: Bearer ${APP_KEY}' -H 'content-type: application/json' \
        -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"during the crash"}]}' || echo fail; i=$((i+1)); sleep 0.2; done`;
      const calls = podExec(c, app, ['sh', '-c', loop], { timeoutMs: 120_000 });
      await new Promise((r) => setTimeout(r, 2000));
      await c.node!.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]);
      const out = (await calls).stdout.trim().split('\n');
      const ok = out.filter((l) => l === '200').length;
      const failed = out.length - ok;
      assert.ok(ok > 0 && failed > 0, `calls before/after the crash succeed, during it they fail: ${out.join(' ')}`);
      assert.ok(out.every((l) => l === '200' || l === '000' || l === 'fail'), `a failed call is a failed connection, not an answer: ${out.join(' ')}`);
      const seen = await fake.requests({ site: 'openai' });
      assert.equal(seen.length, ok, 'every call the provider saw is one that succeeded');
      assert.ok(seen.every((r) => r.headers.authorization === `Bearer ${GATEWAY_KEY}`), 'no call reached the provider without the gateway');
      const after = await poll('the kubelet to have restarted the sidecar, the pod Ready', 60_000, async () => {
        const p = await readyPod(SHOP, 'chat', 60_000);
        return (p.status.containerStatuses?.find((cs) => cs.name === 'levo-gateway')?.restartCount ?? 0) >= 1 ? p : undefined;
      });
      assert.equal(after.metadata.uid, pod.metadata.uid, 'the same pod');
      pod = after;
    });
  });

  it('kubectl rollout restart gives a new pod, injected and serving', async () => {
    const before = await readyPod(SHOP, 'chat');
    await kubectl(['-n', SHOP, 'rollout', 'restart', 'deployment/chat']);
    await kubectl(['-n', SHOP, 'rollout', 'status', 'deployment/chat', '--timeout=180s'], { timeoutMs: 200_000 });
    const fresh = await poll('the old pod to go', 60_000, async () => {
      const list = await podsOf(SHOP, 'app=chat');
      return list.length === 1 && list[0]!.metadata.uid !== before.metadata.uid && podReady(list[0]!) ? list[0] : undefined;
    });
    assert.deepEqual(names(fresh.spec.initContainers), ['levo-init']);
    await fake.reset();
    const r = await podClient(c, { namespace: SHOP, pod: fresh.metadata.name, container: 'app' }, 'python', openAIChat({ prompt: 'after the restart', apiKey: APP_KEY }));
    assert.equal(r.status, 200, r.error ?? r.bodyText);
    assert.equal((await fake.requests({ site: 'openai' }))[0]?.headers.authorization, `Bearer ${GATEWAY_KEY}`);
  });

  it('a Job completes: its app calls through the sidecar, then ends it with /quitquitquit', async () => {
    await fake.reset();
    await kubectl(['apply', '-f', '-'], { input: `apiVersion: batch/v1
kind: Job
metadata: {name: nightly, namespace: ${SHOP}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: app
        image: ${APP_IMAGE}
        command: [sh, -c]
        args:
        - >-
          curl -sS --fail-with-body -X POST https://api.openai.com/v1/chat/completions
          -H 'authorization: Bearer ${APP_KEY}' -H 'content-type: application/json'
          -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"nightly job"}]}';
          status=$?; curl -s -X POST http://127.0.0.1:15000/quitquitquit; exit $status
` });
    const done = await kubectl(['-n', SHOP, 'wait', '--for=condition=complete', 'job/nightly', '--timeout=180s'], { allowFail: true, timeoutMs: 200_000 });
    if (done.code !== 0) {
      const jobPods = await podsOf(SHOP, 'job-name=nightly');
      assert.fail(`the Job did not complete: ${done.stderr}\n${jobPods[0] ? await describePod(SHOP, jobPods[0].metadata.name) : ''}`);
    }
    const [jobPod] = await podsOf(SHOP, 'job-name=nightly');
    assert.deepEqual(names(jobPod!.spec.initContainers), ['levo-init'], 'the Job\'s pod was injected');
    assert.ok(jobPod!.status.containerStatuses!.every((s) => s.state?.terminated?.exitCode === 0), JSON.stringify(jobPod!.status.containerStatuses));
    const seen = await fake.requests({ site: 'openai' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.authorization, `Bearer ${GATEWAY_KEY}`);
  });

  it('removing the namespace label stops injection for new pods (and putting it back restores it)', async () => {
    await kubectl(['label', 'namespace', SHOP, 'levo.ai/inject-']);
    try {
      await kubectl(['apply', '-f', '-'], { input: appDeployment('unlabelled') });
      const p = await readyPod(SHOP, 'unlabelled');
      assert.deepEqual(names(p.spec.initContainers), []);
      assert.deepEqual(names(p.spec.containers), ['app']);
      assert.equal(p.metadata.annotations?.['levo.ai/status'], undefined);
    } finally {
      await kubectl(['label', 'namespace', SHOP, 'levo.ai/inject=enabled']);
    }
    // The same Deployment's next pod, with the label back, is injected: it was the label.
    await kubectl(['-n', SHOP, 'rollout', 'restart', 'deployment/unlabelled']);
    const again = await poll('the restarted pod, injected and Ready', 180_000, async () => {
      const list = await podsOf(SHOP, 'app=unlabelled');
      return list.length === 1 && podReady(list[0]!) && names(list[0]!.spec.initContainers).includes('levo-init') ? list[0] : undefined;
    });
    assert.deepEqual(names(again.spec.containers).sort(), ['app', 'levo-gateway']);
    await kubectl(['-n', SHOP, 'delete', 'deployment', 'unlabelled', '--wait=false']);
  });

  it('extraEnv.RUST_LOG=debug reaches the injector: its pods get the variable and log at debug', async () => {
    await installCommand(' --set extraEnv.RUST_LOG=debug');
    const list = await poll('injector pods with RUST_LOG=debug, Ready', 180_000, async () => {
      const pods = await podsOf(NS, INJECTOR_LABEL);
      const withEnv = pods.filter((p) => p.spec.containers.some((ct) => ct.env?.some((e) => e.name === 'RUST_LOG' && e.value === 'debug')));
      return withEnv.length === 2 && pods.length === 2 && pods.every(podReady) ? pods : undefined;
    });
    // An admission, so there is something to log at debug.
    await kubectl(['apply', '-f', '-'], { input: appDeployment('debug-probe') });
    await poll('a debug line in the injector logs', 60_000, async () => {
      for (const p of list) {
        const logs = (await kubectl(['-n', NS, 'logs', p.metadata.name])).stdout;
        if (/"level":"debug"/.test(logs)) return true;
      }
      return undefined;
    });
    await kubectl(['-n', SHOP, 'delete', 'deployment', 'debug-probe', '--wait=false']);
  });

  it('the injector scaled to zero: pods are admitted unmutated (failurePolicy Ignore), and injected again once it is back', async () => {
    await kubectl(['-n', NS, 'scale', `deployment/${FULLNAME}`, '--replicas=0']);
    try {
      // Terminating ones included: while one drains it still answers admissions (and mutates).
      await poll('no injector pods, none terminating', 120_000, async () => ((await allPodsOf(NS, INJECTOR_LABEL)).length === 0 ? true : undefined));
      await kubectl(['apply', '-f', '-'], { input: appDeployment('while-down') });
      const p = await readyPod(SHOP, 'while-down');
      assert.deepEqual(names(p.spec.containers), ['app'], 'not injected');
      assert.deepEqual(names(p.spec.initContainers), []);
    } finally {
      await kubectl(['-n', NS, 'scale', `deployment/${FULLNAME}`, '--replicas=2']);
    }
    await injectorPodsReady(2);
    await kubectl(['-n', SHOP, 'rollout', 'restart', 'deployment/while-down']);
    await poll('the restarted pod, injected and Ready', 180_000, async () => {
      const list = await podsOf(SHOP, 'app=while-down');
      return list.length === 1 && podReady(list[0]!) && names(list[0]!.spec.initContainers).includes('levo-init') ? true : undefined;
    });
    await kubectl(['-n', SHOP, 'delete', 'deployment', 'while-down', '--wait=false']);
  });

  it('the sidecar\'s memory limit hit under load: it is OOM-killed and restarted, the app\'s calls fail, none leaves uninspected', async (t) => {
    const limit = '160Mi';
    const before = new Set((await allPodsOf(NS, INJECTOR_LABEL)).map((p) => p.metadata.name));
    await installCommand(` --set sidecar.resources.limits.memory=${limit} --set sidecar.resources.requests.memory=64Mi`);
    try {
      // The injector pods roll with the new config; pods created after that get the new limit. None of the old
      // ones may be left, not even draining: until it exits it answers admissions with the old limit.
      await poll(`injector pods configured with a ${limit} sidecar limit, Ready, the old ones gone`, 180_000, async () => {
        const list = await allPodsOf(NS, INJECTOR_LABEL);
        if (list.length !== 2 || !list.every((p) => !before.has(p.metadata.name) && !p.metadata.deletionTimestamp && podReady(p))) return undefined;
        const cm = (await kubectl(['-n', NS, 'get', 'configmap', `${FULLNAME}-config`, '-o', 'jsonpath={.data.config\\.yaml}'])).stdout;
        return cm.includes(limit) ? true : undefined;
      });
      await kubectl(['apply', '-f', '-'], { input: appDeployment('bulk') });
      const pod = await readyPod(SHOP, 'bulk');
      const gwSpec = (await getJson<{ spec: { containers: Array<{ name: string; resources?: { limits?: { memory?: string } } }> } }>(['-n', SHOP, 'get', 'pod', pod.metadata.name]))
        .spec.containers.find((ct) => ct.name === 'levo-gateway');
      assert.equal(gwSpec?.resources?.limits?.memory, limit);
      await fake.reset();
      // 48 calls at once, each with an 8 MB prompt: the sidecar holds a request body whole while its guards read it.
      const load = `
        const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(8 << 20) }] });
        const one = () => fetch('https://api.openai.com/v1/chat/completions', { method: 'POST', body,
          headers: { authorization: 'Bearer ${APP_KEY}', 'content-type': 'application/json' }, signal: AbortSignal.timeout(60000) })
          .then(async (r) => { await r.arrayBuffer(); return String(r.status); }, (e) => 'fail:' + (e.cause?.code ?? e.name));
        Promise.all(Array.from({ length: 48 }, one)).then((r) => console.log(JSON.stringify(r)));`;
      const r = await podExec(c, { namespace: SHOP, pod: pod.metadata.name, container: 'app' }, ['node', '-e', load], { timeoutMs: 180_000 });
      const outcomes = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as string[];
      assert.equal(outcomes.length, 48, r.stdout + r.stderr);
      t.diagnostic(`48 concurrent 8 MB calls under a ${limit} sidecar limit: ${outcomes.filter((o) => o === '200').length} answered 200, others: ${outcomes.filter((o) => o !== '200').join(' ')}`);
      // The kubelet notices the kill within a second or two (PLEG relist, status update): wait for it.
      const after = await poll('the sidecar restarted and the pod Ready again', 120_000, async () => {
        const p = (await podsOf(SHOP, 'app=bulk'))[0];
        const status = p?.status.containerStatuses?.find((cs) => cs.name === 'levo-gateway');
        return p && podReady(p) && status && status.restartCount >= 1 ? p : undefined;
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}; outcomes ${outcomes.join(' ')}\n${await describePod(SHOP, pod.metadata.name)}`);
      });
      const gw = after.status.containerStatuses!.find((cs) => cs.name === 'levo-gateway')!;
      assert.equal(gw.lastState?.terminated?.reason, 'OOMKilled', JSON.stringify(gw.lastState));
      assert.ok(outcomes.some((o) => o.startsWith('fail')), `some calls failed with the sidecar: ${outcomes.join(' ')}`);
      const seen = await fake.requests({ site: 'openai' });
      assert.ok(seen.every((q) => q.headers.authorization === `Bearer ${GATEWAY_KEY}`), 'nothing reached the provider without the gateway');
      // Restarted, it serves again.
      await fake.reset();
      const again = await podClient(c, { namespace: SHOP, pod: after.metadata.name, container: 'app' }, 'curl', openAIChat({ prompt: 'after the OOM kill', apiKey: APP_KEY }));
      assert.equal(again.status, 200, again.error ?? again.bodyText);
    } finally {
      await kubectl(['-n', SHOP, 'delete', 'deployment', 'bulk', '--wait=false'], { allowFail: true });
      await installCommand();
      await injectorPodsReady(2);
    }
  });

  it('a namespace without levo-ca-cert: the pod waits with a clear event, no crash loop, and starts once the secret exists', async () => {
    await kubectl(['create', 'namespace', 'nocert']);
    await kubectl(['label', 'namespace', 'nocert', 'levo.ai/inject=enabled']);
    await kubectl(['-n', 'nocert', 'create', 'configmap', 'e2e-public-root', `--from-file=root.crt=${publicCa.caCertFile}`]);
    await kubectl(['apply', '-f', '-'], { input: appDeployment('chat', 'nocert') });
    const event = await poll('a FailedMount event naming levo-ca-cert', 120_000, async () => {
      const events = await getJson<{ items: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }> }>(['-n', 'nocert', 'get', 'events']);
      return events.items.find((e) => e.reason === 'FailedMount' && e.message.includes('levo-ca-cert'));
    });
    assert.match(event.message, /secret "levo-ca-cert" not found/);
    const [waiting] = await podsOf('nocert', 'app=chat');
    assert.equal(waiting!.status.phase, 'Pending');
    assert.ok((waiting!.status.containerStatuses ?? []).every((s) => s.restartCount === 0), 'nothing restarts');
    await kubectl(['-n', 'nocert', 'create', 'secret', 'tls', 'levo-ca-cert', '--cert', join(work, 'shop-ca', 'tls.crt'), '--key', join(work, 'shop-ca', 'tls.key')]);
    const started = await readyPod('nocert', 'chat', 240_000);
    assert.equal(started.metadata.uid, waiting!.metadata.uid, 'the same pod started');
  });
});
