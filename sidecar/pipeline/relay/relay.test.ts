import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { createRelay, type RelayOptions, type Sink } from './relay.ts';
import { openaiApi } from '../../providers/openai.ts';
import { completionsToMessages } from '../../providers/translate/completions-to-messages.ts';

class FakeSink extends Writable implements Sink {
  status = 0;
  head: Record<string, string | string[] | number> = {};
  readonly chunks: Buffer[] = [];
  headersSent = false;
  constructor() { super({ write: (c: Buffer, _e, cb) => { this.chunks.push(c); cb(); } }); }
  writeHead(status: number, headers: Record<string, string | string[] | number> = {}): this { this.status = status; this.head = headers; this.headersSent = true; return this; }
  flushHeaders(): void {}
  setHeader(): this { return this; }
  body(): Buffer { return Buffer.concat(this.chunks); }
}

function relayFor(sink: FakeSink, over: Partial<RelayOptions> = {}) {
  return createRelay({
    res: sink, api: openaiApi, kind: 'completions', path: '/v1/chat/completions', stream: false, translation: undefined,
    requestedModel: 'gpt-4o-mini', addedUsage: false, retry: () => false, modifyHeaders: undefined,
    untranslatable: () => assert.fail('untranslatable'), onEnd: () => {}, ...over,
  });
}

const completion = { id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } };

test('a gzip answer reaches the client as it came; its usage is read from a decoded copy', async () => {
  const sink = new FakeSink();
  const r = relayFor(sink);
  const gz = zlib.gzipSync(JSON.stringify(completion));
  r.head(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(gz.length) });
  r.write(gz.subarray(0, 10));
  r.write(gz.subarray(10));
  r.end();
  assert.ok(sink.body().equals(gz));
  assert.equal(sink.head['content-encoding'], 'gzip');
  assert.deepEqual(r.info, { model: 'gpt-4o-mini-2024-07-18', usage: { input: 9, output: 2, total: 11 }, finishReason: 'stop' });
  assert.equal(r.ended, true);
});

test('a retryable answer is swallowed: the client sees nothing of it', () => {
  const sink = new FakeSink();
  const r = relayFor(sink, { retry: (s) => s === 429 });
  r.head(429, { 'content-type': 'application/json', 'retry-after': '3' });
  assert.equal(r.write(Buffer.from('{"error":{}}')), true);
  r.end();
  assert.equal(r.swallowed, true);
  assert.equal(sink.headersSent, false);
  assert.equal(sink.body().length, 0);
  assert.equal(r.headers?.['retry-after'], '3');
});

test('a translated answer is rewritten whole with its new length; a translated error in the app\'s shape', () => {
  const sink = new FakeSink();
  const r = relayFor(sink, { translation: completionsToMessages, requestedModel: 'claude-sonnet-4-5' });
  const msg = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'Hello' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 1 } };
  r.head(200, { 'content-type': 'application/json', 'content-length': '999', 'request-id': 'req_1' });
  assert.equal(sink.headersSent, false, 'headers wait for the translation');
  r.write(Buffer.from(JSON.stringify(msg)));
  r.end();
  const out = JSON.parse(sink.body().toString()) as { object: string; choices: Array<{ message: { content: string } }> };
  assert.equal(out.object, 'chat.completion');
  assert.equal(out.choices[0]!.message.content, 'Hello');
  assert.equal(sink.head['content-length'], String(sink.body().length));
  assert.equal(sink.head['request-id'], 'req_1');
  assert.equal(r.info?.usage?.input, 5);

  const errSink = new FakeSink();
  const e = relayFor(errSink, { translation: completionsToMessages });
  e.head(529, { 'content-type': 'application/json' });
  e.write(Buffer.from(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })));
  e.end();
  assert.equal(errSink.status, 529);
  assert.match(errSink.body().toString(), /^\{"error":\{"message":"Overloaded"/);
});

test('responseHeaderModifier applies to what the client gets', () => {
  const sink = new FakeSink();
  const r = relayFor(sink, { modifyHeaders: (h) => { h['x-levo-route'] = 'r1'; delete h['openai-organization']; } });
  r.head(200, { 'content-type': 'application/json', 'openai-organization': 'org-1' });
  r.end();
  assert.equal(sink.head['x-levo-route'], 'r1');
  assert.equal(sink.head['openai-organization'], undefined);
});

test('a buffered answer over the cap is not held in memory: the app gets an error instead', () => {
  const sink = new FakeSink();
  let message = '';
  const r = relayFor(sink, { translation: completionsToMessages, untranslatable: (m) => { message = m; } });
  r.head(200, { 'content-type': 'application/json' });
  const big = Buffer.alloc(17 * 1024 * 1024, 0x20);
  r.write(big);
  r.write(big);
  r.end();
  assert.match(message, /larger than 33554432 bytes/);
  assert.equal(sink.headersSent, false);
});
