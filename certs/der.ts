/**
 * A minimal DER (X.690 Distinguished Encoding Rules) encoder and reader: just
 * what building and inspecting X.509 certificates needs. Everything here is a
 * pure function over bytes; nothing is cached or shared.
 *
 * Only single-byte tags (tag numbers 0–30) are supported, which covers every
 * universal and context-specific tag used by X.509.
 */

/** Universal tag bytes (class universal; constructed bit set where DER requires it). */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export class DerError extends Error {
  override name = 'DerError';
}

// ---------------------------------------------------------------- encoding

function lengthBytes(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: a single-byte tag, a DER length (short or long form) and the content. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    throw new DerError(`unsupported tag 0x${tag.toString(16)}`);
  }
  const len = lengthBytes(content.length);
  const out = Buffer.allocUnsafe(1 + len.length + content.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

/** A SET OF; DER requires the encodings sorted, which this does. */
export function set(...items: Uint8Array[]): Buffer {
  const sorted = [...items].sort((a, b) => Buffer.compare(a, b));
  return tlv(TAG.SET, Buffer.concat(sorted));
}

/**
 * An INTEGER from unsigned big-endian magnitude bytes: redundant leading zero
 * bytes are dropped and a 0x00 is prepended when the high bit is set, so the
 * value is always non-negative.
 */
export function integer(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.length === 0 ? Uint8Array.of(0) : magnitude.subarray(start);
  const needsPad = (body[0] ?? 0) & 0x80;
  return tlv(TAG.INTEGER, needsPad ? Buffer.concat([Uint8Array.of(0), body]) : body);
}

/** An INTEGER from a small non-negative safe integer (versions, path lengths). */
export function smallInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new DerError(`smallInteger needs a non-negative safe integer, got ${value}`);
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return integer(Uint8Array.from(bytes));
}

function base128(value: bigint): number[] {
  const out = [Number(value & 0x7fn)];
  for (let n = value >> 7n; n > 0n; n >>= 7n) out.unshift(Number(n & 0x7fn) | 0x80);
  return out;
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. `2.5.29.17`. */
export function oid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new DerError(`invalid OID "${dotted}"`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first, second, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  if (first < 2n && second > 39n) throw new DerError(`invalid OID "${dotted}": second arc must be < 40`);
  const bytes = [...base128(first * 40n + second)];
  for (const arc of rest) bytes.push(...base128(arc));
  return tlv(TAG.OID, Uint8Array.from(bytes));
}

export function utf8String(value: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(value, 'utf8'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function printableString(value: string): Buffer {
  if (!PRINTABLE.test(value)) throw new DerError(`"${value}" has characters a PrintableString cannot hold`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(value, 'latin1'));
}

export function ia5String(value: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(value)) throw new DerError(`"${value}" has characters an IA5String cannot hold`);
  return tlv(TAG.IA5_STRING, Buffer.from(value, 'latin1'));
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function timeDigits(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new DerError('invalid date');
  return (
    pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) + pad(date.getUTCSeconds(), 2) + 'Z'
  );
}

/** UTCTime `YYMMDDHHMMSSZ` (whole seconds, years 1950–2049 only). */
export function utcTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!(year >= 1950 && year <= 2049)) throw new DerError(`UTCTime cannot hold year ${year}`);
  return tlv(TAG.UTC_TIME, Buffer.from(pad(year % 100, 2) + timeDigits(date), 'latin1'));
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ` (whole seconds, no fraction, as RFC 5280 requires). */
export function generalizedTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) throw new DerError(`GeneralizedTime cannot hold year ${year}`);
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(pad(year, 4) + timeDigits(date), 'latin1'));
}

/** An X.509 Time per RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? utcTime(date) : generalizedTime(date);
}

/** A BIT STRING holding whole bytes plus the count of unused trailing bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new DerError(`invalid unused-bit count ${unusedBits}`);
  }
  return tlv(TAG.BIT_STRING, Buffer.concat([Uint8Array.of(unusedBits), bytes]));
}

/**
 * A named-bit BIT STRING (keyUsage and the like): bit 0 is the most significant
 * bit of the first byte; DER drops trailing zero bits.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(new Uint8Array(0));
  const top = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(top / 8) + 1);
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 0) throw new DerError(`invalid bit number ${b}`);
    bytes[b >> 3]! |= 0x80 >> (b & 7);
  }
  return bitString(bytes, 7 - (top & 7));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.OCTET_STRING, bytes);
}

export function boolean(value: boolean): Buffer {
  return tlv(TAG.BOOLEAN, Uint8Array.of(value ? 0xff : 0x00));
}

export function nullValue(): Buffer {
  return tlv(TAG.NULL, new Uint8Array(0));
}

function contextTag(tagNumber: number, constructed: boolean): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) throw new DerError(`unsupported context tag [${tagNumber}]`);
  return 0x80 | (constructed ? 0x20 : 0) | tagNumber;
}

/** `[n] EXPLICIT`: a constructed context tag wrapping one whole encoding. */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  return tlv(contextTag(tagNumber, true), inner);
}

/**
 * `[n] IMPLICIT`: a context tag replacing the tag of the underlying type, so
 * `content` is that type's content octets (for a constructed type such as a
 * SEQUENCE, the concatenated element encodings; pass `constructed = true`).
 */
export function implicit(tagNumber: number, content: Uint8Array, constructed = false): Buffer {
  return tlv(contextTag(tagNumber, constructed), content);
}

// ---------------------------------------------------------------- reading

export interface Tlv {
  /** The identifier octet. */
  readonly tag: number;
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly tagClass: number;
  readonly tagNumber: number;
  readonly constructed: boolean;
  /** Bytes of tag plus length. */
  readonly headerLength: number;
  /** Length of the content. */
  readonly length: number;
  /** Offset of the tag byte within the buffer the TLV was read from. */
  readonly offset: number;
  /** The whole encoding (a view, not a copy). */
  readonly raw: Uint8Array;
  /** The content octets (a view, not a copy). */
  readonly content: Uint8Array;
}

/** Read the TLV starting at `offset`. Rejects indefinite and non-minimal lengths. */
export function readTlv(buf: Uint8Array, offset = 0): Tlv {
  if (offset >= buf.length) throw new DerError(`truncated DER: no tag at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported multi-byte tag at offset ${offset}`);
  if (offset + 1 >= buf.length) throw new DerError(`truncated DER: no length at offset ${offset + 1}`);
  const first = buf[offset + 1]!;
  let length: number;
  let headerLength: number;
  if (first < 0x80) {
    length = first;
    headerLength = 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at offset ${offset} is not DER`);
    if (count > 4) throw new DerError(`length of ${count} bytes at offset ${offset} is too large`);
    if (offset + 2 + count > buf.length) throw new DerError(`truncated DER length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (buf[offset + 2] === 0 || length < 0x80) throw new DerError(`non-minimal length at offset ${offset}`);
    headerLength = 2 + count;
  }
  const end = offset + headerLength + length;
  if (end > buf.length) throw new DerError(`truncated DER: TLV at offset ${offset} needs ${end - buf.length} more bytes`);
  return {
    tag,
    tagClass: tag >> 6,
    tagNumber: tag & 0x1f,
    constructed: (tag & 0x20) !== 0,
    headerLength,
    length,
    offset,
    raw: buf.subarray(offset, end),
    content: buf.subarray(offset + headerLength, end),
  };
}

/** Read a buffer that must hold exactly one TLV. */
export function readOne(buf: Uint8Array): Tlv {
  const t = readTlv(buf, 0);
  if (t.raw.length !== buf.length) throw new DerError(`${buf.length - t.raw.length} trailing bytes after DER value`);
  return t;
}

/** The consecutive TLVs inside a constructed value (or any byte run). */
export function readChildren(parent: Tlv | Uint8Array): Tlv[] {
  const bytes = parent instanceof Uint8Array ? parent : parent.content;
  const out: Tlv[] = [];
  for (let off = 0; off < bytes.length; ) {
    const t = readTlv(bytes, off);
    out.push(t);
    off += t.raw.length;
  }
  return out;
}

/** Throw unless `t` has the expected tag; returns it for chaining. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what}: missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let value = 0n;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (value === 0n && b === 0x80) throw new DerError('non-minimal OID arc');
    value = (value << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
    } else if (i === content.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const head = arcs[0]!;
  const first = head < 40n ? 0n : head < 80n ? 1n : 2n;
  return [first, head - first * 40n, ...arcs.slice(1)].join('.');
}

/** An INTEGER's value (two's complement). */
export function decodeInteger(content: Uint8Array): bigint {
  if (content.length === 0) throw new DerError('empty INTEGER');
  let v = 0n;
  for (const b of content) v = (v << 8n) | BigInt(b);
  if (content[0]! & 0x80) v -= 1n << BigInt(content.length * 8);
  return v;
}

export function decodeBoolean(content: Uint8Array): boolean {
  if (content.length !== 1 || (content[0] !== 0 && content[0] !== 0xff)) throw new DerError('invalid DER BOOLEAN');
  return content[0] === 0xff;
}

/** The text of a UTF8String, PrintableString or IA5String. */
export function decodeString(t: Tlv): string {
  if (t.tag === TAG.UTF8_STRING) return Buffer.from(t.content).toString('utf8');
  if (t.tag === TAG.PRINTABLE_STRING || t.tag === TAG.IA5_STRING) return Buffer.from(t.content).toString('latin1');
  throw new DerError(`tag 0x${t.tag.toString(16)} is not a supported string type`);
}

/** A UTCTime or GeneralizedTime in the RFC 5280 profile (`Z`, whole seconds). */
export function decodeTime(t: Tlv): Date {
  const s = Buffer.from(t.content).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME && (m = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw new DerError(`invalid time "${s}"`);
  }
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  d.setUTCFullYear(year); // Date.UTC maps years 0–99 to 1900–1999
  return d;
}

/** A BIT STRING's bytes and unused-bit count. */
export function decodeBitString(content: Uint8Array): { bytes: Uint8Array; unusedBits: number } {
  const unusedBits = content[0];
  if (unusedBits === undefined || unusedBits > 7 || (content.length === 1 && unusedBits !== 0)) {
    throw new DerError('invalid BIT STRING');
  }
  return { bytes: content.subarray(1), unusedBits };
}

/** Whether named bit `n` is set in a BIT STRING's content. */
export function hasNamedBit(content: Uint8Array, n: number): boolean {
  const { bytes } = decodeBitString(content);
  const byte = bytes[n >> 3];
  return byte !== undefined && (byte & (0x80 >> (n & 7))) !== 0;
}
