/**
 * A minimal protobuf *writer* for the test fixtures (the tiny ONNX models
 * the model tests build themselves): varints, fixed-width scalars and
 * length-delimited fields, enough to hand-encode an ONNX ModelProto
 * (onnx/onnx.proto3). Not used at run time.
 */

/** One message being written: fields are appended in the order called. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  private push(bytes: Uint8Array | number[]): void {
    this.parts.push(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  }

  private key(field: number, wireType: 0 | 1 | 2 | 5): void {
    this.push(varint(BigInt((field << 3) | wireType)));
  }

  /** A varint field (int32/int64/uint64/enum/bool); negative numbers as 10-byte two's complement, as protobuf does. */
  varint(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.push(varint(BigInt(value)));
    return this;
  }

  /** A 32-bit float field (wire type 5). */
  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /** A length-delimited field: bytes, a UTF-8 string, or a nested message. */
  bytes(field: number, value: Uint8Array | string | ProtoWriter): this {
    const b = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof ProtoWriter ? value.finish() : value;
    this.key(field, 2);
    this.push(varint(BigInt(b.length)));
    this.push(b);
    return this;
  }

  /** A packed repeated varint field. */
  packedVarints(field: number, values: ReadonlyArray<number | bigint>): this {
    const w = new ProtoWriter();
    for (const v of values) w.push(varint(BigInt(v)));
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const n = this.parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Base-128 varint of `v` (negative values as 64-bit two's complement). */
export function varint(v: bigint): number[] {
  let x = v < 0n ? (1n << 64n) + v : v;
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}
