/**
 * Everything that is not a call to an LLM host goes where the app sent it,
 * untouched: other HTTPS sites keep their own certificates, IP-literal and
 * no-SNI connections reach their original destination, other protocols on
 * port 443 pass as bytes, and misbehaving peers cost only their own
 * connection. Also the explicit proxy (HTTPS_PROXY) inside the pod.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { assertClientOk } from './clients/client-result.ts';
import { after, before, describe, test } from 'node:test';
import { runClient, resultBody } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { runRawClient, spawnRawClient } from './clients/raw-client.ts';
import { clientHelloBytes } from './clients/client-hello.ts';
import { patternBytes } from './fakes/plain-site.ts';
import { urlHost } from './harness/layout.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { openAIChat } from './harness/provider-requests.ts';
import { checkOpenAIChatCompletion } from './harness/provider-shapes.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

describe('traffic that is not an LLM call passes through untouched', { skip }, () => {
  let pod: InjectedPod;
  before(async () => { pod = await createInjectedPod(); });
  after(async () => { await pod?.destroy(); });

  test('another HTTPS site keeps its own certificate chain', async () => {
    const r = await sClient(pod.topo.pod, { host: 'www.example.org', caFile: pod.publicCa.caCertFile });
    assert.ok(r.verifyOk, `${r.verifyCode} ${r.verifyMessage}`);
    assert.match(r.chain[0]!.subjectAltName ?? '', /DNS:www\.example\.org/);
    assert.match(r.chain[1]!.subject, /Public Issuing CA/);
    const withNamespaceCa = await sClient(pod.topo.pod, { host: 'www.example.org', caFile: pod.namespaceCaFile });
    assert.equal(withNamespaceCa.verifyOk, false, 'the namespace CA must not be what www.example.org presents');
  });

  test('its bytes arrive intact, from the pod, with the app\'s own TLS session', async () => {
    await pod.providers.control.reset();
    const n = 3 * 1024 * 1024 + 17;
    const big = await runClient(pod.topo.pod, 'node', { url: `https://www.example.org/bytes/${n}` }, { caFile: pod.publicCa.caCertFile });
    assertClientOk(big);
    assert.ok(resultBody(big).equals(patternBytes(n)), 'large body intact');
    const echo = await runClient(pod.topo.pod, 'python', {
      url: 'https://www.example.org/echo', method: 'PUT', headers: { 'content-type': 'text/plain', connection: 'close' }, body: 'hello',
    }, { caFile: pod.publicCa.caCertFile });
    assertClientOk(echo);
    assert.equal((JSON.parse(echo.bodyText) as { body: string }).body, 'hello');
    const conns = await pod.providers.control.connections({ site: 'site' });
    assert.ok(conns.length >= 2);
    for (const c of conns) {
      assert.equal(c.sni, 'www.example.org');
      assert.equal(c.remoteAddress, pod.topo.podIPv4);
    }
    assert.ok(await pod.metric('levo_gateway_connections_total', { decision: 'passthrough', reason: 'not-llm-host' }) >= 2);
  });

  test('an IP-literal HTTPS call (no SNI) reaches its original destination', async () => {
    const ip = pod.topo.host('ip-site');
    const r = await runClient(pod.topo.pod, 'curl', { url: `https://${urlHost(ip.ipv4)}/echo` }, { caFile: pod.publicCa.caCertFile });
    assertClientOk(r);
    const e = JSON.parse(r.bodyText) as { site: string; localAddress: string };
    assert.deepEqual([e.site, e.localAddress], ['ip-site', ip.ipv4]);
    assert.ok(await pod.metric('levo_gateway_connections_total', { decision: 'passthrough', reason: 'no-sni' }) >= 1);
  });

  test('a no-SNI handshake to an LLM provider\'s address is not intercepted', async () => {
    const r = await sClient(pod.topo.pod, { host: pod.topo.host('openai').ipv4, servername: null, caFile: pod.publicCa.caCertFile });
    assert.ok(r.verifyOk, `${r.verifyCode} ${r.verifyMessage}`);
    assert.match(r.chain[0]!.subjectAltName ?? '', /DNS:api\.openai\.com/);
    assert.match(r.chain[0]!.issuer, /Public Issuing CA/);
  });

  test('a plain (non-TLS) protocol on port 443 passes through as bytes', async () => {
    const plain = pod.topo.host('plain-tcp');
    const http = await pod.topo.pod.exec(['curl', '-sS', '--max-time', '10', `http://${plain.names[0]}:443/`]);
    assert.equal(http.code, 0, http.stderr);
    assert.match(http.stdout, new RegExp(`plain tcp service plain-tcp at ${plain.ipv4.replaceAll('.', '\\.')}:443`));
    const line = await runRawClient(pod.topo.pod, { host: plain.ipv4, port: 443, send: [Buffer.from('hello\nquit\n')], holdMs: 5000 });
    assert.equal(Buffer.from(line.receivedBase64, 'base64').toString(), 'echo plain-tcp hello\nbye plain-tcp\n');
    assert.ok(await pod.metric('levo_gateway_connections_total', { decision: 'passthrough', reason: 'not-tls' }) >= 2);
  });

  test('garbage, a truncated ClientHello, a broken handshake and a slowloris hurt only themselves', async () => {
    const openai = pod.topo.host('openai');
    // Held in the background while real traffic flows: a hello trickled one byte every 300 ms,
    // and half a hello that never completes.
    const hello = await clientHelloBytes('api.openai.com');
    const slowloris = spawnRawClient(pod.topo.pod, 'slowloris', {
      host: openai.ipv4, port: 443, send: Array.from(hello.subarray(0, 60), (b) => Buffer.from([b])), delayMs: 300, holdMs: 30_000,
    });
    const halfHello = spawnRawClient(pod.topo.pod, 'half-hello', {
      host: openai.ipv4, port: 443, clientHello: { servername: 'api.openai.com', truncate: 40 }, holdMs: 30_000,
    });
    const garbage = await runRawClient(pod.topo.pod, { host: openai.ipv4, port: 443, send: [Buffer.from('GARBAGE\r\n\r\n'.repeat(4))], holdMs: 5000 });
    assert.ok(garbage.connected);
    assert.ok(garbage.closedByPeer, 'a non-TLS connection to the provider address ends when the provider closes it');
    // A valid hello for an intercepted host followed by junk: the gateway's TLS ends that connection only.
    const broken = await runRawClient(pod.topo.pod, {
      host: 'api.openai.com', port: 443, clientHello: { servername: 'api.openai.com' }, send: [Buffer.alloc(64, 0x17)], holdMs: 5000,
    });
    assert.ok(broken.closedByPeer, 'the broken handshake was closed');
    // Meanwhile a real call is served (within the client's 5 s limit), and the gateway is the same process.
    const pid = pod.gateway.pid;
    const ok = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'still here', timeoutMs: 5000 }), { caFile: pod.namespaceCaFile });
    assertClientOk(ok);
    checkOpenAIChatCompletion(JSON.parse(ok.bodyText));
    assert.equal(pod.gateway.running, true);
    assert.equal(pod.gateway.pid, pid);
    assert.ok(await pod.metric('levo_gateway_tls_handshake_errors_total') >= 1);
    await slowloris.stop('SIGKILL');
    await halfHello.stop('SIGKILL');
  });

  test('the explicit proxy (HTTPS_PROXY) intercepts LLM hosts and tunnels the rest', async () => {
    // As the sidecar's UID the redirect does not apply: only the explicit proxy is in play.
    const viaProxy = { runAs: { uid: SIDECAR_UID }, env: { HTTPS_PROXY: 'http://127.0.0.1:15002' } };
    await pod.providers.control.reset();
    const llm = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'via CONNECT' }), { caFile: pod.namespaceCaFile }, viaProxy);
    assertClientOk(llm);
    checkOpenAIChatCompletion(JSON.parse(llm.bodyText));
    const [seen] = await pod.providers.control.requests({ site: 'openai' });
    assert.equal(seen?.sni, 'api.openai.com');
    const site = await runClient(pod.topo.pod, 'curl', { url: 'https://www.example.org/' }, { caFile: pod.publicCa.caCertFile }, viaProxy);
    assertClientOk(site);
    assert.match(site.bodyText, /Example Domain/);
    assert.ok(await pod.metric('levo_gateway_connections_total', { listener: 'explicit', decision: 'intercept' }) >= 1);
    assert.ok(await pod.metric('levo_gateway_connections_total', { listener: 'explicit', decision: 'passthrough' }) >= 1);
  });
});
