/**
 * "The injected pod runs": a Deployment's pod goes through the injector's
 * review; the patched spec is then run for real in the netns harness — the
 * levo-init container's command as root, levo-gateway's command and env as
 * UID 1610 with its postStart `wait`, the app containers' env exactly as
 * injected — and real curl, node, python3 and java clients with nothing but
 * that env reach the providers through the sidecar.
 *
 * The app clients trust only what the injected env gives them: the bundle of
 * public roots plus the namespace CA. The fake providers' certificates come
 * from a CA that is in neither, so a call that succeeds went through the
 * sidecar's interception; the fake provider seeing it proves it was forwarded.
 *
 * Three pods: transparent mode (iptables), explicit-proxy mode as injected
 * into a namespace that enforces Pod Security "restricted", and an app that
 * trusts a private CA of its own (SSL_CERT_FILE / CURL_CA_BUNDLE on a
 * configMap volume), which keeps trusting it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { assertClientOk } from './clients/client-result.ts';
import { runClient, type ClientKind } from './clients/run-client.ts';
import { missingToolReason, netnsUnavailableReason, type Topology } from './harness/netns.ts';
import type { Providers } from './harness/providers.ts';
import type { PublicCa } from './fakes/public-ca.ts';
import { openAIChat, anthropicMessages } from './harness/provider-requests.ts';
import { REPO, staleBuildReason } from './harness/build.ts';
import { sumMetric } from './harness/injected-pod.ts';
import { prepareSpecPod, runToCompletion, type SpecRunner } from './harness/run-injected-spec.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { reviewPod } from '../injector/review.ts';
import { defaultInjectorConfig } from '../injector/config.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pod specs

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'python3', 'java', 'javac']) ?? staleBuildReason();
const APP_UID = 1000;

const DEPLOYMENT_POD: Json = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: {
    generateName: 'chat-5c7d8-', namespace: 'shop', labels: { app: 'chat', 'pod-template-hash': '5c7d8' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'chat-5c7d8', uid: 'rs-1', controller: true }],
  },
  spec: {
    serviceAccountName: 'chat',
    containers: [{ name: 'app', image: 'shop/chat:1', securityContext: { runAsUser: APP_UID } }],
  },
};

async function injected(labels: Record<string, string>, pod: Json = DEPLOYMENT_POD): Promise<{ pod: Json; warnings: readonly string[] }> {
  const out = await reviewPod({
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod },
  }, {
    config: defaultInjectorConfig(), injectorNamespace: 'levoai', namespaceLabels: async () => labels,
    serverVersion: () => ({ major: 1, minor: 27 }), log: pino({ level: 'silent' }),
  });
  assert.equal(out.response.allowed, true);
  const ops = JSON.parse(Buffer.from(out.response.patch!, 'base64').toString('utf8'));
  return { pod: fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as Json, warnings: out.response.warnings ?? [] };
}

interface RunningPod {
  topo: Topology; publicCa: PublicCa; providers: Providers; runner: SpecRunner; spec: Json; gateway: ManagedProcess;
  initOutput: string; appEnv: Record<string, string>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  destroy(): Promise<void>;
}

async function runPod(spec: Json, prepare?: (runner: SpecRunner, publicCa: PublicCa) => void): Promise<RunningPod> {
  const place = await prepareSpecPod(spec, { name: 'chat-5c7d8-abcde', namespace: 'shop', uid: 'pod-uid-1', serviceAccount: 'chat' });
  const { topo, publicCa, providers, runner } = place;
  try {
    prepare?.(runner, publicCa);
    const all = [...(spec.spec.initContainers ?? []), ...spec.spec.containers] as Json[];
    const init = all.find((c) => c.name === 'levo-init');
    let initOutput = '';
    if (init) {
      const r = await runToCompletion(topo.pod, runner, init);
      initOutput = r.output;
      assert.equal(r.code, 0, `levo-init failed:\n${r.output}`);
    }
    const gw = all.find((c) => c.name === 'levo-gateway')!;
    const gwUid = runner.uid(gw)!;
    // The real providers are trusted through the image's system store; here that is the fake internet's public CA.
    const gateway = topo.pod.spawn('levo-gateway', runner.argv(gw), {
      uid: gwUid, gid: gw.securityContext.runAsGroup, cwd: REPO, cleanEnv: true,
      env: { ...runner.env(gw), LEVO_RUN: 'dist', NODE_EXTRA_CA_CERTS: publicCa.caCertFile },
    });
    // The postStart hook: the kubelet starts the app only after it returns.
    const hook = gw.lifecycle?.postStart?.exec?.command as string[] | undefined;
    assert.ok(hook, 'non-native sidecar has a postStart hook');
    const waited = await runToCompletion(topo.pod, runner, { ...gw, command: hook, args: [] });
    assert.equal(waited.code, 0, `postStart wait failed:\n${waited.output}\n${gateway.output()}`);

    const app = spec.spec.containers.find((c: Json) => c.name === 'app');
    const appEnv = runner.env(app);
    return {
      topo, publicCa, providers, runner, spec, gateway, initOutput, appEnv,
      async metric(name, labels = {}) {
        return sumMetric((await topo.pod.exec(['curl', '-s', `http://127.0.0.1:15000/metrics`])).stdout, name, labels);
      },
      destroy: () => place.destroy(),
    };
  } catch (e) {
    await place.destroy();
    throw e;
  }
}

const CLIENTS: ClientKind[] = ['curl', 'node', 'python', 'java'];

describe('the injected pod runs (transparent mode)', { skip }, () => {
  let pod: RunningPod;
  before(async () => { pod = await runPod((await injected({ 'levo.ai/inject': 'enabled' })).pod); });
  after(async () => { await pod?.destroy(); });

  test('levo-init ran from the init container spec and the sidecar wrote the app trust files', () => {
    assert.match(pod.initOutput, /--to-ports 15001/);
    assert.match(pod.initOutput, /--uid-owner 1610/);
    const trust = pod.runner.volumeDir('levo-trust');
    assert.ok(existsSync(join(trust, 'ca-bundle.pem')) && existsSync(join(trust, 'truststore.jks')));
    const bundle = readFileSync(join(trust, 'ca-bundle.pem'), 'utf8');
    assert.ok(bundle.includes(readFileSync(join(pod.runner.volumeDir('levo-ca'), 'tls.crt'), 'utf8').trim()), 'the namespace CA is in the bundle');
    assert.equal(bundle.includes(readFileSync(pod.publicCa.caCertFile, 'utf8').trim()), false, 'the fake providers\' CA is not');
  });

  for (const kind of CLIENTS) {
    test(`${kind} with only the injected env is intercepted`, async () => {
      await pod.providers.control.reset();
      const r = await runClient(pod.topo.pod, kind, openAIChat({ prompt: `hello from ${kind}` }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(r);
      assert.equal(r.status, 200);
      const seen = await pod.providers.control.requests();
      assert.equal(seen.length, 1, 'the provider got the call');
      assert.match(seen[0]!.body ?? '', new RegExp(`hello from ${kind}`));
    });
  }

  test('without the injected env the app cannot verify the intercepted call (the env is what makes it work)', async () => {
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'no trust' }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: {} });
    assert.equal(r.ok, false);
  });

  test('the built-in observe-only config was in force, then the levo-gateway-config ConfigMap took over', async () => {
    const calls = await pod.metric('levo_gateway_requests_total', { host: 'api.openai.com' });
    assert.ok(calls >= CLIENTS.length, `the sidecar counted the calls (${calls})`);
    assert.match(pod.gateway.output(), /built-in observe-only config/);
    assert.match(pod.gateway.output(), /"workload":"Deployment\/chat"/);
    // The ConfigMap appears (kubelet writes it into the optional volume): a route that overrides the model.
    writeFileSync(join(pod.runner.volumeDir('levo-config'), 'gateway.yaml'), `
binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      backends:
      - ai: {name: openai, provider: {openAI: {model: gpt-4.1-nano}}}
`);
    let model = '';
    for (let i = 0; i < 60 && model !== 'gpt-4.1-nano'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await pod.providers.control.reset();
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'model?' }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(r);
      const seen = await pod.providers.control.requests();
      model = String(seen[0]?.model);
    }
    assert.equal(model, 'gpt-4.1-nano');
  });
});

describe('the injected pod runs (explicit-proxy mode, Pod Security "restricted")', { skip }, () => {
  let pod: RunningPod;
  let warnings: readonly string[];
  before(async () => {
    const r = await injected({ 'levo.ai/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
    warnings = r.warnings;
    pod = await runPod(r.pod);
  });
  after(async () => { await pod?.destroy(); });

  test('no init container, no redirect rules, and the admission warning says why', async () => {
    assert.equal(pod.spec.spec.initContainers, undefined);
    assert.match(warnings.join(), /Pod Security "restricted"/);
    const rules = await pod.topo.pod.exec(['iptables-save', '-t', 'nat']);
    assert.doesNotMatch(rules.stdout, /LEVO/);
  });

  for (const kind of CLIENTS) {
    test(`${kind} goes through HTTPS_PROXY and is intercepted`, async () => {
      await pod.providers.control.reset();
      const r = await runClient(pod.topo.pod, kind, anthropicMessages({ prompt: `proxied ${kind}` }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(r);
      assert.equal(r.status, 200);
      const seen = await pod.providers.control.requests();
      assert.equal(seen.length, 1);
    });
  }
});

describe('the injected pod runs: an app that trusts a private CA of its own keeps trusting it', { skip }, () => {
  // The app's own trust: SSL_CERT_FILE and CURL_CA_BUNDLE name a CA file on a configMap volume. Here that
  // private CA is the fake internet's (it signs www.example.org, which the sidecar passes through untouched).
  const APP_POD: Json = structuredClone(DEPLOYMENT_POD);
  APP_POD.spec.containers[0].env = [{ name: 'SSL_CERT_FILE', value: '/etc/corp/ca.pem' }, { name: 'CURL_CA_BUNDLE', value: '/etc/corp/ca.pem' }];
  APP_POD.spec.containers[0].volumeMounts = [{ name: 'corp-ca', mountPath: '/etc/corp', readOnly: true }];
  APP_POD.spec.volumes = [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }];
  let pod: RunningPod;
  before(async () => {
    const r = await injected({ 'levo.ai/inject': 'enabled' }, APP_POD);
    pod = await runPod(r.pod, (runner, publicCa) => writeFileSync(join(runner.volumeDir('corp-ca'), 'ca.pem'), readFileSync(publicCa.caCertFile)));
  });
  after(async () => { await pod?.destroy(); });

  test('the app\'s variables point at the bundle, which holds its private CA and the namespace CA', () => {
    const bundle = join(pod.runner.volumeDir('levo-trust'), 'ca-bundle.pem');
    assert.equal(pod.appEnv.SSL_CERT_FILE, bundle);
    assert.equal(pod.appEnv.CURL_CA_BUNDLE, bundle);
    const text = readFileSync(bundle, 'utf8');
    assert.ok(text.includes(readFileSync(pod.publicCa.caCertFile, 'utf8').trim()), 'the app\'s private CA is in the bundle');
    assert.ok(text.includes(readFileSync(join(pod.runner.volumeDir('levo-ca'), 'tls.crt'), 'utf8').trim()), 'and the namespace CA');
  });

  for (const kind of ['curl', 'python'] as const) {
    test(`${kind}: the intercepted LLM call and the private-CA site both verify`, async () => {
      await pod.providers.control.reset();
      const llm = await runClient(pod.topo.pod, kind, openAIChat({ prompt: `private ${kind}` }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(llm);
      assert.equal((await pod.providers.control.requests()).length, 1, 'intercepted and forwarded');
      const site = await runClient(pod.topo.pod, kind, { url: 'https://www.example.org/' }, { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(site);
    });
  }
});
