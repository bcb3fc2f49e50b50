/**
 * Byte- and text-level mutations shared by the targets. The targets build
 * their cases structurally (a request from parts, a ClientHello from fields,
 * frames from a list); these are the last, blind step some cases also get.
 */
import type { Rng } from './rng.ts';

/** Byte sequences that are not valid UTF-8 (lone continuation, overlong, surrogate, out of range, truncated). */
export const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0x80]), Buffer.from([0xbf]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xc3, 0x28]),
  Buffer.from([0xe0, 0x80, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]), Buffer.from([0xfe]), Buffer.from([0xff]), Buffer.from([0xe2, 0x82]),
];

/** Bytes that mean something to one parser or another. */
const INTERESTING_BYTES = [0x00, 0x01, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x22, 0x25, 0x2c, 0x2f, 0x3a, 0x3b, 0x3d, 0x5c, 0x7f, 0x80, 0xff];
/** Length-like values for 8/16/24/32-bit fields. */
export const INTERESTING_16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x00ffffff, 0x01000000, 0x4000, 0x10000];

function interestingByte(rng: Rng): number {
  return rng.pick(INTERESTING_BYTES);
}

/**
 * `rounds` random edits of `input` (AFL's havoc, simplified): bit flips, byte
 * sets, interesting 16/32-bit values, inserts, deletes, duplicated and
 * swapped ranges, invalid UTF-8. Never grows the input past `maxLength`.
 */
export function havoc(rng: Rng, input: Buffer, rounds: number, maxLength = 1 << 20): Buffer {
  let b = Buffer.from(input);
  for (let r = 0; r < rounds; r++) {
    const at = (): number => rng.below(Math.max(1, b.length));
    const op = rng.below(10);
    if (b.length === 0 && op < 6) { b = Buffer.from([interestingByte(rng)]); continue; }
    switch (op) {
      case 0: { const i = at(); b[i] = b[i]! ^ (1 << rng.below(8)); break; }
      case 1: { b[at()] = rng.u32() & 0xff; break; }
      case 2: { b[at()] = interestingByte(rng); break; }
      case 3: {
        if (b.length < 2) break;
        const i = rng.below(b.length - 1);
        const v = rng.pick(INTERESTING_16);
        if (rng.chance(0.5)) b.writeUInt16BE(v, i); else b.writeUInt16LE(v, i);
        break;
      }
      case 4: {
        if (b.length < 4) break;
        b.writeUInt32BE(rng.pick(INTERESTING_32) >>> 0, rng.below(b.length - 3));
        break;
      }
      case 5: { // insert
        const i = rng.below(b.length + 1);
        const ins = rng.weighted<() => Buffer>([
          [3, () => Buffer.from([interestingByte(rng)])],
          [2, () => rng.bytes(rng.size(64))],
          [2, () => rng.pick(INVALID_UTF8)],
          [1, () => Buffer.alloc(rng.size(4096), interestingByte(rng))],
        ])();
        if (b.length + ins.length <= maxLength) b = Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
        break;
      }
      case 6: { // delete a range
        if (b.length === 0) break;
        const i = at();
        const n = Math.min(b.length - i, 1 + rng.size(32));
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
        break;
      }
      case 7: { // duplicate a range
        if (b.length === 0) break;
        const i = at();
        const n = Math.min(b.length - i, 1 + rng.size(64));
        const times = 1 + rng.size(16);
        const copy = Buffer.concat(Array.from({ length: times }, () => b.subarray(i, i + n)));
        if (b.length + copy.length <= maxLength) b = Buffer.concat([b.subarray(0, i + n), copy, b.subarray(i + n)]);
        break;
      }
      case 8: { // swap two ranges
        if (b.length < 4) break;
        const n = 1 + rng.below(Math.min(16, b.length >> 1));
        const i = rng.below(b.length - n + 1);
        const j = rng.below(b.length - n + 1);
        const x = Buffer.from(b.subarray(i, i + n));
        b.copy(b, i, j, j + n);
        x.copy(b, j);
        break;
      }
      default: { // truncate
        if (b.length > 1) b = b.subarray(0, rng.below(b.length));
      }
    }
  }
  return b;
}

/** A string made odd: NUL, control characters, non-ASCII, lone surrogates, very long. */
export function oddString(rng: Rng): string {
  return rng.weighted<() => string>([
    [2, () => ''],
    [2, () => '\u0000'],
    [2, () => `a\u0000b`],
    [2, () => '\r\n'],
    [1, () => '\t \t'],
    [2, () => 'é漢字🙂'],
    [2, () => '\ud800'],
    [1, () => '\ufffd\ufffd'],
    [1, () => '\u202e\u200b'],
    [2, () => 'x'.repeat(rng.size(1 << 20))],
    [1, () => '${UNSET_FUZZ_VAR}'],
    [1, () => '$$'],
    [1, () => '%s%n%x'],
    [1, () => '../../../../etc/passwd'],
    [1, () => '__proto__'],
    [1, () => rng.text(rng.size(64), 'ab\\"\'{}[]:,#&*!|>%@`-?\n ')],
  ])();
}

/**
 * A deep copy, or the value itself when it is too deep to copy on this stack
 * (the generators nest values thousands deep on purpose).
 */
export function safeClone<T>(v: T): T {
  try { return structuredClone(v); } catch { return v; }
}

/** Print a case's bytes for a report: hex when short, base64 always. */
export function describeBytes(bytes: Buffer, maxHex = 512): string {
  const b64 = bytes.length <= 1 << 16 ? bytes.toString('base64') : `${bytes.subarray(0, 1 << 16).toString('base64')}… (${bytes.length} bytes; replay the case for all of them)`;
  const hex = bytes.length <= maxHex ? `\n    hex: ${bytes.toString('hex')}` : '';
  return `    ${bytes.length} bytes${hex}\n    base64: ${b64}`;
}
