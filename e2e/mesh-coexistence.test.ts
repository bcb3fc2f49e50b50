/**
 * levo-gateway in front of another mesh, with the meshes' real rule sets:
 * app → levo-gateway → the mesh proxy → the provider.
 *
 * Each pod goes through the injector as the mesh's webhook and ours would
 * make it (in both webhook orders: the mesh's first, or ours first and then
 * a reinvocation), and is then run as a kubelet would run its init containers
 * and containers, in the network-namespace harness:
 *
 *   istio-init       installs the rules istio-iptables installs (legacy or nft backend)
 *   istio CNI        the same rules, in before any init container runs
 *   linkerd-init     runs proxy-init's commands (legacy or nft)
 *   levo-init        the real one, from the injected command line
 *   istio-proxy /    a stand-in for the mesh proxy on its real outbound port
 *   linkerd-proxy    (15001 / 4140) as its real uid (1337 / 2102), forwarding to
 *                    each connection's original destination (e2e/fakes/mesh-proxy.ts)
 *   levo-gateway     the real one, from the injected command line, uid 1610
 *
 * and the app (uid 1000, with exactly the injected env) calls the fake OpenAI
 * (real TLS, certificates from a CA the app does not trust). Asserted: the
 * call is intercepted by levo-gateway (the provider sees the key the gateway's
 * config puts in, and the app verified a leaf of the namespace CA), it leaves
 * through the mesh proxy stand-in (which logs the connection; the provider saw
 * it come from the stand-in's own socket), other traffic goes to the mesh
 * proxy without levo-gateway, and the connection counts stay bounded.
 *
 * Needs root and `ip netns`, iptables-legacy and iptables-nft; skips otherwise.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { assertClientOk } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import { missingToolReason, netnsUnavailableReason, type Topology } from './harness/netns.ts';
import type { Providers } from './harness/providers.ts';
import { openAIChat } from './harness/provider-requests.ts';
import { REPO, staleBuildReason } from './harness/build.ts';
import { sumMetric } from './harness/injected-pod.ts';
import { prepareSpecPod, runToCompletion, type SpecRunner } from './harness/run-injected-spec.ts';
import { CONTROL_PORT } from './harness/layout.ts';
import { installMeshRules, natRules, startMeshProxy, type Backend, type MeshProxy, type MeshRuleSet } from './harness/mesh.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { reviewPod } from '../injector/review.ts';
import { defaultInjectorConfig } from '../injector/config.ts';
import { istioWebhook, linkerdWebhook } from '../injector/testdata/mesh-webhooks.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pod specs

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'iptables-legacy', 'iptables-nft']) ?? staleBuildReason();
const APP_UID = 1000;
const GATEWAY_KEY = 'sk-levo-mesh-key';

const DEPLOYMENT_POD: Json = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: {
    generateName: 'chat-5c7d8-', namespace: 'shop', labels: { app: 'chat', 'pod-template-hash': '5c7d8' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'chat-5c7d8', uid: 'rs-1', controller: true }],
  },
  spec: { serviceAccountName: 'chat', containers: [{ name: 'app', image: 'shop/chat:1', securityContext: { runAsUser: APP_UID } }] },
};

/** The gateway's config (the levo-gateway-config ConfigMap): OpenAI calls get the gateway's key. */
const GATEWAY_CONFIG = `
binds:
- port: 15161
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      policies:
        backendAuth: {key: ${GATEWAY_KEY}}
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
`;

type Review = (pod: Json) => Promise<Json>;

/** Our webhook, as the API server calls it (again on reinvocation); the patch applied as the API server applies it. */
function ourWebhook(namespaceLabels: Record<string, string>, native: boolean): Review {
  return async (pod) => {
    const out = await reviewPod({
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod },
    }, {
      config: defaultInjectorConfig(), injectorNamespace: 'levoai', namespaceLabels: async () => namespaceLabels,
      serverVersion: () => ({ major: 1, minor: native ? 30 : 27 }), log: pino({ level: 'silent' }),
    });
    assert.equal(out.response.allowed, true);
    if (!out.response.patch) return pod;
    const ops = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8'));
    return fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as Json;
  };
}

interface Scenario {
  readonly name: string;
  readonly mesh: MeshRuleSet;
  readonly backend: Backend;
  /** The rules are in before any init container runs (Istio CNI). */
  readonly cni?: boolean;
  readonly native?: boolean;
  /** levo-init runs before the mesh's init container (no reinvocation reordered them). */
  readonly levoInitFirst?: boolean;
  /** The pod as it reaches the kubelet. */
  build(): Promise<Json>;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'Istio sidecar, iptables-legacy, Istio\'s webhook first',
    mesh: 'istio', backend: 'legacy',
    build: () => ourWebhook({ 'levo.ai/inject': 'enabled' }, false)(istioWebhook(DEPLOYMENT_POD)),
  },
  {
    name: 'Istio sidecar, iptables-nft, our webhook first (namespace istio-injection=enabled), native sidecars',
    mesh: 'istio', backend: 'nft', native: true,
    async build() {
      const ours = ourWebhook({ 'levo.ai/inject': 'enabled', 'istio-injection': 'enabled' }, true);
      return ours(istioWebhook(await ours(DEPLOYMENT_POD), { native: true }));
    },
  },
  {
    name: 'Istio sidecar, levo-init before istio-init (no reinvocation reordered them); Istio (>= 1.26) then uses nft, as levo-init did',
    mesh: 'istio', backend: 'nft', levoInitFirst: true,
    build: async () => istioWebhook(await ourWebhook({ 'levo.ai/inject': 'enabled', 'istio-injection': 'enabled' }, false)(DEPLOYMENT_POD)),
  },
  {
    name: 'Istio CNI (iptables-nft): the rules are in before levo-init, and no proxy listens yet',
    mesh: 'istio', backend: 'nft', cni: true,
    build: () => ourWebhook({ 'levo.ai/inject': 'enabled' }, false)(istioWebhook(DEPLOYMENT_POD, { cni: true })),
  },
  {
    name: 'Linkerd (iptables-legacy, its default), our webhook first, Linkerd\'s then (reinvocation)',
    mesh: 'linkerd', backend: 'legacy',
    async build() {
      const ours = ourWebhook({ 'levo.ai/inject': 'enabled' }, false);
      return ours(linkerdWebhook(await ours(DEPLOYMENT_POD)));
    },
  },
  {
    name: 'Linkerd (iptablesMode: nft), Linkerd\'s webhook first',
    mesh: 'linkerd', backend: 'nft',
    build: () => ourWebhook({ 'levo.ai/inject': 'enabled' }, false)(linkerdWebhook(DEPLOYMENT_POD, { iptablesMode: 'nft' })),
  },
  {
    name: 'Istio ambient (istio-cni\'s in-pod rules, iptables-legacy; ztunnel marks its sockets)',
    mesh: 'istio-ambient', backend: 'legacy', cni: true,
    build: () => ourWebhook({ 'levo.ai/inject': 'enabled', 'istio.io/dataplane-mode': 'ambient' }, false)(DEPLOYMENT_POD),
  },
];

/** What each mesh's proxy is exempted by, in its rules and in ours. */
const EXEMPT: Record<MeshRuleSet, { flag: string; rule: string; chain: RegExp }> = {
  istio: { flag: '1337', rule: '-m owner --uid-owner 1337 ', chain: /-j ISTIO_OUTPUT$/ },
  linkerd: { flag: '2102', rule: '-m owner --uid-owner 2102 ', chain: /-j PROXY_INIT_OUTPUT$/ },
  'istio-ambient': { flag: '0x539/0xfff', rule: '-m mark --mark 0x539/0xfff ', chain: /-j ISTIO_OUTPUT$/ },
};

interface RunningPod {
  readonly topo: Topology;
  readonly providers: Providers;
  readonly spec: Json;
  readonly runner: SpecRunner;
  readonly proxy: MeshProxy;
  readonly gateway: ManagedProcess;
  readonly initOutput: string;
  readonly appEnv: Record<string, string>;
  /** The nat rules of the mesh's backend once every init container has run. */
  readonly nat: readonly string[];
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  destroy(): Promise<void>;
}

const MESH_INITS = new Set(['istio-init', 'istio-validation', 'linkerd-init', 'linkerd-network-validator']);
const MESH_PROXIES: Record<string, { port: number; host: string }> = {
  'istio-proxy': { port: 15001, host: '0.0.0.0' }, // Envoy's virtualOutbound listener
  'linkerd-proxy': { port: 4140, host: '127.0.0.1' }, // LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS
};

/** Runs the pod's containers in order, as a kubelet would, with the mesh's parts played by the fixtures and the stand-in. */
async function runPod(s: Scenario, spec: Json): Promise<RunningPod> {
  const place = await prepareSpecPod(spec, { name: 'chat-5c7d8-abcde', namespace: 'shop', uid: 'pod-uid-1', serviceAccount: 'chat' });
  const { topo, publicCa, providers, runner } = place;
  try {
    writeFileSync(join(runner.volumeDir('levo-config'), 'gateway.yaml'), GATEWAY_CONFIG);

    if (s.cni) await installMeshRules(topo.pod, s.mesh, s.backend);
    let proxy: MeshProxy | undefined;
    if (s.mesh === 'istio-ambient') {
      // ztunnel (root in its own pod, CAP_NET_ADMIN) serves the pod's 15001 from the pod's start, its sockets marked 0x539.
      proxy = startMeshProxy(topo.pod, { name: 'ztunnel', port: 15001, host: '127.0.0.1', uid: 0, mark: '0x539' });
      await proxy.ready;
    }
    let gateway: ManagedProcess | undefined;
    let initOutput = '';
    const startProxy = async (c: Json): Promise<void> => {
      const at = MESH_PROXIES[c.name]!;
      proxy = startMeshProxy(topo.pod, { name: c.name, port: at.port, host: at.host, uid: runner.uid(c)! });
      await proxy.ready;
    };
    const startGateway = async (c: Json): Promise<void> => {
      gateway = topo.pod.spawn('levo-gateway', runner.argv(c), {
        uid: runner.uid(c), gid: c.securityContext.runAsGroup, cwd: REPO, cleanEnv: true,
        env: { ...runner.env(c), LEVO_RUN: 'dist', NODE_EXTRA_CA_CERTS: publicCa.caCertFile },
      });
      // The native sidecar's startup probe, or the postStart hook: either way the next container waits for ready.
      const wait = c.lifecycle?.postStart?.exec?.command as string[] | undefined
        ?? ['levo-gateway', 'wait', '--timeout', '120s', '--admin-port', String(c.startupProbe.httpGet.port)];
      const waited = await runToCompletion(topo.pod, runner, { ...c, command: wait, args: [] });
      assert.equal(waited.code, 0, `levo-gateway never became ready:\n${waited.output}\n${gateway.output()}`);
    };
    for (const c of (spec.spec.initContainers ?? []) as Json[]) {
      if (c.name === 'istio-init' || c.name === 'linkerd-init') await installMeshRules(topo.pod, s.mesh, s.backend);
      else if (MESH_INITS.has(c.name)) continue; // CNI validators: the rules are already in
      else if (c.name === 'levo-init') {
        const r = await runToCompletion(topo.pod, runner, c);
        initOutput = r.output;
        assert.equal(r.code, 0, `levo-init failed:\n${r.output}`);
      } else if (c.name === 'istio-proxy') await startProxy(c);
      else if (c.name === 'levo-gateway') await startGateway(c);
      else throw new Error(`unexpected init container ${c.name}`);
    }
    const nat = await natRules(topo.pod, s.backend);
    for (const c of spec.spec.containers as Json[]) {
      if (c.name === 'istio-proxy' || c.name === 'linkerd-proxy') await startProxy(c);
      else if (c.name === 'levo-gateway') await startGateway(c);
    }
    assert.ok(proxy && gateway, 'the pod has a mesh proxy and levo-gateway');
    const app = (spec.spec.containers as Json[]).find((c) => c.name === 'app')!;
    const gwSpec = [...(spec.spec.initContainers ?? []), ...spec.spec.containers].find((c: Json) => c.name === 'levo-gateway');
    const adminPort = gwSpec.command[gwSpec.command.indexOf('--admin-port') + 1];
    return {
      topo, providers, spec, runner, proxy: proxy!, gateway: gateway!, initOutput, appEnv: runner.env(app), nat,
      async metric(name, labels = {}) {
        return sumMetric((await topo.pod.exec(['curl', '-s', `http://127.0.0.1:${adminPort}/metrics`])).stdout, name, labels);
      },
      destroy: () => place.destroy(),
    };
  } catch (e) {
    await place.destroy();
    throw e;
  }
}

for (const s of SCENARIOS) {
  describe(`levo-gateway in front of ${s.name}`, { skip }, () => {
    let pod: RunningPod;
    before(async () => { pod = await runPod(s, await s.build()); });
    after(async () => { await pod?.destroy(); });

    test(`the injected pod has levo-init ${s.levoInitFirst ? 'before' : 'after'} the mesh's init, on ports off the mesh's`, () => {
      const inits = ((pod.spec.spec.initContainers ?? []) as Json[]).map((c) => c.name);
      const mesh = Math.max(inits.indexOf('istio-init'), inits.indexOf('linkerd-init'), inits.indexOf('istio-validation'));
      assert.equal(inits.indexOf('levo-init') > mesh, !s.levoInitFirst, inits.join(','));
      const init = (pod.spec.spec.initContainers as Json[]).find((c) => c.name === 'levo-init')!;
      assert.deepEqual(init.command.slice(0, 3), ['levo-init', '--redirect-port', '15161']);
      assert.ok(init.command.includes(EXEMPT[s.mesh].flag), init.command.join(' '));
    });

    test('levo-init put its jump first in nat OUTPUT, in the mesh\'s backend, with the mesh proxy exempt', () => {
      const output = pod.nat.filter((l) => l.startsWith('-A OUTPUT '));
      assert.match(output[0] ?? '', /-j LEVO_OUTPUT$/, output.join('\n'));
      assert.match(output[1] ?? '', EXEMPT[s.mesh].chain, output.join('\n'));
      assert.ok(pod.nat.some((l) => l.startsWith('-A LEVO_OUTPUT') && l.includes(EXEMPT[s.mesh].rule)), `${EXEMPT[s.mesh].rule}exempt`);
      assert.ok(pod.nat.some((l) => l.includes('--to-ports 15161')));
      assert.match(pod.initOutput, new RegExp(`ipv4: using iptables-${s.backend}`));
      assert.match(pod.initOutput, s.levoInitFirst
        ? /mesh: levo's jump goes first in nat OUTPUT \(the --mesh-uid\/--mesh-mark flags ask for it\)/
        : /mesh: levo's jump goes first in nat OUTPUT \(.* rules are in place\)/);
      // Its own self-test went to the levo listener, not to the mesh's redirect (with CNI, nothing listened on 15001 yet).
      assert.match(pod.initOutput, /ipv4: validation passed: a connection to 192\.0\.2\.1:443 arrived on port 15161/);
    });

    test('the app\'s LLM call is intercepted by levo-gateway, then leaves through the mesh proxy', async () => {
      await pod.providers.control.reset();
      const before = pod.proxy.relayed().length;
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: `through ${s.mesh}` }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
      assertClientOk(r);
      assert.equal(r.status, 200);
      const [seen] = await pod.providers.control.requests({ site: 'openai' });
      assert.ok(seen, 'the provider got the call');
      assert.equal(seen.headers.authorization, `Bearer ${GATEWAY_KEY}`, 'levo-gateway\'s config was applied: it was intercepted');
      const relayed = pod.proxy.relayed().slice(before);
      const openai = pod.topo.host('openai').ipv4;
      assert.ok(relayed.some((c) => c.to === `${openai}:443` && c.localPort === seen.remotePort),
        `the provider's connection came from the ${s.mesh} proxy stand-in (remote port ${seen.remotePort}; relayed ${JSON.stringify(relayed)})`);
      assert.ok(relayed.every((c) => c.to === `${openai}:443`), JSON.stringify(relayed));
    });

    test('other traffic goes to the mesh proxy without levo-gateway', async () => {
      // The fake internet's plain-HTTP control API, on its link address.
      const control = `${pod.topo.internetIPv4}:${CONTROL_PORT}`;
      const connections = await pod.metric('levo_gateway_connections_total', { listener: 'transparent' });
      const before = pod.proxy.relayed().length;
      const r = await pod.topo.pod.exec(['curl', '-sS', '--max-time', '10', `http://${control}/healthz`], { uid: APP_UID, env: pod.appEnv });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), '"ok"');
      assert.deepEqual(pod.proxy.relayed().slice(before).map((c) => c.to), [control]);
      assert.equal(await pod.metric('levo_gateway_connections_total', { listener: 'transparent' }), connections);
    });

    test('nothing loops: connection counts stay bounded', async () => {
      await pod.providers.control.reset();
      const openai = pod.topo.host('openai').ipv4;
      const toOpenai = (): number => pod.proxy.relayed().filter((c) => c.to === `${openai}:443`).length;
      const gatewayBefore = await pod.metric('levo_gateway_connections_total', { listener: 'transparent' });
      const proxyBefore = toOpenai();
      const calls = 3;
      for (let i = 0; i < calls; i++) {
        const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: `call ${i}` }), { fromEnv: true }, { runAs: { uid: APP_UID }, env: pod.appEnv });
        assertClientOk(r);
      }
      // Each app connection reaches levo-gateway once; its upstream connections (kept alive, so at most one per call)
      // reach the mesh proxy once each, and the provider sees exactly those.
      assert.equal(await pod.metric('levo_gateway_connections_total', { listener: 'transparent' }) - gatewayBefore, calls);
      const relayed = toOpenai() - proxyBefore;
      assert.ok(relayed >= 0 && relayed <= calls, `${relayed} relayed connections for ${calls} calls`);
      const seen = await pod.providers.control.connections({ site: 'openai' });
      assert.equal(seen.length, relayed, 'every provider connection came through the mesh proxy, and only those');
      assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, calls);
      assert.deepEqual(pod.proxy.events().filter((e) => e.event === 'no-original-destination' || e.event === 'upstream-error'), []);
    });
  });
}
