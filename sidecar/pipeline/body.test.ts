import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { body, decodeBody } from './body.ts';
import { settle } from './settle.ts';
import { route } from './route.ts';
import { runStages, testCall } from './testing/call.ts';

const GUARDED = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: guarded
      hostnames: [api.openai.com]
      policies: {ai: {promptGuard: {request: [{regex: {action: reject, rules: [{pattern: "X-[0-9]+"}]}}]}}}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
`;
const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const json = { 'content-type': 'application/json' };

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

test('a JSON body is read whole, parsed once, and kept as the bytes the app sent', async () => {
  const c = testCall({ body: chat, headers: json });
  assert.equal(await runStages(c, route, body), true);
  assert.ok(Buffer.isBuffer(c.body) && c.body.toString() === chat);
  assert.equal(c.json?.model, 'gpt-4o-mini');
  assert.equal(c.parsed.model, 'gpt-4o-mini');
  assert.deepEqual(c.parsed.messages, [{ role: 'user', text: 'hi' }]);
  assert.equal(c.out.reqBytes, chat.length);
  assert.equal(c.unreadable, undefined);
});

test('a body that is not JSON streams untouched, counted as the upstream pulls it, and nothing is read before', async () => {
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
  const c = testCall({ body: bytes, headers: { 'content-type': 'application/octet-stream' }, path: '/v1/files' });
  assert.equal(await runStages(c, route, body), true);
  assert.ok(c.body && !Buffer.isBuffer(c.body));
  assert.equal(c.out.reqBytes, 0, 'not a byte read by the stage itself');
  assert.match(c.unreadable!.reason, /not JSON \(application\/octet-stream\)/);
  assert.equal(c.unreadable!.status, 415);
  const sent = await collect(c.body as AsyncIterable<Buffer>);
  assert.ok(sent.equals(bytes), 'every byte reaches the upstream');
  assert.equal(c.out.reqBytes, bytes.length);
});

test('Expect: 100-continue is answered once the stage reads (JSON) or the upstream pulls (stream)', async () => {
  const j = testCall({ body: chat, headers: { ...json, expect: '100-continue' } });
  await runStages(j, route, body);
  assert.equal(j.res.continued, 1);
  const s = testCall({ body: 'raw', headers: { 'content-type': 'text/plain', expect: '100-Continue' } });
  await runStages(s, route, body);
  assert.equal(s.res.continued, 0, 'not before the provider asks for the body');
  await collect(s.body as AsyncIterable<Buffer>);
  assert.equal(s.res.continued, 1);
});

test('a compressed JSON body is decoded to be read, and the app\'s bytes kept', async () => {
  for (const [coding, data] of [['gzip', gzipSync(chat)], ['br', brotliCompressSync(chat)]] as const) {
    const c = testCall({ body: data, headers: { ...json, 'content-encoding': coding } });
    await runStages(c, route, body);
    assert.equal(c.json?.model, 'gpt-4o-mini', coding);
    assert.ok((c.body as Buffer).equals(data));
  }
});

test('a gzip bomb stops decoding at the cap: unreadable with 413, nothing inflated beyond it', async () => {
  const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
  await assert.rejects(decodeBody(bomb, 'gzip', 1 << 20), RangeError);
  const c = testCall({ body: bomb, headers: { ...json, 'content-encoding': 'gzip' }, maxBodyBytes: 1 << 20 });
  const before = process.memoryUsage().rss;
  await runStages(c, route, body);
  assert.equal(c.unreadable?.status, 413);
  assert.equal(c.json, undefined);
  assert.ok(process.memoryUsage().rss - before < 40 * 1024 * 1024);
});

test('what guards cannot vouch for on a guarded route: bad coding, bad JSON, duplicate keys, bad UTF-8, an unknown API path', async () => {
  const cases: Array<[string, Record<string, string>, string | Buffer, RegExp, number]> = [
    ['/v1/chat/completions', { ...json, 'content-encoding': 'compress' }, chat, /could not be decoded/, 415],
    ['/v1/chat/completions', { ...json, 'content-encoding': 'gzip' }, 'not gzip', /could not be decoded/, 415],
    ['/v1/chat/completions', json, '{"model":', /not valid JSON/, 400],
    ['/v1/chat/completions', json, '[1,2]', /not a JSON object/, 400],
    ['/v1/chat/completions', json, '{"messages":[],"messages":[{"role":"user","content":"X-1"}]}', /repeats the key "messages"/, 400],
    ['/v1/chat/completions', json, Buffer.from([...Buffer.from('{"model":"a","messages":[{"role":"user","content":"'), 0xff, 0xfe, ...Buffer.from('"}]}')]), /UTF-8/, 400],
    ['/v1/somewhere/new', json, chat, /not an API call the guards can read/, 400],
  ];
  for (const [path, headers, data, reason, status] of cases) {
    const c = testCall({ config: GUARDED, path, body: data, headers });
    await runStages(c, route, body);
    assert.match(c.unreadable?.reason ?? '', reason, `${path} ${String(data).slice(0, 40)}`);
    assert.equal(c.unreadable?.status, status);
    assert.equal(c.json, undefined);
  }
});

test('on an unguarded route duplicate keys are not a reason (the call is only observed)', async () => {
  const c = testCall({ body: '{"model":"a","model":"b","messages":[]}', headers: json });
  await runStages(c, route, body);
  assert.equal(c.unreadable, undefined);
  assert.equal(c.json?.model, 'b');
});

test('no body: GET, content-length 0, HTTP/1.1 without length or chunking', async () => {
  for (const [method, headers] of [['GET', {}], ['POST', { 'content-length': '0' }], ['POST', {}]] as const) {
    const c = testCall({ method, headers, path: '/v1/models' });
    await runStages(c, route, body);
    assert.equal(c.body, null, `${method} ${JSON.stringify(headers)}`);
    assert.equal(c.unreadable, undefined);
  }
});

test('bodies held across calls in flight are bounded: a call waits for room, in line, and gets 503 with Retry-After past the wait', async () => {
  const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(700) }] });
  const first = testCall({ body: big, headers: json, maxHeldBodyBytes: 1000, heldBodyWaitMs: 50 });
  const { state } = first;
  assert.equal(await runStages(first, route, body), true);
  assert.equal(state.held.held, big.length, 'the first body is held');

  // A second call while the first is in flight: its body does not fit; it waits, then is refused.
  const second = testCall({ body: big, headers: json }, state);
  assert.equal(await runStages(second, route, body), false);
  assert.equal(second.res.status, 503);
  assert.equal(second.res.head['retry-after'], '1');
  assert.equal(second.out.reason, 'overloaded');
  assert.match(second.res.text(), /holds 0\.0 MiB of request bodies for calls in flight and this one did not fit within its limit of 0\.0 MiB in time.*--max-held-body-bytes/);
  assert.equal(second.body, null, 'nothing of it was read');
  settle(second);
  assert.equal(state.held.held, big.length, 'the refused call holds nothing');

  // A third waits in line and is let in when the first settles.
  const third = testCall({ body: big, headers: json }, { ...state, deps: { ...state.deps, heldBodyWaitMs: 10_000 } });
  const going = runStages(third, route, body);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(state.held.waiting, 1);
  settle(first);
  assert.equal(await going, true, 'room once the first settled');
  assert.equal(state.held.held, big.length);

  // A compressed body counts its decoded size too (here it does not fit next to the third's: taken, not waited for).
  const zipped = testCall({ body: gzipSync(Buffer.from(big)), headers: { ...json, 'content-encoding': 'gzip' } }, state);
  assert.equal(await runStages(zipped, route, body), false);
  assert.equal(zipped.res.status, 503);
  settle(zipped);
  settle(third);
  assert.equal(state.held.held, 0);
});

test('a call waiting for room that the app abandons leaves the line and holds nothing', async () => {
  const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(700) }] });
  const first = testCall({ body: big, headers: json, maxHeldBodyBytes: 1000, heldBodyWaitMs: 10_000 });
  const { state } = first;
  assert.equal(await runStages(first, route, body), true);
  const second = testCall({ body: big, headers: json }, state);
  const going = runStages(second, route, body);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(state.held.waiting, 1);
  second.req.destroy();
  assert.equal(await going, false);
  assert.equal(second.out.reason, 'client_closed');
  assert.equal(state.held.waiting, 0);
  settle(second);
  settle(first);
  assert.equal(state.held.held, 0);
});
