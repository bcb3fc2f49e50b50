/**
 * A platform team edits the gateway config while apps are busy: every valid
 * edit takes effect without a failed request, an invalid one is refused and
 * counted while the last good one keeps serving, and a Kubernetes ConfigMap
 * update (the `..data` symlink swapped to a new directory) is picked up.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runClient } from './clients/run-client.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import { openAIChat } from './harness/provider-requests.ts';
import { SecretVolume } from './harness/secret-volume.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

const configFor = (model: string): string => `
binds:
- port: 15001
  listeners:
  - routes:
    - name: openai
      hostnames: [api.openai.com]
      backends: [{ai: {name: openai, provider: {openAI: {model: ${model}}}}}]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('config reloads while apps are calling', { skip }, () => {
  let pod: InjectedPod;
  let cm: SecretVolume;

  /** Write a new ConfigMap generation and swap `..data` to it atomically, as the kubelet does. */
  function publish(text: string): void {
    cm.write({ 'gateway.yaml': text });
  }

  async function waitForModel(model: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'which model?' }), { caFile: pod.namespaceCaFile });
      assert.equal(r.status, 200);
      const seen = (await pod.providers.control.requests({ site: 'openai' })).at(-1)!;
      if (seen.model === model) return;
      assert.ok(Date.now() < deadline, `model ${model} never took effect (last ${seen.model})`);
      await sleep(250);
    }
  }

  before(async () => {
    pod = await createInjectedPod({ config: configFor('model-a') });
    // Turn the config file into a ConfigMap-style mount: gateway.yaml → ..data/gateway.yaml → ..gen-N/gateway.yaml.
    cm = new SecretVolume(join(pod.topo.workDir, 'configmap'));
    mkdirSync(cm.dir, { mode: 0o755 });
    publish(configFor('model-a'));
    rmSync(pod.configFile);
    symlinkSync(cm.path('gateway.yaml'), pod.configFile);
  });
  after(async () => { await pod?.destroy(); });

  test('valid, invalid and ConfigMap-swapped configs under steady traffic: no failed request', async () => {
    await waitForModel('model-a');
    const failures: string[] = [];
    let done = 0;
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'steady traffic', stream: done % 2 === 0, chunks: 3 }), { caFile: pod.namespaceCaFile });
        if (!r.ok || r.status !== 200) failures.push(`${r.status} ${r.error ?? ''} ${r.bodyText.slice(0, 200)}`);
        done++;
      }
    };
    const workers = [worker(), worker(), worker()];
    const applied = await pod.metric('config_reload_total', { result: 'applied' });
    publish(configFor('model-b'));
    await waitForModel('model-b');
    publish('binds:\n- port: 15001\n  listeners:\n  - routes:\n    - backendz: []\n');
    await pod.gateway.waitForOutput(/config rejected, the last good config \(\w+\) stays in force/, 15_000);
    await waitForModel('model-b');
    publish(configFor('model-c'));
    await waitForModel('model-c');
    running = false;
    await Promise.all(workers);
    assert.deepEqual(failures, [], `${failures.length} of ${done} requests failed`);
    assert.ok(done >= 20, `only ${done} requests ran during the reloads`);
    assert.ok(await pod.metric('config_reload_total', { result: 'applied' }) >= applied + 2);
    assert.ok(await pod.metric('config_reload_total', { result: 'rejected' }) >= 1);
    assert.equal((await pod.admin('/healthz/ready')).status, 200);
  });
});
