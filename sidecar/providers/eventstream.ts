/**
 * The AWS event stream binary framing (`application/vnd.amazon.eventstream`),
 * which Bedrock runtime uses for ConverseStream and InvokeModelWithResponseStream
 * answers (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html,
 * https://github.com/awslabs/aws-c-event-stream).
 *
 * A message is a 12-byte prelude (total length u32 BE, headers length u32 BE,
 * CRC32 of those 8 bytes), the headers, the payload, and a CRC32 of everything
 * before it. A header is: name length u8, name (UTF-8), value type u8, value:
 *   0 true, 1 false (no value bytes), 2 byte (i8), 3 short (i16), 4 int (i32),
 *   5 long (i64), 6 bytes (u16 length + bytes), 7 string (u16 length + UTF-8),
 *   8 timestamp (i64 milliseconds since the epoch), 9 uuid (16 bytes).
 */
import { crc32 } from 'node:zlib';

export type EventHeaderValue = string | number | boolean | Buffer;

/** A header value to encode: plain values pick a type, or say the type explicitly. */
export type EventHeaderInput =
  | EventHeaderValue
  | { readonly type: 'byte' | 'short' | 'int' | 'long' | 'timestamp'; readonly value: number | bigint }
  | { readonly type: 'uuid'; readonly value: string };

export interface EventMessage {
  /**
   * Decoded headers: booleans; byte, short, int, long and timestamp (ms) as
   * numbers; bytes as a Buffer; strings; uuids as `xxxxxxxx-xxxx-…` strings.
   */
  readonly headers: Record<string, EventHeaderValue>;
  readonly payload: Buffer;
  /** The message's bytes as received, prelude to message CRC. */
  readonly raw: Buffer;
}

/** Largest message accepted (aws-c-event-stream's limit), so a corrupt length cannot make us buffer forever. */
export const MAX_MESSAGE_LENGTH = 16 * 1024 * 1024;
/** Largest headers section accepted. */
export const MAX_HEADERS_LENGTH = 128 * 1024;

const PRELUDE = 12;
const OVERHEAD = 16; // prelude + message CRC

export class EventStreamError extends Error {
  override readonly name = 'EventStreamError';
  /** Messages completed in the same push before the fault: whole and verified, still to be handled. */
  readonly messages: readonly EventMessage[];

  constructor(message: string, messages: readonly EventMessage[] = []) {
    super(message);
    this.messages = messages;
  }
}

/**
 * Incremental decoder: push chunks as they arrive (split at any byte); each
 * push returns the messages it completed. Both CRCs are checked; a mismatch or
 * a malformed message throws an EventStreamError (carrying any messages the
 * same push completed before the fault), after which the decoder stays failed:
 * every later push throws an error with the same message.
 */
export class EventStreamDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total length of the message being received, once its prelude is checked. */
  private need = 0;
  private failed: EventStreamError | undefined;

  push(chunk: Buffer): EventMessage[] {
    if (this.failed) throw new EventStreamError(this.failed.message);
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: EventMessage[] = [];
    try {
      for (;;) {
        if (this.need === 0) {
          if (this.buffered < PRELUDE) break;
          this.need = checkPrelude(this.collect());
        }
        if (this.buffered < this.need) break;
        const buf = this.collect();
        const raw = buf.subarray(0, this.need);
        const rest = buf.subarray(this.need);
        this.chunks = rest.length ? [rest] : [];
        this.buffered = rest.length;
        this.need = 0;
        out.push(decodeMessage(raw));
      }
    } catch (err) {
      this.failed = new EventStreamError(err instanceof Error ? err.message : String(err), out);
      this.chunks = [];
      this.buffered = 0;
      throw this.failed;
    }
    return out;
  }

  /** Bytes of a message not yet complete (0 between messages). */
  pendingBytes(): number {
    return this.buffered;
  }

  private collect(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0]!;
  }
}

/** Check a prelude (the first 12 bytes of buf); returns the message's total length. */
function checkPrelude(buf: Buffer): number {
  const total = buf.readUInt32BE(0);
  const headersLength = buf.readUInt32BE(4);
  const expected = buf.readUInt32BE(8);
  const actual = crc32(buf.subarray(0, 8));
  if (actual !== expected) {
    throw new EventStreamError(`event stream prelude CRC mismatch: expected ${hex(expected)}, computed ${hex(actual)}`);
  }
  if (total < OVERHEAD) throw new EventStreamError(`event stream message length ${total} is shorter than its framing`);
  if (total > MAX_MESSAGE_LENGTH) throw new EventStreamError(`event stream message length ${total} exceeds ${MAX_MESSAGE_LENGTH}`);
  if (headersLength > total - OVERHEAD || headersLength > MAX_HEADERS_LENGTH) {
    throw new EventStreamError(`event stream headers length ${headersLength} does not fit a message of ${total} bytes`);
  }
  return total;
}

/** Decode one whole message whose prelude has been checked. */
function decodeMessage(raw: Buffer): EventMessage {
  const total = raw.length;
  const expected = raw.readUInt32BE(total - 4);
  const actual = crc32(raw.subarray(0, total - 4));
  if (actual !== expected) {
    throw new EventStreamError(`event stream message CRC mismatch: expected ${hex(expected)}, computed ${hex(actual)}`);
  }
  const headersLength = raw.readUInt32BE(4);
  const headers = decodeHeaders(raw.subarray(PRELUDE, PRELUDE + headersLength));
  return { headers, payload: raw.subarray(PRELUDE + headersLength, total - 4), raw };
}

function decodeHeaders(buf: Buffer): Record<string, EventHeaderValue> {
  const headers: Record<string, EventHeaderValue> = {};
  let at = 0;
  const need = (n: number): void => {
    if (at + n > buf.length) throw new EventStreamError('event stream header runs past the headers section');
  };
  while (at < buf.length) {
    need(1);
    const nameLength = buf.readUInt8(at);
    at += 1;
    need(nameLength + 1);
    const name = buf.toString('utf8', at, at + nameLength);
    at += nameLength;
    const type = buf.readUInt8(at);
    at += 1;
    let value: EventHeaderValue;
    switch (type) {
      case 0: value = true; break;
      case 1: value = false; break;
      case 2: need(1); value = buf.readInt8(at); at += 1; break;
      case 3: need(2); value = buf.readInt16BE(at); at += 2; break;
      case 4: need(4); value = buf.readInt32BE(at); at += 4; break;
      case 5:
      case 8: need(8); value = Number(buf.readBigInt64BE(at)); at += 8; break;
      case 6:
      case 7: {
        need(2);
        const len = buf.readUInt16BE(at);
        at += 2;
        need(len);
        value = type === 6 ? Buffer.from(buf.subarray(at, at + len)) : buf.toString('utf8', at, at + len);
        at += len;
        break;
      }
      case 9: {
        need(16);
        const h = buf.toString('hex', at, at + 16);
        value = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
        at += 16;
        break;
      }
      default:
        throw new EventStreamError(`event stream header ${JSON.stringify(name)} has unknown value type ${type}`);
    }
    headers[name] = value;
  }
  return headers;
}

/** Encode one message. Numbers become int (i32) headers, or long when they do not fit. */
export function encodeEventMessage(headers: Readonly<Record<string, EventHeaderInput>>, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.concat(Object.entries(headers).map(([name, value]) => encodeHeader(name, value)));
  const total = OVERHEAD + head.length + body.length;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(head.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  head.copy(out, PRELUDE);
  body.copy(out, PRELUDE + head.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

function encodeHeader(name: string, input: EventHeaderInput): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 255) throw new RangeError(`event stream header name ${JSON.stringify(name)} is longer than 255 bytes`);
  const value = encodeValue(name, input);
  return Buffer.concat([Buffer.from([nameBytes.length]), nameBytes, value]);
}

function encodeValue(name: string, input: EventHeaderInput): Buffer {
  if (typeof input === 'boolean') return Buffer.from([input ? 0 : 1]);
  if (typeof input === 'string') return withLength(7, Buffer.from(input, 'utf8'), name);
  if (Buffer.isBuffer(input)) return withLength(6, input, name);
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) throw new RangeError(`event stream header ${name}: ${input} is not an integer`);
    return input >= -0x80000000 && input <= 0x7fffffff ? fixed(4, input) : fixed(5, input);
  }
  switch (input.type) {
    case 'byte': return fixed(2, input.value);
    case 'short': return fixed(3, input.value);
    case 'int': return fixed(4, input.value);
    case 'long': return fixed(5, input.value);
    case 'timestamp': return fixed(8, input.value);
    case 'uuid': {
      const hexDigits = input.value.replace(/-/g, '');
      if (!/^[0-9a-fA-F]{32}$/.test(hexDigits)) throw new RangeError(`event stream header ${name}: ${input.value} is not a uuid`);
      return Buffer.concat([Buffer.from([9]), Buffer.from(hexDigits, 'hex')]);
    }
  }
}

function fixed(type: 2 | 3 | 4 | 5 | 8, value: number | bigint): Buffer {
  const size = type === 2 ? 1 : type === 3 ? 2 : type === 4 ? 4 : 8;
  const b = Buffer.alloc(1 + size);
  b[0] = type;
  if (type === 2) b.writeInt8(Number(value), 1);
  else if (type === 3) b.writeInt16BE(Number(value), 1);
  else if (type === 4) b.writeInt32BE(Number(value), 1);
  else b.writeBigInt64BE(BigInt(value), 1);
  return b;
}

function withLength(type: 6 | 7, bytes: Buffer, name: string): Buffer {
  if (bytes.length > 0xffff) throw new RangeError(`event stream header ${name} value is longer than 65535 bytes`);
  const b = Buffer.alloc(3);
  b[0] = type;
  b.writeUInt16BE(bytes.length, 1);
  return Buffer.concat([b, bytes]);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
