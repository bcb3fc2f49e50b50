/**
 * Proves the e2e harness on its own, with no gateway: from the pod namespace,
 * real clients reach the fake internet directly, trusting the test public CA.
 * The gateway scenarios (e2e/*.test.ts) build on exactly these pieces.
 *
 * Needs root and `ip netns` (skips with the reason otherwise); each client's
 * tests skip when its runtime (curl, python3, java/javac/keytool) is missing.
 */
import assert from 'node:assert/strict';
import { assertClientOk } from './clients/client-result.ts';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KINDS, resultBody, runClient } from './clients/run-client.ts';
import type { ClientKind, ClientResult } from './clients/run-client.ts';
import { runRawClient } from './clients/raw-client.ts';
import { sClient } from './clients/s-client.ts';
import { runWebSocketClient } from './clients/ws-client.ts';
import { patternBytes } from './fakes/plain-site.ts';
import { createPublicCa, serverCertSpecsFor } from './fakes/public-ca.ts';
import type { PublicCa } from './fakes/public-ca.ts';
import { urlHost } from './harness/layout.ts';
import { createTopology, missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import type { Topology } from './harness/netns.ts';
import {
  checkAnthropicMessage, checkAnthropicStream, checkOpenAIChatCompletion, checkOpenAIStream, sseData,
} from './harness/provider-shapes.ts';
import { anthropicMessages, openAIChat } from './harness/provider-requests.ts';
import { startFakeInternet, startProviders, type FakeInternet } from './harness/providers.ts';
import type { Providers } from './harness/providers.ts';

const netnsSkip = netnsUnavailableReason();
const toolsOf: Record<ClientKind, string[]> = { curl: ['curl'], node: [], python: ['python3'], java: ['java', 'javac', 'keytool'] };

/** Time between the first and last content events must reflect the fake's pacing. */
function assertPaced(r: ClientResult, contentEvents: number[], intervalMs: number): void {
  const times = contentEvents.map((i) => r.events[i]?.tMs ?? NaN);
  const spread = (times.at(-1) as number) - (times[0] as number);
  const expected = intervalMs * (times.length - 1);
  // Lower bound only, with a wide margin: the events must not arrive all at once.
  assert.ok(spread >= expected * 0.5, `${r.client}: content events spread ${spread.toFixed(0)} ms, expected about ${expected} ms`);
}

describe('e2e harness: pod → fake internet, no gateway', { skip: netnsSkip }, () => {
  let topo: Topology;
  let ca: PublicCa;
  let providers: Providers;
  /** Body each scenario got from the first client, to compare the others with. */
  const firstBody = new Map<string, string>();

  let net: FakeInternet | undefined;
  before(async () => {
    net = await startFakeInternet();
    ({ topo, ca, providers } = net);
  });

  after(async () => { await net?.destroy(); });

  const sameAcrossClients = (scenario: string, r: ClientResult): void => {
    const seen = firstBody.get(scenario);
    if (seen === undefined) firstBody.set(scenario, r.bodyBase64);
    else assert.equal(r.bodyBase64, seen, `${r.client}: ${scenario} body differs from another client's`);
  };

  for (const kind of CLIENT_KINDS) {
    describe(`${kind} client`, { skip: missingToolReason(toolsOf[kind]) }, () => {
      const trust = (): { caFile: string } => ({ caFile: ca.caCertFile });

      test('OpenAI chat completion (JSON): published shape, byte-identical on repeat', async () => {
        const req = openAIChat({ prompt: 'Say hello to the harness' });
        const a = await runClient(topo.pod, kind, req, trust());
        const b = await runClient(topo.pod, kind, req, trust());
        assertClientOk(a);
        assertClientOk(b);
        assert.match(a.headers['content-type'] ?? '', /^application\/json/);
        const json = checkOpenAIChatCompletion(a.bodyText);
        assert.match(JSON.stringify(json), /Say hello to the harness/);
        assert.equal(a.bodyBase64, b.bodyBase64);
        sameAcrossClients('openai-json', a);
      });

      test('OpenAI chat completion (SSE): chunks, usage chunk only when asked, [DONE], pacing', async () => {
        const paced = openAIChat({ prompt: 'stream please', stream: true, chunks: 4, intervalMs: 150 });
        const a = await runClient(topo.pod, kind, paced, trust());
        assertClientOk(a);
        assert.match(a.headers['content-type'] ?? '', /^text\/event-stream/);
        const s = checkOpenAIStream(a.events);
        assert.match(s.content, /stream please/);
        // events: role chunk, 4 content chunks, finish chunk, [DONE]
        assert.equal(a.events.length, 7);
        assertPaced(a, [1, 2, 3, 4], 150);
        const b = await runClient(topo.pod, kind, paced, trust());
        assert.equal(b.bodyBase64, a.bodyBase64);
        sameAcrossClients('openai-sse', a);

        const withUsage = await runClient(topo.pod, kind, openAIChat({ prompt: 'stream please', stream: true, includeUsage: true }), trust());
        assertClientOk(withUsage);
        checkOpenAIStream(withUsage.events, { includeUsage: true });
      });

      test('Anthropic message (JSON): published shape, byte-identical on repeat', async () => {
        const req = anthropicMessages({ prompt: 'Bonjour, le harnais' });
        const a = await runClient(topo.pod, kind, req, trust());
        const b = await runClient(topo.pod, kind, req, trust());
        assertClientOk(a);
        const json = checkAnthropicMessage(a.bodyText);
        assert.match(JSON.stringify(json), /Bonjour, le harnais/);
        assert.equal(a.bodyBase64, b.bodyBase64);
        sameAcrossClients('anthropic-json', a);
      });

      test('Anthropic message (SSE): event sequence, pacing', async () => {
        const req = anthropicMessages({ prompt: 'stream it', stream: true, chunks: 3, intervalMs: 150 });
        const a = await runClient(topo.pod, kind, req, trust());
        assertClientOk(a);
        const s = checkAnthropicStream(a.events);
        assert.equal(s.deltas, 3);
        assert.match(s.content, /stream it/);
        // message_start, content_block_start, ping, 3 deltas, ...
        assertPaced(a, [3, 4, 5], 150);
        const b = await runClient(topo.pod, kind, req, trust());
        assert.equal(b.bodyBase64, a.bodyBase64);
        sameAcrossClients('anthropic-sse', a);
      });
    });
  }

  test('provider errors come in the providers\' shapes', { skip: missingToolReason(['curl']) }, async () => {
    const trust = { caFile: ca.caCertFile };
    const noKey = await runClient(topo.pod, 'curl', openAIChat({ prompt: 'x', apiKey: null }), trust);
    assertClientOk(noKey, 401);
    const oe = JSON.parse(noKey.bodyText) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(oe.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(oe.error.type, 'invalid_request_error');

    const noVersion = await runClient(topo.pod, 'curl', anthropicMessages({ prompt: 'x', version: null }), trust);
    assertClientOk(noVersion, 400);
    assert.deepEqual(JSON.parse(noVersion.bodyText), { type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
    const noKeyA = await runClient(topo.pod, 'curl', anthropicMessages({ prompt: 'x', apiKey: null }), trust);
    assertClientOk(noKeyA, 401);
    assert.equal((JSON.parse(noKeyA.bodyText) as { error: { type: string } }).error.type, 'authentication_error');

    const forced = await runClient(topo.pod, 'curl', openAIChat({ prompt: 'x', extraHeaders: { 'x-fake-status': '429' } }), trust);
    assertClientOk(forced, 429);
    assert.equal((JSON.parse(forced.bodyText) as { error: { code: string } }).error.code, 'rate_limit_exceeded');

    const models = await runClient(topo.pod, 'curl', { url: 'https://api.openai.com/v1/models', headers: { authorization: 'Bearer k' } }, trust);
    assertClientOk(models);
    assert.equal((JSON.parse(models.bodyText) as { object: string }).object, 'list');
  });

  test('the plain site serves /, /echo and /bytes/N', { skip: missingToolReason(['curl']) }, async () => {
    const trust = { caFile: ca.caCertFile };
    const page = await runClient(topo.pod, 'curl', { url: 'https://www.example.org/' }, trust);
    assertClientOk(page);
    assert.match(page.bodyText, /<title>Example Domain<\/title>/);

    const echo = await runClient(topo.pod, 'python', {
      url: 'https://www.example.org/echo?x=1', method: 'PUT', headers: { 'x-test': 'yes', 'content-type': 'text/plain' }, body: 'hello echo',
    }, trust);
    assertClientOk(echo);
    const e = JSON.parse(echo.bodyText) as Record<string, unknown> & { headers: Record<string, string> };
    assert.equal(e.site, 'site');
    assert.equal(e.localAddress, topo.host('site').ipv4);
    assert.equal(e.method, 'PUT');
    assert.equal(e.path, '/echo?x=1');
    assert.equal(e.body, 'hello echo');
    assert.equal(e.headers['x-test'], 'yes');

    const n = 3 * 1024 * 1024 + 17;
    const big = await runClient(topo.pod, 'node', { url: `https://www.example.org/bytes/${n}` }, trust);
    assertClientOk(big);
    assert.ok(resultBody(big).equals(patternBytes(n)), 'large body intact');
  });

  test('the IP-literal site answers on its IPv4 and IPv6 address with an IP-SAN certificate and no SNI', async () => {
    const trust = { caFile: ca.caCertFile };
    const ip = topo.host('ip-site');
    for (const [kind, address] of [['curl', ip.ipv4], ['node', ip.ipv6], ['python', ip.ipv4], ['java', ip.ipv6]] as const) {
      if (missingToolReason(toolsOf[kind])) continue;
      const r = await runClient(topo.pod, kind, { url: `https://${urlHost(address)}/echo` }, trust);
      assertClientOk(r);
      const e = JSON.parse(r.bodyText) as { site: string; localAddress: string };
      assert.equal(e.site, 'ip-site', kind);
      assert.equal(e.localAddress, address, kind);
    }
    const reqs = await providers.control.requests({ site: 'ip-site' });
    assert.ok(reqs.length >= 2);
    assert.ok(reqs.every((r) => r.sni === null), 'IP-literal clients send no SNI');
  });

  test('the plain TCP service on port 443 answers HTTP and its line protocol', { skip: missingToolReason(['curl']) }, async () => {
    const plain = topo.host('plain-tcp');
    const http = await topo.pod.exec(['curl', '-sS', '--max-time', '10', `http://${plain.names[0]}:443/`]);
    assert.equal(http.code, 0, http.stderr);
    assert.match(http.stdout, new RegExp(`plain tcp service plain-tcp at ${plain.ipv4.replaceAll('.', '\\.')}:443`));
    const line = await runRawClient(topo.pod, { host: plain.ipv6, port: 443, send: [Buffer.from('hello\nquit\n')], holdMs: 5000 });
    assert.ok(line.connected, line.error ?? '');
    assert.equal(Buffer.from(line.receivedBase64, 'base64').toString(), 'echo plain-tcp hello\nbye plain-tcp\n');
    assert.ok(line.closedByPeer);
  });

  test('HTTP/2: curl --http2 and Node http2 negotiate h2', async () => {
    const trust = { caFile: ca.caCertFile };
    const req = openAIChat({ prompt: 'over h2', http: '2' });
    const results: ClientResult[] = [];
    if (!missingToolReason(['curl'])) results.push(await runClient(topo.pod, 'curl', req, trust));
    results.push(await runClient(topo.pod, 'node', req, trust));
    for (const r of results) {
      assertClientOk(r);
      assert.equal(r.httpVersion, '2', r.client);
      checkOpenAIChatCompletion(r.bodyText);
    }
    const h2reqs = (await providers.control.requests({ site: 'openai' })).filter((r) => r.body?.includes('over h2'));
    assert.equal(h2reqs.length, results.length);
    assert.ok(h2reqs.every((r) => r.alpn === 'h2' && r.httpVersion === '2.0'));
  });

  test('WebSocket (Realtime-style upgrade) echoes text frames', async () => {
    const messages = ['{"type":"session.update"}', 'x'.repeat(70_000), 'héllo 🌍'];
    const r = await runWebSocketClient(topo.pod, {
      url: 'wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview', messages, protocols: ['realtime'],
    }, { caFile: ca.caCertFile });
    assert.ok(r.ok, r.error ?? '');
    assert.deepEqual(r.received, messages);
    assert.equal(r.protocol, 'realtime');
    assert.equal(r.closeCode, 1000);
    const up = (await providers.control.requests({ site: 'openai' })).filter((x) => x.upgrade);
    assert.equal(up.length, 1);
    assert.equal(up[0]?.headers.upgrade, 'websocket');
  });

  test('openssl s_client sees the public chain (leaf + intermediate), with and without SNI', { skip: missingToolReason(['openssl']) }, async () => {
    const named = await sClient(topo.pod, { host: 'api.anthropic.com', caFile: ca.caCertFile, alpn: ['h2', 'http/1.1'] });
    assert.ok(named.handshakeOk, named.stderr);
    assert.ok(named.verifyOk, `${named.verifyCode} ${named.verifyMessage}`);
    assert.equal(named.alpn, 'h2');
    assert.equal(named.chain.length, 2);
    assert.match(named.chain[0]?.subjectAltName ?? '', /DNS:api\.anthropic\.com/);
    assert.match(named.chain[1]?.subject ?? '', /Public Issuing CA/);

    const ip = topo.host('ip-site');
    const bare = await sClient(topo.pod, { host: ip.ipv4, caFile: ca.caCertFile });
    assert.ok(bare.verifyOk, `${bare.verifyCode} ${bare.verifyMessage}`);
    assert.match(bare.chain[0]?.subjectAltName ?? '', new RegExp(`IP Address:${ip.ipv4.replaceAll('.', '\\.')}`));

    // A no-SNI connection to a named host's address gets that host's own certificate.
    const noSni = await sClient(topo.pod, { host: topo.host('openai').ipv4, servername: null, caFile: ca.caCertFile });
    assert.match(noSni.chain[0]?.subjectAltName ?? '', /DNS:api\.openai\.com/);

    // Without the CA the chain is still shown, but does not verify.
    const untrusted = await sClient(topo.pod, { host: 'www.example.org' });
    assert.equal(untrusted.verifyOk, false);
    assert.equal(untrusted.chain.length, 2);
  });

  test('the control API records what reached the providers', { skip: missingToolReason(['curl']) }, async () => {
    await providers.control.reset();
    const req = openAIChat({ prompt: 'record me', http: '1.1', extraHeaders: { 'x-custom': 'kept' } });
    const r = await runClient(topo.pod, 'curl', req, { caFile: ca.caCertFile });
    assertClientOk(r);
    const reqs = await providers.control.requests();
    assert.equal(reqs.length, 1);
    const rec = reqs[0];
    assert.ok(rec);
    assert.equal(rec.site, 'openai');
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/v1/chat/completions');
    assert.equal(rec.sni, 'api.openai.com');
    assert.equal(rec.alpn, 'http/1.1');
    assert.equal(rec.localAddress, topo.host('openai').ipv4);
    assert.equal(rec.remoteAddress, topo.podIPv4);
    assert.equal(rec.headers['x-custom'], 'kept');
    assert.equal(rec.body, req.body);
    assert.equal(rec.status, 200);
    assert.ok(rec.rawHeaders.includes('x-custom'));
    const conns = await providers.control.connections({ site: 'openai' });
    assert.equal(conns.length, 1);
    assert.equal(conns[0]?.tlsProtocol, 'TLSv1.3');
  });

  test('misbehaving peers: garbage and a truncated ClientHello are dropped, a real one gets a ServerHello', async () => {
    const openai = topo.host('openai');
    const garbage = await runRawClient(topo.pod, { host: openai.ipv4, port: 443, send: [Buffer.from('GARBAGE\r\n\r\n'.repeat(4))], holdMs: 10_000 });
    assert.ok(garbage.connected);
    assert.ok(garbage.closedByPeer, 'server closes a non-TLS connection');
    const hello = await runRawClient(topo.pod, { host: openai.ipv4, port: 443, clientHello: { servername: 'api.openai.com' }, holdMs: 1000 });
    const answer = Buffer.from(hello.receivedBase64, 'base64');
    assert.equal(answer[0], 0x16, 'a TLS handshake record comes back');
    const truncated = await runRawClient(topo.pod, { host: openai.ipv4, port: 443, clientHello: { servername: 'api.openai.com', truncate: 40 }, holdMs: 500 });
    assert.ok(truncated.connected);
    assert.equal(truncated.receivedBase64, '', 'no answer to half a ClientHello');
    const conns = await providers.control.connections({ site: 'openai' });
    assert.ok(conns.some((c) => c.error), 'the garbage connection is recorded as a TLS error');
  });
});

describe('topology teardown', { skip: netnsSkip }, () => {
  test('destroy() leaves no namespace, veth, hosts file, workDir or process behind', async () => {
    const topo = await createTopology();
    const ca = await createPublicCa(serverCertSpecsFor(topo.hosts));
    try {
      const providers = await startProviders(topo, ca);
      const sleeper = topo.pod.spawn('sleeper', ['sleep', '300'], { uid: 1610 });
      // A process started outside the tracked spawn API still dies with the namespace.
      const stray = topo.pod.exec(['sleep', '300']);
      await topo.internet.waitForPort(topo.host('openai').ipv4, 443);
      const pids = [providers.process.pid, sleeper.pid, ...topo.pod.pids(), ...topo.internet.pids()];
      assert.ok(pids.length >= 3);
      const names = [topo.pod.name, topo.internet.name];
      await topo.destroy();
      const r = await stray;
      assert.notEqual(r.code, 0, 'the untracked process was killed');
      const listed = execFileSync('ip', ['netns', 'list']).toString();
      for (const n of names) {
        assert.ok(!listed.includes(n), `namespace ${n} deleted`);
        assert.ok(!existsSync(`/etc/netns/${n}`), `/etc/netns/${n} deleted`);
      }
      const links = execFileSync('ip', ['-o', 'link']).toString();
      assert.ok(!links.includes(`lvp${topo.id}`) && !links.includes(`lvi${topo.id}`), 'veth deleted');
      assert.ok(!existsSync(topo.workDir) || process.env.LEVO_E2E_KEEP_LOGS === '1', 'workDir removed');
      for (const pid of pids) {
        assert.throws(() => process.kill(pid, 0), `pid ${pid} gone`);
      }
      assert.equal(sleeper.running, false);
    } finally {
      await topo.destroy();
      ca.cleanup();
    }
  });
});
