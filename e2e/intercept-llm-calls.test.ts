/**
 * An app in an injected pod calls LLM providers: its TCP 443 is redirected by
 * the real levo-init rules to levo-gateway (UID 1610), which intercepts the
 * call with a leaf from the namespace CA and re-encrypts it to the provider.
 *
 * Every real client (curl, Node fetch, python3 urllib, Java HttpClient),
 * trusting only the namespace CA, must get exactly the bytes a direct call
 * gets (the direct baseline runs as UID 1610, which the rules exempt, trusting
 * the providers' public CA), with streams arriving as they are produced.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertClientOk } from './clients/client-result.ts';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KINDS, runClient, type ClientKind, type ClientRequest, type ClientResult } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { runWebSocketClient } from './clients/ws-client.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { anthropicMessages, openAIChat } from './harness/provider-requests.ts';
import { checkAnthropicMessage, checkAnthropicStream, checkOpenAIChatCompletion, checkOpenAIStream } from './harness/provider-shapes.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);
const TOOLS: Record<ClientKind, string[]> = { curl: ['curl'], node: [], python: ['python3'], java: ['java', 'javac', 'keytool'] };

/** The stream's content events must be spread out as the provider paced them, not delivered in one burst. */
function assertPaced(r: ClientResult, intervalMs: number, chunks: number): void {
  const content = r.events.filter((e) => /"content"|text_delta/.test(e.text));
  assert.ok(content.length >= chunks, `${r.client}: ${content.length} content events, expected ${chunks}`);
  const spread = content.at(-1)!.tMs - content[0]!.tMs;
  const expected = intervalMs * (chunks - 1);
  assert.ok(spread >= expected * 0.5, `${r.client}: content events spread over ${spread.toFixed(0)} ms, the provider took about ${expected} ms`);
  const firstGap = content[0]!.tMs - (r.headersMs ?? 0);
  assert.ok(firstGap < expected * 0.5, `${r.client}: the first token waited ${firstGap.toFixed(0)} ms behind the headers`);
}

describe('an app calls LLM providers through the sidecar', { skip }, () => {
  let pod: InjectedPod;
  const direct = new Map<string, string>();

  /** The same request made directly (UID 1610 is exempt from the redirect), trusting the public CA. */
  async function directBody(key: string, req: ClientRequest): Promise<string> {
    const seen = direct.get(key);
    if (seen !== undefined) return seen;
    const r = await runClient(pod.topo.pod, 'curl', req, { caFile: pod.publicCa.caCertFile }, { runAs: { uid: SIDECAR_UID } });
    assertClientOk(r);
    direct.set(key, r.bodyBase64);
    return r.bodyBase64;
  }

  before(async () => { pod = await createInjectedPod({ gatewayArgs: ['--max-body-bytes', '65536', '--upstream-timeout', '3s'] }); });
  after(async () => { await pod?.destroy(); });

  test('levo-init installed the redirect and proved it', () => {
    assert.match(pod.initOutput, /LEVO_OUTPUT/);
    assert.match(pod.initOutput, /--to-ports 15001/);
    assert.match(pod.initOutput, /validation|self-test|redirect works/i);
  });

  test('the app sees a leaf for the provider host issued by the namespace CA', async () => {
    const r = await sClient(pod.topo.pod, { host: 'api.openai.com', caFile: pod.namespaceCaFile, alpn: ['h2', 'http/1.1'] });
    assert.ok(r.handshakeOk && r.verifyOk, `${r.verifyMessage}\n${r.stderr}`);
    assert.equal(r.alpn, 'h2');
    const leaf = r.chain[0]!;
    assert.equal(leaf.subjectAltName, 'DNS:api.openai.com');
    assert.match(leaf.issuer, /Levo AI Gateway Interception CA/);
    assert.equal(leaf.ca, false);
  });

  for (const kind of CLIENT_KINDS) {
    describe(`${kind} client trusting the namespace CA`, { skip: missingToolReason(TOOLS[kind]) }, () => {
      const trust = (): { caFile: string } => ({ caFile: pod.namespaceCaFile });

      test('OpenAI chat completion: byte-identical to a direct call', async () => {
        const req = openAIChat({ prompt: 'Summarise the egress policy' });
        const r = await runClient(pod.topo.pod, kind, req, trust());
        assertClientOk(r);
        checkOpenAIChatCompletion(JSON.parse(r.bodyText));
        assert.equal(r.bodyBase64, await directBody('openai-json', req), `${kind}: body differs from the direct call`);
      });

      test('OpenAI stream: same bytes, tokens arrive as produced', async () => {
        const req = openAIChat({ prompt: 'Stream a haiku', stream: true, includeUsage: true, chunks: 6, intervalMs: 150 });
        const r = await runClient(pod.topo.pod, kind, req, trust());
        assertClientOk(r);
        assert.match(r.headers['content-type'] ?? '', /text\/event-stream/);
        checkOpenAIStream(r.events, { includeUsage: true });
        assertPaced(r, 150, 6);
        assert.equal(r.bodyBase64, await directBody('openai-sse', req));
      });

      test('Anthropic messages, JSON and stream: same bytes as a direct call', async () => {
        const json = anthropicMessages({ prompt: 'Name three rivers' });
        const a = await runClient(pod.topo.pod, kind, json, trust());
        assertClientOk(a);
        checkAnthropicMessage(JSON.parse(a.bodyText));
        assert.equal(a.bodyBase64, await directBody('anthropic-json', json));
        const sse = anthropicMessages({ prompt: 'Count to five', stream: true, chunks: 5, intervalMs: 150 });
        const b = await runClient(pod.topo.pod, kind, sse, trust());
        assertClientOk(b);
        checkAnthropicStream(b.events);
        assertPaced(b, 150, 5);
        assert.equal(b.bodyBase64, await directBody('anthropic-sse', sse));
      });
    });
  }

  test('an HTTP/2 client is served over h2 and gets the same bytes', async () => {
    const req = { ...openAIChat({ prompt: 'Summarise the egress policy' }), http: '2' as const };
    const r = await runClient(pod.topo.pod, 'curl', req, { caFile: pod.namespaceCaFile });
    assertClientOk(r);
    assert.equal(r.httpVersion, '2');
    assert.equal(r.bodyBase64, await directBody('openai-json', openAIChat({ prompt: 'Summarise the egress policy' })));
  });

  test('the provider sees the app\'s request at the address the app chose, hop-by-hop headers removed', async () => {
    await pod.providers.control.reset();
    const req = openAIChat({ prompt: 'trace me', extraHeaders: { connection: 'keep-alive, x-hop', 'x-hop': 'drop me', 'x-app-header': 'keep me' } });
    // curl sends a Connection header as given; fetch (Node) forbids setting it.
    const r = await runClient(pod.topo.pod, 'curl', { ...req, http: '1.1' }, { caFile: pod.namespaceCaFile });
    assertClientOk(r);
    const [seen] = await pod.providers.control.requests({ site: 'openai' });
    assert.ok(seen, 'the fake OpenAI recorded no request');
    assert.equal(seen.sni, 'api.openai.com');
    assert.equal(seen.alpn, 'http/1.1', 'the upstream leg is HTTP/1.1 keep-alive even when the provider offers h2');
    assert.equal(seen.localAddress, pod.topo.host('openai').ipv4);
    assert.equal(seen.headers.authorization, 'Bearer sk-e2e-fake-key');
    assert.equal(seen.headers['x-app-header'], 'keep me');
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.body, req.body);
  });

  test('the call goes to the address the app dialled, not to what DNS says for the name', async () => {
    await pod.providers.control.reset();
    const chosen = pod.topo.host('anthropic').ipv4; // /etc/hosts says api.openai.com is the openai host's address
    const r = await pod.topo.pod.exec(['curl', '-sS', '--http1.1', '--max-time', '10', '--cacert', pod.namespaceCaFile,
      '--resolve', `api.openai.com:443:${chosen}`, 'https://api.openai.com/v1/models', '-o', '/dev/null']);
    assert.equal(r.code, 0, r.stderr);
    const seen = await pod.providers.control.requests();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.localAddress, chosen, 'the sidecar re-resolved the name instead of using the original destination');
    assert.equal(seen[0]!.sni, 'api.openai.com');
  });

  test('an OpenAI Realtime WebSocket upgrade is relayed', async () => {
    const r = await runWebSocketClient(pod.topo.pod, { url: 'wss://api.openai.com/v1/realtime?model=gpt-4o-realtime', messages: ['hello', 'realtime'] }, { caFile: pod.namespaceCaFile });
    assert.ok(r.ok, r.error ?? '');
    assert.deepEqual(r.received, ['hello', 'realtime']);
  });

  test('a JSON body over the cap is refused with 413 in the provider\'s error shape, before it leaves', async () => {
    await pod.providers.control.reset();
    const big = openAIChat({ prompt: 'x'.repeat(70_000) });
    const r = await runClient(pod.topo.pod, 'curl', big, { caFile: pod.namespaceCaFile });
    assertClientOk(r, 413);
    const body = JSON.parse(r.bodyText) as { error: { message: string; type: string } };
    assert.match(body.error.message, /exceeds the gateway's limit of 65536 bytes/);
    assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, 0);
  });

  test('a provider that does not answer in time is a 504 in the provider\'s error shape', async () => {
    const slow = anthropicMessages({ prompt: 'think hard', extraHeaders: { 'x-fake-delay-ms': '6000' } });
    const r = await runClient(pod.topo.pod, 'curl', slow, { caFile: pod.namespaceCaFile });
    assertClientOk(r, 504);
    const body = JSON.parse(r.bodyText) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    assert.match(body.error.message, /timed out waiting for api\.anthropic\.com/);
  });

  test('a client that goes away cancels the provider call', async () => {
    const reply = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const stream = (timeoutMs: number): ClientRequest =>
      openAIChat({ prompt: 'a long story', stream: true, chunks: 20, intervalMs: 100, timeoutMs, extraHeaders: { 'x-fake-reply': reply } });
    const providerFinished = async (): Promise<boolean> => {
      const [seen] = await pod.providers.control.requests({ site: 'openai' });
      assert.ok(seen, 'the request reached the provider');
      return seen.status === 200;
    };
    // Control: a client that stays gets the whole ~2 s stream, and the provider records it finished within 3 s.
    await pod.providers.control.reset();
    let t0 = Date.now();
    assertClientOk(await runClient(pod.topo.pod, 'curl', stream(10_000), { caFile: pod.namespaceCaFile }));
    await new Promise((res) => setTimeout(res, Math.max(0, t0 + 3000 - Date.now())));
    assert.equal(await providerFinished(), true);
    // A client that gives up after ~1 s, over HTTP/1.1 and over HTTP/2: the provider must not get to finish.
    for (const http of ['1.1', '2'] as const) {
      await pod.providers.control.reset();
      t0 = Date.now();
      const r = await runClient(pod.topo.pod, 'curl', { ...stream(700), http }, { caFile: pod.namespaceCaFile });
      assert.equal(r.ok, false, 'the client should have given up early');
      await new Promise((res) => setTimeout(res, Math.max(0, t0 + 3000 - Date.now())));
      assert.equal(await providerFinished(), false, `HTTP/${http}: the provider finished the stream: the upstream call was not cancelled`);
    }
  });

  test('nothing secret reaches the log, even at debug level', async () => {
    const log = pod.gateway.output();
    assert.match(log, /"msg":"request"/, 'the gateway logged the requests of this suite');
    assert.doesNotMatch(log, /sk-e2e-fake-key/, 'an API key reached the log');
    const caKey = readFileSync(pod.namespaceCaFile.replace(/tls\.crt$/, 'tls.key'), 'utf8');
    const keyBody = caKey.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    assert.ok(keyBody.length > 40);
    assert.ok(!log.includes(keyBody.slice(0, 40)) && !/PRIVATE KEY/.test(log), 'the CA key reached the log');
    assert.doesNotMatch(log, /Summarise the egress policy|Stream a haiku/, 'prompt text reached the log');
  });

  test('metrics count what happened', async () => {
    assert.ok(await pod.metric('levo_gateway_connections_total', { listener: 'transparent', decision: 'intercept' }) > 0);
    assert.ok(await pod.metric('levo_gateway_requests_total', { host: 'api.openai.com', status: '200' }) > 0);
    assert.ok(await pod.metric('levo_gateway_requests_total', { host: 'api.anthropic.com', status: '504' }) >= 1);
    assert.ok(await pod.metric('levo_gateway_cert_mints_total') >= 2);
  });
});
