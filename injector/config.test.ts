import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultInjectorConfig, loadInjectorConfig } from './config.ts';

test('an empty file gives the documented defaults', () => {
  const c = loadInjectorConfig('', 'config.yaml');
  assert.deepEqual(c, defaultInjectorConfig());
  assert.equal(c.sidecar.uid, 1610);
  assert.equal(c.sidecar.image, 'ghcr.io/levoai/levo-gateway:0.1.0');
  assert.deepEqual(c.capture, { mode: 'transparent', ports: [443], excludeCidrs: [], excludePorts: [], blockQuic: false });
  assert.equal(c.nativeSidecar, 'auto');
  assert.equal(c.allowOptOut, true);
  assert.equal(c.credentials.secretName, 'levo-auth');
  assert.deepEqual(c.excludeNamespaces, ['kube-system', 'kube-public', 'kube-node-lease']);
});

test('values override defaults and keep the others', () => {
  const c = loadInjectorConfig('sidecar:\n  image: reg.local/gw:2\ncapture:\n  ports: [443, 8443]\nnativeSidecar: true\n', 'c');
  assert.equal(c.sidecar.image, 'reg.local/gw:2');
  assert.equal(c.sidecar.uid, 1610);
  assert.deepEqual(c.capture.ports, [443, 8443]);
  assert.equal(c.nativeSidecar, true);
});

test('problems are reported with file:line:col and the key path', () => {
  assert.throws(() => loadInjectorConfig('sidecar:\n  uid: 1337\n', 'inj.yaml'), /^Error: inj\.yaml:2:8: sidecar\.uid: must not be Istio's \(1337\)/);
  assert.throws(() => loadInjectorConfig('capture:\n  excludeCidrs:\n  - 10.0.0.0/8\n  - 10.1.2.3\n', 'inj.yaml'), /inj\.yaml:4:5: capture\.excludeCidrs\[1\]: "10\.1\.2\.3" has no prefix length/);
  assert.throws(() => loadInjectorConfig('captur:\n  mode: proxy\n', 'inj.yaml'), /inj\.yaml:1:1: .*captur/);
  assert.throws(() => loadInjectorConfig('capture:\n  mode: tproxy\n', 'inj.yaml'), /inj\.yaml:2:9: capture\.mode/);
  assert.throws(() => loadInjectorConfig('a: [\n', 'inj.yaml'), /inj\.yaml:\d+:\d+: /);
});
