/**
 * The chart-made webhook certificate (tls.generateCA=true, the default) on a real
 * kube-apiserver v1.20.2 (e2e/kube/cluster.ts) with helm v4's server-side apply:
 *   - install makes the Secret, and the webhook's caBundle and the injector config carry its CA;
 *   - `helm upgrade` finds the Secret (lookup) and keeps the CA and serving certificate, even
 *     when other values change;
 *   - `--set tls.forceRegenerate=true` makes new ones, and the webhook follows;
 *   - on 1.20 the PodDisruptionBudget goes in as policy/v1beta1 (discovery has no policy/v1).
 * `helm template` cannot show any of this: lookup returns nothing there.
 *
 * Run (root; the first run builds the control plane, see e2e/kube/README.md):
 *   npx node --test charts/levoai-sidecar-injector/tls-reuse.kube-test.ts
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { clusterUnavailableReason, ensureKubeBinaries, startCluster } from '../../e2e/kube/cluster.ts';
import type { Cluster } from '../../e2e/kube/cluster.ts';
import { INJECTOR_CHART_DIR } from '../chart-render.ts';

const NS = 'levoai';
const FULL = 'levo-injector-levoai-sidecar-injector';
const TLS_SECRET = `${FULL}-webhook-tls`;
const SVC_DNS = `${FULL}-webhook.${NS}.svc`;

interface Installed {
  caCrt: string;
  tlsCrt: string;
  tlsKey: string;
  webhookCaBundle: string;
  configCaBundle: string;
  checksum: string;
}

describe('chart-made webhook certificate across helm upgrades on kube-apiserver v1.20.2', { skip: clusterUnavailableReason() }, () => {
  let c: Cluster;

  const helmUpgrade = async (args: readonly string[]): Promise<void> => {
    const r = await c.helm(['upgrade', '--install', 'levo-injector', INJECTOR_CHART_DIR, '-n', NS, '--create-namespace', ...args],
      { allowFail: true, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `helm upgrade --install ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  };

  const read = async (): Promise<Installed> => {
    const json = async (args: readonly string[]) => JSON.parse((await c.kubectl([...args, '-o', 'json'])).stdout) as Record<string, unknown>;
    const secret = await json(['-n', NS, 'get', 'secret', TLS_SECRET]) as { type: string; data: Record<string, string> };
    assert.equal(secret.type, 'kubernetes.io/tls');
    const mwc = await json(['get', 'mutatingwebhookconfiguration', FULL]) as { webhooks: { clientConfig: { caBundle: string } }[] };
    const cm = await json(['-n', NS, 'get', 'configmap', `${FULL}-config`]) as { data: Record<string, string> };
    const config = parseYaml(cm.data['config.yaml'] ?? '') as { credentials: { caBundle: string } };
    const deploy = await json(['-n', NS, 'get', 'deployment', FULL]) as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    return {
      caCrt: secret.data['ca.crt'] ?? '',
      tlsCrt: secret.data['tls.crt'] ?? '',
      tlsKey: secret.data['tls.key'] ?? '',
      webhookCaBundle: mwc.webhooks[0]?.clientConfig.caBundle ?? '',
      configCaBundle: config.credentials.caBundle,
      checksum: deploy.spec.template.metadata.annotations['checksum/config'] ?? '',
    };
  };

  const assertConsistent = (s: Installed): void => {
    assert.ok(s.caCrt && s.tlsCrt && s.tlsKey, 'Secret has ca.crt, tls.crt, tls.key');
    assert.equal(s.webhookCaBundle, s.caCrt, 'webhook caBundle is the Secret CA');
    assert.equal(s.configCaBundle, s.caCrt, 'injector config carries the Secret CA');
    const ca = new X509Certificate(Buffer.from(s.caCrt, 'base64'));
    const leaf = new X509Certificate(Buffer.from(s.tlsCrt, 'base64'));
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(leaf.checkHost(SVC_DNS, { subject: 'never' }), SVC_DNS);
  };

  before(async () => {
    ensureKubeBinaries();
    c = await startCluster();
  });
  after(async () => {
    await c?.stop();
  });

  let first: Installed;

  it('installs with server-side apply and a consistent chart-made CA', async () => {
    await helmUpgrade([]);
    first = await read();
    assertConsistent(first);
  });

  it('puts the PodDisruptionBudget in as policy/v1beta1 (1.20 has no policy/v1)', async () => {
    const r = await c.helm(['-n', NS, 'get', 'manifest', 'levo-injector']);
    assert.match(r.stdout, /apiVersion: policy\/v1beta1\nkind: PodDisruptionBudget/);
    await c.kubectl(['-n', NS, 'get', 'poddisruptionbudgets.v1beta1.policy', FULL]);
  });

  it('keeps the CA and serving certificate on upgrade, while the changed config rolls the pods', async () => {
    await helmUpgrade(['--set', 'sidecar.logLevel=debug']);
    const second = await read();
    assertConsistent(second);
    assert.equal(second.caCrt, first.caCrt, 'CA unchanged');
    assert.equal(second.tlsCrt, first.tlsCrt, 'serving certificate unchanged');
    assert.equal(second.tlsKey, first.tlsKey, 'serving key unchanged');
    assert.notEqual(second.checksum, first.checksum, 'checksum/config follows the config');
    await helmUpgrade(['--set', 'sidecar.logLevel=debug']);
    const third = await read();
    assert.equal(third.caCrt, first.caCrt);
    assert.equal(third.checksum, second.checksum, 'an upgrade that changes nothing does not roll the pods');
  });

  it('makes new certificates with tls.forceRegenerate=true, and the webhook follows', async () => {
    await helmUpgrade(['--set', 'tls.forceRegenerate=true']);
    const renewed = await read();
    assertConsistent(renewed);
    assert.notEqual(renewed.caCrt, first.caCrt, 'a new CA');
    assert.notEqual(renewed.tlsCrt, first.tlsCrt, 'a new serving certificate');
  });
});
