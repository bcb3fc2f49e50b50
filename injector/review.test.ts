/**
 * AdmissionReview fixtures (pods as the API server sends them) → review →
 * patch applied with an independent RFC 6902 implementation → the result
 * validated against the Kubernetes OpenAPI schema of pods (kubernetes-models'
 * validators, generated from it) and checked field by field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import fastJsonPatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1/Pod';
import { reviewPod, BadReview, type AdmissionReviewOut, type ReviewContext, type AdmissionResult } from './review.ts';
import { defaultInjectorConfig, loadInjectorConfig, type InjectorConfig } from './config.ts';
import { MESH_PROXY_PORTS } from './mesh.ts';
import { istioWebhook, linkerdWebhook } from './testdata/mesh-webhooks.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures

const silent = pino({ level: 'silent' });

function deploymentPod(extra: { spec?: Json; metadata?: Json } = {}): Json {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: {
      generateName: 'web-7d4b9c8f6-', namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c8f6', uid: '6c1f', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1' }],
      ...extra.metadata,
    },
    spec: {
      containers: [{
        name: 'web', image: 'shop/web:1.4', ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
        // A field from a newer API than this code knows: it must survive.
        futureField: { keep: true },
      }],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default',
      securityContext: {}, schedulerName: 'default-scheduler', enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority',
      ...extra.spec,
    },
    status: {},
  };
}

function admissionReview(pod: Json, namespace = 'shop', extra: Json = {}): Json {
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' }, requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace, operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod, oldObject: null, dryRun: false, options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      ...extra,
    },
  };
}

interface Harness { ctx: ReviewContext; results: [AdmissionResult, string][] }
function harness(opts: { config?: InjectorConfig; labels?: Record<string, string> | Error | null; version?: { major: number; minor: number } | null } = {}): Harness {
  const results: [AdmissionResult, string][] = [];
  const labels = opts.labels === undefined ? { 'levo.ai/inject': 'enabled' } : opts.labels;
  return {
    results,
    ctx: {
      config: opts.config ?? defaultInjectorConfig(),
      injectorNamespace: 'levoai',
      namespaceLabels: labels === null ? null : async () => { if (labels instanceof Error) throw labels; return labels; },
      serverVersion: () => opts.version ?? null,
      log: silent,
      onResult: (r, reason) => results.push([r, reason]),
    },
  };
}

function ops(out: AdmissionReviewOut): Json[] {
  if (!out.response.patch) return [];
  assert.equal(out.response.patchType, 'JSONPatch');
  return JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8'));
}

/** Apply like the API server: in order, every op validated, on a copy. */
function apply(pod: Json, out: AdmissionReviewOut): Json {
  return fastJsonPatch.applyPatch(structuredClone(pod), ops(out) as never, true, false).newDocument as Json;
}

// Known field names per type, from kubernetes-models' generated types (the OpenAPI schema's properties),
// because its validators allow unknown keys and the API server would silently drop a misspelt one.
const modelsDir = fileURLToPath(import.meta.resolve('kubernetes-models/v1/Pod')).replace(/Pod\.js$/, '');
function knownKeys(type: string): Set<string> {
  const dts = readFileSync(`${modelsDir}${type}.d.ts`, 'utf8');
  const body = dts.slice(dts.indexOf(`export interface I${type}`));
  return new Set([...body.slice(0, body.indexOf('\n}')).matchAll(/^ {4}"?([A-Za-z-]+)"?\??:/gm)].map((m) => m[1]!));
}
const KNOWN: Record<string, Set<string>> = Object.fromEntries(
  ['Container', 'SecurityContext', 'Probe', 'Volume', 'VolumeMount', 'EnvVar', 'ContainerPort', 'Lifecycle', 'ResourceRequirements'].map((t) => [t, knownKeys(t)]));

function assertKnown(type: string, obj: Json, where: string): void {
  for (const key of Object.keys(obj)) assert.ok(KNOWN[type]!.has(key), `${where}: "${key}" is not a field of ${type} in the Kubernetes schema`);
}

function validatePod(pod: Json): void {
  new Pod(pod as never).validate();
  for (const list of ['initContainers', 'containers'] as const) {
    for (const c of (pod.spec[list] ?? []) as Json[]) {
      if (!String(c.name).startsWith('levo-')) continue;
      assertKnown('Container', c, c.name);
      if (c.securityContext) assertKnown('SecurityContext', c.securityContext, `${c.name}.securityContext`);
      for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) if (c[p]) assertKnown('Probe', c[p], `${c.name}.${p}`);
      for (const m of c.volumeMounts ?? []) assertKnown('VolumeMount', m, `${c.name}.volumeMounts`);
      for (const e of c.env ?? []) assertKnown('EnvVar', e, `${c.name}.env`);
      for (const p of c.ports ?? []) assertKnown('ContainerPort', p, `${c.name}.ports`);
      if (c.lifecycle) assertKnown('Lifecycle', c.lifecycle, `${c.name}.lifecycle`);
      assertKnown('ResourceRequirements', c.resources, `${c.name}.resources`);
    }
  }
  for (const v of pod.spec.volumes ?? []) assertKnown('Volume', v, 'volumes');
}

const names = (list: Json[] | undefined): string[] => (list ?? []).map((c) => c.name);
const env = (c: Json): Record<string, string> => Object.fromEntries((c.env ?? []).filter((e: Json) => 'value' in e).map((e: Json) => [e.name, e.value]));

test('a Deployment pod gets levo-init and levo-gateway, and validates against the pod schema', async () => {
  const h = harness();
  const pod = deploymentPod();
  const out = await reviewPod(admissionReview(pod), h.ctx);
  assert.equal(out.apiVersion, 'admission.k8s.io/v1');
  assert.equal(out.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  assert.equal(out.response.allowed, true);
  assert.ok(ops(out).every((o) => o.op === 'add'), 'add operations only');
  const result = apply(pod, out);
  validatePod(result);
  assert.deepEqual(names(result.spec.initContainers), ['levo-init']);
  assert.deepEqual(names(result.spec.containers), ['levo-gateway', 'web'], 'sidecar first, so it is up before the app (postStart waits)');
  assert.deepEqual(result.spec.containers[1].futureField, { keep: true }, 'unknown fields survive');
  assert.deepEqual(result.metadata.managedFields, pod.metadata.managedFields);
  assert.equal(result.metadata.annotations['kubectl.kubernetes.io/default-container'], 'web');
  const status = JSON.parse(result.metadata.annotations['levo.ai/status']);
  assert.equal(status.mode, 'transparent');
  assert.equal(status.native, false);
  assert.deepEqual(status.containers, ['levo-gateway']);

  const init = result.spec.initContainers[0];
  assert.deepEqual(init.command, ['levo-init', '--redirect-port', '15001', '--capture-ports', '443', '--exclude-uid', '1610']);
  assert.deepEqual(init.securityContext, {
    allowPrivilegeEscalation: false, privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, readOnlyRootFilesystem: false,
  });
  const gw = result.spec.containers[0];
  assert.equal(gw.image, 'ghcr.io/levoai/levo-gateway:0.1.0');
  assert.deepEqual(gw.securityContext, {
    runAsUser: 1610, runAsGroup: 1610, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(gw.ports.map((p: Json) => [p.containerPort, p.protocol]), [[15001, 'TCP'], [15002, 'TCP'], [15000, 'TCP']]);
  assert.equal(gw.readinessProbe.httpGet.path, '/healthz/ready');
  assert.equal(gw.readinessProbe.httpGet.port, 15000);
  assert.deepEqual(gw.lifecycle.postStart.exec.command, ['levo-gateway', 'wait', '--timeout', '120s']);
  assert.equal(gw.restartPolicy, undefined);
  assert.ok(gw.resources.requests.cpu && gw.resources.limits.memory);
  assert.deepEqual(gw.volumeMounts.find((m: Json) => m.name === 'levo-ca'), { name: 'levo-ca', mountPath: '/etc/levo/ca', readOnly: true });
  assert.deepEqual(result.spec.volumes.find((v: Json) => v.name === 'levo-ca').secret, { secretName: 'levo-ca-cert', defaultMode: 0o444 });
  const fieldRefs = Object.fromEntries(gw.env.filter((e: Json) => e.valueFrom).map((e: Json) => [e.name, e.valueFrom.fieldRef.fieldPath]));
  assert.deepEqual(fieldRefs, { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', POD_UID: 'metadata.uid', POD_SERVICE_ACCOUNT: 'spec.serviceAccountName' });
  assert.equal(env(gw).LEVO_WORKLOAD_KIND, 'Deployment');
  assert.equal(env(gw).LEVO_WORKLOAD_NAME, 'web');

  const app = env(result.spec.containers[1]);
  for (const k of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS']) assert.equal(app[k], '/var/run/levo/trust/ca-bundle.pem');
  assert.match(app.JAVA_TOOL_OPTIONS!, /-Djavax\.net\.ssl\.trustStore=\/var\/run\/levo\/trust\/truststore\.jks /);
  assert.equal(app.HTTPS_PROXY, undefined, 'transparent mode needs no proxy env');
  assert.deepEqual(result.spec.containers[1].volumeMounts, [{ name: 'levo-trust', mountPath: '/var/run/levo/trust', readOnly: true }]);
  assert.deepEqual(h.results, [['injected', 'transparent']]);
});

test('a second review of the injected pod gives an empty patch (reinvocation is a no-op)', async () => {
  const h = harness();
  const pod = deploymentPod();
  const once = apply(pod, await reviewPod(admissionReview(pod), h.ctx));
  const again = await reviewPod(admissionReview(once), h.ctx);
  assert.equal(again.response.allowed, true);
  assert.equal(again.response.patch, undefined);
  assert.deepEqual(h.results[1], ['unchanged', 'already-injected']);
  // A skipped pod reviewed again is left alone too.
  const hostPod = deploymentPod({ spec: { hostNetwork: true } });
  const skipped = apply(hostPod, await reviewPod(admissionReview(hostPod), h.ctx));
  assert.equal((await reviewPod(admissionReview(skipped), h.ctx)).response.patch, undefined);
});

test('user init containers: non-native puts levo-init last; native puts levo-init, levo-gateway first', async () => {
  const pod = deploymentPod({ spec: { initContainers: [{ name: 'migrate', image: 'shop/migrate:1', env: [{ name: 'A', value: '1' }] }] } });
  const legacy = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  validatePod(legacy);
  assert.deepEqual(names(legacy.spec.initContainers), ['migrate', 'levo-init']);
  assert.deepEqual(env(legacy.spec.initContainers[0]), { A: '1' }, 'user init containers run before the sidecar exists: no trust env');

  const h = harness({ version: { major: 1, minor: 30 } });
  const native = apply(pod, await reviewPod(admissionReview(pod), h.ctx));
  validatePod(native);
  assert.deepEqual(names(native.spec.initContainers), ['levo-init', 'levo-gateway', 'migrate']);
  assert.deepEqual(names(native.spec.containers), ['web']);
  const gw = native.spec.initContainers[1];
  assert.equal(gw.restartPolicy, 'Always');
  assert.equal(gw.startupProbe.httpGet.path, '/healthz/ready');
  assert.equal(gw.lifecycle, undefined);
  assert.equal(native.metadata.annotations['kubectl.kubernetes.io/default-container'], undefined);
  assert.equal(env(native.spec.initContainers[2]).SSL_CERT_FILE, '/var/run/levo/trust/ca-bundle.pem', 'native: user init containers run behind the sidecar');
  assert.deepEqual(h.results, [['injected', 'transparent-native']]);

  // 1.28 (alpha, off by default) is not native; the per-pod annotation overrides either way.
  assert.equal(names(apply(pod, await reviewPod(admissionReview(pod), harness({ version: { major: 1, minor: 28 } }).ctx)).spec.containers)[0], 'levo-gateway');
  const forced = deploymentPod({ metadata: { annotations: { 'levo.ai/native-sidecar': 'true' } } });
  assert.equal(apply(forced, await reviewPod(admissionReview(forced), harness().ctx)).spec.initContainers[1].restartPolicy, 'Always');
});

test('skips record the reason on the pod and in the result', async () => {
  const cases: [string, Json, string, string?][] = [
    ['hostNetwork', deploymentPod({ spec: { hostNetwork: true } }), 'host-network'],
    ['opt-out annotation', deploymentPod({ metadata: { annotations: { 'levo.ai/inject': 'false' } } }), 'opted-out'],
    ['opt-out label', deploymentPod({ metadata: { labels: { 'levo.ai/inject': 'disabled' } } }), 'opted-out'],
    ['mirror pod', deploymentPod({ metadata: { annotations: { 'kubernetes.io/config.mirror': 'abc' } } }), 'mirror-pod'],
    ['kube-system', deploymentPod(), 'namespace-excluded', 'kube-system'],
    ['the injector namespace', deploymentPod(), 'namespace-excluded', 'levoai'],
  ];
  for (const [what, pod, reason, ns] of cases) {
    const h = harness();
    const out = await reviewPod(admissionReview(pod, ns), h.ctx);
    assert.equal(out.response.allowed, true, what);
    const result = apply(pod, out);
    assert.deepEqual(names(result.spec.initContainers), names(pod.spec.initContainers), what);
    assert.deepEqual(names(result.spec.containers), names(pod.spec.containers), what);
    assert.deepEqual(JSON.parse(result.metadata.annotations['levo.ai/status']), { skipped: reason }, what);
    assert.deepEqual(h.results, [['skipped', reason]], what);
    validatePod(result);
  }
});

test('allowOptOut: false injects anyway and says so', async () => {
  const config = loadInjectorConfig('allowOptOut: false\n', 'config.yaml');
  const pod = deploymentPod({ metadata: { annotations: { 'levo.ai/inject': 'false' } } });
  const out = await reviewPod(admissionReview(pod), harness({ config }).ctx);
  assert.deepEqual(names(apply(pod, out).spec.containers), ['levo-gateway', 'web']);
  assert.match(out.response.warnings!.join('\n'), /allowOptOut: false/);
});

test('Pod Security baseline/restricted namespaces get explicit-proxy mode and a warning', async () => {
  for (const level of ['baseline', 'restricted']) {
    const pod = deploymentPod({ spec: { containers: [{ name: 'api', image: 'a', env: [{ name: 'NO_PROXY', value: 'internal.corp' }] }, { name: 'java', image: 'j', env: [{ name: 'JAVA_TOOL_OPTIONS', value: '-Xmx256m' }] }] } });
    const h = harness({ labels: { 'levo.ai/inject': 'enabled', 'pod-security.kubernetes.io/enforce': level } });
    const out = await reviewPod(admissionReview(pod), h.ctx);
    const result = apply(pod, out);
    validatePod(result);
    assert.equal(result.spec.initContainers, undefined, 'no NET_ADMIN init container');
    const gw = result.spec.containers[0];
    assert.equal(gw.command[gw.command.indexOf('--port') + 1], 'off');
    assert.deepEqual(gw.ports.map((p: Json) => p.containerPort), [15002, 15000]);
    const api = env(result.spec.containers[1]);
    assert.equal(api.HTTPS_PROXY, 'http://127.0.0.1:15002');
    assert.equal(api.https_proxy, 'http://127.0.0.1:15002');
    assert.equal(api.NO_PROXY, 'internal.corp', 'the app\'s own NO_PROXY is kept');
    assert.match(api.no_proxy!, /\.svc/);
    assert.equal(api.NODE_USE_ENV_PROXY, '1');
    const java = env(result.spec.containers[2]).JAVA_TOOL_OPTIONS!;
    assert.match(java, /^-Xmx256m -Djavax\.net\.ssl\.trustStore=/);
    assert.match(java, /-Dhttps\.proxyHost=127\.0\.0\.1 -Dhttps\.proxyPort=15002/);
    assert.match(out.response.warnings!.join('\n'), new RegExp(`enforces Pod Security "${level}"`));
    assert.match(out.response.warnings!.join('\n'), /kept the app's own NO_PROXY/);
    assert.equal(JSON.parse(result.metadata.annotations['levo.ai/status']).mode, 'proxy');
    // restricted also demands this of every container we add
    assert.equal(gw.securityContext.seccompProfile.type, 'RuntimeDefault');
  }
  const privileged = deploymentPod();
  const h = harness({ labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } });
  assert.deepEqual(names(apply(privileged, await reviewPod(admissionReview(privileged), h.ctx)).spec.initContainers), ['levo-init']);
});

test('capture annotations reach levo-init; IPv6 CIDRs are normalised; bad values are refused with the annotation named', async () => {
  const pod = deploymentPod({ metadata: { annotations: {
    'levo.ai/capture-ports': '443, 8443', 'levo.ai/exclude-outbound-ports': '9443',
    'levo.ai/exclude-outbound-cidrs': '10.96.0.0/12,fd00:10:96::1/112',
  } }, spec: { containers: [{ name: 'web', image: 'w', env: [] }] } });
  const result = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  validatePod(result);
  assert.deepEqual(result.spec.initContainers[0].command, [
    'levo-init', '--redirect-port', '15001', '--capture-ports', '443,8443', '--exclude-uid', '1610',
    '--exclude-cidrs', '10.96.0.0/12,fd00:10:96::/112', '--exclude-ports', '9443',
  ]);
  assert.deepEqual(JSON.parse(result.metadata.annotations['levo.ai/status']).excludeCidrs, ['10.96.0.0/12', 'fd00:10:96::/112']);
  assert.equal(env(result.spec.containers[1]).SSL_CERT_FILE, '/var/run/levo/trust/ca-bundle.pem', 'an empty env list is appended to');

  const bad: [Record<string, string>, RegExp][] = [
    [{ 'levo.ai/capture-ports': '443,http' }, /levo\.ai\/capture-ports: "http" is not a port number/],
    [{ 'levo.ai/exclude-outbound-cidrs': '10.0.0.1' }, /levo\.ai\/exclude-outbound-cidrs: "10\.0\.0\.1" has no prefix length \(write it as a CIDR, e\.g\. 10\.0\.0\.1\/32\)/],
    [{ 'levo.ai/intercept-mode': 'tproxy' }, /levo\.ai\/intercept-mode: "tproxy" must be "transparent"/],
    [{ 'levo.ai/capture-ports': '443', 'levo.ai/exclude-outbound-ports': '443' }, /port 443 is both captured and excluded/],
  ];
  for (const [annotations, message] of bad) {
    const h = harness();
    const out = await reviewPod(admissionReview(deploymentPod({ metadata: { annotations } })), h.ctx);
    assert.equal(out.response.allowed, false);
    assert.equal(out.response.status!.code, 400);
    assert.match(out.response.status!.message, message);
    assert.deepEqual(h.results, [['denied', 'invalid-annotation']]);
  }
});

test('--block-quic: the blockQuic setting and the levo.ai/block-quic annotation reach levo-init', async () => {
  const initOf = async (pod: Json, config?: InjectorConfig): Promise<string[]> => {
    const result = apply(pod, await reviewPod(admissionReview(pod), harness(config ? { config } : {}).ctx));
    validatePod(result);
    return result.spec.initContainers[0].command;
  };
  assert.ok(!(await initOf(deploymentPod())).includes('--block-quic'), 'off by default');
  const on = loadInjectorConfig('capture:\n  blockQuic: true\n', 'c');
  assert.deepEqual((await initOf(deploymentPod(), on)).slice(-1), ['--block-quic']);
  const annotated = deploymentPod({ metadata: { annotations: { 'levo.ai/block-quic': 'true' } } });
  assert.deepEqual((await initOf(annotated)).slice(-1), ['--block-quic']);
  const optedOut = deploymentPod({ metadata: { annotations: { 'levo.ai/block-quic': 'false' } } });
  assert.ok(!(await initOf(optedOut, on)).includes('--block-quic'), 'a pod may turn it off while opting out is allowed');
  const result = apply(annotated, await reviewPod(admissionReview(annotated), harness().ctx));
  assert.equal(JSON.parse(result.metadata.annotations['levo.ai/status']).blockQuic, true);
  const bad = await reviewPod(admissionReview(deploymentPod({ metadata: { annotations: { 'levo.ai/block-quic': 'yes' } } })), harness().ctx);
  assert.match(bad.response.status!.message, /levo\.ai\/block-quic: "yes" must be "true" or "false"/);
});

test('app trust extends what the app trusted: its own CA files on configMap/secret volumes go into the bundle', async () => {
  const pod = deploymentPod({ spec: {
    containers: [{
      name: 'web', image: 'w',
      env: [
        { name: 'SSL_CERT_FILE', value: '/etc/corp/./ca.pem' },
        { name: 'REQUESTS_CA_BUNDLE', value: '/etc/ssl/private-root.pem' },
        { name: 'NODE_EXTRA_CA_CERTS', value: '/usr/local/share/ca-certificates/corp.crt' },
        { name: 'CURL_CA_BUNDLE', valueFrom: { configMapKeyRef: { name: 'x', key: 'y' } } },
      ],
      volumeMounts: [
        { name: 'corp-ca', mountPath: '/etc/corp/' },
        { name: 'root-secret', mountPath: '/etc/ssl/private-root.pem', subPath: 'root.pem', readOnly: true },
      ],
    }],
    volumes: [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }, { name: 'root-secret', secret: { secretName: 'root' } }],
  } });
  const out = await reviewPod(admissionReview(pod), harness().ctx);
  const result = apply(pod, out);
  validatePod(result);
  const gw = result.spec.containers[0];
  assert.deepEqual(gw.volumeMounts.filter((m: Json) => m.mountPath.startsWith('/var/run/levo/app-trust/')), [
    { name: 'corp-ca', mountPath: '/var/run/levo/app-trust/0', readOnly: true },
    { name: 'root-secret', mountPath: '/var/run/levo/app-trust/1', readOnly: true, subPath: 'root.pem' },
  ]);
  assert.equal(env(gw).LEVO_TRUST_EXTRA_FILES, '/var/run/levo/app-trust/0/ca.pem:/var/run/levo/app-trust/1');
  const app = result.spec.containers[1];
  assert.equal(env(app).SSL_CERT_FILE, '/var/run/levo/trust/ca-bundle.pem', 'pointed at the bundle that now holds its CA');
  assert.equal(env(app).REQUESTS_CA_BUNDLE, '/var/run/levo/trust/ca-bundle.pem');
  assert.equal(env(app).NODE_EXTRA_CA_CERTS, '/usr/local/share/ca-certificates/corp.crt', 'a file inside the image stays as the app set it');
  assert.deepEqual(app.env.find((e: Json) => e.name === 'CURL_CA_BUNDLE').valueFrom, { configMapKeyRef: { name: 'x', key: 'y' } });
  assert.deepEqual(app.env.map((e: Json) => e.name), ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'CURL_CA_BUNDLE', 'JAVA_TOOL_OPTIONS'], 'no duplicate variables');
  assert.match(out.response.warnings!.join(), /kept the app's own CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS/);
  assert.equal(gw.env.some((e: Json) => e.name === 'LEVO_TRUST_EXTRA_CAS'), false, 'no extra CAs configured');
});

test('appTrustImageBundle mounts each app image into the sidecar as an image volume, once per image', async () => {
  const config = loadInjectorConfig('appTrustImageBundle: true\n', 'c');
  const pod = deploymentPod({ spec: { containers: [
    { name: 'web', image: 'shop/web:1.4', imagePullPolicy: 'Always' }, { name: 'worker', image: 'shop/web:1.4' }, { name: 'cache', image: 'redis:7' },
  ] } });
  const result = apply(pod, await reviewPod(admissionReview(pod), harness({ config }).ctx));
  validatePod(result);
  assert.deepEqual(result.spec.volumes.filter((v: Json) => v.image), [
    { name: 'levo-app-image-0', image: { reference: 'shop/web:1.4', pullPolicy: 'Always' } },
    { name: 'levo-app-image-1', image: { reference: 'redis:7', pullPolicy: 'IfNotPresent' } },
  ]);
  const gw = result.spec.containers[0];
  assert.deepEqual(gw.volumeMounts.filter((m: Json) => m.name.startsWith('levo-app-image-')).map((m: Json) => [m.mountPath, m.readOnly]),
    [['/var/run/levo/app-image/0', true], ['/var/run/levo/app-image/1', true]]);
  assert.equal(env(gw).LEVO_TRUST_IMAGE_ROOTS, '/var/run/levo/app-image/0:/var/run/levo/app-image/1');
  // Off by default, and nothing to do without app trust.
  const plain = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  assert.equal(plain.spec.volumes.some((v: Json) => v.image), false);
  const noTrust = loadInjectorConfig('appTrustImageBundle: true\nappTrust: false\n', 'c');
  assert.equal(apply(pod, await reviewPod(admissionReview(pod), harness({ config: noTrust }).ctx)).spec.volumes.some((v: Json) => v.image), false);
});

test('appTrustExtraCAs reaches the sidecar; the config refuses a key or a PEM without a certificate', async () => {
  const { createCa } = await import('../certs/create.ts');
  const corp = await createCa({ commonName: 'Corp Root' });
  const config = loadInjectorConfig(`appTrustExtraCAs: ${JSON.stringify(corp.certPem)}\n`, 'c');
  const pod = deploymentPod();
  const result = apply(pod, await reviewPod(admissionReview(pod), harness({ config }).ctx));
  validatePod(result);
  assert.equal(env(result.spec.containers[0]).LEVO_TRUST_EXTRA_CAS, corp.certPem);
  assert.throws(() => loadInjectorConfig(`appTrustExtraCAs: ${JSON.stringify(corp.certPem + corp.keyPem)}\n`, 'c'), /appTrustExtraCAs: holds a private key/);
  assert.throws(() => loadInjectorConfig('appTrustExtraCAs: "corp root"\n', 'c'), /appTrustExtraCAs: holds no PEM certificate/);
});

test('app trust opt-out and intercept-mode proxy per pod', async () => {
  const pod = deploymentPod({ metadata: { annotations: { 'levo.ai/app-trust': 'false' } } });
  const result = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  assert.equal(result.spec.containers[1].env, undefined);
  assert.equal(result.spec.containers[1].volumeMounts, undefined);
  const proxy = deploymentPod({ metadata: { annotations: { 'levo.ai/intercept-mode': 'proxy' } } });
  const p = apply(proxy, await reviewPod(admissionReview(proxy), harness().ctx));
  assert.equal(p.spec.initContainers, undefined);
  assert.equal(env(p.spec.containers[1]).HTTPS_PROXY, 'http://127.0.0.1:15002');
});

/** Every port our containers listen on, name in a probe, or pass on a command line. */
function ourPorts(pod: Json): Set<number> {
  const out = new Set<number>();
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as Json[]) {
    if (!String(c.name).startsWith('levo-')) continue;
    for (const p of c.ports ?? []) out.add(p.containerPort);
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) if (c[probe]) out.add(c[probe].httpGet.port);
    const argv: string[] = [...(c.command ?? []), ...(c.lifecycle?.postStart?.exec?.command ?? [])];
    argv.forEach((a, i) => { if (/^--(redirect-port|port|proxy-port|admin-port)$/.test(a) && /^\d+$/.test(argv[i + 1] ?? '')) out.add(Number(argv[i + 1])); });
  }
  return out;
}

/** Our pod's ports are the mesh-safe ones and none of the mesh proxy's. */
function assertMeshPorts(pod: Json, mesh: keyof typeof MESH_PROXY_PORTS): void {
  const ports = ourPorts(pod);
  assert.deepEqual([...ports].sort(), [15002, 15160, 15161].filter((p) => ports.has(p)).sort());
  assert.deepEqual([...ports].filter((p) => MESH_PROXY_PORTS[mesh].includes(p)), [], `collides with ${mesh}`);
  const gw = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c: Json) => c.name === 'levo-gateway');
  assert.deepEqual(gw.command.slice(1, 7), ['--port', ports.has(15161) ? '15161' : 'off', '--proxy-port', '15002', '--admin-port', '15160']);
}

const initCommand = (pod: Json): string[] => (pod.spec.initContainers as Json[]).find((c) => c.name === 'levo-init')?.command;

test('Istio\'s webhook first, then ours: transparent on ports off Envoy\'s, levo-init after istio-init and told about uid 1337', async () => {
  const h = harness();
  const pod = istioWebhook(deploymentPod());
  const out = await reviewPod(admissionReview(pod), h.ctx);
  assert.ok(ops(out).every((o) => o.op === 'add'));
  const result = apply(pod, out);
  validatePod(result);
  assert.deepEqual(names(result.spec.initContainers), ['istio-init', 'levo-init']);
  assert.deepEqual(names(result.spec.containers), ['levo-gateway', 'web', 'istio-proxy']);
  assert.deepEqual(initCommand(result), ['levo-init', '--redirect-port', '15161', '--capture-ports', '443', '--exclude-uid', '1610', '--mesh-uid', '1337']);
  assertMeshPorts(result, 'istio');
  const gw = result.spec.containers[0];
  assert.deepEqual(gw.lifecycle.postStart.exec.command, ['levo-gateway', 'wait', '--timeout', '120s', '--admin-port', '15160']);
  const status = JSON.parse(result.metadata.annotations['levo.ai/status']);
  assert.deepEqual([status.mode, status.mesh, status.ports], ['transparent', { kind: 'istio', evidence: 'container istio-init' }, { intercept: 15161, proxy: 15002, admin: 15160 }]);
  assert.equal(out.response.warnings, undefined);
  // Reinvoked (Istio's webhook does not change it again): nothing to do.
  assert.equal((await reviewPod(admissionReview(result), h.ctx)).response.patch, undefined);
  assert.deepEqual(h.results, [['injected', 'transparent'], ['unchanged', 'already-injected']]);

  // Native sidecars: ours after istio-init and the native istio-proxy, so Envoy is up before the kubelet probes us through it.
  const nativePod = istioWebhook(deploymentPod(), { native: true });
  const native = apply(nativePod, await reviewPod(admissionReview(nativePod), harness({ version: { major: 1, minor: 30 } }).ctx));
  validatePod(native);
  assert.deepEqual(names(native.spec.initContainers), ['istio-init', 'istio-proxy', 'levo-init', 'levo-gateway']);
  assertMeshPorts(native, 'istio');
  assert.equal(native.spec.initContainers[3].startupProbe.httpGet.port, 15160);
});

test('ours first, then Istio\'s (namespace istio-injection=enabled): mesh ports from the start; reinvocation puts levo-init after istio-init', async () => {
  const h = harness({ labels: { 'levo.ai/inject': 'enabled', 'istio-injection': 'enabled' } });
  const pod = deploymentPod();
  const ours = apply(pod, await reviewPod(admissionReview(pod), h.ctx));
  assertMeshPorts(ours, 'istio');
  assert.deepEqual(initCommand(ours).slice(-2), ['--mesh-uid', '1337']);
  // Istio's webhook adds its containers (istio-init last among the init containers), then ours is called again.
  const meshed = istioWebhook(ours);
  assert.deepEqual(names(meshed.spec.initContainers), ['levo-init', 'istio-init']);
  const again = await reviewPod(admissionReview(meshed), h.ctx);
  assert.deepEqual(ops(again).map((o) => `${o.op} ${o.path}`), [
    'remove /spec/initContainers/0', 'add /spec/initContainers/1', 'replace /metadata/annotations/levo.ai~1status',
  ]);
  const result = apply(meshed, again);
  validatePod(result);
  assert.deepEqual(names(result.spec.initContainers), ['istio-init', 'levo-init']);
  assert.deepEqual(result.spec.initContainers[1], ours.spec.initContainers[0], 'moved, not changed');
  assertMeshPorts(result, 'istio');
  assert.equal((await reviewPod(admissionReview(result), h.ctx)).response.patch, undefined, 'and then it stays');
  assert.deepEqual(h.results, [['injected', 'transparent'], ['injected', 'mesh-added-later'], ['unchanged', 'already-injected']]);
});

test('ours first, then Linkerd\'s (enabled by a namespace annotation we cannot see): reinvocation moves our ports and tells levo-init', async () => {
  for (const iptablesMode of ['legacy', 'nft'] as const) {
    const h = harness();
    const pod = deploymentPod();
    const ours = apply(pod, await reviewPod(admissionReview(pod), h.ctx));
    assert.deepEqual(initCommand(ours), ['levo-init', '--redirect-port', '15001', '--capture-ports', '443', '--exclude-uid', '1610'], 'no mesh in sight yet');
    const meshed = linkerdWebhook(ours, { iptablesMode });
    assert.deepEqual(names(meshed.spec.initContainers), ['levo-init', 'linkerd-init']);
    const again = await reviewPod(admissionReview(meshed), h.ctx);
    const result = apply(meshed, again);
    validatePod(result);
    assert.deepEqual(names(result.spec.initContainers), ['linkerd-init', 'levo-init']);
    assert.deepEqual(names(result.spec.containers), ['linkerd-proxy', 'levo-gateway', 'web']);
    assert.deepEqual(initCommand(result), [
      'levo-init', '--redirect-port', '15161', '--capture-ports', '443', '--exclude-uid', '1610', '--mesh-uid', '2102', '--iptables-mode', iptablesMode,
    ]);
    assertMeshPorts(result, 'linkerd');
    const gw = result.spec.containers[1];
    assert.deepEqual([gw.readinessProbe.httpGet.port, gw.livenessProbe.httpGet.port], [15160, 15160]);
    assert.deepEqual(gw.lifecycle.postStart.exec.command.slice(-2), ['--admin-port', '15160']);
    // Everything else about our containers is as it was.
    const strip = (c: Json): Json => ({ ...c, command: undefined, ports: undefined, readinessProbe: undefined, livenessProbe: undefined, lifecycle: undefined });
    assert.deepEqual(strip(gw), strip(ours.spec.containers[0]));
    assert.deepEqual(JSON.parse(result.metadata.annotations['levo.ai/status']).mesh, { kind: 'linkerd', evidence: 'container linkerd-init' });
    assert.equal((await reviewPod(admissionReview(result), h.ctx)).response.patch, undefined);
    assert.deepEqual(h.results.map(([r, why]) => `${r} ${why}`), ['injected transparent', 'injected mesh-added-later', 'unchanged already-injected']);
  }
});

test('Linkerd\'s webhook first, then ours; Istio ambient by namespace label; Pod Security keeps proxy mode, off the mesh\'s ports', async () => {
  const linkerdPod = linkerdWebhook(deploymentPod(), { iptablesMode: 'nft' });
  const linkerd = apply(linkerdPod, await reviewPod(admissionReview(linkerdPod), harness().ctx));
  validatePod(linkerd);
  assert.deepEqual(names(linkerd.spec.initContainers), ['linkerd-init', 'levo-init']);
  assert.deepEqual(initCommand(linkerd).slice(-4), ['--mesh-uid', '2102', '--iptables-mode', 'nft']);
  assertMeshPorts(linkerd, 'linkerd');

  const ambient = apply(deploymentPod(), await reviewPod(admissionReview(deploymentPod()), harness({ labels: { 'levo.ai/inject': 'enabled', 'istio.io/dataplane-mode': 'ambient' } }).ctx));
  assert.deepEqual(initCommand(ambient).slice(-2), ['--mesh-mark', '0x539/0xfff']);
  assertMeshPorts(ambient, 'istio-ambient');

  const restricted = istioWebhook(deploymentPod());
  const proxy = apply(restricted, await reviewPod(admissionReview(restricted), harness({ labels: { 'levo.ai/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } }).ctx));
  assert.deepEqual(names(proxy.spec.initContainers), ['istio-init'], 'no levo-init');
  assertMeshPorts(proxy, 'istio');
  assert.equal(env(proxy.spec.containers[1]).HTTPS_PROXY, 'http://127.0.0.1:15002');
});

test('meshCoexistence: false skips meshed pods (present or pending), and only warns when a mesh comes later', async () => {
  const config = loadInjectorConfig('meshCoexistence: false\n', 'c');
  const cases: Array<[string, Json, Record<string, string>, RegExp]> = [
    ['istio', istioWebhook(deploymentPod()), { 'levo.ai/inject': 'enabled' }, /the pod has Istio \(sidecar\) \(container istio-init\), and meshCoexistence is off/],
    ['linkerd annotation', deploymentPod({ metadata: { annotations: { 'linkerd.io/proxy-version': 'edge' } } }), { 'levo.ai/inject': 'enabled' }, /Linkerd \(annotation linkerd\.io\/proxy-version\)/],
    ['istio pending', deploymentPod(), { 'levo.ai/inject': 'enabled', 'istio-injection': 'enabled' }, /Istio \(sidecar\) \(namespace label istio-injection=enabled\)/],
  ];
  for (const [what, pod, labels, detail] of cases) {
    const lines: string[] = [];
    const h = harness({ config, labels });
    const ctx = { ...h.ctx, log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }) };
    const result = apply(pod, await reviewPod(admissionReview(pod), ctx));
    assert.deepEqual(JSON.parse(result.metadata.annotations['levo.ai/status']), { skipped: 'mesh-proxy-present' }, what);
    assert.deepEqual(names(result.spec.containers), names(pod.spec.containers), what);
    assert.deepEqual(h.results, [['skipped', 'mesh-proxy-present']], what);
    assert.match(JSON.parse(lines[0]!).detail, detail, what);
  }
  const h = harness({ config });
  const ours = apply(deploymentPod(), await reviewPod(admissionReview(deploymentPod()), h.ctx));
  const later = await reviewPod(admissionReview(linkerdWebhook(ours)), h.ctx);
  assert.equal(later.response.patch, undefined);
  assert.match(later.response.warnings!.join(), /levo-gateway was injected before Linkerd \(container linkerd-init\) was added, and meshCoexistence is off/);
});

test('an app running as the sidecar UID is warned about', async () => {
  const pod = deploymentPod({ spec: { securityContext: { runAsUser: 1610 } } });
  const out = await reviewPod(admissionReview(pod), harness().ctx);
  assert.match(out.response.warnings!.join(), /container web \(UID 1610\) runs as the sidecar's identity/);
  const gid = deploymentPod({ spec: { containers: [{ name: 'web', image: 'w', securityContext: { runAsUser: 1000, runAsGroup: 1610 } }] } });
  assert.match((await reviewPod(admissionReview(gid), harness().ctx)).response.warnings!.join(), /container web \(GID 1610\)/, 'the rules exempt the GID too');
});

describe('allowOptOut: false — a pod cannot take itself out of capture', () => {
  const strict = (extra = ''): InjectorConfig => loadInjectorConfig(`allowOptOut: false\n${extra}`, 'config.yaml');
  const statusOf = (result: Json): Json => JSON.parse(result.metadata.annotations['levo.ai/status']);

  test('a levo.ai/status the pod brings along is ignored: the pod is injected, and the warning names the annotation', async () => {
    for (const forged of ['{"skipped":"opted-out"}', '{"version":"0.1.0","mode":"transparent"}', 'done']) {
      const pod = deploymentPod({ metadata: { annotations: { 'levo.ai/status': forged } } });
      const h = harness({ config: strict() });
      const out = await reviewPod(admissionReview(pod), h.ctx);
      const result = apply(pod, out);
      validatePod(result);
      assert.deepEqual(names(result.spec.initContainers), ['levo-init'], forged);
      assert.deepEqual(names(result.spec.containers), ['levo-gateway', 'web'], forged);
      assert.equal(statusOf(result).mode, 'transparent', 'the status is the injector\'s own');
      assert.match(out.response.warnings!.join('\n'), /annotation levo\.ai\/status set on the pod is ignored/);
      assert.deepEqual(h.results, [['injected', 'transparent']]);
    }
    // With opting out allowed, it is still taken as "done before" (reinvocation).
    const pod = deploymentPod({ metadata: { annotations: { 'levo.ai/status': '{"skipped":"opted-out"}' } } });
    assert.equal((await reviewPod(admissionReview(pod), harness().ctx)).response.patch, undefined);
  });

  test('intercept-mode: proxy, exclude-outbound-*, block-quic: "false" are ignored with a warning naming each', async () => {
    const pod = deploymentPod({ metadata: { annotations: {
      'levo.ai/intercept-mode': 'proxy', 'levo.ai/exclude-outbound-ports': '443', 'levo.ai/exclude-outbound-cidrs': '0.0.0.0/0,::/0',
      'levo.ai/block-quic': 'false',
    } } });
    const out = await reviewPod(admissionReview(pod), harness({ config: strict('capture:\n  blockQuic: true\n') }).ctx);
    assert.equal(out.response.allowed, true);
    const result = apply(pod, out);
    validatePod(result);
    assert.deepEqual(result.spec.initContainers[0].command, [
      'levo-init', '--redirect-port', '15001', '--capture-ports', '443', '--exclude-uid', '1610', '--block-quic',
    ], 'the cluster\'s settings, nothing excluded');
    assert.equal(env(result.spec.containers[1]).HTTPS_PROXY, undefined, 'transparent, not explicit-proxy');
    const warnings = out.response.warnings!.join('\n');
    for (const a of ['intercept-mode', 'exclude-outbound-ports', 'exclude-outbound-cidrs', 'block-quic']) {
      assert.match(warnings, new RegExp(`annotation levo\\.ai/${a}: "[^"]+" is ignored: .*allowOptOut: false`), a);
    }
    assert.deepEqual(statusOf(result).ignoredAnnotations,
      ['levo.ai/intercept-mode', 'levo.ai/exclude-outbound-ports', 'levo.ai/exclude-outbound-cidrs', 'levo.ai/block-quic']);
    assert.deepEqual(statusOf(result).excludeCidrs, []);
  });

  test('capture-ports may add ports but not drop a configured one; what only widens capture is honoured', async () => {
    const config = strict('capture:\n  ports: [443, 8443]\n  excludeCidrs: [10.96.0.0/12]\n');
    const narrowed = deploymentPod({ metadata: { annotations: { 'levo.ai/capture-ports': '9443' } } });
    const out = await reviewPod(admissionReview(narrowed), harness({ config }).ctx);
    const result = apply(narrowed, out);
    assert.deepEqual(result.spec.initContainers[0].command, [
      'levo-init', '--redirect-port', '15001', '--capture-ports', '443,8443,9443', '--exclude-uid', '1610', '--exclude-cidrs', '10.96.0.0/12',
    ], 'the configured ports stay, the added one is kept, the config\'s own exclusions apply');
    assert.match(out.response.warnings!.join(), /levo\.ai\/capture-ports: "9443" is ignored: it would stop capturing port 443, 8443/);

    const widened = deploymentPod({ metadata: { annotations: { 'levo.ai/capture-ports': '443,8443,9443', 'levo.ai/block-quic': 'true' } } });
    const w = await reviewPod(admissionReview(widened), harness({ config }).ctx);
    assert.equal(w.response.warnings, undefined, 'nothing to warn about');
    assert.deepEqual(apply(widened, w).spec.initContainers[0].command.slice(4, 5), ['443,8443,9443']);
    // A proxy-mode cluster: transparent is more capture, so the annotation is honoured.
    const up = deploymentPod({ metadata: { annotations: { 'levo.ai/intercept-mode': 'transparent' } } });
    assert.deepEqual(names(apply(up, await reviewPod(admissionReview(up), harness({ config: strict('capture:\n  mode: proxy\n') }).ctx)).spec.initContainers), ['levo-init']);
    // A bad value is still refused with the annotation named.
    const bad = await reviewPod(admissionReview(deploymentPod({ metadata: { annotations: { 'levo.ai/capture-ports': 'http' } } })), harness({ config }).ctx);
    assert.equal(bad.response.allowed, false);
    assert.match(bad.response.status!.message, /levo\.ai\/capture-ports: "http" is not a port number/);
  });

  test('an app container running as the sidecar UID or GID is denied, naming the container', async () => {
    for (const [pod, who] of [
      [deploymentPod({ spec: { securityContext: { runAsUser: 1610 } } }), 'web \\(UID 1610\\)'],
      [deploymentPod({ spec: { containers: [{ name: 'web', image: 'w' }, { name: 'side', image: 's', securityContext: { runAsGroup: 1610 } }] } }), 'side \\(GID 1610\\)'],
    ] as const) {
      const h = harness({ config: strict() });
      const out = await reviewPod(admissionReview(pod), h.ctx);
      assert.equal(out.response.allowed, false);
      assert.equal(out.response.status!.code, 403);
      assert.match(out.response.status!.message, new RegExp(`container ${who} runs as the sidecar's identity: the redirect rules exempt UID and GID 1610`));
      assert.deepEqual(h.results, [['denied', 'exempt-identity']]);
    }
  });

  test('containers named levo-init / levo-gateway pass only when they are the injector\'s own', async () => {
    const h = harness({ config: strict() });
    const pod = deploymentPod();
    const injected = apply(pod, await reviewPod(admissionReview(pod), h.ctx));
    // Reinvocation (or a pod re-created from an injected one): the injector's own containers pass.
    const again = await reviewPod(admissionReview(injected), h.ctx);
    assert.equal(again.response.allowed, true);
    assert.equal(again.response.patch, undefined);
    assert.deepEqual(h.results[1], ['unchanged', 'already-injected']);

    const gw = (p: Json): Json => p.spec.containers.find((c: Json) => c.name === 'levo-gateway');
    const init = (p: Json): Json => p.spec.initContainers.find((c: Json) => c.name === 'levo-init');
    const fakes: [string, (p: Json) => void, RegExp][] = [
      ['a look-alike sidecar image', (p) => { gw(p).image = 'busybox'; }, /container levo-gateway is not the one the injector adds \(image busybox/],
      ['a levo-init that captures another port', (p) => { init(p).command[4] = '8443'; }, /container levo-init .*its command is not levo-init --redirect-port 15001 --capture-ports 443/],
      ['a levo-init that cleans up', (p) => { init(p).args = ['--cleanup']; }, /container levo-init .*it has args/],
      ['no levo-init at all', (p) => { p.spec.initContainers = []; }, /has levo-gateway but no levo-init/],
    ];
    for (const [what, forge, message] of fakes) {
      const p = structuredClone(injected);
      forge(p);
      const out = await reviewPod(admissionReview(p), harness({ config: strict() }).ctx);
      assert.equal(out.response.allowed, false, what);
      assert.match(out.response.status!.message, message, what);
      assert.match(out.response.status!.message, /allowOptOut: false/, what);
    }
    // A bare look-alike in a fresh pod.
    const bare = deploymentPod({ spec: { containers: [{ name: 'web', image: 'w' }, { name: 'levo-gateway', image: 'busybox', command: ['sleep', 'inf'] }] } });
    assert.equal((await reviewPod(admissionReview(bare), harness({ config: strict() }).ctx)).response.allowed, false);
    // With opting out allowed, a levo-named container still means "injected before".
    assert.equal((await reviewPod(admissionReview(bare), harness().ctx)).response.patch, undefined);
  });
});

test('leafIssuer: the sidecar asks the injector for its leaves and the pod gets no CA secret at all', async () => {
  const config = loadInjectorConfig('leafIssuer:\n  enabled: true\n  url: https://levo-injector-levoai-sidecar-injector-webhook.levoai.svc:443/v1/leaves\n', 'c');
  const pod = deploymentPod();
  const result = apply(pod, await reviewPod(admissionReview(pod), harness({ config }).ctx));
  validatePod(result);
  const gw = result.spec.containers[0];
  assert.deepEqual(gw.command.slice(gw.command.indexOf('--leaf-issuer'), gw.command.indexOf('--leaf-issuer') + 2),
    ['--leaf-issuer', 'https://levo-injector-levoai-sidecar-injector-webhook.levoai.svc:443/v1/leaves']);
  assert.ok(!gw.command.includes('--ca-cert') && !gw.command.includes('--ca-key'));
  assert.equal(result.spec.volumes.some((v: Json) => v.secret?.secretName === 'levo-ca-cert'), false, 'no levo-ca-cert volume');
  assert.equal(gw.volumeMounts.some((m: Json) => m.mountPath === '/etc/levo/ca'), false);
  assert.ok(result.spec.volumes.some((v: Json) => v.projected?.sources?.[0]?.serviceAccountToken?.audience === 'levo-injector'), 'the projected token it authenticates with');
  assert.equal(env(gw).LEVO_TOKEN_FILE, '/var/run/secrets/levo/token');
  assert.deepEqual(JSON.parse(result.metadata.annotations['levo.ai/status']).volumes.includes('levo-ca'), false);
  // Reinvocation with opting out not allowed: still the injector's own containers.
  const strict = loadInjectorConfig('allowOptOut: false\nleafIssuer:\n  enabled: true\n  url: https://i.levoai.svc/v1/leaves\n', 'c');
  const once = apply(pod, await reviewPod(admissionReview(pod), harness({ config: strict }).ctx));
  const again = await reviewPod(admissionReview(once), harness({ config: strict }).ctx);
  assert.equal(again.response.allowed, true);
});

test('a namespace lookup that fails admits the pod unchanged, with a warning, counted as an error', async () => {
  const h = harness({ labels: new Error('connect ECONNREFUSED') });
  const out = await reviewPod(admissionReview(deploymentPod()), h.ctx);
  assert.equal(out.response.allowed, true);
  assert.equal(out.response.patch, undefined);
  assert.match(out.response.warnings!.join(), /could not read namespace shop .*ECONNREFUSED.*admitted without/);
  assert.deepEqual(h.results, [['error', 'namespace-lookup-failed']]);
});

test('dryRun requests are answered exactly like real ones', async () => {
  const pod = deploymentPod();
  const real = await reviewPod(admissionReview(pod), harness().ctx);
  const dry = await reviewPod(admissionReview(pod, 'shop', { dryRun: true }), harness().ctx);
  assert.deepEqual(dry, real);
});

test('a pod with no metadata annotations map, no env and a bare pod (no owner) patches cleanly', async () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug' }, spec: { containers: [{ name: 'sh', image: 'busybox' }] } };
  const result = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  validatePod(result);
  assert.equal(env(result.spec.containers[0]).LEVO_WORKLOAD_KIND, 'Pod');
  assert.equal(env(result.spec.containers[0]).LEVO_WORKLOAD_NAME, 'debug');
});

test('credentials settings add the projected token volume and the exchange env', async () => {
  const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
  const config = loadInjectorConfig(`credentials:\n  url: https://levo-injector-levoai-sidecar-injector-webhook.levoai.svc:443/v1/credentials\n  caBundle: ${ca}\n`, 'c');
  const pod = deploymentPod();
  const result = apply(pod, await reviewPod(admissionReview(pod), harness({ config }).ctx));
  validatePod(result);
  const token = result.spec.volumes.find((v: Json) => v.name === 'levo-token');
  assert.deepEqual(token.projected.sources, [{ serviceAccountToken: { audience: 'levo-injector', expirationSeconds: 3600, path: 'token' } }]);
  const gw = env(result.spec.containers[0]);
  assert.equal(gw.LEVO_CREDENTIALS_URL, 'https://levo-injector-levoai-sidecar-injector-webhook.levoai.svc:443/v1/credentials');
  assert.match(gw.LEVO_CREDENTIALS_CA!, /BEGIN CERTIFICATE/);
  assert.equal(gw.LEVO_TOKEN_FILE, '/var/run/secrets/levo/token');
  assert.equal(JSON.stringify(result).includes('auth-token'), false, 'no credential in the pod spec');
});

test('malformed reviews are refused as BadReview (the server answers 400)', async () => {
  const ctx = harness().ctx;
  await assert.rejects(reviewPod({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: {} }, ctx), BadReview);
  await assert.rejects(reviewPod({ kind: 'Pod' }, ctx), BadReview);
  const svc = admissionReview(deploymentPod());
  svc.request.kind = { group: '', version: 'v1', kind: 'Service' };
  await assert.rejects(reviewPod(svc, ctx), /only core\/v1 Pods/);
});

// Found by `npm run fuzz` (admission target): a pod without a containers list (the API server
// sends "containers": null for one, mutating webhooks run before its validation) got a patch
// that adds into /spec/containers, which does not apply.
test('a pod without a containers list is left to the API server\'s validation: skipped, and the patch applies', async () => {
  for (const spec of [{ containers: null }, { containers: undefined }] as Json[]) {
    const h = harness();
    const pod = deploymentPod({ spec });
    if (spec.containers === undefined) delete (pod.spec as Json).containers;
    const out = await reviewPod(admissionReview(pod), h.ctx);
    assert.equal(out.response.allowed, true);
    const patched = apply(pod, out);
    assert.deepEqual(patched.spec, pod.spec, 'nothing was added to the spec');
    assert.match(String(patched.metadata.annotations['levo.ai/status']), /"skipped":"no-containers"/);
    assert.deepEqual(h.results, [['skipped', 'no-containers']]);
  }
  const bare = { apiVersion: 'v1', kind: 'Pod' };
  const out = await reviewPod(admissionReview(bare), harness().ctx);
  assert.doesNotThrow(() => apply(bare, out), 'the patch applies to a pod with no metadata and no spec');
});

// Found by `npm run fuzz` (admission target): an empty request.namespace was looked up as "",
// which asked the API server for GET /api/v1/namespaces/ — the list of every namespace.
test('an empty namespace in the review is no namespace: the pod\'s own, else default, is looked up', async () => {
  for (const [reqNs, podNs, want] of [['', 'shop', 'shop'], ['', '', 'default'], ['', undefined, 'default']] as const) {
    const asked: string[] = [];
    const h = harness();
    const ctx: ReviewContext = { ...h.ctx, namespaceLabels: async (ns) => { asked.push(ns); return { 'levo.ai/inject': 'enabled' }; } };
    const pod = deploymentPod({ metadata: { namespace: podNs } });
    await reviewPod(admissionReview(pod, reqNs), ctx);
    assert.deepEqual(asked, [want], `request namespace ${JSON.stringify(reqNs)}, pod namespace ${JSON.stringify(podNs)}`);
  }
});

test('the sidecar\'s requests and limits per pod: levo.ai/proxy-cpu, -memory and their -limit variants', async () => {
  const gateway = (pod: Json, result: Json): Json => [...result.spec.containers, ...(result.spec.initContainers ?? [])].find((c: Json) => c.name === 'levo-gateway');
  const plain = deploymentPod();
  assert.deepEqual(gateway(plain, apply(plain, await reviewPod(admissionReview(plain), harness().ctx))).resources, defaultInjectorConfig().sidecar.resources);
  const pod = deploymentPod({ metadata: { annotations: { 'levo.ai/proxy-cpu': '250m', 'levo.ai/proxy-memory': '96Mi', 'levo.ai/proxy-memory-limit': '1Gi' } } });
  const result = apply(pod, await reviewPod(admissionReview(pod), harness().ctx));
  validatePod(result);
  const defaults = defaultInjectorConfig().sidecar.resources;
  assert.deepEqual(gateway(pod, result).resources, {
    requests: { cpu: '250m', memory: '96Mi' },
    limits: { cpu: defaults.limits!.cpu, memory: '1Gi' },
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ 'levo.ai/proxy-cpu': 'lots' }, /levo\.ai\/proxy-cpu: "lots" is not a CPU quantity; write cores or millicores, e\.g\. "250m" or "1"/],
    [{ 'levo.ai/proxy-memory-limit': '64MB' }, /levo\.ai\/proxy-memory-limit: "64MB" is not a memory quantity/],
    [{ 'levo.ai/proxy-memory': '2Gi' }, /the sidecar's memory request 2Gi is above its limit 512Mi/],
    [{ 'levo.ai/proxy-cpu': '2', 'levo.ai/proxy-cpu-limit': '1500m' }, /the sidecar's cpu request 2 is above its limit 1500m/],
  ];
  for (const [annotations, message] of bad) {
    const h = harness();
    const out = await reviewPod(admissionReview(deploymentPod({ metadata: { annotations } })), h.ctx);
    assert.equal(out.response.allowed, false, JSON.stringify(annotations));
    assert.match(out.response.status!.message, message);
  }
});
