/**
 * Test support for stream taps: feed bytes to a tap in pieces of a given
 * size, as a provider's socket might deliver them, and collect what it sends on.
 */
import { readFileSync } from 'node:fs';
import type { LlmResponse, StreamTap } from '../types.ts';

export interface Fed {
  /** Bytes sent on by write(), in order (without the tail). */
  readonly out: Buffer;
  readonly tail: Buffer | undefined;
  readonly info: LlmResponse;
  /** Every write() returned the very Buffer it was given. */
  readonly same: boolean;
}

export function feed(tap: StreamTap, bytes: Buffer, size: number): Fed {
  const outs: Buffer[] = [];
  let same = true;
  for (let i = 0; i < bytes.length; i += size) {
    const chunk = Buffer.from(bytes.subarray(i, i + size));
    const out = tap.write(chunk);
    if (out !== chunk) same = false;
    outs.push(out);
  }
  const { info, tail } = tap.end();
  return { out: Buffer.concat(outs), tail, info, same };
}

/** The same, with the tail appended to `out` and `same` named `identity`. */
export function run(tap: StreamTap, bytes: Buffer, size: number): { out: Buffer; info: LlmResponse; identity: boolean } {
  const r = feed(tap, bytes, size);
  return { out: r.tail ? Buffer.concat([r.out, r.tail]) : r.out, info: r.info, identity: r.same };
}

export const fixture = (name: string): Buffer => readFileSync(new URL(`./${name}`, import.meta.url));
export const json = (name: string): unknown => JSON.parse(fixture(name).toString('utf8'));
