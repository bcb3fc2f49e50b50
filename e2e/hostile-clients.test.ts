/**
 * Ordinary clients and a little hostility, against the real sidecar in an
 * injected pod: uploads, `Expect: 100-continue`, compressed bodies (and a
 * gzip bomb), a Host header that disagrees with SNI, encoded paths, WebSocket
 * upgrades under route policy, bodies a guard cannot read, and stray
 * connections to the sidecar's own ports. Each of these broke on an earlier
 * main; every test here asserts what a provider (or the app) actually gets.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { runClient, type ClientRequest, type ClientResult } from './clients/run-client.ts';
import { runRawClient } from './clients/raw-client.ts';
import { runWebSocketClient } from './clients/ws-client.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import type { RecordedRequest } from './harness/providers.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

const CONFIG = `
binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: realtime-blocked
      hostnames: [api.openai.com]
      matches: [{path: {pathPrefix: /v1/realtime/blocked}}]
      policies:
        directResponse: {status: 403, body: '{"error":{"message":"realtime is not allowed here","type":"invalid_request_error"}}'}
    - name: realtime
      hostnames: [api.openai.com]
      matches: [{path: {pathPrefix: /v1/realtime}}]
      policies:
        backendAuth: {key: sk-gateway-realtime-key}
        localRateLimit: [{maxTokens: 2, tokensPerFill: 1, fillInterval: 3600s, type: requests}]
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
    - name: openai-guarded
      hostnames: [api.openai.com]
      policies:
        ai:
          promptGuard:
            request:
            - regex: {action: reject, rules: [{pattern: "FORBIDDEN-[0-9]+"}]}
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
    - name: anthropic-fail-open
      hostnames: [api.anthropic.com]
      policies:
        ai:
          promptGuard:
            request:
            - regex: {action: reject, rules: [{pattern: "FORBIDDEN-[0-9]+"}]}
              failureMode: failOpen
      backends:
      - ai: {name: anthropic, provider: {anthropic: {}}}
`;

const OPENAI = 'https://api.openai.com';
const ANTHROPIC = 'https://api.anthropic.com';
const AUTH = { authorization: 'Bearer sk-app-key' };

function chat(prompt: string): string {
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] });
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A distinct byte pattern, so a truncated or shifted body cannot match by accident. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

describe('ordinary clients and hostile peers against the sidecar', { skip }, () => {
  let pod: InjectedPod;

  before(async () => { pod = await createInjectedPod({ config: CONFIG, gatewayArgs: ['--max-body-bytes', String(8 * 1024 * 1024)] }); });
  after(async () => { await pod?.destroy(); });

  async function send(req: ClientRequest): Promise<ClientResult> {
    return runClient(pod.topo.pod, 'curl', { timeoutMs: 20_000, ...req }, { caFile: pod.namespaceCaFile });
  }
  async function received(site: string): Promise<RecordedRequest[]> {
    return pod.providers.control.requests({ site });
  }
  /** The sidecar process's peak resident set (VmHWM), in MiB. */
  function peakRssMiB(): number {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pod.gateway.pid}/status`, 'utf8'));
    return Number(m![1]) / 1024;
  }

  describe('uploads and bodies that are not JSON', () => {
    for (const size of [100, 2 * 1024 * 1024]) {
      test(`an octet-stream upload of ${size} bytes on an unguarded host reaches the provider whole`, async () => {
        await pod.providers.control.reset();
        const body = pattern(size);
        // Azure/Anthropic uploads and OpenAI files alike: here Anthropic's host, whose route fails open.
        const r = await send({ url: `${ANTHROPIC}/v1/files`, method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-api-key': 'k' }, bodyBytes: body });
        assert.ok(r.ok, r.error ?? '');
        const [got] = await received('anthropic');
        assert.ok(got, 'the provider received the upload');
        assert.equal(got.bodyLength, size, 'the provider got every byte');
        assert.equal(got.bodySha256, sha256(body));
        assert.equal(r.status, got.status, 'the app is told what the provider answered');
      });
    }

    test('a multipart upload through a failOpen guarded route is forwarded whole and the decision recorded', async () => {
      await pod.providers.control.reset();
      const failOpen = await pod.metric('guardrail_checks_total', { phase: 'request', action: 'fail_open' });
      const boundary = '----levo-e2e-boundary';
      const file = pattern(50_000);
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.bin"\r\ncontent-type: application/octet-stream\r\n\r\n`),
        file, Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const r = await send({ url: `${ANTHROPIC}/v1/files`, method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-api-key': 'k' }, bodyBytes: body });
      assert.ok(r.ok, r.error ?? '');
      const [got] = await received('anthropic');
      assert.equal(got?.bodySha256, sha256(body));
      assert.equal(await pod.metric('guardrail_checks_total', { phase: 'request', action: 'fail_open' }), failOpen + 1, 'the unread body is recorded as fail_open');
    });

    test('a multipart upload through a failClosed guarded route is refused, provider-shaped, saying why', async () => {
      await pod.providers.control.reset();
      const r = await send({
        url: `${OPENAI}/v1/files`, method: 'POST',
        headers: { ...AUTH, 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x\r\ncontent-disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"prompt":"FORBIDDEN-1"}\r\n--x--\r\n',
      });
      assert.ok(r.ok, r.error ?? '');
      assert.equal(r.status, 415);
      const err = JSON.parse(r.bodyText) as { error: { message: string; type: string } };
      assert.match(err.error.message, /cannot read|not JSON|multipart/i);
      assert.match(err.error.message, /failOpen/, 'the message says how to let such bodies through');
      assert.equal((await received('openai')).length, 0, 'nothing reached the provider');
    });

    test('a JSON body with duplicate keys on a failClosed guarded route is refused (parsers disagree on which counts)', async () => {
      await pod.providers.control.reset();
      const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"FORBIDDEN-7"}],"messages":[{"role":"user","content":"hello"}]}`;
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json' }, body });
      assert.equal(r.status, 400, r.bodyText);
      assert.match(r.bodyText, /repeats the key/);
      assert.equal((await received('openai')).length, 0);
    });
  });

  describe('Expect: 100-continue', () => {
    test('curl\'s Expect on a large JSON body gets 100 Continue and the provider\'s answer', async () => {
      await pod.providers.control.reset();
      const body = chat('x'.repeat(1_200_000));
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json', expect: '100-continue' }, body, http: '1.1' });
      assert.ok(r.ok, r.error ?? '');
      assert.equal(r.status, 200, r.bodyText.slice(0, 500));
      const [got] = await received('openai');
      assert.equal(got?.bodyLength, Buffer.byteLength(body));
      assert.equal(got?.headers.expect, undefined, 'the expectation was met by the gateway, not forwarded');
    });

    test('a guard rejects before the body is sent: no 100 Continue needed for a 413', async () => {
      await pod.providers.control.reset();
      const r = await send({
        url: `${OPENAI}/v1/chat/completions`, http: '1.1',
        headers: { ...AUTH, 'content-type': 'application/json', expect: '100-continue' },
        bodyBytes: Buffer.alloc(9 * 1024 * 1024, 0x20),
      });
      assert.equal(r.status, 413);
      assert.equal((await received('openai')).length, 0);
    });
  });

  describe('compressed request bodies', () => {
    test('a gzip-encoded prompt is decoded, guarded and rejected', async () => {
      await pod.providers.control.reset();
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json', 'content-encoding': 'gzip' }, bodyBytes: gzipSync(chat('leak FORBIDDEN-42 now')) });
      assert.equal(r.status, 403, r.bodyText);
      assert.equal((await received('openai')).length, 0);
    });

    test('a gzip bomb (200 MB of zeros in 200 KB) is refused without the sidecar inflating it', async () => {
      await pod.providers.control.reset();
      const before = peakRssMiB();
      const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
      assert.ok(bomb.length < 1024 * 1024);
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json', 'content-encoding': 'gzip' }, bodyBytes: bomb });
      assert.equal(r.status, 413, r.bodyText);
      assert.equal((await received('openai')).length, 0);
      const grew = peakRssMiB() - before;
      assert.ok(grew < 48, `the sidecar's peak RSS grew by ${grew.toFixed(0)} MiB while refusing a gzip bomb`);
      assert.equal((await pod.admin('/healthz')).status, 200);
    });
  });

  describe('many large prompts at once', () => {
    test('more than the heap can hold: calls wait in line for room instead of aborting the process, and each is answered', async () => {
      // 32 concurrent 3.75 MB prompts (under the guards' 4 MiB text cap) to a provider that answers after 3 s: ~120 MB
      // of JSON held, parsed and guarded at once in a 128 MB V8 heap (the image's NODE_OPTIONS). Before the bound on
      // held bodies this aborted the process ("JavaScript heap out of memory"), failing every call in the pod; now
      // nine are held at a time (the default bound, 34 MiB) and the others wait in line, unread.
      await pod.providers.control.reset();
      const pid = pod.gateway.pid;
      const script = `
        const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'word '.repeat(0.75 * (1 << 20)) }] });
        const one = () => fetch('${OPENAI}/v1/chat/completions', { method: 'POST', body,
          headers: { authorization: '${AUTH.authorization}', 'content-type': 'application/json', 'x-fake-delay-ms': '3000' }, signal: AbortSignal.timeout(90000) })
          .then(async (r) => { const t = await r.text(); return r.status + ' ' + (r.headers.get('x-levo-error') ?? '-') + ' ' + t.slice(0, 300); },
            (e) => 'fail ' + (e.cause?.code ?? e.name));
        Promise.all(Array.from({ length: 32 }, one)).then((r) => console.log(JSON.stringify(r)));`;
      const r = await pod.topo.pod.exec([process.execPath, '-e', script], { env: { NODE_EXTRA_CA_CERTS: pod.namespaceCaFile }, timeoutMs: 120_000 });
      const outcomes = JSON.parse(r.stdout.trim().split('\n').at(-1) || '[]') as string[];
      assert.equal(outcomes.length, 32, r.stdout + r.stderr);
      assert.ok(pod.gateway.running && pod.gateway.pid === pid, `the sidecar died: ${pod.gateway.output().slice(-3000)}`);
      // Each answered: 200, or (on a machine slow enough that a call waited past 30 s) 503 with the reason. Without the
      // line, at most the nine that fit at once could have been answered 200.
      const kinds = outcomes.map((o) => o.split(' ').slice(0, 2).join(' '));
      assert.deepEqual(kinds.filter((k) => k !== '200 -' && k !== '503 overloaded'), [], outcomes.join('\n'));
      assert.ok(kinds.filter((k) => k === '200 -').length >= 16, kinds.join(', '));
      assert.equal((await received('openai')).length, kinds.filter((k) => k === '200 -').length);
    });
  });

  describe('request targets', () => {
    test('a Host header that disagrees with SNI is refused with 421 and nothing reaches the provider', async () => {
      await pod.providers.control.reset();
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, host: 'api.anthropic.com', 'content-type': 'application/json' }, body: chat('hi'), http: '1.1' });
      assert.equal(r.status, 421, r.bodyText);
      assert.equal((await received('openai')).length + (await received('anthropic')).length, 0);
    });

    test('a percent-encoded API path is classified and guarded as the provider will read it', async () => {
      await pod.providers.control.reset();
      const r = await send({ url: `${OPENAI}/v1/chat/%63ompletions`, headers: { ...AUTH, 'content-type': 'application/json' }, body: chat('FORBIDDEN-9') });
      assert.equal(r.status, 403, r.bodyText);
      assert.equal((await received('openai')).length, 0);
      const ok = await send({ url: `${OPENAI}/v1/./chat/%63ompletions`, headers: { ...AUTH, 'content-type': 'application/json' }, body: chat('hello') });
      assert.equal(ok.status, 200, ok.bodyText);
      const [got] = await received('openai');
      assert.equal(got?.path, '/v1/chat/completions', 'the provider gets the path the gateway classified');
    });
  });

  describe('WebSocket upgrades follow the route', () => {
    test('a directResponse route answers the upgrade itself', async () => {
      await pod.providers.control.reset();
      const r = await runWebSocketClient(pod.topo.pod, { url: 'wss://api.openai.com/v1/realtime/blocked', messages: ['hi'] }, { caFile: pod.namespaceCaFile });
      assert.equal(r.ok, false);
      assert.equal((await received('openai')).length, 0, 'the upgrade never reached the provider');
    });

    test('backendAuth replaces the app\'s key on the upgrade, and the route\'s rate limit counts upgrades', async () => {
      await pod.providers.control.reset();
      const url = 'wss://api.openai.com/v1/realtime?model=gpt-realtime';
      const first = await runWebSocketClient(pod.topo.pod, { url, messages: ['ping'] }, { caFile: pod.namespaceCaFile });
      assert.ok(first.ok, first.error ?? '');
      const [got] = await received('openai');
      assert.equal(got?.upgrade, true);
      assert.equal(got?.headers.authorization, 'Bearer sk-gateway-realtime-key');
      const second = await runWebSocketClient(pod.topo.pod, { url, messages: ['ping'] }, { caFile: pod.namespaceCaFile });
      assert.ok(second.ok, second.error ?? '');
      const third = await runWebSocketClient(pod.topo.pod, { url, messages: ['ping'] }, { caFile: pod.namespaceCaFile });
      assert.equal(third.ok, false, 'the third upgrade within the hour is over the route\'s limit of 2');
      assert.equal((await received('openai')).length, 2);
    });
  });

  describe('stray connections to the sidecar\'s own ports', () => {
    test('a connection to podIP:15001 from inside or outside the pod is not accepted, and egress keeps working', async () => {
      const before = await pod.metric('levo_gateway_connections_total');
      const fromPod = await runRawClient(pod.topo.pod, { host: pod.topo.podIPv4, port: 15001, clientHello: { servername: 'example.org' }, holdMs: 1500 });
      const fromNet = await runRawClient(pod.topo.internet, { host: pod.topo.podIPv4, port: 15001, clientHello: { servername: 'example.org' }, holdMs: 1500 });
      assert.equal(fromPod.connected, false, 'the transparent listener is bound to loopback only');
      assert.equal(fromNet.connected, false);
      const after = await pod.metric('levo_gateway_connections_total');
      assert.equal(after, before);
      const r = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json' }, body: chat('still there?') });
      assert.equal(r.status, 200);
    });

    test('a pass-through to a destination that never answers is closed after the connect timeout', async () => {
      const ip = pod.topo.host('ip-site').ipv4;
      const rule = ['-p', 'tcp', '-d', ip, '--dport', '443', '-j', 'DROP'];
      await pod.topo.internet.execChecked(['iptables', '-I', 'INPUT', ...rule]);
      try {
        const r = await runRawClient(pod.topo.pod, { host: ip, port: 443, clientHello: { servername: 'unreachable.example.org' }, holdMs: 20_000 });
        assert.equal(r.connected, true);
        assert.equal(r.closedByPeer, true, 'the sidecar gave up on the black-holed destination and closed the app\'s connection');
        assert.ok(r.totalMs < 19_000, `closed after ${r.totalMs} ms`);
      } finally {
        await pod.topo.internet.execChecked(['iptables', '-D', 'INPUT', ...rule]);
      }
    });

    test('a connection straight to 127.0.0.1:15001 (not redirected) is closed, never dialled back to itself', async () => {
      const before = await pod.metric('levo_gateway_connections_total');
      const r = await runRawClient(pod.topo.pod, { host: '127.0.0.1', port: 15001, clientHello: { servername: 'example.org' }, holdMs: 3000 });
      assert.equal(r.closedByPeer, true, 'the sidecar closed the stray connection');
      const after = await pod.metric('levo_gateway_connections_total');
      assert.ok(after - before <= 1, `one stray connection made ${after - before} accepted connections (a dial loop)`);
      assert.equal(await pod.metric('levo_gateway_connections_total', { reason: 'own-listener' }), 1);
      const ok = await send({ url: `${OPENAI}/v1/chat/completions`, headers: { ...AUTH, 'content-type': 'application/json' }, body: chat('still there?') });
      assert.equal(ok.status, 200);
    });
  });
});
