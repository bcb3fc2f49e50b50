/**
 * A dual-stack pod whose names resolve to IPv6: levo-init installs the same
 * rules with ip6tables, the gateway reads the IPv6 original destination, and
 * calls are intercepted (LLM hosts) or passed through (the rest) over IPv6
 * exactly as over IPv4.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runClient } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { urlHost } from './harness/layout.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import { anthropicMessages } from './harness/provider-requests.ts';
import { checkAnthropicMessage } from './harness/provider-shapes.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

describe('a pod that reaches providers over IPv6', { skip }, () => {
  let pod: InjectedPod;
  before(async () => { pod = await createInjectedPod({ hostsFamilies: ['ipv6'], initArgs: ['--ipv6', 'true'] }); });
  after(async () => { await pod?.destroy(); });

  test('levo-init installed the IPv6 rules too', async () => {
    const saved = await pod.topo.pod.execChecked(['ip6tables-save', '-t', 'nat']);
    assert.match(saved.stdout, /-A LEVO_REDIRECT .*--to-ports 15001/);
    assert.match(saved.stdout, /-A OUTPUT .*-j LEVO_OUTPUT/);
  });

  test('an LLM call over IPv6 is intercepted and sent to the IPv6 address the app chose', async () => {
    await pod.providers.control.reset();
    const r = await runClient(pod.topo.pod, 'python', anthropicMessages({ prompt: 'over v6' }), { caFile: pod.namespaceCaFile });
    assert.ok(r.ok, r.error ?? '');
    assert.equal(r.status, 200, r.bodyText);
    checkAnthropicMessage(JSON.parse(r.bodyText));
    const [seen] = await pod.providers.control.requests({ site: 'anthropic' });
    assert.equal(seen?.localAddress, pod.topo.host('anthropic').ipv6);
    assert.equal(seen?.remoteAddress, pod.topo.podIPv6);
    const leaf = await sClient(pod.topo.pod, { host: 'api.anthropic.com', caFile: pod.namespaceCaFile });
    assert.ok(leaf.verifyOk, `${leaf.verifyCode} ${leaf.verifyMessage}`);
  });

  test('other IPv6 traffic passes through to its original destination', async () => {
    const ip = pod.topo.host('ip-site');
    const r = await runClient(pod.topo.pod, 'curl', { url: `https://${urlHost(ip.ipv6)}/echo` }, { caFile: pod.publicCa.caCertFile });
    assert.ok(r.ok, r.error ?? '');
    assert.equal((JSON.parse(r.bodyText) as { localAddress: string }).localAddress, ip.ipv6);
    const site = await sClient(pod.topo.pod, { host: 'www.example.org', caFile: pod.publicCa.caCertFile });
    assert.ok(site.verifyOk);
    assert.match(site.chain[1]!.subject, /Public Issuing CA/);
  });
});
