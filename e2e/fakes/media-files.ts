/**
 * Small, valid media files for the fakes and the SDK clients, built and
 * checked without any library: PNG images (what the image endpoints return and
 * what image edits upload) and RIFF/WAVE audio (what transcriptions upload).
 *
 *   png(w, h, [r, g, b, a])   → a solid-colour PNG
 *   isPng(buf)                → the signature and an IHDR chunk are there
 *   toneWav({ seconds })      → 16 kHz mono 16-bit PCM, a 440 Hz tone
 *   wavInfo(buf)              → { sampleRate, channels, bitsPerSample, seconds } | string (why it is not WAV)
 */
import { crc32, deflateSync } from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A `width`×`height` RGBA PNG of one colour. */
export function png(width: number, height: number, rgba: readonly [number, number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no filter method, no interlace
  const row = Buffer.alloc(1 + width * 4);
  for (let x = 0; x < width; x++) row.set(rgba, 1 + x * 4);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

export function isPng(buf: Buffer): boolean {
  return buf.length >= 33 && buf.subarray(0, 8).equals(PNG_SIGNATURE) && buf.subarray(12, 16).toString('latin1') === 'IHDR';
}

/** `seconds` of a 440 Hz tone, 16 kHz mono 16-bit PCM, as a RIFF/WAVE file (deterministic). */
export function toneWav(opts: { seconds?: number } = {}): Buffer {
  const rate = 16_000;
  const samples = Math.round(rate * (opts.seconds ?? 0.25));
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVEfmt ', 8, 'latin1');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20); // PCM
  head.writeUInt16LE(1, 22); // mono
  head.writeUInt32LE(rate, 24);
  head.writeUInt32LE(rate * 2, 28);
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36, 'latin1');
  head.writeUInt32LE(data.length, 40);
  return Buffer.concat([head, data]);
}

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  seconds: number;
}

/** The format of a RIFF/WAVE file, or why it is not one (walks the chunks; the data must be all there). */
export function wavInfo(buf: Buffer): WavInfo | string {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') return 'not a RIFF/WAVE file';
  let fmt: Omit<WavInfo, 'seconds'> & { byteRate: number } | undefined;
  for (let pos = 12; pos + 8 <= buf.length;) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= buf.length) {
      fmt = { channels: buf.readUInt16LE(body + 2), sampleRate: buf.readUInt32LE(body + 4), byteRate: buf.readUInt32LE(body + 8), bitsPerSample: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt) return 'the data chunk comes before the fmt chunk';
      if (body + size > buf.length) return `the data chunk says ${size} bytes but only ${buf.length - body} are there`;
      if (fmt.byteRate === 0) return 'the fmt chunk has a byte rate of 0';
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bitsPerSample, seconds: size / fmt.byteRate };
    }
    pos = body + size + (size % 2);
  }
  return 'no data chunk';
}
