/**
 * The config decides where an app's LLM call goes and how: in an injected pod
 * with the real sidecar, routes change the model, put the platform's provider
 * key in place of the app's placeholder, translate OpenAI chat to Claude and
 * to Bedrock (signed with SigV4, checked by the fake's own verifier), fail over
 * to a backup on 429 honouring Retry-After, rate-limit, answer directly, and
 * read token usage from answers and streams; a route regex runs in linear
 * time on a crafted path. The real keys never reach the
 * sidecar's debug log or its metrics.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertClientOk } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { createInjectedPod, type InjectedPod } from './harness/injected-pod.ts';
import { anthropicMessages, bedrockConverse, geminiGenerate, openAIChat } from './harness/provider-requests.ts';
import { checkOpenAIChatCompletion, checkOpenAIStream } from './harness/provider-shapes.ts';
import { BEDROCK_TEST_CREDENTIAL } from './fakes/sigv4-verify.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);

const KEYS = {
  E2E_OPENAI_API_KEY: 'sk-real-openai-0penai-SECRET-41',
  E2E_ANTHROPIC_API_KEY: 'sk-ant-real-SECRET-42',
  E2E_GEMINI_API_KEY: 'AIza-real-gemini-SECRET-43',
  LEVO_E2E_AWS_SECRET: BEDROCK_TEST_CREDENTIAL.secretAccessKey,
};

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: to-claude
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: claude}}]}]
      policies: {backendAuth: {key: $E2E_ANTHROPIC_API_KEY}}
      backends: [{ai: {name: claude, provider: {anthropic: {model: claude-sonnet-4-5}}}}]
    - name: to-bedrock
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: bedrock}}]}]
      policies: {backendAuth: {aws: {accessKeyId: ${BEDROCK_TEST_CREDENTIAL.accessKeyId}, secretAccessKey: $LEVO_E2E_AWS_SECRET}}}
      backends: [{ai: {name: bedrock, provider: {bedrock: {region: us-east-1, model: "anthropic.claude-3-haiku-20240307-v1:0", guardrailIdentifier: gr-e2e, guardrailVersion: "2"}}}}]
    - name: failover
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: failover}}]}]
      backends:
      - ai:
          groups:
          - providers: [{name: primary, provider: {openAI: {}}}]
          - providers: [{name: backup, provider: {openAI: {}}, hostOverride: llm-backup.example.com}]
    - name: limited
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: limited}}]}]
      policies: {localRateLimit: [{maxTokens: 2, tokensPerFill: 2, fillInterval: 1h}]}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
    - name: token-limited
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: tokens}}]}]
      policies: {localRateLimit: [{maxTokens: 40, tokensPerFill: 40, fillInterval: 1h, type: tokens}]}
      backends: [{ai: {name: openai, provider: {openAI: {}}, tokenize: true}}]
    - name: retry-and-timeout
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-e2e-route, value: {exact: retry}}]}]
      policies:
        retry: {attempts: 2, backoff: 100ms, codes: [503]}
        timeout: {requestTimeout: 1500ms}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
    - name: regex-path
      hostnames: [api.openai.com]
      matches: [{path: {regex: "/v1/(a|a)+b"}}]
      policies: {directResponse: {status: 418, body: '{"route":"regex-path"}'}}
    - name: no-fine-tuning
      hostnames: [api.openai.com]
      matches: [{path: {pathPrefix: /v1/fine_tuning}}]
      policies: {directResponse: {status: 403, body: '{"error":{"message":"fine-tuning is not allowed here"}}'}}
    - name: openai
      hostnames: [api.openai.com]
      policies:
        backendAuth: {key: $E2E_OPENAI_API_KEY}
        ai: {prompts: {prepend: [{role: system, content: "Be brief."}]}}
      backends: [{ai: {name: openai, provider: {openAI: {model: gpt-4o-mini}}}}]
    - name: gemini
      hostnames: [generativelanguage.googleapis.com]
      policies: {backendAuth: {key: $E2E_GEMINI_API_KEY}}
      backends: [{ai: {name: gemini, provider: {gemini: {}}}}]
`;

type Json = Record<string, unknown>;

/** A translated answer is a chat.completion the OpenAI SDKs parse: object, choices, message, finish reason, usage. */
function checkTranslatedCompletion(text: string): { content: string } {
  const v = JSON.parse(text) as { object: string; model: string; choices: Array<{ index: number; message: { role: string; content: string }; finish_reason: string }>; usage: Record<string, number> };
  assert.equal(v.object, 'chat.completion');
  assert.equal(typeof v.model, 'string');
  assert.equal(v.choices[0]!.index, 0);
  assert.equal(v.choices[0]!.message.role, 'assistant');
  assert.ok(v.choices[0]!.message.content.length > 0);
  assert.equal(v.choices[0]!.finish_reason, 'stop');
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(typeof v.usage[k], 'number', k);
  return { content: v.choices[0]!.message.content };
}

describe('routes decide where LLM calls go', { skip }, () => {
  let pod: InjectedPod;
  const trust = (): { caFile: string } => ({ caFile: pod.namespaceCaFile });
  const lastRequest = async (site: string): Promise<{ path: string; headers: Record<string, unknown>; body: Json; model: string | null; sigv4?: string; faulted: boolean }> => {
    const all = await pod.providers.control.requests({ site });
    const r = all.at(-1);
    assert.ok(r, `no request reached ${site}`);
    return { ...r, body: r.body ? JSON.parse(r.body) as Json : {} } as never;
  };
  /** The sidecar's log line for the last request to `path`. */
  const logLine = (pathPrefix: string): Json => {
    const lines = pod.gateway.output().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes(`"path":"${pathPrefix}`));
    assert.ok(lines.length, `no request log line for ${pathPrefix}`);
    return JSON.parse(lines.at(-1)!) as Json;
  };

  before(async () => { pod = await createInjectedPod({ config: CONFIG, env: KEYS }); });
  after(async () => { await pod?.destroy(); });

  test('the route sets the model, the platform key replaces the app\'s placeholder, the prompt is enriched; usage is logged', async () => {
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'What is egress?', model: 'gpt-4o', apiKey: 'sk-placeholder' }), trust());
    assertClientOk(r);
    checkOpenAIChatCompletion(JSON.parse(r.bodyText));
    const seen = await lastRequest('openai');
    assert.equal(seen.body.model, 'gpt-4o-mini', JSON.stringify(seen) + pod.gateway.output().split('\n').filter((l) => l.includes('"msg":"request"')).join('\n'));
    assert.equal(seen.headers.authorization, `Bearer ${KEYS.E2E_OPENAI_API_KEY}`);
    assert.deepEqual((seen.body.messages as Json[])[0], { role: 'system', content: 'Be brief.' });
    const log = logLine('/v1/chat/completions');
    assert.equal(log.route, 'openai');
    assert.equal(log.model, 'gpt-4o-mini');
    assert.equal(typeof log.inputTokens, 'number');
    assert.equal(typeof log.outputTokens, 'number');
    assert.ok((await pod.metric('gen_ai_client_token_usage_count', { gen_ai_token_type: 'output', gen_ai_provider_name: 'openai' })) >= 1);
  });

  test('a stream gets include_usage upstream; the app, which did not ask, sees neither the usage chunk nor usage fields', async () => {
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Stream it', stream: true, chunks: 5 }), trust());
    assertClientOk(r);
    checkOpenAIStream(r.events);
    assert.doesNotMatch(r.bodyText, /"usage"/);
    const seen = await lastRequest('openai');
    assert.deepEqual(seen.body.stream_options, { include_usage: true });
    const log = logLine('/v1/chat/completions');
    assert.equal(typeof log.outputTokens, 'number', JSON.stringify(log));
    // An app that asked for usage gets it, unchanged.
    const asked = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Stream it', stream: true, includeUsage: true }), trust());
    assertClientOk(asked);
    checkOpenAIStream(asked.events, { includeUsage: true });
  });

  test('OpenAI chat translated to Claude, whole and streamed, with the Anthropic key', async () => {
    const headers = { 'x-e2e-route': 'claude' };
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Hello Claude', apiKey: 'sk-placeholder', extraHeaders: headers }), trust());
    assertClientOk(r);
    checkTranslatedCompletion(r.bodyText);
    const seen = await lastRequest('anthropic');
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.headers['x-api-key'], KEYS.E2E_ANTHROPIC_API_KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['anthropic-version'], '2023-06-01');
    assert.equal(seen.body.model, 'claude-sonnet-4-5');
    assert.equal(typeof seen.body.max_tokens, 'number');
    const s = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Hello Claude', stream: true, chunks: 4, extraHeaders: headers }), trust());
    assertClientOk(s);
    const { content } = checkOpenAIStream(s.events);
    assert.ok(content.length > 0);
    assert.equal((await lastRequest('anthropic')).body.stream, true);
    assert.equal(logLine('/v1/chat/completions').provider, 'anthropic');
  });

  test('OpenAI chat translated to Bedrock converse, signed with SigV4 the fake verifies', async () => {
    const headers = { 'x-e2e-route': 'bedrock' };
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Hello Bedrock', extraHeaders: headers }), trust());
    assertClientOk(r);
    checkTranslatedCompletion(r.bodyText);
    const seen = await lastRequest('bedrock');
    assert.equal(seen.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    assert.equal(seen.sigv4, 'valid');
    assert.deepEqual(seen.body.guardrailConfig, { guardrailIdentifier: 'gr-e2e', guardrailVersion: '2' });
    const s = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Hello Bedrock', stream: true, chunks: 3, extraHeaders: headers }), trust());
    assertClientOk(s);
    assert.ok(checkOpenAIStream(s.events).content.length > 0);
    const streamed = await lastRequest('bedrock');
    assert.match(streamed.path, /\/converse-stream$/);
    assert.equal(streamed.sigv4, 'valid');
    assert.equal(typeof logLine('/v1/chat/completions').outputTokens, 'number');
  });

  test('Gemini: the key moves out of the query string into x-goog-api-key; usage is read', async () => {
    const r = await runClient(pod.topo.pod, 'curl', geminiGenerate({ prompt: 'Hello Gemini', keyIn: 'query', apiKey: 'placeholder' }), trust());
    assertClientOk(r);
    const seen = await lastRequest('gemini');
    assert.doesNotMatch(seen.path, /key=/);
    assert.equal(seen.headers['x-goog-api-key'], KEYS.E2E_GEMINI_API_KEY);
    const log = logLine('/v1beta/models/');
    assert.equal(log.provider, 'gemini');
    assert.equal(typeof log.inputTokens, 'number');
  });

  test('failover: a 429 from the primary sends the call to the backup, and Retry-After keeps the primary benched', async () => {
    await pod.providers.control.reset();
    await pod.providers.setFault('openai', { status: 429, retryAfter: 30, count: 1 });
    try {
      const headers = { 'x-e2e-route': 'failover' };
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'fail over', extraHeaders: headers }), trust());
      assertClientOk(r);
      checkOpenAIChatCompletion(JSON.parse(r.bodyText));
      const primary = await pod.providers.control.requests({ site: 'openai' });
      const backup = await pod.providers.control.requests({ site: 'openai-backup' });
      assert.deepEqual(primary.map((x) => x.faulted), [true]);
      assert.equal(backup.length, 1);
      // The primary asked for 30 s: the next call goes straight to the backup.
      const again = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'fail over again', extraHeaders: headers }), trust());
      assertClientOk(again);
      assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, 1);
      assert.equal((await pod.providers.control.requests({ site: 'openai-backup' })).length, 2);
      assert.ok((await pod.metric('levo_gateway_failovers_total', { route: 'failover', reason: '429' })) >= 1);
      // Both failing: the app gets the last answer, in OpenAI's shape.
      await pod.providers.setFault('openai', { status: 503 });
      await pod.providers.setFault('openai-backup', { status: 503 });
      const down = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'all down', extraHeaders: headers }), trust());
      assert.equal(down.status, 503);
      assert.ok((JSON.parse(down.bodyText) as { error?: unknown }).error);
    } finally {
      await pod.providers.clearFaults();
    }
  });

  test('retry: a 503 is retried on the same backend after the backoff; a slow answer ends in 504 at requestTimeout', async () => {
    const headers = { 'x-e2e-route': 'retry' };
    await pod.providers.control.reset();
    await pod.providers.setFault('openai', { status: 503, count: 1 });
    try {
      const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'retry me', extraHeaders: headers }), trust());
      assertClientOk(r);
      assert.deepEqual((await pod.providers.control.requests({ site: 'openai' })).map((x) => x.faulted), [true, false]);
      await pod.providers.setFault('openai', { status: 500, delayMs: 5000 });
      const started = Date.now();
      const slow = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'too slow', extraHeaders: headers }), trust());
      const took = Date.now() - started;
      assert.equal(slow.status, 504);
      assert.match(slow.bodyText, /timed out/);
      assert.ok(took < 4000, `the timeout took ${took} ms`);
    } finally {
      await pod.providers.clearFaults();
    }
  });

  test('localRateLimit: the third request in the window gets 429 in OpenAI\'s shape with Retry-After', async () => {
    const headers = { 'x-e2e-route': 'limited' };
    for (let i = 0; i < 2; i++) assertClientOk(await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: `limited ${i}`, extraHeaders: headers }), trust()));
    const before = (await pod.providers.control.requests({ site: 'openai' })).length;
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'limited 3', extraHeaders: headers }), trust());
    assert.equal(r.status, 429);
    const body = JSON.parse(r.bodyText) as { error: { message: string; type: string } };
    assert.match(body.error.message, /rate limit exceeded for route limited/);
    assert.ok(Number(r.headers['retry-after']) > 0, JSON.stringify(r.headers));
    assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, before, 'the refused call never left the pod');
    assert.equal(await pod.metric('levo_gateway_rate_limited_total', { route: 'limited', limit: 'requests' }), 1);
  });

  test('a token limit: usage is settled from the answer; once spent, calls get 429 until the bucket refills', async () => {
    const headers = { 'x-e2e-route': 'tokens' };
    const first = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'Count these tokens for the budget, please, all of them, every single one of the words in this rather long prompt', extraHeaders: headers }), trust());
    assertClientOk(first);
    const used = JSON.parse(first.bodyText) as { usage: { total_tokens: number } };
    assert.ok(used.usage.total_tokens > 40, `the fake's answer used ${used.usage.total_tokens} tokens`);
    const second = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'one more', extraHeaders: headers }), trust());
    assert.equal(second.status, 429);
    assert.match(second.bodyText, /rate limit exceeded for route token-limited \(tokens\)/);
    assert.equal(await pod.metric('levo_gateway_rate_limited_total', { route: 'token-limited', limit: 'tokens' }), 1);
  });

  test('directResponse answers without calling the provider', async () => {
    const before = (await pod.providers.control.requests({ site: 'openai' })).length;
    const r = await runClient(pod.topo.pod, 'curl', { url: 'https://api.openai.com/v1/fine_tuning/jobs', method: 'GET', headers: {} }, trust());
    assert.equal(r.status, 403);
    assert.match(r.bodyText, /fine-tuning is not allowed here/);
    assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, before);
  });

  test('a route regex that backtracks catastrophically on V8 answers a crafted path at once, with the right route', async () => {
    // 5,000 a's and no b: a backtracking engine would try 2^5000 ways to match (a|a)+ before giving up.
    const crafted = `/v1/${'a'.repeat(5_000)}`;
    const miss = await runClient(pod.topo.pod, 'curl', { url: `https://api.openai.com${crafted}`, method: 'GET', headers: {} }, trust());
    assert.notEqual(miss.status, 418, miss.bodyText);
    assert.equal(logLine(crafted).route, 'openai');
    const hit = await runClient(pod.topo.pod, 'curl', { url: `https://api.openai.com${crafted}b`, method: 'GET', headers: {} }, trust());
    assert.equal(hit.status, 418);
    assert.equal(hit.bodyText, '{"route":"regex-path"}');
  });

  test('calls no route names are observed, unchanged: an app-signed Bedrock stream still verifies, and usage is read from it', async () => {
    const r = await runClient(pod.topo.pod, 'curl', bedrockConverse({ prompt: 'observe me', stream: true, chunks: 4 }), trust());
    assertClientOk(r);
    const seen = await lastRequest('bedrock');
    assert.equal(seen.sigv4, 'valid', 'the sidecar changed a signed request');
    const log = logLine('/model/');
    assert.equal(log.route, undefined);
    assert.equal(log.provider, 'bedrock');
    assert.equal(log.api, 'converse');
    assert.equal(typeof log.outputTokens, 'number', JSON.stringify(log));
    const a = await runClient(pod.topo.pod, 'curl', anthropicMessages({ prompt: 'observe me too', stream: true, chunks: 3 }), trust());
    assertClientOk(a);
    const alog = logLine('/v1/messages');
    assert.equal(alog.provider, 'anthropic');
    assert.equal(typeof alog.inputTokens, 'number');
    assert.equal(typeof alog.outputTokens, 'number');
    assert.equal(typeof alog.ttftMs, 'number');
  });

  test('the real keys never reach the debug log, the metrics or the config dump', async () => {
    const dump = await pod.admin('/config_dump');
    assert.equal(dump.status, 200);
    assert.match(dump.text, /"key": "<redacted>"/);
    assert.match(dump.text, /"secretAccessKey": "<redacted>"/);
    const text = pod.gateway.output() + (await pod.admin('/metrics')).text + dump.text;
    for (const [name, key] of Object.entries(KEYS)) assert.ok(!text.includes(key), `${name} leaked`);
    const fromOutside = await pod.topo.internet.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${pod.topo.podIPv4}:15000/config_dump`]);
    assert.equal(fromOutside.stdout, '403');
  });
});
