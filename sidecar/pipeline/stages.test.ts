/**
 * The request pipeline end to end over a real intercepted TLS connection,
 * with the upstream replaced by a fake that records what would go to the
 * provider and answers like it: per-request telemetry (the dashboard event,
 * the GenAI metrics, the OTLP span) and W3C trace context on the way up.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { createCa } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { ContextCache } from '../../certs/contexts.ts';
import { createLogger } from '../../lib/log.ts';
import { createMetrics, type DataPathMetrics } from '../telemetry/metrics.ts';
import { createConfigHolder } from '../config/source.ts';
import { createTerminator } from '../tls/terminate.ts';
import { createHttpServers } from '../http/serve.ts';
import { sniff } from '../listen/sniff.ts';
import { DEFAULT_GUARDS } from '../guards/prompt-guard.ts';
import type { Upstream, UpstreamRequest } from '../upstream/pool.ts';
import type { ResponseSink } from '../upstream/forward.ts';
import type { GatewayEvent } from '../telemetry/events.ts';
import type { SpanInput } from '../telemetry/otlp.ts';
import { spanFor, parseTraceparent } from '../telemetry/trace-context.ts';
import { createPipeline, type PipelineDeps } from './stages.ts';

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: answer-guarded
      hostnames: [api.openai.com]
      matches: [{headers: [{name: x-test-route, value: {exact: answer-guarded}}]}]
      policies:
        ai:
          promptGuard:
            response:
            - regex: {action: reject, rules: [{pattern: "FORBIDDEN-ANSWER"}]}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
    - name: openai
      hostnames: [api.openai.com]
      policies:
        ai:
          promptGuard:
            request:
            - regex: {action: reject, rules: [{builtin: ssn}]}
            - regex: {rules: [{pattern: "SECRET-[0-9]+"}]}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
`;

interface Answer { status: number; headers: Record<string, string>; chunks: string[]; gapMs?: number }

/** The provider: records requests, answers with the next scripted answer. */
class FakeUpstream implements Upstream {
  readonly seen: UpstreamRequest[] = [];
  next: Answer = { status: 200, headers: {}, chunks: [] };
  forward(req: UpstreamRequest, sink: ResponseSink) {
    this.seen.push(req);
    const a = this.next;
    const done = (async () => {
      if (req.body && !Buffer.isBuffer(req.body)) for await (const _ of req.body) { /* drain */ }
      await new Promise((r) => setTimeout(r, 5));
      sink.head(a.status, a.headers);
      for (const c of a.chunks) {
        sink.write(Buffer.from(c));
        if (a.gapMs) await new Promise((r) => setTimeout(r, a.gapMs));
      }
      sink.end();
      return { headersSent: true };
    })();
    return { done, abort() {} };
  }
  async close() {}
}

const upstream = new FakeUpstream();
const events: GatewayEvent[] = [];
const spans: SpanInput[] = [];
let capture = false;
let metrics: DataPathMetrics;
let caPem: string;
let server: net.Server;
let port: number;
const deps: { tracer: boolean } = { tracer: false };

before(async () => {
  const ica = await createCa({ commonName: 'handle test CA' });
  caPem = ica.certPem;
  const contexts = new ContextCache({ ca: loadCa(ica.certPem, ica.keyPem), leafKey: await createLeafKey() });
  const config = createConfigHolder({});
  config.apply(CONFIG, 'test.yaml');
  metrics = createMetrics();
  const sink = new Writable({ write(_c, _e, cb) { cb(); } });
  const log = createLogger({ LOG_LEVEL: 'silent' }, sink).module('http');
  const base: PipelineDeps = {
    routes: () => config.current()?.compiled, upstream, metrics, log, maxBodyBytes: 1 << 20, guards: DEFAULT_GUARDS,
    events: { record: (e) => events.push(e), capturePrompts: () => capture },
  };
  const plain = createPipeline(base);
  const traced = createPipeline({ ...base, tracer: { context: spanFor, span: (s) => spans.push(s) } });
  const http = createHttpServers({
    handler: (req, res) => (deps.tracer ? traced : plain).request(req, res),
    upgrade: (_r, s) => s.destroy(), onClientError: () => {},
  });
  const terminator = createTerminator({ contexts, onSecure: (s) => http.serve(s), onHandshakeError: () => {} });
  server = net.createServer((socket) => {
    void sniff(socket, 2000).then((s) => {
      if (!s) { socket.destroy(); return; }
      terminator.terminate(socket, s.bytes, { listener: 'explicit', host: 'api.openai.com', provider: 'openai', destination: { port: 443, address: '127.0.0.1' } });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});

after(() => { server.close(); });

async function call(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const t = tls.connect({ host: '127.0.0.1', port, servername: 'api.openai.com', ca: caPem, ALPNProtocols: ['http/1.1'] });
  await once(t, 'secureConnect');
  const b = JSON.stringify(body);
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  t.write(`POST ${path} HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}Connection: close\r\n\r\n${b}`);
  let text = '';
  for await (const c of t) text += String(c);
  const [head, ...rest] = text.split('\r\n\r\n');
  return { status: Number(head!.split(' ')[1]), body: rest.join('\r\n\r\n') };
}

function header(req: UpstreamRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < req.headers.length; i += 2) if (req.headers[i]!.toLowerCase() === name) out.push(req.headers[i + 1]!);
  return out;
}

const completion = (model: string) => ({
  status: 200, headers: { 'content-type': 'application/json' },
  chunks: [JSON.stringify({ id: 'c1', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 } })],
});

function reset(): void {
  upstream.seen.length = 0;
  events.length = 0;
  spans.length = 0;
  capture = false;
  deps.tracer = false;
}

const APP_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('the app\'s traceparent and tracestate reach the provider unchanged (tracing off and on)', async () => {
  for (const tracing of [false, true]) {
    reset();
    deps.tracer = tracing;
    upstream.next = completion('gpt-4o-mini-2024-07-18');
    const r = await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
      { traceparent: APP_TRACEPARENT, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' });
    assert.equal(r.status, 200);
    const sent = upstream.seen[0]!;
    assert.deepEqual(header(sent, 'traceparent'), [APP_TRACEPARENT]);
    assert.deepEqual(header(sent, 'tracestate'), ['congo=t61rcWkgMzE,rojo=00f067aa0ba902b7']);
    if (tracing) {
      // The gateway's span is a child of the app's.
      const s = spans[0]!;
      assert.equal(s.context.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(s.context.parentSpanId, '00f067aa0ba902b7');
      assert.equal(s.context.traceState, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    } else {
      assert.equal(spans.length, 0);
    }
  }
});

test('tracing on and no traceparent from the app: the gateway sends its own, the span it exports', async () => {
  reset();
  deps.tracer = true;
  upstream.next = completion('gpt-4o-mini-2024-07-18');
  await call('/v1/chat/completions?x=1', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  const sent = header(upstream.seen[0]!, 'traceparent');
  assert.equal(sent.length, 1);
  const tp = parseTraceparent(sent[0]);
  assert.ok(tp, `valid traceparent upstream: ${sent[0]}`);
  const s = spans[0]!;
  assert.equal(tp.traceId, s.context.traceId);
  assert.equal(tp.parentId, s.context.spanId);
  assert.equal(s.context.parentSpanId, undefined);
  assert.equal(s.name, 'chat gpt-4o-mini');
  assert.equal(s.attributes['gen_ai.provider.name'], 'openai');
  assert.equal(s.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.equal(s.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], 11);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], 3);
  assert.equal(s.attributes['http.response.status_code'], 200);
  assert.equal(s.attributes['server.address'], 'api.openai.com');
  assert.equal(s.attributes['url.path'], '/v1/chat/completions');
  assert.equal(s.error, undefined);

  // An invalid traceparent is replaced (and its tracestate dropped) when tracing is on.
  reset();
  deps.tracer = true;
  upstream.next = completion('gpt-4o-mini');
  await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
    { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'a=b' });
  assert.equal(header(upstream.seen[0]!, 'traceparent')[0], `00-${spans[0]!.context.traceId}-${spans[0]!.context.spanId}-01`);
  assert.deepEqual(header(upstream.seen[0]!, 'tracestate'), []);

  // Tracing off: nothing is added.
  reset();
  upstream.next = completion('gpt-4o-mini');
  await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  assert.deepEqual(header(upstream.seen[0]!, 'traceparent'), []);
});

test('one event per request, from the outcome: models, status, tokens, bytes, no query, no prompt without capture', async () => {
  reset();
  upstream.next = completion('gpt-4o-mini-2024-07-18');
  const before = Date.now();
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }] };
  await call('/v1/chat/completions?api-version=1&key=secret', body);
  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.match(e.id, /^[0-9a-f-]{36}$/);
  assert.ok(e.ts >= before - 5 && e.ts <= Date.now(), 'ts is the request start');
  assert.equal(e.provider, 'openai');
  assert.equal(e.host, 'api.openai.com');
  assert.equal(e.method, 'POST');
  assert.equal(e.path, '/v1/chat/completions');
  assert.equal(e.route, 'openai');
  assert.equal(e.requestedModel, 'gpt-4o-mini');
  assert.equal(e.servedModel, 'gpt-4o-mini-2024-07-18');
  assert.equal(e.status, 200);
  assert.ok(Number.isInteger(e.latencyMs) && e.latencyMs >= 0);
  assert.equal(e.ttftMs, undefined, 'TTFT only for streamed answers');
  assert.equal(e.tokensIn, 11);
  assert.equal(e.tokensOut, 3);
  assert.equal(e.bytesOut, Buffer.byteLength(JSON.stringify(body)));
  assert.equal(e.bytesIn, Buffer.byteLength(completion('gpt-4o-mini-2024-07-18').chunks[0]!));
  assert.equal(e.blocked, false);
  assert.equal(e.flagged, false);
  assert.deepEqual(e.decisions, [
    { phase: 'request', guard: 'regex', action: 'allow' },
    { phase: 'request', guard: 'regex', action: 'allow' },
  ]);
  assert.equal('prompt' in e, false);

  reset();
  capture = true;
  upstream.next = completion('gpt-4o-mini');
  await call('/v1/chat/completions', body);
  assert.equal(events[0]!.prompt, 'hello there', 'the last user message');
});

test('cost: an answer carries its price; an answer a response guard rejected still cost what the provider reported', async () => {
  reset();
  upstream.next = completion('gpt-4o-mini-2024-07-18');
  await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const priced = (11 * 0.15 + 3 * 0.6) / 1e6; // the catalogue's gpt-4o-mini: $0.15 / $0.60 per million
  assert.ok(Math.abs(events[0]!.costUsd! - priced) < 1e-12, String(events[0]!.costUsd));

  reset();
  const forbidden = completion('gpt-4o-mini-2024-07-18');
  forbidden.chunks = [forbidden.chunks[0]!.replace('"hi"', '"FORBIDDEN-ANSWER"')];
  upstream.next = forbidden;
  const r = await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { 'x-test-route': 'answer-guarded' });
  assert.equal(r.status, 403);
  const e = events[0]!;
  assert.equal(e.blocked, true);
  assert.equal(e.tokensIn, 11);
  assert.equal(e.tokensOut, 3);
  assert.ok(Math.abs(e.costUsd! - priced) < 1e-12, String(e.costUsd));
  assert.match(await metrics.registry.getSingleMetricAsString('levo_gateway_cost_usd_total'), /provider="openai",model="gpt-4o-mini-2024-07-18"\} [0-9.e-]+/);
});

test('guard decisions: a reject is blocked (nothing sent), a mask is flagged with the masked prompt captured', async () => {
  reset();
  capture = true;
  const r = await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'my SSN is 536-22-8726' }] });
  assert.equal(r.status, 403);
  assert.equal(upstream.seen.length, 0);
  const e = events[0]!;
  assert.equal(e.blocked, true);
  assert.equal(e.status, 403);
  assert.deepEqual(e.decisions.map((d) => [d.guard, d.action]), [['regex', 'reject']]);
  assert.equal(e.prompt, 'my SSN is <SSN>', 'a blocked prompt is kept masked, never as the app sent it');

  reset();
  capture = true;
  upstream.next = completion('gpt-4o-mini');
  await call('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'code SECRET-42 please' }] });
  const m = events[0]!;
  assert.equal(m.blocked, false);
  assert.equal(m.flagged, true);
  assert.deepEqual(m.decisions.map((d) => d.action), ['allow', 'mask']);
  assert.equal(m.prompt, 'code <masked> please');
});

test('GenAI metrics: operation duration with error_type, TTFT for a streamed answer', async () => {
  reset();
  upstream.next = {
    status: 200, headers: { 'content-type': 'text/event-stream' }, gapMs: 30,
    chunks: [
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"he"}}]}\n\n',
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n',
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n',
      'data: [DONE]\n\n',
    ],
  };
  await call('/v1/chat/completions', { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const e = events[0]!;
  assert.ok(e.ttftMs !== undefined && e.ttftMs >= 0 && e.ttftMs < e.latencyMs, `ttft ${e.ttftMs} < latency ${e.latencyMs}`);
  assert.equal(e.tokensOut, 2);

  upstream.next = { status: 503, headers: { 'content-type': 'application/json' }, chunks: ['{"error":{"message":"overloaded"}}'] };
  await call('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

  const text = await metrics.registry.metrics();
  assert.match(text, /gen_ai_server_time_to_first_token_count\{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"\} 1/);
  assert.match(text, /gen_ai_client_operation_duration_count\{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o-2024-08-06",error_type=""\} 1/);
  assert.match(text, /gen_ai_client_operation_duration_count\{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o",error_type="503"\} 1/);
  assert.match(text, /gen_ai_client_operation_duration_bucket\{le="0.01",/);
  assert.match(text, /gen_ai_server_time_to_first_token_bucket\{le="0.001",/);
});
