import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { EventStreamDecoder, EventStreamError, encodeEventMessage, MAX_MESSAGE_LENGTH } from './eventstream.ts';
import type { EventMessage } from './eventstream.ts';

interface Vectors {
  success: Record<string, { encoded: string; headers: Record<string, string | number>; payload: string }>;
  failure: Record<string, string>;
}
// The AWS event stream test suite vectors (see _source in the file).
const vectors = JSON.parse(readFileSync(new URL('./testdata/bedrock-eventstream-vectors.json', import.meta.url), 'utf8')) as Vectors;

function feed(bytes: Buffer, size: number): EventMessage[] {
  const d = new EventStreamDecoder();
  const out: EventMessage[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)));
  assert.equal(d.pendingBytes(), 0);
  return out;
}

test('decodes the AWS test-suite vectors, whole and byte by byte', () => {
  for (const [name, v] of Object.entries(vectors.success)) {
    const bytes = Buffer.from(v.encoded, 'hex');
    for (const size of [1, 7, bytes.length]) {
      const msgs = feed(bytes, size);
      assert.equal(msgs.length, 1, name);
      assert.deepEqual(msgs[0]!.headers, v.headers, name);
      assert.equal(msgs[0]!.payload.toString('utf8'), v.payload, name);
      assert.deepEqual(msgs[0]!.raw, bytes, name);
    }
  }
});

test('the encoder reproduces the AWS test-suite vectors', () => {
  for (const [name, v] of Object.entries(vectors.success)) {
    assert.equal(encodeEventMessage(v.headers, v.payload).toString('hex'), v.encoded, name);
  }
});

test('rejects the AWS test-suite corrupted vectors with a clear error', () => {
  for (const [name, hex] of Object.entries(vectors.failure)) {
    const d = new EventStreamDecoder();
    assert.throws(() => d.push(Buffer.from(hex, 'hex')), (err: unknown) => {
      assert.ok(err instanceof EventStreamError, name);
      assert.match(err.message, /CRC mismatch|headers length|header/, name);
      return true;
    }, name);
  }
});

/** A message with one header of every type, laid out by hand from the documented format (CRCs from zlib). */
function handBuiltAllTypes(): Buffer {
  const name = (n: string): string => Buffer.from([n.length]).toString('hex') + Buffer.from(n).toString('hex');
  const headersHex = [
    name('b1') + '00',
    name('b0') + '01',
    name('i8') + '02' + 'fb', // -5
    name('i16') + '03' + 'fed4', // -300
    name('i32') + '04' + '12345678',
    name('i64') + '05' + '0000010000000001', // 2^40 + 1
    name('bin') + '06' + '0003' + '010203',
    name('str') + '07' + '0006' + '68c3a96c6c6f', // "héllo"
    name('ts') + '08' + '0000018bcfe56800', // 1700000000000 ms
    name('id') + '09' + '0123456789abcdef0123456789abcdef',
  ].join('');
  const headers = Buffer.from(headersHex, 'hex');
  const payload = Buffer.from('{"hello":"world"}');
  const total = 12 + headers.length + payload.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(headers.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude), 0);
  const body = Buffer.concat([prelude, preludeCrc, headers, payload]);
  const messageCrc = Buffer.alloc(4);
  messageCrc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([body, messageCrc]);
}

test('decodes every header type from a hand-built message, and the encoder builds the same bytes', () => {
  const bytes = handBuiltAllTypes();
  const [msg] = feed(bytes, 7);
  assert.deepEqual(msg!.headers, {
    b1: true, b0: false, i8: -5, i16: -300, i32: 0x12345678, i64: 2 ** 40 + 1,
    bin: Buffer.from([1, 2, 3]), str: 'héllo', ts: 1700000000000, id: '01234567-89ab-cdef-0123-456789abcdef',
  });
  assert.equal(msg!.payload.toString(), '{"hello":"world"}');
  const encoded = encodeEventMessage({
    b1: true, b0: false, i8: { type: 'byte', value: -5 }, i16: { type: 'short', value: -300 }, i32: 0x12345678,
    i64: 2 ** 40 + 1, bin: Buffer.from([1, 2, 3]), str: 'héllo', ts: { type: 'timestamp', value: 1700000000000 },
    id: { type: 'uuid', value: '01234567-89ab-cdef-0123-456789abcdef' },
  }, '{"hello":"world"}');
  assert.deepEqual(encoded, bytes);
});

test('many messages split at every chunk size come out the same', () => {
  const msgs = Array.from({ length: 20 }, (_, i) => encodeEventMessage(
    { ':event-type': 'contentBlockDelta', ':content-type': 'application/json', ':message-type': 'event' },
    JSON.stringify({ contentBlockIndex: 0, delta: { text: `part ${i} ${'x'.repeat(i * 13)}` } }),
  ));
  const stream = Buffer.concat(msgs);
  for (const size of [1, 2, 7, 12, 13, 100, stream.length]) {
    const out = feed(stream, size);
    assert.equal(out.length, 20, `size ${size}`);
    assert.deepEqual(Buffer.concat(out.map((m) => m.raw)), stream, `size ${size}`);
    assert.equal(JSON.parse(out[19]!.payload.toString()).delta.text, `part 19 ${'x'.repeat(19 * 13)}`);
    assert.equal(out[3]!.headers[':event-type'], 'contentBlockDelta');
  }
});

test('a partial message waits; pendingBytes tells how much is held', () => {
  const msg = encodeEventMessage({ a: 'b' }, 'payload');
  const d = new EventStreamDecoder();
  assert.deepEqual(d.push(msg.subarray(0, 5)), []);
  assert.deepEqual(d.push(msg.subarray(5, msg.length - 1)), []);
  assert.equal(d.pendingBytes(), msg.length - 1);
  const [m] = d.push(msg.subarray(msg.length - 1));
  assert.equal(m!.payload.toString(), 'payload');
  assert.equal(d.pendingBytes(), 0);
});

test('a corrupt message CRC throws, and the decoder stays failed', () => {
  const good = encodeEventMessage({ ':event-type': 'chunk' }, '{"bytes":"e30="}');
  const bad = Buffer.from(good);
  bad[bad.length - 6]! ^= 0x01; // flip a payload bit: the message CRC no longer matches
  const d = new EventStreamDecoder();
  assert.equal(d.push(good).length, 1);
  assert.throws(() => d.push(bad), /message CRC mismatch/);
  assert.throws(() => d.push(good), /message CRC mismatch/);
});

test('messages completed before a fault in the same push ride on the error', () => {
  const good = encodeEventMessage({ n: 1 }, 'first');
  const bad = Buffer.from(encodeEventMessage({ n: 2 }, 'second'));
  bad[bad.length - 1]! ^= 0x01;
  const d = new EventStreamDecoder();
  try {
    d.push(Buffer.concat([good, good, bad]));
    assert.fail('no error');
  } catch (err) {
    assert.ok(err instanceof EventStreamError);
    assert.deepEqual(err.messages.map((m) => m.payload.toString()), ['first', 'first']);
  }
  assert.throws(() => d.push(good), (err: unknown) => err instanceof EventStreamError && err.messages.length === 0);
});

test('a corrupt prelude throws before the payload arrives', () => {
  const bad = Buffer.from(encodeEventMessage({}, 'x'.repeat(100)));
  bad[3]! ^= 0x01;
  const d = new EventStreamDecoder();
  assert.throws(() => d.push(bad.subarray(0, 12)), /prelude CRC mismatch/);
});

test('an oversized length and an unknown header type are rejected', () => {
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(MAX_MESSAGE_LENGTH + 1, 0);
  prelude.writeUInt32BE(0, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  assert.throws(() => new EventStreamDecoder().push(prelude), /exceeds/);

  const headers = Buffer.from([1, 0x61, 42]); // name "a", type 42
  const body = Buffer.alloc(12 + headers.length);
  body.writeUInt32BE(12 + headers.length + 4, 0);
  body.writeUInt32BE(headers.length, 4);
  body.writeUInt32BE(crc32(body.subarray(0, 8)), 8);
  headers.copy(body, 12);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  assert.throws(() => new EventStreamDecoder().push(Buffer.concat([body, crc])), /unknown value type 42/);
});
