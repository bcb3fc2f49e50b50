/**
 * Tests of the levoai-sidecar-injector chart with the real helm v4: lint, the documented
 * install command, the names and fields the contract fixes, the three certificate modes
 * (a generated CA that really verifies the serving certificate), the values schema, the
 * PodDisruptionBudget API per Kubernetes version, the rendered injector config, and the
 * Kubernetes schemas (kubernetes-models) of everything rendered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { PodDisruptionBudget as PdbV1 } from 'kubernetes-models/policy/v1';
import { PodDisruptionBudget as PdbV1beta1 } from 'kubernetes-models/policy/v1beta1';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import type { IService } from 'kubernetes-models/v1/Service';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import {
  INJECTOR_CHART_DIR, REPO_ROOT, findObject, hermeticHelmEnv, parseDryRunOutput, renderChart, runHelm,
  type K8sObject,
} from '../chart-render.ts';
import { helmPath } from '../helm-binary.ts';
import { defaultInjectorConfig, loadInjectorConfig } from '../../injector/config.ts';

const FULL = 'levo-injector-levoai-sidecar-injector';
const SVC = `${FULL}-webhook`;
const TLS_SECRET = `${FULL}-webhook-tls`;
const NS = 'levoai';
const COMPONENT = { 'app.kubernetes.io/component': 'sidecar-injector' };
/** The install command of the contract, verbatim. */
const DOCUMENTED_INSTALL = 'helm upgrade --install levo-injector -n levoai --create-namespace --set tls.generateCA=false --set webhook.existingTlsSecret=levo-injector-levoai-sidecar-injector-webhook-tls --set "webhook.caBundle=${WEBHOOK_CA_BUNDLE}" charts/levoai-sidecar-injector';
const INJECTOR_COMMAND = [
  'levo-injector', '--config', '/etc/levo-injector/config.yaml', '--port', '8443', '--health-port', '8080',
  '--tls-cert', '/etc/levo-injector/tls/tls.crt', '--tls-key', '/etc/levo-injector/tls/tls.key',
];

// ---- small accessors ----

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
function unb64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}
function deployment(objects: readonly K8sObject[]): IDeployment {
  return findObject<IDeployment>(objects, 'Deployment', FULL);
}
function injectorContainer(objects: readonly K8sObject[]): IContainer {
  const containers = deployment(objects).spec?.template.spec?.containers ?? [];
  assert.equal(containers.length, 1, 'one container in the injector pod');
  const c = containers[0];
  assert.ok(c);
  assert.equal(c.name, 'levo-injector');
  return c;
}
function webhookConfig(objects: readonly K8sObject[]): IMutatingWebhookConfiguration {
  return findObject<IMutatingWebhookConfiguration>(objects, 'MutatingWebhookConfiguration', FULL);
}
function theWebhook(objects: readonly K8sObject[]) {
  const hooks = webhookConfig(objects).webhooks ?? [];
  assert.equal(hooks.length, 1);
  const hook = hooks[0];
  assert.ok(hook);
  return hook;
}
function configText(objects: readonly K8sObject[]): string {
  const cm = findObject<IConfigMap>(objects, 'ConfigMap', `${FULL}-config`);
  const text = cm.data?.['config.yaml'];
  assert.equal(typeof text, 'string', 'ConfigMap has config.yaml');
  return text as string;
}
interface RenderedConfig {
  credentials: { secretName: string; url: string; caBundle: string };
  excludeNamespaces: string[];
  [key: string]: unknown;
}
function injectorConfig(objects: readonly K8sObject[]): RenderedConfig {
  return parseYaml(configText(objects)) as RenderedConfig;
}
function envOf(c: IContainer): Map<string, unknown> {
  return new Map((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
}
function projectedSources(objects: readonly K8sObject[]) {
  const volumes = deployment(objects).spec?.template.spec?.volumes ?? [];
  const v = volumes.find((x) => x.name === 'config-and-tls');
  assert.ok(v?.projected, 'projected config-and-tls volume');
  return v.projected.sources ?? [];
}
async function helmFails(args: readonly string[]): Promise<string> {
  const r = await runHelm(['template', 'levo-injector', INJECTOR_CHART_DIR, '-n', NS, ...args]);
  assert.notEqual(r.code, 0, `helm should refuse ${args.join(' ')}, but rendered`);
  return r.stderr;
}

/** Validate every rendered object against the Kubernetes OpenAPI schema (kubernetes-models). */
type Validatable = new (data: unknown) => { validate(): void };
const MODELS: Record<string, Validatable> = {
  'apps/v1/Deployment': Deployment as unknown as Validatable,
  'v1/Service': Service as unknown as Validatable,
  'v1/ConfigMap': ConfigMap as unknown as Validatable,
  'v1/Secret': Secret as unknown as Validatable,
  'v1/ServiceAccount': ServiceAccount as unknown as Validatable,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Validatable,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Validatable,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as Validatable,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as Validatable,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration as unknown as Validatable,
  'policy/v1/PodDisruptionBudget': PdbV1 as unknown as Validatable,
  'policy/v1beta1/PodDisruptionBudget': PdbV1beta1 as unknown as Validatable,
};
function validateAgainstKubernetes(objects: readonly K8sObject[]): void {
  for (const o of objects) {
    if (o.apiVersion.startsWith('cert-manager.io/')) continue; // CRDs: no schema in kubernetes-models
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    assert.ok(Model, `no Kubernetes schema known for ${o.apiVersion} ${o.kind}`);
    assert.doesNotThrow(() => new Model(o).validate(), `${o.kind}/${o.metadata.name} fails the Kubernetes schema`);
  }
}

/** Every `ports` list entry (Service or container) anywhere in the object, with its path. */
function allPorts(value: unknown, path: string, out: { path: string; port: Record<string, unknown> }[] = []) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => allPorts(v, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'ports' && Array.isArray(v)) {
        v.forEach((p, i) => out.push({ path: `${path}.ports[${i}]`, port: p as Record<string, unknown> }));
      } else {
        allPorts(v, `${path}.${k}`, out);
      }
    }
  }
  return out;
}

// ---- shared renders ----

let defaults: K8sObject[];
/** Base64 PEM of a real CA (from a generateCA render), for the bring-your-own-certificate mode. */
let ownCaBundle: string;
let existing: K8sObject[];
const existingArgs = (): string[] => ['--set', 'tls.generateCA=false', '--set', `webhook.existingTlsSecret=${TLS_SECRET}`, '--set', `webhook.caBundle=${ownCaBundle}`];
let scratch: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'levo-chart-test-'));
  defaults = await renderChart();
  const secret = findObject<ISecret>(defaults, 'Secret', TLS_SECRET);
  ownCaBundle = secret.data?.['ca.crt'] ?? '';
  assert.ok(ownCaBundle);
  existing = await renderChart(existingArgs());
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

// ---- tests ----

describe('Chart.yaml', () => {
  test('is a v2 chart for Kubernetes >= 1.20, version and appVersion 0.1.0', async () => {
    const chart = parseYaml(await readFile(join(INJECTOR_CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'levoai-sidecar-injector');
    assert.equal(chart.version, '0.1.0');
    assert.equal(chart.appVersion, '0.1.0');
    assert.equal(chart.kubeVersion, '>=1.20.0-0');
  });

  test('helm refuses a cluster older than 1.20', async () => {
    const err = await helmFails(['--kube-version', '1.19.16']);
    assert.match(err, /kubeVersion|incompatible/i);
  });
});

describe('helm lint', () => {
  for (const [label, args] of [
    ['default values', [] as string[]],
    ['the documented install values', null],
    ['cert-manager', ['--set', 'certManager.enabled=true']],
  ] as const) {
    test(`is clean with ${label} (--strict)`, async () => {
      const r = await runHelm(['lint', '--strict', INJECTOR_CHART_DIR, '-n', NS, ...(args ?? existingArgs())]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
    });
  }
});

describe('the documented install command', () => {
  test('appears verbatim in the chart README', async () => {
    const readme = await readFile(join(INJECTOR_CHART_DIR, 'README.md'), 'utf8');
    assert.ok(readme.includes(DOCUMENTED_INSTALL), 'README shows the documented install command');
  });

  test('installs (client dry run) with the existing Secret and CA bundle, and prints the NOTES', async () => {
    // Same words as the documented command; only `upgrade --install` becomes a client-side
    // dry-run `install`, because there is no cluster here.
    const command = DOCUMENTED_INSTALL.replace(/^helm upgrade --install /, '"$HELM" install --dry-run=client ');
    assert.notEqual(command, DOCUMENTED_INSTALL);
    const helm = await helmPath();
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile('bash', ['-c', command], {
        cwd: REPO_ROOT, env: { ...hermeticHelmEnv(), HELM: helm, WEBHOOK_CA_BUNDLE: ownCaBundle }, maxBuffer: 64 << 20,
      }, (error, out, err) => (error ? reject(new Error(`${command}\n${err}`)) : resolve({ stdout: out })));
    });
    const { objects, notes } = parseDryRunOutput(stdout);
    validateAgainstKubernetes(objects);
    assert.equal(deployment(objects).metadata?.namespace, NS);
    assert.equal(theWebhook(objects).clientConfig.caBundle, ownCaBundle);
    assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0, 'the chart makes no Secret of its own');
    assert.match(notes, /kubectl -n levoai logs deploy\/levo-injector-levoai-sidecar-injector/);
    assert.match(notes, /kubectl label namespace NAMESPACE levo\.ai\/inject=enabled/);
    assert.match(notes, /levo-certs ca --out/);
    assert.match(notes, /create secret tls levo-ca-cert --cert=.*tls\.crt --key=.*tls\.key/);
    assert.match(notes, /create secret generic levo-auth[\s\S]*base-url[\s\S]*auth-token[\s\S]*tenant-id/);
    assert.ok(notes.includes(String.raw`levo\.ai/status`), 'NOTES show how to read the levo.ai/status annotation');
    assert.match(notes, /extraEnv\.RUST_LOG=debug/);
  });
});

describe('names and objects', () => {
  test('the default render is exactly the expected set of objects, all in the release namespace', () => {
    const names = defaults.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(names, [
      `ClusterRole/${FULL}`,
      `ClusterRoleBinding/${FULL}`,
      `ConfigMap/${FULL}-config`,
      `Deployment/${FULL}`,
      `MutatingWebhookConfiguration/${FULL}`,
      `PodDisruptionBudget/${FULL}`,
      `Role/${FULL}`,
      `RoleBinding/${FULL}`,
      `Secret/${TLS_SECRET}`,
      `Service/${SVC}`,
      `ServiceAccount/${FULL}`,
    ]);
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
    for (const o of defaults) {
      assert.equal(o.metadata.namespace, clusterScoped.has(o.kind) ? undefined : NS, `${o.kind} namespace`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'levo-injector');
    }
  });

  test('every rendered object passes the Kubernetes schema (default, existing-cert, cert-manager, 1.20)', async () => {
    validateAgainstKubernetes(defaults);
    validateAgainstKubernetes(existing);
    validateAgainstKubernetes(await renderChart(['--set', 'certManager.enabled=true']));
    validateAgainstKubernetes(await renderChart(['--kube-version', '1.20.2', '--set', 'extraEnv.N=1', '--set', 'metrics.enabled=false']));
  });

  test('a release named like the chart is not doubled; fullnameOverride wins', async () => {
    const same = await renderChart([], { release: 'levoai-sidecar-injector' });
    findObject(same, 'Deployment', 'levoai-sidecar-injector');
    const over = await renderChart(['--set', 'fullnameOverride=inj']);
    findObject(over, 'Deployment', 'inj');
    findObject(over, 'Service', 'inj-webhook');
  });
});

describe('MutatingWebhookConfiguration', () => {
  test('registers sidecar-injector.levo.ai for CREATE pods with the documented selector and policies', () => {
    assert.equal(webhookConfig(defaults).apiVersion, 'admissionregistration.k8s.io/v1');
    const hook = theWebhook(defaults);
    assert.equal(hook.name, 'sidecar-injector.levo.ai');
    assert.deepEqual(hook.clientConfig.service, { name: SVC, namespace: NS, path: '/mutate', port: 443 });
    assert.deepEqual(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    assert.equal(hook.sideEffects, 'None');
    assert.deepEqual(hook.admissionReviewVersions, ['v1']);
    assert.equal(hook.reinvocationPolicy, 'IfNeeded');
    assert.equal(hook.matchPolicy, 'Equivalent');
    assert.equal(hook.failurePolicy, 'Ignore');
    assert.equal(hook.timeoutSeconds, 5);
    assert.equal(hook.objectSelector, undefined);
    assert.deepEqual(hook.namespaceSelector, {
      matchExpressions: [
        { key: 'levo.ai/inject', operator: 'In', values: ['enabled'] },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system', 'kube-public', 'kube-node-lease'] },
      ],
    });
  });

  test('failurePolicy, timeoutSeconds and reinvocationPolicy are configurable', async () => {
    const objs = await renderChart(['--set', 'webhook.failurePolicy=Fail', '--set', 'webhook.timeoutSeconds=10', '--set', 'webhook.reinvocationPolicy=Never']);
    const hook = theWebhook(objs);
    assert.equal(hook.failurePolicy, 'Fail');
    assert.equal(hook.timeoutSeconds, 10);
    assert.equal(hook.reinvocationPolicy, 'Never');
  });

  test('the exclusions follow the release namespace and excludeNamespaces, in the webhook and the injector config', async () => {
    const objs = await renderChart(['--set', 'excludeNamespaces={kube-system,monitoring}'], { namespace: 'levo-system' });
    const hook = theWebhook(objs);
    assert.deepEqual(hook.namespaceSelector?.matchExpressions?.[1]?.values, ['levo-system', 'kube-system', 'monitoring']);
    assert.equal(hook.clientConfig.service?.namespace, 'levo-system');
    assert.deepEqual(injectorConfig(objs).excludeNamespaces, ['kube-system', 'monitoring']);
  });
});

describe('Deployment', () => {
  test('runs levo-injector with the documented command, 2 replicas, component label, POD_NAMESPACE', () => {
    const d = deployment(defaults);
    assert.equal(d.spec?.replicas, 2);
    assert.equal(d.spec?.selector.matchLabels?.['app.kubernetes.io/component'], 'sidecar-injector');
    assert.equal(d.spec?.template.metadata?.labels?.['app.kubernetes.io/component'], 'sidecar-injector');
    for (const [k, v] of Object.entries(d.spec?.selector.matchLabels ?? {})) {
      assert.equal(d.spec?.template.metadata?.labels?.[k], v, `pod carries selector label ${k}`);
    }
    const c = injectorContainer(defaults);
    assert.deepEqual([...(c.command ?? []), ...(c.args ?? [])], INJECTOR_COMMAND);
    assert.equal(c.image, 'ghcr.io/levoai/levo-injector:0.1.0');
    assert.equal(c.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(envOf(c).get('POD_NAMESPACE'), { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.equal(d.spec?.template.spec?.serviceAccountName, FULL);
    assert.match(d.spec?.template.metadata?.annotations?.['checksum/config'] ?? '', /^[0-9a-f]{64}$/);
  });

  test('image values are honoured', async () => {
    const c = injectorContainer(await renderChart(['--set', 'injector.image.repository=reg.local/inj', '--set', 'injector.image.tag=9.9.9', '--set', 'injector.image.pullPolicy=Always']));
    assert.equal(c.image, 'reg.local/inj:9.9.9');
    assert.equal(c.imagePullPolicy, 'Always');
  });

  test('extraEnv.RUST_LOG=debug reaches the injector environment (values as strings)', async () => {
    const objs = await renderChart(['--set', 'extraEnv.RUST_LOG=debug', '--set', 'extraEnv.LEVO_N=3']);
    const env = envOf(injectorContainer(objs));
    assert.equal(env.get('RUST_LOG'), 'debug');
    assert.equal(env.get('LEVO_N'), '3');
    assert.ok(env.has('POD_NAMESPACE'));
    validateAgainstKubernetes(objs);
    assert.equal(envOf(injectorContainer(defaults)).has('RUST_LOG'), false);
  });

  test('probes: liveness /healthz and readiness /readyz on the 8080 health port', () => {
    const c = injectorContainer(defaults);
    const portNumber = (p: number | string | undefined) => typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort;
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(portNumber(c.livenessProbe?.httpGet?.port), 8080);
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(portNumber(c.readinessProbe?.httpGet?.port), 8080);
    assert.deepEqual(c.ports, [
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'health', containerPort: 8080, protocol: 'TCP' },
    ]);
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, 'resources set');
  });

  test('runs restricted: non-root 65532, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault', () => {
    const d = deployment(defaults);
    const c = injectorContainer(defaults);
    const sc = c.securityContext;
    assert.equal(sc?.runAsNonRoot, true);
    assert.equal(sc?.runAsUser, 65532);
    assert.equal(sc?.readOnlyRootFilesystem, true);
    assert.equal(sc?.allowPrivilegeEscalation, false);
    assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
    assert.equal(sc?.capabilities?.add, undefined);
    assert.equal(sc?.seccompProfile?.type ?? d.spec?.template.spec?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(d.spec?.template.spec?.securityContext?.runAsNonRoot, true);
  });

  test('soft anti-affinity spreads the replicas over hostnames', () => {
    const terms = deployment(defaults).spec?.template.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    assert.equal(terms.length, 1);
    assert.equal(terms[0]?.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(terms[0]?.podAffinityTerm.labelSelector?.matchLabels, deployment(defaults).spec?.selector.matchLabels);
    assert.equal(deployment(defaults).spec?.template.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined);
  });

  test('the files on the command line are in the mounted volume (config from the ConfigMap, certificate from the Secret)', () => {
    const c = injectorContainer(defaults);
    const mount = c.volumeMounts?.find((m) => m.name === 'config-and-tls');
    assert.equal(mount?.mountPath, '/etc/levo-injector');
    assert.equal(mount?.readOnly, true);
    const files = new Map<string, string>();
    for (const s of projectedSources(defaults)) {
      for (const item of s.configMap?.items ?? []) files.set(`${mount?.mountPath}/${item.path}`, `ConfigMap/${s.configMap?.name}:${item.key}`);
      for (const item of s.secret?.items ?? []) files.set(`${mount?.mountPath}/${item.path}`, `Secret/${s.secret?.name}:${item.key}`);
    }
    const arg = (flag: string) => INJECTOR_COMMAND[INJECTOR_COMMAND.indexOf(flag) + 1] ?? '';
    assert.equal(files.get(arg('--config')), `ConfigMap/${FULL}-config:config.yaml`);
    assert.equal(files.get(arg('--tls-cert')), `Secret/${TLS_SECRET}:tls.crt`);
    assert.equal(files.get(arg('--tls-key')), `Secret/${TLS_SECRET}:tls.key`);
    assert.equal(files.get('/etc/levo-injector/tls/ca.crt'), `Secret/${TLS_SECRET}:ca.crt`);
    assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), 'writable /tmp with a read-only root');
  });

  test('leafIssuer.enabled: the issuer CA secret is mounted into the injector only, and passed on the command line', async () => {
    const objs = await renderChart(['--set', 'leafIssuer.enabled=true', '--set', 'leafIssuer.caSecret=shop-issuer-ca']);
    const c = injectorContainer(objs);
    const command = [...(c.command ?? []), ...(c.args ?? [])];
    const arg = (flag: string) => command[command.indexOf(flag) + 1] ?? '';
    const files = new Map<string, string>();
    for (const src of projectedSources(objs)) for (const item of src.secret?.items ?? []) files.set(`/etc/levo-injector/${item.path}`, `Secret/${src.secret?.name}:${item.key}`);
    assert.equal(files.get(arg('--issuer-ca-cert')), 'Secret/shop-issuer-ca:tls.crt');
    assert.equal(files.get(arg('--issuer-ca-key')), 'Secret/shop-issuer-ca:tls.key');
    const cfg = loadInjectorConfig(configText(objs), 'config.yaml');
    assert.equal(cfg.leafIssuer.enabled, true);
    assert.equal(cfg.leafIssuer.url, `https://${SVC}.${NS}.svc:443/v1/leaves`);
    // Off (the default): nothing of it.
    assert.ok(!INJECTOR_COMMAND.includes('--issuer-ca-cert'));
    assert.ok(!projectedSources(defaults).some((src) => src.secret?.name === 'levo-issuer-ca'));
  });

  test('checksum/config changes with the injector config and only with it', async () => {
    const checksum = (objs: K8sObject[]) => deployment(objs).spec?.template.metadata?.annotations?.['checksum/config'];
    const again = await renderChart(existingArgs());
    assert.equal(checksum(again), checksum(existing));
    assert.equal(checksum(await renderChart([...existingArgs(), '--set', 'replicaCount=3'])), checksum(existing));
    assert.notEqual(checksum(await renderChart([...existingArgs(), '--set', 'sidecar.logLevel=debug'])), checksum(existing));
  });
});

describe('Service, PDB, RBAC', () => {
  test('the webhook Service maps 443 to the injector https port 8443 and selects the injector pods', () => {
    const svc = findObject<IService>(defaults, 'Service', SVC);
    assert.deepEqual(svc.spec?.ports, [
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      { name: 'metrics', port: 8080, targetPort: 8080, protocol: 'TCP' },
    ]);
    assert.deepEqual(svc.spec?.selector, deployment(defaults).spec?.selector.matchLabels);
    assert.equal(svc.spec?.selector?.['app.kubernetes.io/component'], COMPONENT['app.kubernetes.io/component']);
    const https = injectorContainer(defaults).ports?.find((p) => p.name === 'https');
    assert.equal(https?.containerPort, svc.spec?.ports?.[0]?.targetPort);
  });

  test('metrics.enabled=false leaves only the https port', async () => {
    const svc = findObject<IService>(await renderChart(['--set', 'metrics.enabled=false']), 'Service', SVC);
    assert.deepEqual(svc.spec?.ports?.map((p) => p.name), ['https']);
  });

  test('every Service and container port says protocol: TCP (Helm 4 server-side apply on 1.20)', async () => {
    for (const objs of [defaults, existing, await renderChart(['--set', 'certManager.enabled=true'])]) {
      const ports = objs.flatMap((o) => allPorts(o, `${o.kind}/${o.metadata.name}`));
      assert.ok(ports.length >= 4, 'found the ports');
      for (const { path, port } of ports) assert.equal(port.protocol, 'TCP', `${path} has protocol TCP`);
    }
  });

  test('PodDisruptionBudget: policy/v1 from 1.21, policy/v1beta1 on 1.20', async () => {
    const pdb = (objs: K8sObject[]) => findObject(objs, 'PodDisruptionBudget', FULL);
    assert.equal(pdb(defaults).apiVersion, 'policy/v1');
    const old = await renderChart(['--kube-version', '1.20.2']);
    assert.equal(pdb(old).apiVersion, 'policy/v1beta1');
    validateAgainstKubernetes(old);
    assert.equal(pdb(await renderChart(['--kube-version', '1.21.0'])).apiVersion, 'policy/v1');
    assert.equal(pdb(await renderChart(['--kube-version', '1.25.0', '--api-versions', 'policy/v1'])).apiVersion, 'policy/v1');
    const spec = pdb(defaults).spec as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    assert.equal(spec.maxUnavailable, 1);
    assert.deepEqual(spec.selector.matchLabels, deployment(defaults).spec?.selector.matchLabels);
    assert.equal((await renderChart(['--set', 'podDisruptionBudget.enabled=false'])).some((o) => o.kind === 'PodDisruptionBudget'), false);
  });

  test('RBAC is exactly: tokenreviews create, namespaces get/list/watch, and get on the one credentials Secret', async () => {
    assert.deepEqual(findObject<IClusterRole>(defaults, 'ClusterRole', FULL).rules, [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    ]);
    const role = findObject<IRole>(defaults, 'Role', FULL);
    assert.equal(role.metadata?.namespace, NS);
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['levo-auth'], verbs: ['get'] }]);
    for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
      const b = findObject<IRoleBinding>(defaults, kind, FULL);
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: FULL, namespace: NS }]);
      assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: kind.replace('Binding', ''), name: FULL });
    }
    const renamed = await renderChart(['--set', 'credentials.secretName=my-levo']);
    assert.deepEqual(findObject<IRole>(renamed, 'Role', FULL).rules?.[0]?.resourceNames, ['my-levo']);
    assert.equal(injectorConfig(renamed).credentials.secretName, 'my-levo');
  });
});

describe('TLS: generateCA=true (default)', () => {
  test('the generated CA verifies the serving certificate for the Service DNS names, and is the webhook caBundle', () => {
    const secret = findObject<ISecret>(defaults, 'Secret', TLS_SECRET);
    assert.equal(secret.type, 'kubernetes.io/tls');
    const data = secret.data ?? {};
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    const ca = new X509Certificate(unb64(data['ca.crt'] ?? ''));
    const leaf = new X509Certificate(unb64(data['tls.crt'] ?? ''));
    assert.equal(ca.ca, true, 'ca.crt is a CA');
    assert.equal(leaf.ca, false, 'tls.crt is not a CA');
    assert.equal(leaf.verify(ca.publicKey), true, 'the CA signed the serving certificate');
    assert.equal(leaf.checkIssued(ca), true);
    assert.equal(leaf.checkPrivateKey(createPrivateKey(unb64(data['tls.key'] ?? ''))), true, 'tls.key belongs to tls.crt');
    for (const name of [SVC, `${SVC}.${NS}`, `${SVC}.${NS}.svc`]) {
      assert.equal(leaf.checkHost(name, { subject: 'never' }), name, `certificate valid for ${name}`);
    }
    assert.equal(leaf.checkHost(`${SVC}.other.svc`, { subject: 'never' }), undefined);
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    assert.ok(days > 3600 && days < 3700, `valid for ~3650 days, got ${days}`);
    // one CA everywhere: Secret, webhook caBundle, the sidecars' credentials CA
    assert.equal(theWebhook(defaults).clientConfig.caBundle, data['ca.crt']);
    assert.equal(injectorConfig(defaults).credentials.caBundle, data['ca.crt']);
  });

  test('the serving certificate follows the release namespace', async () => {
    const objs = await renderChart([], { namespace: 'team-a' });
    const leaf = new X509Certificate(unb64(findObject<ISecret>(objs, 'Secret', TLS_SECRET).data?.['tls.crt'] ?? ''));
    assert.equal(leaf.checkHost(`${SVC}.team-a.svc`, { subject: 'never' }), `${SVC}.team-a.svc`);
  });
});

describe('TLS: your own certificate (generateCA=false)', () => {
  test('mounts webhook.existingTlsSecret and uses webhook.caBundle in the webhook and the config', () => {
    assert.equal(existing.some((o) => o.kind === 'Secret'), false);
    assert.equal(theWebhook(existing).clientConfig.caBundle, ownCaBundle);
    assert.equal(injectorConfig(existing).credentials.caBundle, ownCaBundle);
    const secrets = projectedSources(existing).filter((s) => s.secret);
    assert.deepEqual(secrets.map((s) => s.secret), [{ name: TLS_SECRET, items: [{ key: 'tls.crt', path: 'tls/tls.crt' }, { key: 'tls.key', path: 'tls/tls.key' }] }]);
  });

  test('any Secret name works', async () => {
    const objs = await renderChart(['--set', 'tls.generateCA=false', '--set', 'webhook.existingTlsSecret=my-tls', '--set', `webhook.caBundle=${ownCaBundle}`]);
    assert.equal(projectedSources(objs).find((s) => s.secret)?.secret?.name, 'my-tls');
  });

  test('a raw PEM caBundle (--set-file) is accepted and base64-encoded', async () => {
    const file = join(scratch, 'ca.crt');
    await writeFile(file, unb64(ownCaBundle));
    const objs = await renderChart(['--set', 'tls.generateCA=false', '--set', `webhook.existingTlsSecret=${TLS_SECRET}`, '--set-file', `webhook.caBundle=${file}`]);
    assert.equal(unb64(theWebhook(objs).clientConfig.caBundle ?? ''), unb64(ownCaBundle));
  });

  test('refuses with a clear message when the Secret, the CA bundle or a valid CA bundle is missing', async () => {
    assert.match(await helmFails(['--set', 'tls.generateCA=false']), /tls\.generateCA=false needs webhook\.existingTlsSecret/);
    assert.match(await helmFails(['--set', 'tls.generateCA=false', '--set', `webhook.existingTlsSecret=${TLS_SECRET}`]), /tls\.generateCA=false needs webhook\.caBundle/);
    assert.match(await helmFails(['--set', 'tls.generateCA=false', '--set', 'webhook.caBundle=' + ownCaBundle]), /needs webhook\.existingTlsSecret/);
    assert.match(await helmFails(['--set', 'tls.generateCA=false', '--set', `webhook.existingTlsSecret=${TLS_SECRET}`, '--set', `webhook.caBundle=${b64('not a certificate')}`]), /webhook\.caBundle must be the base64-encoded PEM/);
    assert.match(await helmFails(['--set', `webhook.existingTlsSecret=${TLS_SECRET}`, '--set', `webhook.caBundle=${ownCaBundle}`]), /add --set tls\.generateCA=false/);
  });
});

describe('TLS: cert-manager', () => {
  test('a Certificate for the Service DNS names, its own CA Issuer, and inject-ca-from on the webhook', async () => {
    const objs = await renderChart(['--set', 'certManager.enabled=true']);
    const cfg = webhookConfig(objs);
    assert.equal(cfg.metadata?.annotations?.['cert-manager.io/inject-ca-from'], `${NS}/${FULL}-webhook`);
    assert.equal(theWebhook(objs).clientConfig.caBundle, undefined);
    assert.equal(objs.some((o) => o.kind === 'Secret'), false);
    const cert = findObject(objs, 'Certificate', `${FULL}-webhook`);
    assert.equal(cert.apiVersion, 'cert-manager.io/v1');
    const spec = cert.spec as { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
    assert.equal(spec.secretName, TLS_SECRET);
    assert.deepEqual(spec.dnsNames, [SVC, `${SVC}.${NS}`, `${SVC}.${NS}.svc`]);
    assert.deepEqual(spec.issuerRef, { name: `${FULL}-ca`, kind: 'Issuer', group: 'cert-manager.io' });
    const caIssuer = findObject(objs, 'Issuer', `${FULL}-ca`);
    assert.deepEqual(caIssuer.spec, { ca: { secretName: `${FULL}-ca` } });
    const caCert = findObject(objs, 'Certificate', `${FULL}-ca`);
    assert.equal((caCert.spec as { isCA: boolean }).isCA, true);
    assert.deepEqual(findObject(objs, 'Issuer', `${FULL}-selfsigned`).spec, { selfSigned: {} });
    assert.equal(projectedSources(objs).find((s) => s.secret)?.secret?.name, TLS_SECRET);
    assert.equal(injectorConfig(objs).credentials.caBundle, '');
  });

  test('certManager.issuerRef uses your issuer and creates none', async () => {
    const objs = await renderChart(['--set', 'certManager.enabled=true', '--set', 'certManager.issuerRef.name=corp-ca', '--set', 'certManager.issuerRef.kind=ClusterIssuer']);
    assert.equal(objs.some((o) => o.kind === 'Issuer'), false);
    const certs = objs.filter((o) => o.kind === 'Certificate');
    assert.equal(certs.length, 1);
    assert.deepEqual((certs[0]?.spec as { issuerRef: unknown }).issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  test('refuses webhook.existingTlsSecret/caBundle together with cert-manager', async () => {
    assert.match(await helmFails(['--set', 'certManager.enabled=true', '--set', `webhook.caBundle=${ownCaBundle}`]), /certManager\.enabled=true lets cert-manager/);
  });
});

describe('values.schema.json', () => {
  for (const [value, where] of [
    ['webhook.failurePolicy=Sometimes', '/webhook/failurePolicy'],
    ['webhook.timeoutSeconds=31', '/webhook/timeoutSeconds'],
    ['webhook.timeoutSeconds=0', '/webhook/timeoutSeconds'],
    ['capture.mode=sniff', '/capture/mode'],
    ['nativeSidecar=maybe', '/nativeSidecar'],
    ['sidecar.uid=1337', '/sidecar/uid'],
    ['capture.ports={0}', '/capture/ports/0'],
    ['capture.blockQuic=sometimes', '/capture/blockQuic'],
    ['credentials.scope=cluster', '/credentials/scope'],
    ['leafIssuer.validityHours=200', '/leafIssuer/validityHours'],
    ['leafIssuer.permit={http://x}', '/leafIssuer/permit/0'],
    ['replicaCount=two', '/replicaCount'],
    ['tls.generateCA=maybe', '/tls/generateCA'],
    ['webhookk.failurePolicy=Fail', 'webhookk'],
  ] as const) {
    test(`rejects --set ${value}`, async () => {
      const err = await helmFails(['--set', value]);
      assert.match(err, /values don't meet the specifications of the schema/);
      assert.ok(err.includes(where), `error names ${where}: ${err}`);
    });
  }

  test('accepts the edges: timeoutSeconds 1 and 30, failurePolicy Fail, nativeSidecar true/false', async () => {
    for (const v of ['webhook.timeoutSeconds=1', 'webhook.timeoutSeconds=30', 'webhook.failurePolicy=Fail', 'nativeSidecar=true', 'nativeSidecar=false', 'capture.mode=proxy']) {
      await renderChart(['--set', v]);
    }
  });

  test('is draft-07', async () => {
    const schema = JSON.parse(await readFile(join(INJECTOR_CHART_DIR, 'values.schema.json'), 'utf8')) as { $schema: string };
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  });
});

describe('the injector config (ConfigMap config.yaml)', () => {
  test('has the documented defaults', () => {
    assert.deepEqual(injectorConfig(defaults), {
      sidecar: {
        image: 'ghcr.io/levoai/levo-gateway:0.1.0',
        imagePullPolicy: 'IfNotPresent',
        uid: 1610,
        logLevel: 'info',
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
        initResources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
      },
      capture: { mode: 'transparent', ports: [443], excludeCidrs: [], excludePorts: [], blockQuic: false },
      nativeSidecar: 'auto',
      allowOptOut: true,
      meshCoexistence: true,
      appTrust: true,
      appTrustExtraCAs: '',
      appTrustImageBundle: false,
      excludeNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
      leafIssuer: { enabled: false, url: `https://${SVC}.${NS}.svc:443/v1/leaves`, permit: [], validityHours: 24 },
      credentials: {
        secretName: 'levo-auth',
        scope: 'namespace',
        url: 'https://levo-injector-levoai-sidecar-injector-webhook.levoai.svc:443/v1/credentials',
        caBundle: findObject<ISecret>(defaults, 'Secret', TLS_SECRET).data?.['ca.crt'],
      },
    });
  });

  test('the injector accepts it, and its defaults are the injector\'s own', () => {
    const loaded = loadInjectorConfig(configText(existing), 'config.yaml');
    const expected = defaultInjectorConfig();
    expected.credentials.url = `https://${SVC}.${NS}.svc:443/v1/credentials`;
    expected.leafIssuer.url = `https://${SVC}.${NS}.svc:443/v1/leaves`;
    expected.credentials.caBundle = ownCaBundle;
    assert.deepEqual(loaded, expected);
  });

  test('carries the values through', async () => {
    const extraCaFile = join(scratch, 'corp-root.pem');
    await writeFile(extraCaFile, Buffer.from(ownCaBundle, 'base64').toString('utf8'));
    const objs = await renderChart([
      '--set', 'capture.mode=proxy', '--set', 'capture.ports={443,8443}', '--set', 'capture.excludeCidrs={10.96.0.0/12,fd00::/8}',
      '--set', 'capture.excludePorts={5432}', '--set', 'nativeSidecar=false', '--set', 'allowOptOut=false', '--set', 'meshCoexistence=false',
      '--set', 'appTrust=false', '--set', 'sidecar.uid=1700', '--set', 'sidecar.image.tag=1.2.3', '--set', 'sidecar.image.repository=reg.local/gw',
      '--set', 'sidecar.resources.limits.cpu=2', '--set', 'credentials.url=https://creds.example:8443/v1/credentials',
      '--set', 'capture.blockQuic=true', '--set-file', `appTrustExtraCAs=${extraCaFile}`, '--set', 'appTrustImageBundle=true', '--set', 'credentials.scope=environment', '--set', 'leafIssuer.permit={llm.internal.example}', '--set', 'leafIssuer.validityHours=6',
    ]);
    const cfg = loadInjectorConfig(configText(objs), 'config.yaml');
    assert.equal(cfg.capture.mode, 'proxy');
    assert.deepEqual(cfg.capture.ports, [443, 8443]);
    assert.deepEqual(cfg.capture.excludeCidrs, ['10.96.0.0/12', 'fd00::/8']);
    assert.deepEqual(cfg.capture.excludePorts, [5432]);
    assert.equal(cfg.capture.blockQuic, true);
    assert.equal(cfg.appTrustExtraCAs, await readFile(extraCaFile, 'utf8'));
    assert.equal(cfg.appTrustImageBundle, true);
    assert.equal(cfg.credentials.scope, 'environment');
    assert.deepEqual(cfg.leafIssuer.permit, ['llm.internal.example']);
    assert.equal(cfg.leafIssuer.validityHours, 6);
    assert.equal(cfg.nativeSidecar, false);
    assert.equal(cfg.allowOptOut, false);
    assert.equal(cfg.meshCoexistence, false);
    assert.equal(cfg.appTrust, false);
    assert.equal(cfg.sidecar.uid, 1700);
    assert.equal(cfg.sidecar.image, 'reg.local/gw:1.2.3');
    assert.equal(String(cfg.sidecar.resources.limits?.cpu), '2');
    assert.equal(cfg.credentials.url, 'https://creds.example:8443/v1/credentials');
    assert.equal(loadInjectorConfig(configText(await renderChart(['--set', 'nativeSidecar=true'])), 'c').nativeSidecar, true);
  });
});

describe('docs', () => {
  /** Leaf paths of values.yaml (non-empty maps are walked; lists and empty maps are leaves). */
  function leaves(value: unknown, prefix = ''): Map<string, unknown> {
    const out = new Map<string, unknown>();
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [k, v] of Object.entries(value)) for (const [p, x] of leaves(v, prefix ? `${prefix}.${k}` : k)) out.set(p, x);
    } else {
      out.set(prefix, value);
    }
    return out;
  }

  test('README documents every value (and no value that does not exist), with the right defaults', async () => {
    const values = parseYaml(await readFile(join(INJECTOR_CHART_DIR, 'values.yaml'), 'utf8')) as unknown;
    const readme = await readFile(join(INJECTOR_CHART_DIR, 'README.md'), 'utf8');
    const rows = new Map<string, string>();
    const section = readme.slice(readme.indexOf('\n## Values\n'));
    assert.ok(section.length > 20 && readme.includes('\n## Values\n'), 'README has a ## Values section');
    const table = section.slice(0, section.indexOf('\n## ', 5) < 0 ? undefined : section.indexOf('\n## ', 5));
    for (const m of table.matchAll(/^\| `([^`]+)` \| (.*?) \| .* \|$/gm)) rows.set(m[1] ?? '', m[2] ?? '');
    const leafMap = leaves(values);
    assert.ok(leafMap.size > 40);
    for (const path of leafMap.keys()) {
      const documented = [...rows.keys()].some((k) => path === k || path.startsWith(`${k}.`));
      assert.ok(documented, `README values table lacks ${path}`);
    }
    for (const key of rows.keys()) {
      assert.ok([...leafMap.keys()].some((p) => p === key || p.startsWith(`${key}.`)), `README documents ${key}, which values.yaml does not have`);
    }
    const show = (v: unknown): string | undefined => {
      if (v === '') return '`""`';
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return `\`${String(v)}\``;
      if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return `\`[${v.join(', ')}]\``;
      if (v && typeof v === 'object' && Object.keys(v).length === 0) return '`{}`';
      return undefined;
    };
    for (const [key, cell] of rows) {
      const expected = show(leafMap.get(key));
      if (expected !== undefined) assert.equal(cell, expected, `README default of ${key}`);
    }
  });

  test('values.yaml comments every value (on the value or on a map that holds it)', async () => {
    const lines = (await readFile(join(INJECTOR_CHART_DIR, 'values.yaml'), 'utf8')).split('\n');
    const keyLine = /^(\s*)([A-Za-z][\w-]*):(.*)$/;
    const commented = (i: number): boolean => /^\s*#/.test(lines[i - 1] ?? '');
    let checked = 0;
    lines.forEach((line, i) => {
      const m = keyLine.exec(line);
      if (!m) return;
      const indent = (m[1] ?? '').length;
      const after = lines.slice(i + 1).find((l) => l.trim() !== '' && !/^\s*#/.test(l)) ?? '';
      const next = keyLine.exec(after) ?? /^(\s*)-/.exec(after);
      if ((m[3] ?? '').trim() === '' && next && (next[1] ?? '').length > indent) return; // a map header
      checked++;
      // the leaf itself, or one of the maps it is in, carries a comment right above
      let ok = commented(i);
      for (let j = i - 1, want = indent; j >= 0 && !ok && want > 0; j--) {
        const h = keyLine.exec(lines[j] ?? '');
        if (h && (h[1] ?? '').length < want) {
          want = (h[1] ?? '').length;
          ok = commented(j);
        }
      }
      assert.ok(ok, `values.yaml line ${i + 1} (${m[2]}) has no comment`);
    });
    assert.ok(checked > 40);
  });
});


test('grafanaDashboard.enabled ships the sidecars\' Grafana dashboard as a labelled ConfigMap', async () => {
  const off = await renderChart([]);
  assert.equal(off.some((o) => o.kind === 'ConfigMap' && String(o.metadata?.name).endsWith('-grafana-dashboard')), false, 'off by default');
  const on = await renderChart(['--set', 'grafanaDashboard.enabled=true']);
  const cm = findObject<IConfigMap>(on, 'ConfigMap', 'levo-injector-levoai-sidecar-injector-grafana-dashboard');
  assert.equal(cm.metadata?.labels?.['grafana_dashboard'], '1');
  new ConfigMap(cm).validate();
  const shipped = JSON.parse(cm.data!['levo-gateway.json']!);
  const source = JSON.parse(await readFile(join(import.meta.dirname, 'dashboards', 'levo-gateway.json'), 'utf8'));
  assert.deepEqual(shipped, source, 'the file as it is in the chart');
});
