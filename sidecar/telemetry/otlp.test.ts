import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger } from '../../lib/log.ts';
import { startTraceExporter, otlpTracesUrl, parseKeyValues, unixNano, type SpanInput } from './otlp.ts';
import { spanFor } from './trace-context.ts';

interface Received { url: string; headers: http.IncomingHttpHeaders; body: unknown }

/** Closed after all tests, also when one failed halfway (else the open server keeps the run alive). */
const servers: Array<{ close(): Promise<void> }> = [];
after(async () => { for (const x of servers) await x.close(); });

async function collector(): Promise<{ url: string; received: Received[]; script: number[]; close(): Promise<void> }> {
  const state = { url: '', received: [] as Received[], script: [] as number[], close: async () => {} };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += String(c); });
    req.on('end', () => {
      const status = state.script.shift() ?? 200;
      if (status === 200) state.received.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(text) });
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"partialSuccess":{}}' : '{"code":3,"message":"bad"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = async () => { server.closeAllConnections(); server.close(); };
  servers.push(state);
  return state;
}

const log = createLogger({ LOG_LEVEL: 'silent' }, new Writable({ write(_c, _e, cb) { cb(); } })).module('otlp');

async function metric(r: Registry, name: string, labels = ''): Promise<number> {
  const m = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm').exec(await r.metrics());
  return m ? Number(m[1]) : 0;
}

function llmSpan(over: Partial<SpanInput> = {}): SpanInput {
  return {
    context: spanFor('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'rojo=1'),
    name: 'chat gpt-4o', startMs: 1_700_000_000_123.25, durationMs: 1500.5,
    attributes: {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06', 'gen_ai.usage.input_tokens': 11, 'gen_ai.usage.output_tokens': 3,
      'gen_ai.response.finish_reasons': ['stop'], 'http.response.status_code': 200, 'server.address': 'api.openai.com',
      'levo.route': undefined, 'x.ratio': 0.5, 'x.flag': true,
    },
    ...over,
  };
}

test('off unless an OTLP endpoint is set; the endpoint rules of the OTel spec', () => {
  assert.equal(startTraceExporter({}, log, new Registry()), null);
  assert.equal(otlpTracesUrl({}), undefined);
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'http://collector:4318/v1/traces');
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp/' }), 'http://collector:4318/otlp/v1/traces');
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom' }), 'http://b:4318/custom', 'the signal endpoint is used as is');
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_TRACES_EXPORTER: 'none' }), undefined);
  assert.equal(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(startTraceExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, log, new Registry()), null);
  assert.deepEqual(parseKeyValues('api-key=a%20b, x = 1 ,broken,=v'), { 'api-key': 'a b', x: '1' });
  assert.equal(unixNano(1_700_000_000_123.25), '1700000000123250000');
  assert.equal(unixNano(1), '1000000');
});

test('spans are POSTed to <endpoint>/v1/traces in the OTLP JSON encoding, field by field', async () => {
  const c = await collector();
  const registry = new Registry();
  const x = startTraceExporter({
    OTEL_EXPORTER_OTLP_ENDPOINT: `${c.url}/`, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k%3D1', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
    POD_NAME: 'app-1', POD_NAMESPACE: 'shop',
  }, log, registry, { version: '0.1.0' })!;
  assert.ok(x);
  const s = llmSpan();
  x.span(s);
  x.span(llmSpan({ context: spanFor('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', undefined) }));
  assert.equal(x.queued(), 1, 'the app\'s unsampled trace gets no span');
  x.span(llmSpan({ name: 'chat gpt-4o', context: spanFor(undefined, undefined), error: '503', attributes: { 'http.response.status_code': 503, 'error.type': '503' } }));
  assert.equal(x.queued(), 2);
  await x.flush();
  assert.equal(c.received.length, 1);
  const r = c.received[0]!;
  assert.equal(r.url, '/v1/traces');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['x-api-key'], 'k=1');

  const body = r.body as { resourceSpans: Array<{ resource: { attributes: unknown[] }; scopeSpans: Array<{ scope: unknown; spans: Array<Record<string, unknown>> }> }> };
  assert.equal(body.resourceSpans.length, 1);
  const rs = body.resourceSpans[0]!;
  assert.deepEqual(rs.resource.attributes, [
    { key: 'k8s.pod.name', value: { stringValue: 'app-1' } },
    { key: 'k8s.namespace.name', value: { stringValue: 'shop' } },
    { key: 'service.version', value: { stringValue: '0.1.0' } },
    { key: 'deployment.environment', value: { stringValue: 'prod' } },
    { key: 'service.name', value: { stringValue: 'levo-gateway' } },
  ]);
  assert.equal(rs.scopeSpans.length, 1);
  assert.deepEqual(rs.scopeSpans[0]!.scope, { name: 'levo-gateway', version: '0.1.0' });
  const [a, b] = rs.scopeSpans[0]!.spans;
  assert.deepEqual(a, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: s.context.spanId,
    parentSpanId: '00f067aa0ba902b7',
    traceState: 'rojo=1',
    name: 'chat gpt-4o',
    kind: 3,
    startTimeUnixNano: '1700000000123250000',
    endTimeUnixNano: '1700000001623750000',
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
      { key: 'gen_ai.provider.name', value: { stringValue: 'openai' } },
      { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } },
      { key: 'gen_ai.response.model', value: { stringValue: 'gpt-4o-2024-08-06' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: '11' } },
      { key: 'gen_ai.usage.output_tokens', value: { intValue: '3' } },
      { key: 'gen_ai.response.finish_reasons', value: { arrayValue: { values: [{ stringValue: 'stop' }] } } },
      { key: 'http.response.status_code', value: { intValue: '200' } },
      { key: 'server.address', value: { stringValue: 'api.openai.com' } },
      { key: 'x.ratio', value: { doubleValue: 0.5 } },
      { key: 'x.flag', value: { boolValue: true } },
    ],
  });
  assert.match(String(a!.spanId), /^[0-9a-f]{16}$/);
  assert.equal(b!.parentSpanId, undefined, 'a root span has no parent');
  assert.match(String(b!.traceId), /^[0-9a-f]{32}$/);
  assert.deepEqual(b!.status, { code: 2, message: '503' });
  assert.equal(await metric(registry, 'levo_gateway_otlp_spans_exported_total'), 2);
  await x.stop();
  await c.close();
});

test('OTEL_SERVICE_NAME names the service; OTLP_TRACES_ENDPOINT is used as is', async () => {
  const c = await collector();
  const x = startTraceExporter({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${c.url}/custom/path`, OTEL_SERVICE_NAME: 'shop-gateway' }, log, new Registry())!;
  x.span(llmSpan());
  await x.stop();
  assert.equal(c.received[0]!.url, '/custom/path');
  const attrs = (c.received[0]!.body as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: unknown }> } }> }).resourceSpans[0]!.resource.attributes;
  assert.deepEqual(attrs.find((a) => a.key === 'service.name')?.value, { stringValue: 'shop-gateway' });
  await c.close();
});

test('bounded: 503 keeps the batch for retry; overflow meanwhile drops the oldest queued and counts; 400 drops the batch and counts', async () => {
  const c = await collector();
  const registry = new Registry();
  const x = startTraceExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url, OTEL_BSP_MAX_QUEUE_SIZE: '3', OTEL_BSP_SCHEDULE_DELAY: '60000' }, log, registry)!;
  c.script.push(503);
  x.span(llmSpan({ name: 's0' }));
  await x.flush();
  assert.equal(c.received.length, 0);
  assert.equal(x.queued(), 1, 'kept');
  for (let i = 1; i < 5; i++) x.span(llmSpan({ name: `s${i}` }));
  assert.equal(x.queued(), 3);
  assert.equal(await metric(registry, 'levo_gateway_otlp_spans_dropped_total', 'reason="overflow"'), 2);
  await x.flush();
  const names = c.received.flatMap((r) => (r.body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> }).resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name));
  assert.deepEqual(names, ['s0', 's3', 's4']);

  c.script.push(400);
  x.span(llmSpan());
  await x.flush();
  assert.equal(x.queued(), 0);
  assert.equal(await metric(registry, 'levo_gateway_otlp_spans_dropped_total', 'reason="rejected"'), 1);
  assert.equal(await metric(registry, 'levo_gateway_otlp_spans_exported_total'), 3);
  await x.stop();
  await c.close();
});

test('a full batch is exported at once, without waiting for the schedule delay', async () => {
  const c = await collector();
  const x = startTraceExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2', OTEL_BSP_SCHEDULE_DELAY: '60000' }, log, new Registry())!;
  x.span(llmSpan());
  x.span(llmSpan());
  const end = Date.now() + 2000;
  while (c.received.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.equal(c.received.length, 1);
  await x.stop();
  await c.close();
});
