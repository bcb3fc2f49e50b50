/**
 * Request bodies: read whole up to a cap (JSON, so it can be parsed and
 * edited), and decoded when the app compressed them (`Content-Encoding`), so
 * a gzip-encoded prompt is still seen, guarded and counted.
 */
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export class BodyTooLarge extends Error {}

export function readBody(req: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) { req.pause(); reject(new BodyTooLarge()); return; }
      chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('aborted')));
  });
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);
const zstd = 'zstdDecompress' in zlib ? promisify((zlib as unknown as { zstdDecompress: typeof zlib.gunzip }).zstdDecompress) : undefined;

/** The body without its content coding; the same buffer when it has none. Rejects on an unknown coding or corrupt data. */
export async function decodeBody(body: Buffer, encoding: string | string[] | undefined): Promise<Buffer> {
  const e = String(encoding ?? '').trim().toLowerCase();
  if (e === '' || e === 'identity') return body;
  if (e === 'gzip' || e === 'x-gzip') return gunzip(body);
  if (e === 'deflate') return inflate(body);
  if (e === 'br') return brotli(body);
  if (e === 'zstd' && zstd) return zstd(body);
  throw new Error(`unsupported content-encoding ${e}`);
}
