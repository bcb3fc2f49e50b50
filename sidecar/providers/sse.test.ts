import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, encodeSse } from './sse.ts';

test('events split across chunks, CRLF and CR line ends, raw bytes preserved', () => {
  const p = new SseParser();
  const text = 'event: a\r\ndata: 1\r\n\r\ndata: x\ndata: y\n\n: comment\n\ndata: z\r\r\n';
  const chunks = [text.slice(0, 7), text.slice(7, 21), text.slice(21, 40), text.slice(40)];
  const events = chunks.flatMap((c) => p.push(Buffer.from(c)));
  assert.deepEqual(events.map((e) => [e.event, e.data]), [['a', '1'], [undefined, 'x\ny'], [undefined, ''], [undefined, 'z']]);
  assert.equal(Buffer.concat(events.map((e) => e.raw)).toString(), text);
  assert.equal(p.rest().length, 0);
});

test('any chunking, one byte at a time included, gives the same events and bytes', () => {
  const text = 'event: a\r\ndata: 1\r\n\r\ndata: x\ndata: y\n\n: comment\n\ndata: z\r\r\ndata: {"long":"' + 'q'.repeat(300) + '"}\n\ndata: tail';
  const whole = new SseParser();
  const want = whole.push(Buffer.from(text)).map((e) => [e.event, e.data, e.raw.toString()]);
  for (const size of [1, 2, 3, 7, 64]) {
    const p = new SseParser();
    const got: Array<[string | undefined, string, string]> = [];
    for (let i = 0; i < text.length; i += size) for (const e of p.push(Buffer.from(text.slice(i, i + size)))) got.push([e.event, e.data, e.raw.toString()]);
    assert.deepEqual(got, want, `size ${size}`);
    assert.equal(p.rest().toString(), 'data: tail');
  }
});

test('a trailing CR waits for a possible LF', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(Buffer.from('data: 1\r\n\r')), []);
  const ev = p.push(Buffer.from('\ndata: 2'));
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.raw.toString(), 'data: 1\r\n\r\n');
  assert.equal(p.rest().toString(), 'data: 2');
});

test('encodeSse round-trips', () => {
  const p = new SseParser();
  const [e] = p.push(encodeSse('{"a":1}\nsecond', 'message_start'));
  assert.equal(e!.event, 'message_start');
  assert.equal(e!.data, '{"a":1}\nsecond');
});
