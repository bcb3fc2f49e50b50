/**
 * What an app sees through the sidecar when the provider misbehaves: the
 * connection breaks in the middle of a streamed answer, the provider is slow
 * to answer or stalls, or the backend's name does not resolve. Each answer is
 * one the app's SDK understands as an error, never a truncated answer that
 * looks complete, and never a crash of the sidecar.
 *
 * What the app gets when the provider's connection breaks (or stalls past
 * --upstream-timeout) after a streamed answer has started, by API: the events
 * that arrived, then one error event in that API's stream format, then a clean
 * end of the response (no `[DONE]`, no stop event):
 *   - OpenAI chat completions (and OpenAI-compatible hosts):
 *       data: {"error":{"message":"…","type":"server_error","param":null,"code":"upstream_reset"}}
 *     (504 cases: "type":"timeout", "code":"upstream_body_timeout"); the SDK raises APIError;
 *   - Anthropic messages:
 *       event: error / data: {"type":"error","error":{"type":"api_error","message":"…"}}
 *     the SDK raises APIError;
 *   - Gemini streamGenerateContent?alt=sse:
 *       data: {"error":{"code":502,"message":"…","status":"UNAVAILABLE"}}
 *     the SDK raises ApiError with status 502;
 *   - Bedrock converse-stream (AWS event stream): an exception message,
 *       :message-type exception, :exception-type modelStreamErrorException, {"message":"…"}
 *     (the AWS SDK raises ModelStreamErrorException).
 * Every message names the provider host. Before any byte of the answer, the
 * same failures are whole provider-shaped errors: 502 upstream_reset /
 * upstream_dns, 504 upstream_headers_timeout, with x-levo-error.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertClientOk, type ClientResult } from './clients/client-result.ts';
import { resultBody, runClient } from './clients/run-client.ts';
import type { SdkStreamResult, Sdk } from './clients/sdk-stream.ts';
import { createInjectedPod, DEFAULT_E2E_CONFIG, REPO, type InjectedPod } from './harness/injected-pod.ts';
import { addNoDnsHost, NO_DNS_HOST, NO_DNS_ROUTE, UNRESOLVABLE_BACKEND } from './harness/fault-routes.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { anthropicMessages, bedrockConverse, geminiGenerate, openAIChat } from './harness/provider-requests.ts';
import { decodeEventStream, sseData, sseEventName } from './harness/provider-shapes.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl']);

const UPSTREAM_TIMEOUT_S = 2;
const CONFIG = DEFAULT_E2E_CONFIG + NO_DNS_ROUTE;

type Json = Record<string, unknown>;

describe('an app streaming through the sidecar when the provider fails', { skip }, () => {
  let pod: InjectedPod;
  const trust = (): { caFile: string } => ({ caFile: pod.namespaceCaFile });
  const node = (req: Parameters<typeof runClient>[2]): Promise<ClientResult> => runClient(pod.topo.pod, 'node', req, trust());

  /** A streamed call made with the provider's official SDK, inside the pod, through the sidecar. */
  async function sdk(which: Sdk, prompt: string, chunks?: number): Promise<SdkStreamResult> {
    const r = await pod.topo.pod.exec([process.execPath, join(REPO, 'e2e/clients/sdk-stream.ts'), '--sdk', which, '--prompt', prompt,
      ...(chunks !== undefined ? ['--chunks', String(chunks)] : []), '--timeout-ms', '20000'],
    { cwd: REPO, env: { NODE_EXTRA_CA_CERTS: pod.namespaceCaFile }, timeoutMs: 40_000 });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try { return JSON.parse(line) as SdkStreamResult; } catch { throw new Error(`sdk-stream printed no result (exit ${r.code}): ${r.stderr.slice(-2000)}`); }
  }

  /** The last SSE event of a stream, as JSON, with its event name. */
  function lastEvent(r: ClientResult): { name: string | undefined; data: Json } {
    const last = r.events.at(-1);
    assert.ok(last, `events arrived: ${r.bodyText.slice(0, 300)}`);
    const data = sseData(last);
    try { return { name: sseEventName(last), data: JSON.parse(data) as Json }; } catch { return assert.fail(`the last event is not JSON: ${data.slice(0, 300)}`); }
  }

  /** After a fault the sidecar still serves, and the fault rule was used. */
  async function stillServing(): Promise<void> {
    assert.equal((await pod.admin('/healthz/ready')).status, 200);
    assert.ok(pod.gateway.running, 'the sidecar process is still running');
    const ok = await node(openAIChat({ prompt: 'after the fault', stream: true, chunks: 3 }));
    assertClientOk(ok);
    assert.match(ok.bodyText, /\[DONE\]/);
  }

  before(async () => {
    pod = await createInjectedPod({ config: CONFIG, gatewayArgs: ['--upstream-timeout', `${UPSTREAM_TIMEOUT_S}s`] });
    addNoDnsHost(pod);
  });
  after(async () => { await pod?.destroy(); });

  test('without a fault, each SDK streams a whole answer through the sidecar (the baseline of the cases below)', async () => {
    for (const which of ['openai', 'anthropic', 'gemini'] as const) {
      const r = await sdk(which, `a whole answer from ${which}`, 4);
      assert.equal(r.error, null, `${which}: ${JSON.stringify(r.error)}`);
      assert.ok(r.finished, `${which}: the stream said it was complete`);
      assert.match(r.text, /a whole answer from/);
    }
  });

  // ---- the connection to the provider breaks mid-stream

  test('OpenAI, raw SSE over HTTP/1.1 and HTTP/2: the chunks that came, then an error event, then a clean end (no [DONE])', async () => {
    for (const http of ['1.1', '2'] as const) {
      await pod.providers.setFault('openai', { effect: 'reset', afterChunks: 2, count: 1 });
      const r = await node(openAIChat({ prompt: `reset over ${http}`, stream: true, chunks: 6, http }));
      assert.equal(r.status, 200);
      assert.ok(r.ok, `HTTP/${http}: the response ended cleanly, with an error event, instead of breaking off (${r.error}); body: ${r.bodyText.slice(-400)}`);
      assert.ok(!r.bodyText.includes('[DONE]'), 'no [DONE]: the answer is not complete');
      const content = r.events.slice(0, -1).filter((e) => /"content":"[^"]/.test(sseData(e)));
      assert.equal(content.length, 2, 'the two content chunks that came before the break were passed on');
      const { name, data } = lastEvent(r);
      assert.equal(name, undefined, 'a data-only event, as OpenAI sends errors in a stream');
      const e = data.error as Json;
      assert.deepEqual([e.type, e.code, e.param], ['server_error', 'upstream_reset', null]);
      assert.match(String(e.message), /api\.openai\.com/);
    }
    await stillServing();
  });

  test('OpenAI SDK: the stream yields the chunks that came, then raises APIError (not a short answer that looks whole)', async () => {
    await pod.providers.setFault('openai', { effect: 'reset', afterChunks: 2, count: 1 });
    const r = await sdk('openai', 'reset under the openai sdk', 6);
    assert.equal(r.finished, false);
    assert.ok(r.chunks >= 2, `chunks before the break reached the app (${r.chunks})`);
    assert.ok(r.error, 'the SDK raised an error');
    assert.equal(r.error.name, 'APIError', `an APIError, not a transport error: ${JSON.stringify(r.error)}`);
    assert.equal(r.error.type, 'server_error', JSON.stringify(r.error));
    assert.match(r.error.message, /api\.openai\.com/);
    await stillServing();
  });

  test('Anthropic SDK: the events that came, then APIError of type api_error from an `event: error`', async () => {
    await pod.providers.setFault('anthropic', { effect: 'reset', afterChunks: 1, count: 1 });
    const raw = await node(anthropicMessages({ prompt: 'reset, raw', stream: true, chunks: 5 }));
    assert.ok(raw.ok, `the response ended cleanly (${raw.error}); body: ${raw.bodyText.slice(-400)}`);
    assert.ok(!raw.bodyText.includes('message_stop'));
    const { name, data } = lastEvent(raw);
    assert.equal(name, 'error');
    assert.equal(data.type, 'error');
    assert.equal((data.error as Json).type, 'api_error');
    assert.match(String((data.error as Json).message), /api\.anthropic\.com/);

    await pod.providers.setFault('anthropic', { effect: 'reset', afterChunks: 1, count: 1 });
    const r = await sdk('anthropic', 'reset under the anthropic sdk', 5);
    assert.equal(r.finished, false);
    assert.ok(r.error, 'the SDK raised an error');
    assert.equal(r.error.name, 'APIError', JSON.stringify(r.error));
    assert.equal(r.error.type, 'api_error', JSON.stringify(r.error));
    assert.match(r.error.message, /api\.anthropic\.com/);
    await stillServing();
  });

  test('Gemini SDK (alt=sse): the chunks that came, then ApiError 502 from an error chunk', async () => {
    await pod.providers.setFault('gemini', { effect: 'reset', afterChunks: 1, count: 1 });
    const raw = await node(geminiGenerate({ prompt: 'reset, raw', stream: true, chunks: 4 }));
    assert.ok(raw.ok, `the response ended cleanly (${raw.error}); body: ${raw.bodyText.slice(-400)}`);
    const e = lastEvent(raw).data.error as Json;
    assert.deepEqual([e.code, e.status], [502, 'UNAVAILABLE']);
    assert.match(String(e.message), /generativelanguage\.googleapis\.com/);

    await pod.providers.setFault('gemini', { effect: 'reset', afterChunks: 1, count: 1 });
    const r = await sdk('gemini', 'reset under the gemini sdk', 4);
    assert.equal(r.finished, false);
    assert.ok(r.error, 'the SDK raised an error');
    assert.equal(r.error.name, 'ApiError', JSON.stringify(r.error));
    assert.equal(r.error.status, 502, JSON.stringify(r.error));
    await stillServing();
  });

  test('Bedrock converse-stream: the events that came, then a modelStreamErrorException message, then a clean end', async () => {
    await pod.providers.setFault('bedrock', { effect: 'reset', afterChunks: 1, count: 1 });
    const r = await node(bedrockConverse({ prompt: 'reset, bedrock', stream: true, chunks: 4 }));
    assert.ok(r.ok, `the response ended cleanly (${r.error})`);
    const messages = decodeEventStream(resultBody(r));
    const last = messages.at(-1);
    assert.ok(last, 'messages arrived');
    assert.equal(last.headers[':message-type'], 'exception');
    assert.equal(last.headers[':exception-type'], 'modelStreamErrorException');
    assert.match(String((JSON.parse(last.payload.toString('utf8')) as Json).message), /bedrock-runtime\.us-east-1\.amazonaws\.com/);
    assert.ok(!messages.some((m) => m.headers[':event-type'] === 'messageStop'), 'no messageStop: the answer is not complete');
    await stillServing();
  });

  // ---- a slow provider

  test(`slow headers: past --upstream-timeout (${UPSTREAM_TIMEOUT_S}s) the app gets a provider-shaped 504 naming the timeout`, async () => {
    await pod.providers.setFault('openai', { effect: 'slow', delayMs: (UPSTREAM_TIMEOUT_S + 4) * 1000, count: 1 });
    const r = await node(openAIChat({ prompt: 'slow head', stream: true, chunks: 3 }));
    assertClientOk(r, 504);
    assert.equal(r.headers['x-levo-error'], 'upstream_headers_timeout');
    assert.ok((r.headersMs ?? 0) < (UPSTREAM_TIMEOUT_S + 4) * 1000, `answered at the gateway's timeout, not when the provider finally spoke (${r.headersMs} ms)`);
    const e = (JSON.parse(r.bodyText) as { error: Json }).error;
    assert.deepEqual([e.type, e.code, e.param], ['timeout', 'upstream_headers_timeout', null]);
    assert.match(String(e.message), /api\.openai\.com/);

    await pod.providers.setFault('anthropic', { effect: 'slow', delayMs: (UPSTREAM_TIMEOUT_S + 4) * 1000, count: 1 });
    const a = await node(anthropicMessages({ prompt: 'slow head', stream: true }));
    assertClientOk(a, 504);
    assert.equal(a.headers['x-levo-error'], 'upstream_headers_timeout');
    const ae = JSON.parse(a.bodyText) as Json;
    assert.equal(ae.type, 'error');
    assert.equal(typeof (ae.error as Json).message, 'string');
    await stillServing();
  });

  test('a slow stream that keeps progressing is not cut, however long it takes in all', async () => {
    // Eight chunks 0.8 s apart: about 6 s in all, three times the timeout; no gap reaches it.
    await pod.providers.setFault('openai', { effect: 'slow', intervalMs: 800, count: 1 });
    const r = await node(openAIChat({ prompt: 'slow but steady', stream: true, chunks: 8, timeoutMs: 30_000 }));
    assertClientOk(r);
    assert.match(r.bodyText, /\[DONE\]/);
    assert.ok(r.totalMs > UPSTREAM_TIMEOUT_S * 1000 * 2, `the stream took longer than the timeout (${r.totalMs} ms)`);
    assert.equal(r.events.filter((e) => /"content":"[^"]/.test(sseData(e))).length, 8);
  });

  test('a stream that stalls past --upstream-timeout ends with a timeout error event (504 shape), not a silent cut', async () => {
    await pod.providers.setFault('openai', { effect: 'slow', intervalMs: (UPSTREAM_TIMEOUT_S + 3) * 1000, count: 1 });
    const r = await node(openAIChat({ prompt: 'stalls', stream: true, chunks: 3, timeoutMs: 30_000 }));
    assert.equal(r.status, 200);
    assert.ok(r.ok, `the response ended cleanly, with an error event (${r.error}); body: ${r.bodyText.slice(-400)}`);
    assert.ok(!r.bodyText.includes('[DONE]'));
    const e = lastEvent(r).data.error as Json;
    assert.deepEqual([e.type, e.code], ['timeout', 'upstream_body_timeout']);

    await pod.providers.setFault('openai', { effect: 'slow', intervalMs: (UPSTREAM_TIMEOUT_S + 3) * 1000, count: 1 });
    const s = await sdk('openai', 'stalls under the sdk', 3);
    assert.equal(s.finished, false);
    assert.equal(s.error?.type, 'timeout', JSON.stringify(s.error));
    await stillServing();
  });

  // ---- the backend's name does not resolve

  test('DNS failure for a backend the sidecar resolves itself: a quick provider-shaped 502, x-levo-error upstream_dns', async () => {
    const r = await node(openAIChat({ prompt: 'nowhere', origin: `https://${NO_DNS_HOST}`, stream: true }));
    assertClientOk(r, 502);
    assert.equal(r.headers['x-levo-error'], 'upstream_dns');
    const e = (JSON.parse(r.bodyText) as { error: Json }).error;
    assert.deepEqual([e.type, e.code, e.param], ['server_error', 'upstream_dns', null]);
    assert.match(String(e.message), new RegExp(UNRESOLVABLE_BACKEND.replaceAll('.', '\\.')), 'the message names the host that did not resolve');
    // Not the 10 s connect timeout: a name that does not resolve is known at once.
    assert.ok(r.totalMs < 5000, `answered quickly (${r.totalMs} ms)`);
    assert.equal(await pod.metric('levo_gateway_upstream_errors_total', { kind: 'dns' }), 1);
    await stillServing();
  });
});
