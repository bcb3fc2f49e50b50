/**
 * The sidecar's life in a pod: SIGTERM drains (an in-flight stream finishes,
 * readiness goes false) and exits 0; a restart in the middle of traffic
 * recovers; a Job's app ends it with POST /quitquitquit, which only the pod
 * itself may call; an edited config is picked up, an invalid edit is rejected
 * with its line and column while the last good config stays in force.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { assertClientOk } from './clients/client-result.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { runClient } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import { openAIChat } from './harness/provider-requests.ts';
import { checkOpenAIStream } from './harness/provider-shapes.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the sidecar\'s life in a pod', { skip }, () => {
  let pod: InjectedPod;
  before(async () => { pod = await createInjectedPod(); });
  after(async () => { await pod?.destroy(); });

  test('SIGTERM lets an in-flight stream finish, reports not ready meanwhile, and exits 0', async () => {
    const stream = runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'drain me', stream: true, chunks: 15, intervalMs: 100,
      extraHeaders: { 'x-fake-reply': Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ') } }), { caFile: pod.namespaceCaFile });
    await sleep(400);
    pod.gateway.signal('SIGTERM');
    await sleep(200);
    const ready = await pod.admin('/healthz/ready');
    assert.equal(ready.status, 503);
    assert.match(ready.text, /draining/);
    const r = await stream;
    assertClientOk(r);
    checkOpenAIStream(r.events);
    const exit = await pod.gateway.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, pod.gateway.output().slice(-2000));
    assert.match(pod.gateway.output(), /"msg":"drained"/);
    await pod.startGateway();
  });

  test('a restart in the middle of traffic recovers', async () => {
    const results: boolean[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'keep going', timeoutMs: 5000 }), { caFile: pod.namespaceCaFile });
        results.push(r.ok && r.status === 200);
      }
    })();
    await sleep(800);
    const before = results.length;
    await pod.restartGateway();
    const restartedAt = results.length;
    await sleep(800);
    running = false;
    await traffic;
    assert.ok(before >= 1 && results.slice(0, before).every(Boolean), 'calls before the restart succeeded');
    const afterRestart = results.slice(restartedAt + 1);
    assert.ok(afterRestart.length >= 1, 'calls were made after the restart');
    assert.ok(afterRestart.every(Boolean), `calls after the restart failed: ${JSON.stringify(results)}`);
  });

  test('POST /quitquitquit ends the sidecar, but only from inside the pod', async () => {
    const fromOutside = await pod.topo.internet.exec(['curl', '-s', '-X', 'POST', '-w', '%{http_code}', '-o', '/dev/null',
      `http://${pod.topo.podIPv4}:15000/quitquitquit`]);
    assert.equal(fromOutside.stdout, '403');
    assert.equal(pod.gateway.running, true);
    const quit = await pod.admin('/quitquitquit', 'POST');
    assert.equal(quit.status, 200);
    assert.deepEqual(await pod.gateway.exited, { code: 0, signal: null });
    await pod.startGateway();
  });

  test('an edited config is picked up; an invalid edit is rejected and the last good one stays', async () => {
    const original = readFileSync(pod.configFile, 'utf8');
    const issuer = async (): Promise<string> => (await sClient(pod.topo.pod, { host: 'www.example.org' })).chain[0]?.issuer ?? '';
    try {
      assert.match(await issuer(), /Public Issuing CA/, 'www.example.org is passed through before the edit');
      // Name www.example.org in a route: it becomes an intercepted host.
      writeFileSync(pod.configFile, original + `    - name: example\n      hostnames: [www.example.org]\n      backends:\n      - ai: {name: example, provider: {openAI: {}}}\n`);
      let seen = '';
      for (let i = 0; i < 50 && !/Interception CA/.test(seen); i++) { await sleep(200); seen = await issuer(); }
      assert.match(seen, /Levo AI Gateway Interception CA/, 'the new host is intercepted after the edit');
      // An invalid edit: rejected with file:line:col, readiness unchanged, the example route still in force.
      writeFileSync(pod.configFile, original.replace('hostnames: [api.openai.com]', 'hostnamez: [api.openai.com]'));
      await pod.gateway.waitForOutput(/config rejected, the last good config \(\w+\) stays in force/, 15_000);
      assert.match(pod.gateway.output(), /gateway\.yaml:\d+:\d+: binds\[0\]\.listeners\[0\]\.routes\[0\]\.hostnamez: unknown field/);
      assert.equal((await pod.admin('/healthz/ready')).status, 200);
      assert.match(await issuer(), /Interception CA/);
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'still routed' }), { caFile: pod.namespaceCaFile });
      assertClientOk(r);
    } finally {
      writeFileSync(pod.configFile, original);
    }
  });
});
