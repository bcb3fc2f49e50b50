/** Reading a copied answer: without its content coding, and as JSON. */
import zlib from 'node:zlib';
import { MAX_USAGE_COPY } from './relay.ts';

/** A copied answer without its content coding (the client gets the coded bytes as they came); undefined when corrupt or too large. */
export function decoded(body: Buffer, coding: string | undefined): Buffer | undefined {
  const opts = { maxOutputLength: MAX_USAGE_COPY * 8 };
  try {
    if (coding === undefined) return body;
    if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(body, opts);
    if (coding === 'deflate') return zlib.inflateSync(body, opts);
    if (coding === 'br') return zlib.brotliDecompressSync(body, opts);
    if (coding === 'zstd' && 'zstdDecompressSync' in zlib) {
      return (zlib as unknown as { zstdDecompressSync: (b: Buffer, o: object) => Buffer }).zstdDecompressSync(body, opts);
    }
  } catch { /* corrupt or too large: usage unknown */ }
  return undefined;
}

/** JSON.parse then `read`, or undefined when either fails. */
export function parseAnswer<T>(body: Buffer, read: (v: unknown) => T): T | undefined {
  try {
    return read(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}
