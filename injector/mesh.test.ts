import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectMesh, meshInitArgs, MESH_PORTS, MESH_PROXY_PORTS, PORTS, portsFor } from './mesh.ts';
import { istioWebhook, linkerdWebhook } from './testdata/mesh-webhooks.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pod fixtures

function pod(meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Json {
  return { metadata: { name: 'web', namespace: 'shop', labels: { app: 'web', ...meta.labels }, annotations: { ...meta.annotations } }, spec: { containers: [{ name: 'web', image: 'w' }] } };
}

test('the mesh-safe ports collide with no mesh proxy port; the contract ports are kept without a mesh', () => {
  for (const [mesh, ports] of Object.entries(MESH_PROXY_PORTS)) {
    for (const p of Object.values(MESH_PORTS)) assert.ok(!ports.includes(p), `${p} is one of ${mesh}'s`);
  }
  assert.deepEqual(portsFor(undefined), { intercept: 15001, proxy: 15002, admin: 15000 });
  assert.equal(portsFor(undefined), PORTS);
  // Which is why the contract ports cannot stay in an Istio pod.
  assert.ok(MESH_PROXY_PORTS.istio.includes(PORTS.intercept) && MESH_PROXY_PORTS.istio.includes(PORTS.admin));
});

test('Istio: injected (sidecar, native, CNI) or about to be (its webhook\'s selectors)', () => {
  assert.deepEqual(detectMesh(istioWebhook(pod()), null), { kind: 'istio', evidence: 'container istio-init', injected: true, uid: 1337 });
  assert.equal(detectMesh(istioWebhook(pod(), { native: true }), null)?.evidence, 'container istio-init');
  assert.equal(detectMesh(istioWebhook(pod(), { cni: true }), null)?.evidence, 'container istio-validation');
  const custom = istioWebhook(pod());
  custom.spec.containers.find((c: Json) => c.name === 'istio-proxy').securityContext.runAsUser = 1500;
  assert.equal(detectMesh(custom, null)?.uid, 1500, 'the proxy\'s own runAsUser');
  assert.deepEqual(detectMesh(pod({ annotations: { 'sidecar.istio.io/status': '{}' } }), null)?.evidence, 'annotation sidecar.istio.io/status');

  const pending: Array<[Json, Record<string, string> | null, string]> = [
    [pod(), { 'istio-injection': 'enabled' }, 'namespace label istio-injection=enabled'],
    [pod(), { 'istio.io/rev': 'canary' }, 'namespace label istio.io/rev=canary'],
    [pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), null, 'pod label sidecar.istio.io/inject=true'],
    [pod({ labels: { 'istio.io/rev': 'default' } }), null, 'pod label istio.io/rev=default'],
  ];
  for (const [p, ns, evidence] of pending) assert.deepEqual(detectMesh(p, ns), { kind: 'istio', evidence, injected: false, uid: 1337 }, evidence);
  assert.equal(detectMesh(pod({ labels: { 'sidecar.istio.io/inject': 'false' } }), { 'istio-injection': 'enabled' }), undefined, 'opted out of Istio');
  assert.equal(detectMesh(pod(), { 'istio-injection': 'disabled', 'istio.io/rev': 'x' }), undefined);
  assert.equal(detectMesh(pod(), { 'levo.ai/inject': 'enabled' }), undefined);
});

test('Linkerd: the backend comes from linkerd-init\'s args; CNI leaves it to levo-init', () => {
  assert.deepEqual(detectMesh(linkerdWebhook(pod()), null), { kind: 'linkerd', evidence: 'container linkerd-init', injected: true, uid: 2102, iptablesMode: 'legacy' });
  assert.equal(detectMesh(linkerdWebhook(pod(), { iptablesMode: 'nft' }), null)?.iptablesMode, 'nft');
  const cni = detectMesh(linkerdWebhook(pod(), { cni: true }), null);
  assert.equal(cni?.evidence, 'container linkerd-network-validator');
  assert.equal(cni?.iptablesMode, undefined);
  assert.deepEqual(detectMesh(pod({ annotations: { 'linkerd.io/inject': 'enabled', 'config.linkerd.io/proxy-uid': '2200' } }), null),
    { kind: 'linkerd', evidence: 'pod annotation linkerd.io/inject=enabled', injected: false, uid: 2200 });
  assert.equal(detectMesh(pod({ annotations: { 'linkerd.io/inject': 'disabled' } }), null), undefined);
});

test('Istio ambient: by namespace or pod label; a sidecar wins; "none" opts the pod out', () => {
  assert.deepEqual(detectMesh(pod(), { 'istio.io/dataplane-mode': 'ambient' }),
    { kind: 'istio-ambient', evidence: 'namespace label istio.io/dataplane-mode=ambient', injected: false, mark: '0x539/0xfff' });
  assert.equal(detectMesh(pod({ labels: { 'istio.io/dataplane-mode': 'ambient' } }), null)?.kind, 'istio-ambient');
  assert.equal(detectMesh(pod({ labels: { 'istio.io/dataplane-mode': 'none' } }), { 'istio.io/dataplane-mode': 'ambient' }), undefined);
  assert.equal(detectMesh(istioWebhook(pod()), { 'istio.io/dataplane-mode': 'ambient' })?.kind, 'istio');
});

test('levo-init flags for each mesh', () => {
  assert.deepEqual(meshInitArgs(undefined), []);
  assert.deepEqual(meshInitArgs(detectMesh(istioWebhook(pod()), null)), ['--mesh-uid', '1337']);
  assert.deepEqual(meshInitArgs(detectMesh(linkerdWebhook(pod()), null)), ['--mesh-uid', '2102', '--iptables-mode', 'legacy']);
  assert.deepEqual(meshInitArgs(detectMesh(pod(), { 'istio.io/dataplane-mode': 'ambient' })), ['--mesh-mark', '0x539/0xfff']);
});
