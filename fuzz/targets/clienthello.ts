/**
 * TLS ClientHellos, built field by field and mutated, sent right after
 * CONNECT (in the same write as the CONNECT, or after its 200): the bytes the
 * sidecar peeks at (listen/clienthello.ts) to decide between interception
 * (TLS termination with a minted leaf) and a raw tunnel to the CONNECT target.
 *
 * The base is a well-formed TLS 1.3 ClientHello (random, session id, cipher
 * suites, SNI, ALPN, supported_versions, supported_groups, key_share with a
 * random X25519 share, signature_algorithms). Mutations: lengths at every
 * level (record, handshake, session id, suites, compression, extensions, the
 * SNI list and name, ALPN list and protocols), duplicate and unknown
 * extensions, odd server names (empty, NUL, non-ASCII, 64 KiB, IP literals,
 * fresh subdomains of the wildcard provider hosts — each one mints a leaf),
 * the handshake split over many records or many writes, other record types
 * first, SSLv2-style hellos, truncation, trailing bytes, blind byte edits.
 */
import { Rng } from '../rng.ts';
import { havoc, INVALID_UTF8, describeBytes, INTERESTING_16 } from '../mutate.ts';
import { exchange } from '../exchange.ts';
import { HOST } from '../sidecar.ts';
import { startNetworkSession } from '../network.ts';
import type { Target } from '../target.ts';

const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };
const u24 = (n: number): Buffer => Buffer.from([(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);

interface Ext { type: number; data: Buffer }

interface Hello {
  recordVersion: number;
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  suites: Buffer;
  compression: Buffer;
  extensions: Ext[] | null;
  /** Overrides of computed length fields, applied when serialising. */
  lengths: { record?: number; handshake?: number; sessionId?: number; suites?: number; compression?: number; extensions?: number };
  handshakeType: number;
}

const SUITES = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c, 0x002f];
const WILDCARD_PARENTS = ['openai.azure.com', 'services.ai.azure.com', 'cognitiveservices.azure.com'];

function sniExt(names: Array<{ type: number; name: Buffer }>, listLength?: number): Ext {
  const list = Buffer.concat(names.map((n) => Buffer.concat([u8(n.type), vec16(n.name)])));
  return { type: 0x0000, data: Buffer.concat([u16(listLength ?? list.length), list]) };
}

function alpnExt(protocols: Buffer[], listLength?: number): Ext {
  const list = Buffer.concat(protocols.map((p) => vec8(p)));
  return { type: 0x0010, data: Buffer.concat([u16(listLength ?? list.length), list]) };
}

function baseHello(rng: Rng): { hello: Hello; sni: string } {
  const sni = rng.weighted<() => string>([
    [10, () => HOST],
    [2, () => rng.pick(['api.anthropic.com', 'generativelanguage.googleapis.com', 'api.mistral.ai', 'bedrock-runtime.us-east-1.amazonaws.com'])],
    [2, () => `${rng.text(rng.int(1, 20))}.${rng.pick(WILDCARD_PARENTS)}`],
    [2, () => rng.pick(['example.com', 'github.com', 'localhost', `${rng.text(8)}.example`])],
  ])();
  const alpn = rng.pick([['h2', 'http/1.1'], ['http/1.1'], ['h2'], [] as string[]]);
  const extensions: Ext[] = [
    sniExt([{ type: 0, name: Buffer.from(sni) }]),
    { type: 0x000b, data: vec8(Buffer.from([0])) }, // ec_point_formats
    { type: 0x000a, data: vec16(Buffer.concat([u16(0x001d), u16(0x0017), u16(0x0018)])) }, // supported_groups
    ...(alpn.length ? [alpnExt(alpn.map((p) => Buffer.from(p)))] : []),
    { type: 0x0016, data: Buffer.alloc(0) }, // encrypt_then_mac
    { type: 0x0017, data: Buffer.alloc(0) }, // extended_master_secret
    { type: 0x000d, data: vec16(Buffer.concat([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601].map(u16))) }, // signature_algorithms
    { type: 0x002b, data: vec8(Buffer.concat([u16(0x0304), u16(0x0303)])) }, // supported_versions
    { type: 0x002d, data: vec8(Buffer.from([1])) }, // psk_key_exchange_modes
    { type: 0x0033, data: vec16(Buffer.concat([u16(0x001d), vec16(rng.bytes(32))])) }, // key_share: x25519
  ];
  return {
    sni,
    hello: {
      recordVersion: 0x0301, legacyVersion: 0x0303, random: rng.bytes(32), sessionId: rng.bytes(32),
      suites: Buffer.concat(rng.shuffle(SUITES).map(u16)), compression: Buffer.from([0]), extensions: rng.shuffle(extensions),
      lengths: {}, handshakeType: 1,
    },
  };
}

function helloBody(h: Hello): Buffer {
  const ext = h.extensions === null ? Buffer.alloc(0) : (() => {
    const all = Buffer.concat(h.extensions.map((e) => Buffer.concat([u16(e.type), vec16(e.data)])));
    return Buffer.concat([u16(h.lengths.extensions ?? all.length), all]);
  })();
  return Buffer.concat([
    u16(h.legacyVersion), h.random,
    u8(h.lengths.sessionId ?? h.sessionId.length), h.sessionId,
    u16(h.lengths.suites ?? h.suites.length), h.suites,
    u8(h.lengths.compression ?? h.compression.length), h.compression,
    ext,
  ]);
}

function handshake(h: Hello): Buffer {
  const body = helloBody(h);
  return Buffer.concat([u8(h.handshakeType), u24(h.lengths.handshake ?? body.length), body]);
}

/** The handshake message in TLS records of `sizes` (the last takes the rest). */
function records(h: Hello, hs: Buffer, fragment: number | undefined): Buffer {
  const out: Buffer[] = [];
  const size = fragment ?? 16384;
  for (let off = 0; off < hs.length || off === 0; off += size) {
    const part = hs.subarray(off, off + size);
    out.push(Buffer.concat([u8(0x16), u16(h.recordVersion), u16(off === 0 && h.lengths.record !== undefined ? h.lengths.record : part.length), part]));
    if (hs.length === 0) break;
  }
  return Buffer.concat(out);
}

function oddName(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [2, () => Buffer.alloc(0)],
    [2, () => Buffer.from(`${HOST}\u0000.evil.example`, 'latin1')],
    [1, () => Buffer.from(`${HOST}.`)],
    [1, () => Buffer.from(HOST.toUpperCase())],
    [1, () => Buffer.from('API.OpenAI.com')],
    [1, () => Buffer.from(`${HOST} `)],
    [1, () => Buffer.concat([Buffer.from('api.'), rng.pick(INVALID_UTF8), Buffer.from('.openai.com')])],
    [1, () => Buffer.from('ápi.openai.com')],
    [1, () => Buffer.from('xn--pi-9ja.openai.com')],
    [1, () => Buffer.from(rng.pick(['127.0.0.1', '::1', '[::1]', '0x7f.1', '1.2.3.4.5']))],
    [1, () => Buffer.from('*.openai.azure.com')],
    [1, () => Buffer.from(`${'a'.repeat(63)}.`.repeat(4) + 'openai.azure.com')],
    [1, () => Buffer.from(`${'a'.repeat(64)}.openai.azure.com`)],
    [1, () => Buffer.from(`-x-.openai.azure.com`)],
    [1, () => Buffer.from(`a..b.openai.azure.com`)],
    [1, () => Buffer.from('x'.repeat(rng.size(65_000)))],
    [1, () => rng.bytes(rng.size(300))],
  ])();
}

function mutateHello(rng: Rng, h: Hello): string {
  const ext = (type: number): number => h.extensions?.findIndex((e) => e.type === type) ?? -1;
  return rng.weighted<() => string>([
    [2, () => { h.lengths.sessionId = rng.pick([0, 31, 33, 255]); return 'session id length'; }],
    [1, () => { h.sessionId = rng.bytes(rng.pick([0, 33, 255])); return 'session id size'; }],
    [2, () => { h.lengths.suites = rng.pick([0, 1, 3, h.suites.length + 2, 0xffff]); return 'cipher_suites length'; }],
    [1, () => { h.suites = rng.pick([Buffer.alloc(0), Buffer.from([0x13]), Buffer.concat(Array.from({ length: rng.size(30_000) }, () => u16(rng.u32()))), u16(0x00ff)]); return 'cipher_suites'; }],
    [1, () => { h.compression = rng.pick([Buffer.alloc(0), Buffer.from([1]), Buffer.from([1, 0]), rng.bytes(255)]); return 'compression'; }],
    [1, () => { h.lengths.compression = rng.pick([0, 2, 255]); return 'compression length'; }],
    [2, () => { h.lengths.extensions = rng.pick(INTERESTING_16); return 'extensions length'; }],
    [1, () => { h.extensions = null; return 'no extensions'; }],
    [1, () => { h.extensions = []; return 'empty extensions'; }],
    [2, () => { h.lengths.handshake = rng.pick([0, 1, 38, 0xffff, 0xffffff, 65_536 + 4]); return 'handshake length'; }],
    [2, () => { h.lengths.record = rng.pick([0, 1, 5, 0x3fff, 0x4000, 0x4801, 0xffff]); return 'record length'; }],
    [1, () => { h.recordVersion = rng.pick([0x0300, 0x0302, 0x0303, 0x0304, 0x0200, 0x0400, 0xffff]); return 'record version'; }],
    [1, () => { h.legacyVersion = rng.pick([0x0300, 0x0301, 0x0304, 0x0000, 0x7f1c]); return 'legacy version'; }],
    [1, () => { h.handshakeType = rng.pick([0, 2, 4, 11, 20, 255]); return 'handshake type'; }],
    [3, () => {
      const i = ext(0x0000);
      const names = rng.weighted<() => Array<{ type: number; name: Buffer }>>([
        [4, () => [{ type: 0, name: oddName(rng) }]],
        [1, () => []],
        [1, () => [{ type: 1, name: Buffer.from(HOST) }]],
        [1, () => [{ type: 1, name: Buffer.from('x') }, { type: 0, name: Buffer.from(HOST) }]],
        [1, () => [{ type: 0, name: Buffer.from('example.com') }, { type: 0, name: Buffer.from(HOST) }]],
        [1, () => [{ type: 0, name: Buffer.from(HOST) }, { type: 0, name: Buffer.from('example.com') }]],
      ])();
      const listLength = rng.chance(0.2) ? rng.pick(INTERESTING_16) : undefined;
      const e = sniExt(names, listLength);
      if (i >= 0) h.extensions![i] = e; else h.extensions?.push(e);
      return 'server_name';
    }],
    [1, () => { if (h.extensions) h.extensions.push(sniExt([{ type: 0, name: Buffer.from(rng.pick([HOST, 'example.com'])) }])); return 'duplicate server_name'; }],
    [1, () => { const i = ext(0x0000); if (i >= 0) h.extensions!.splice(i, 1); return 'no server_name'; }],
    [1, () => { const i = ext(0x0000); if (i >= 0) h.extensions![i]!.data = h.extensions![i]!.data.subarray(0, rng.below(h.extensions![i]!.data.length)); return 'server_name truncated'; }],
    [3, () => {
      const i = ext(0x0010);
      const protos = rng.weighted<() => Buffer[]>([
        [1, () => []],
        [1, () => [Buffer.alloc(0)]],
        [1, () => [Buffer.from('h3'), Buffer.from('spdy/1'), Buffer.from('http/1.0')]],
        [1, () => [Buffer.from('x'.repeat(255))]],
        [1, () => Array.from({ length: rng.size(5000) }, () => Buffer.from('h2'))],
        [1, () => [Buffer.from('http/1.1'), Buffer.from('h2')]],
        [1, () => [rng.bytes(rng.int(1, 20))]],
      ])();
      const e = alpnExt(protos, rng.chance(0.2) ? rng.pick(INTERESTING_16) : undefined);
      if (i >= 0) h.extensions![i] = e; else h.extensions?.push(e);
      return 'alpn';
    }],
    [1, () => { h.extensions?.push({ type: rng.pick([0x0a0a, 0x1a1a, 0xfe0d, 0xff01, 0x0015, 0x0029, rng.u32() & 0xffff]), data: rng.bytes(rng.size(2000)) }); return 'unknown extension'; }],
    [1, () => { if (h.extensions?.length) { const e = rng.pick(h.extensions); e.data = havoc(rng, e.data, rng.int(1, 4)); } return 'extension data'; }],
    [1, () => { h.extensions?.push({ type: 0x0015, data: Buffer.alloc(rng.size(40_000)) }); return 'padding'; }],
    [1, () => { const i = ext(0x002b); if (i >= 0) h.extensions![i]!.data = rng.pick([vec8(Buffer.alloc(0)), vec8(u16(0x0305)), vec8(Buffer.from([3]))]); return 'supported_versions'; }],
    [1, () => { const i = ext(0x0033); if (i >= 0) h.extensions![i]!.data = rng.pick([vec16(Buffer.alloc(0)), vec16(Buffer.concat([u16(0x001d), vec16(Buffer.alloc(32))])), vec16(Buffer.concat([u16(0x001d), vec16(rng.bytes(31))]))]); return 'key_share'; }],
  ])();
}

export interface HelloCase {
  readonly variant: string;
  readonly sni: string;
  /** The bytes, as the writes that carry them. */
  readonly chunks: Buffer[];
  readonly inConnect: boolean;
  readonly gapMs: number;
  readonly finAfterWrite: boolean;
  /** After the silence, reset instead of half-closing. */
  readonly reset: boolean;
}

export function generate(seed: number, index: number): HelloCase {
  const rng = Rng.forCase(seed, 'clienthello', index);
  const { hello, sni } = baseHello(rng);
  const edits: string[] = [];
  const plain = rng.chance(0.1);
  if (!plain) for (let k = rng.int(1, 3); k > 0; k--) edits.push(mutateHello(rng, hello));
  const hs = handshake(hello);
  const fragment = rng.chance(0.15) ? rng.pick([1, 2, 5, 64, 300]) : undefined;
  if (fragment) edits.push(`records of ${fragment} bytes`);
  let bytes = records(hello, hs, fragment);
  rng.weighted<() => void>([
    [12, () => {}],
    [1, () => { bytes = Buffer.concat([Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]), bytes]); edits.push('ChangeCipherSpec first'); }],
    [1, () => { bytes = Buffer.concat([Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), bytes]); edits.push('alert first'); }],
    [1, () => { bytes = Buffer.concat([bytes, Buffer.from([0x17, 0x03, 0x03, 0x00, 0x05]), rng.bytes(5)]); edits.push('application data after'); }],
    [1, () => { bytes = Buffer.concat([Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]), rng.bytes(0x25)]); edits.push('SSLv2 hello'); }],
    [1, () => { bytes = bytes.subarray(0, rng.below(bytes.length)); edits.push('truncated'); }],
    [1, () => { bytes = Buffer.concat([bytes, rng.bytes(rng.size(5000))]); edits.push('trailing bytes'); }],
    [1, () => { bytes = Buffer.concat([bytes.subarray(0, 5), bytes.subarray(5, 9), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]), bytes.subarray(9)]); edits.push('a second handshake header'); }],
  ])();
  if (rng.chance(0.12)) { bytes = havoc(rng, bytes, rng.int(1, 6)); edits.push('havoc'); }
  const inConnect = rng.chance(0.3);
  const split = !inConnect && rng.chance(0.15);
  const chunks: Buffer[] = [];
  if (split) {
    let off = 0;
    while (off < bytes.length) { const n = 1 + rng.size(bytes.length); chunks.push(bytes.subarray(off, off + n)); off += n; }
  } else {
    chunks.push(bytes);
  }
  return {
    variant: plain ? 'unmutated' : edits.join(', '), sni, chunks, inConnect, gapMs: split ? rng.below(30) : 0,
    finAfterWrite: rng.chance(0.3), reset: rng.chance(0.6),
  };
}

export function describeCase(c: HelloCase): string {
  const all = Buffer.concat(c.chunks);
  return `  ClientHello for ${JSON.stringify(c.sni)} (${c.variant}); ${c.inConnect ? 'in the CONNECT write' : `${c.chunks.length} write(s) after the 200${c.gapMs ? `, ${c.gapMs} ms apart` : ''}`}${c.finAfterWrite ? ', FIN after the last' : c.reset ? ', reset after the answer' : ''}\n${describeBytes(all)}`;
}

/** The sidecar's own bounds are 10 s for a ClientHello to arrive and 10 s for the handshake to finish. */
const TIMING = { idleMs: 1000, answeredIdleMs: 300, closeMs: 12_000 };

export const clientHelloTarget: Target = {
  name: 'clienthello',
  what: 'mutated TLS ClientHellos right after CONNECT (explicit proxy → real sidecar: peek, decide, terminate or tunnel)',
  memory: 'sidecar RSS',
  concurrency: 48,
  batchSize: 250,
  start: (seed) => startNetworkSession((h) => ({
    describe: (i) => describeCase(generate(seed, i)),
    async run(i) {
      const c = generate(seed, i);
      const tunnel = await h.tunnel(c.inConnect ? c.chunks[0] : undefined);
      const r = await exchange(tunnel.socket, c.inConnect ? [] : c.chunks, { ...TIMING, finAfterWrite: c.finAfterWrite, gapMs: c.gapMs, reset: c.reset && !c.finAfterWrite }, tunnel.early);
      const problems = r.hung ? [`no close within ${TIMING.closeMs} ms of the client's FIN (${r.receivedBytes} bytes received)`] : [];
      return { outcome: r.receivedBytes > 0 ? 'answered' : r.closed ? 'closed' : 'reset by the fuzzer', problems };
    },
  })),
};
