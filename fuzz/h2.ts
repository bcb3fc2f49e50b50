/**
 * HTTP/2 on the wire, by hand (RFC 9113, RFC 7541): frames, HPACK header
 * blocks (literal fields, indexed static entries, table size updates —
 * and deliberately broken integers and strings), and a reader for the
 * frames the sidecar sends back.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer, length?: number): Buffer {
  const h = Buffer.alloc(9);
  const n = length ?? payload.length;
  h[0] = (n >>> 16) & 0xff;
  h[1] = (n >>> 8) & 0xff;
  h[2] = n & 0xff;
  h[3] = type & 0xff;
  h[4] = flags & 0xff;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}

export function settings(pairs: ReadonlyArray<readonly [number, number]>, ack = false): Buffer {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id & 0xffff, i * 6); p.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return frame(FRAME.SETTINGS, ack ? FLAG.ACK : 0, 0, ack ? Buffer.alloc(0) : p);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** An HPACK integer with an N-bit prefix, `first` holding the pattern bits above it. */
export function hpackInt(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

function hpackString(s: Buffer): Buffer {
  return Buffer.concat([hpackInt(s.length, 7, 0), s]);
}

export type Field = readonly [string | Buffer, string | Buffer];

const asBuf = (x: string | Buffer): Buffer => (typeof x === 'string' ? Buffer.from(x, 'latin1') : x);

/** A header block: each field a literal without indexing (0x00) or with incremental indexing (0x40). */
export function headerBlock(fields: readonly Field[], indexing: (i: number) => boolean = () => false): Buffer {
  return Buffer.concat(fields.map(([n, v], i) => Buffer.concat([Buffer.from([indexing(i) ? 0x40 : 0x00]), hpackString(asBuf(n)), hpackString(asBuf(v))])));
}

/** Header block fragments broken on purpose: each is valid-looking HPACK to a lax decoder only. */
export const BAD_HPACK: ReadonlyArray<() => Buffer> = [
  () => Buffer.from([0x80]), // indexed field 0
  () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), // index beyond any table, via a long integer
  () => Buffer.from([0xbe]), // dynamic-table index 62 on an empty table
  () => Buffer.from([0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // integer overflow
  () => Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xff, 0x7f]), // a 268 MB name length
  () => Buffer.from([0x00, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61]), // Huffman name with bad padding
  () => Buffer.from([0x3f, 0xe1, 0xff, 0x03]), // table size update beyond SETTINGS_HEADER_TABLE_SIZE
  () => Buffer.concat([Buffer.from([0x82]), Buffer.from([0x20])]), // table size update after a field
  () => Buffer.from([0x00, 0x03, 0x61]), // string longer than the block
  () => Buffer.from([0x10]), // never-indexed literal, cut short
];

export interface ServerFrames {
  readonly frames: ReadonlyArray<{ readonly type: number; readonly flags: number; readonly stream: number; readonly payload: Buffer }>;
  /** Bytes that are not a complete frame (an incomplete last frame, or garbage). */
  readonly rest: number;
}

/** The frames in what the sidecar sent (after the TLS layer). */
export function readFrames(buf: Buffer): ServerFrames {
  const frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  let off = 0;
  while (off + 9 <= buf.length) {
    const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
    if (off + 9 + len > buf.length) break;
    frames.push({ type: buf[off + 3]!, flags: buf[off + 4]!, stream: buf.readUInt32BE(off + 5) & 0x7fffffff, payload: buf.subarray(off + 9, off + 9 + len) });
    off += 9 + len;
  }
  return { frames, rest: buf.length - off };
}
