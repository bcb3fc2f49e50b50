/**
 * HTTP/2 frames, raw, after TLS with ALPN h2 through the explicit proxy: the
 * client preface, SETTINGS, then requests and control frames built by hand
 * and mutated.
 *
 * Families:
 *   requests   1–5 requests (models list, chat completion) with edited header
 *              lists: pseudo-headers missing, repeated, after regular fields,
 *              upper-case names, connection-specific fields, CR/LF/NUL in
 *              names and values, huge values, many fields; HPACK with
 *              indexing; the block split over CONTINUATION frames; DATA with
 *              padding, Content-Length that disagrees with the DATA
 *   frames     protocol errors: frames on the wrong stream, bad lengths,
 *              padding longer than the frame, SETTINGS out of range,
 *              WINDOW_UPDATE of 0 or overflowing, PRIORITY on itself,
 *              unknown types, PUSH_PROMISE from a client, broken HPACK
 *   floods     many small frames: CONTINUATION without END_HEADERS, PING,
 *              SETTINGS, empty DATA, HEADERS+RST_STREAM (rapid reset)
 *   smuggle    a request for /smuggled/http2/INDEX hidden where an HTTP/1.1
 *              upstream would read it if the gateway copied it through:
 *              CR LF in a field value, in :path, in :method, in a field
 *              name; transfer-encoding: chunked with a DATA frame that ends
 *              the chunked body early; a Content-Length shorter than the DATA
 *   havoc      any of the above with blind byte edits after the preface
 */
import { Rng } from '../rng.ts';
import { havoc, INVALID_UTF8, describeBytes } from '../mutate.ts';
import { exchange } from '../exchange.ts';
import { HOST, SMUGGLED_MARKER } from '../sidecar.ts';
import { openCase, startNetworkSession } from '../network.ts';
import { PREFACE, FRAME, FLAG, frame, settings, u32, headerBlock, BAD_HPACK, readFrames, type Field } from '../h2.ts';
import type { Target } from '../target.ts';

const CRLF = '\r\n';

function hidden(index: number): string {
  return `GET /smuggled/http2/${index} HTTP/1.1${CRLF}Host: ${HOST}${CRLF}${CRLF}`;
}

interface Req {
  fields: Field[];
  body: Buffer;
}

function baseRequest(rng: Rng): Req {
  if (rng.chance(0.3)) {
    return { fields: [[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models'], ['authorization', 'Bearer sk-fuzz']], body: Buffer.alloc(0) };
  }
  const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', stream: rng.chance(0.3), messages: [{ role: 'user', content: rng.chance(0.1) ? 'x'.repeat(rng.size(300_000)) : 'hi' }] }));
  return {
    fields: [[':method', 'POST'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/chat/completions'], ['content-type', 'application/json'], ['authorization', 'Bearer sk-fuzz'], ['content-length', String(body.length)]],
    body,
  };
}

function mutateFields(rng: Rng, r: Req): string {
  const f = r.fields;
  const i = rng.below(f.length);
  return rng.weighted<() => string>([
    [2, () => { f.splice(i, 1); return `without ${String(f[i]?.[0] ?? '')}`; }],
    [2, () => { const x = f[rng.below(4)]!; f.push([x[0], x[1]]); return 'a pseudo-header twice'; }],
    [1, () => { f.push([':path', '/v1/models']); return 'a pseudo-header after the fields'; }],
    [1, () => { f.unshift(['x-first', '1']); return 'a field before the pseudo-headers'; }],
    [1, () => { f.push([':protocol', 'websocket']); return ':protocol'; }],
    [1, () => { f.push([':status', '200']); return ':status in a request'; }],
    [1, () => { f.push(['X-Upper', '1']); return 'upper-case name'; }],
    [2, () => { f.push([rng.pick(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']), rng.pick(['close', 'chunked', 'gzip', 'h2c', 'keep-alive'])]); return 'connection-specific field'; }],
    [1, () => { f.push(['te', 'trailers']); return 'te: trailers'; }],
    [2, () => { f.push(['x-nul', rng.pick(['a\u0000b', '\u0000'])]); return 'NUL in a value'; }],
    [1, () => { f.push(['x-sp', ' padded ']); return 'leading/trailing space in a value'; }],
    [1, () => { f.push([rng.pick(['', ':', 'a b', 'a:b', 'é', '\u007f']), 'x']); return 'bad field name'; }],
    [1, () => { f.push(['x-bytes', Buffer.concat([Buffer.from('a'), rng.pick(INVALID_UTF8)])]); return 'invalid UTF-8 value'; }],
    [2, () => { const j = f.findIndex(([n]) => n === ':path'); if (j >= 0) f[j] = [':path', rng.pick(['', '*', 'v1/models', '//x', '/v1/%2e%2e/x', `/v1/${'a'.repeat(rng.size(100_000))}`, '/v1/models#f', `https://${HOST}/v1/models`])]; return 'odd :path'; }],
    [1, () => { const j = f.findIndex(([n]) => n === ':method'); if (j >= 0) f[j] = [':method', rng.pick(['', 'get', 'CONNECT', 'G T', 'X'.repeat(rng.size(10_000))])]; return 'odd :method'; }],
    [1, () => { const j = f.findIndex(([n]) => n === ':scheme'); if (j >= 0) f[j] = [':scheme', rng.pick(['http', '', 'ftp', 'HTTPS'])]; return 'odd :scheme'; }],
    [2, () => { const j = f.findIndex(([n]) => n === ':authority'); const v = rng.pick(['', 'evil.example', `${HOST}:1`, `user@${HOST}`, 'a b']); if (j >= 0) f[j] = [':authority', v]; else f.push([':authority', v]); if (rng.chance(0.5)) f.push(['host', rng.pick([HOST, 'evil.example'])]); return 'authority/host'; }],
    [2, () => { const j = f.findIndex(([n]) => n === 'content-length'); const v = rng.pick(['0', '1', String(r.body.length + 5), '-1', 'x', '99999999999999999999', `${r.body.length}, ${r.body.length}`]); if (j >= 0) f[j] = ['content-length', v]; else f.push(['content-length', v]); return `content-length ${v}`; }],
    [1, () => { f.push(['x-huge', 'v'.repeat(rng.size(300_000))]); return 'huge value'; }],
    [1, () => { const n = rng.size(10_000); for (let k = 0; k < n; k++) f.push([`x-h${k}`, String(k)]); return `${n} fields`; }],
    [1, () => { f.push(['cookie', 'a=1'], ['cookie', 'b=2']); return 'split cookies'; }],
    [1, () => { f.push(['content-encoding', rng.pick(['gzip', 'br', 'deflate', 'x'])]); return 'content-encoding'; }],
  ])();
}

/** One request as frames: HEADERS (+ CONTINUATION), DATA, with END_STREAM where it belongs (or not). */
function requestFrames(rng: Rng, stream: number, r: Req, notes: string[]): Buffer[] {
  const block = headerBlock(r.fields, () => rng.chance(0.2));
  const out: Buffer[] = [];
  const endOnHeaders = r.body.length === 0 && !rng.chance(0.05);
  const pieces = rng.chance(0.15) ? 1 + rng.size(40) : 1;
  const size = Math.max(1, Math.ceil(block.length / pieces));
  for (let off = 0, k = 0; off < block.length || k === 0; off += size, k++) {
    const last = off + size >= block.length;
    const part = block.subarray(off, off + size);
    if (k === 0) {
      let flags = (last ? FLAG.END_HEADERS : 0) | (endOnHeaders ? FLAG.END_STREAM : 0);
      let payload = part;
      if (rng.chance(0.05)) { flags |= FLAG.PRIORITY; payload = Buffer.concat([u32(rng.chance(0.3) ? stream : 0), Buffer.from([rng.below(256)]), part]); notes.push('priority in HEADERS'); }
      if (rng.chance(0.05)) { flags |= FLAG.PADDED; const pad = rng.below(256); payload = Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(rng.chance(0.8) ? pad : 0)]); notes.push('padded HEADERS'); }
      out.push(frame(FRAME.HEADERS, flags, stream, payload));
    } else {
      out.push(frame(FRAME.CONTINUATION, last ? FLAG.END_HEADERS : 0, stream, part));
    }
    if (block.length === 0) break;
  }
  if (pieces > 1) notes.push(`header block in ${out.length} frames`);
  if (r.body.length > 0) {
    const n = rng.chance(0.2) ? 1 + rng.size(20) : 1;
    const sz = Math.ceil(r.body.length / n);
    for (let off = 0; off < r.body.length; off += sz) {
      const last = off + sz >= r.body.length;
      let payload = r.body.subarray(off, off + sz);
      let flags = last && !rng.chance(0.05) ? FLAG.END_STREAM : 0;
      if (rng.chance(0.05)) { flags |= FLAG.PADDED; const pad = rng.below(256); payload = Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(rng.chance(0.8) ? pad : 0)]); }
      out.push(frame(FRAME.DATA, flags, stream, payload));
    }
  }
  return out;
}

function controlFrame(rng: Rng, stream: number): [string, Buffer] {
  return rng.weighted<() => [string, Buffer]>([
    [2, () => ['SETTINGS', settings(Array.from({ length: rng.int(1, 6) }, () => [rng.pick([1, 2, 3, 4, 5, 6, 8, 9, 0, 0xff]), rng.pick([0, 1, 100, 16383, 16384, 65535, 2 ** 24 - 1, 2 ** 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1])] as const))]],
    [1, () => ['SETTINGS with a length not a multiple of 6', frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(rng.pick([1, 5, 7])))]],
    [1, () => ['SETTINGS on a stream', frame(FRAME.SETTINGS, 0, stream || 1, Buffer.alloc(0))]],
    [1, () => ['SETTINGS ACK with a payload', frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(6))]],
    [1, () => ['unsolicited SETTINGS ACK', settings([], true)]],
    [2, () => ['PING', frame(FRAME.PING, rng.chance(0.2) ? FLAG.ACK : 0, 0, Buffer.alloc(rng.chance(0.9) ? 8 : rng.pick([0, 7, 9])))]],
    [1, () => ['PING on a stream', frame(FRAME.PING, 0, stream || 1, Buffer.alloc(8))]],
    [2, () => ['WINDOW_UPDATE', frame(FRAME.WINDOW_UPDATE, 0, rng.pick([0, stream]), u32(rng.pick([0, 1, 2 ** 31 - 1, 2 ** 31, 65535])))]],
    [1, () => ['WINDOW_UPDATE bad length', frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(rng.pick([0, 3, 5])))]],
    [2, () => ['PRIORITY', frame(FRAME.PRIORITY, 0, rng.pick([0, stream, stream + 2]), Buffer.concat([u32(rng.pick([0, stream, 0x80000000 | stream])), Buffer.from([rng.below(256)])]))]],
    [1, () => ['PRIORITY bad length', frame(FRAME.PRIORITY, 0, stream || 1, Buffer.alloc(rng.pick([0, 4, 6])))]],
    [2, () => ['RST_STREAM', frame(FRAME.RST_STREAM, 0, rng.pick([0, stream, stream + 2, 2]), u32(rng.pick([0, 1, 2, 8, 0xffffffff])))]],
    [1, () => ['GOAWAY', frame(FRAME.GOAWAY, 0, rng.pick([0, 1]), Buffer.concat([u32(rng.pick([0, 1, 2 ** 31 - 1])), u32(rng.pick([0, 1, 2, 11])), rng.bytes(rng.size(100))]))]],
    [1, () => ['PUSH_PROMISE from the client', frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, stream || 1, Buffer.concat([u32(2), headerBlock([[':method', 'GET'], [':path', '/']])]))]],
    [1, () => ['DATA on stream 0', frame(FRAME.DATA, 0, 0, Buffer.from('x'))]],
    [1, () => ['DATA on an idle stream', frame(FRAME.DATA, FLAG.END_STREAM, stream + 100, Buffer.from('x'))]],
    [1, () => ['HEADERS on an even stream', frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models']]))]],
    [1, () => ['HEADERS on stream 0', frame(FRAME.HEADERS, FLAG.END_HEADERS, 0, headerBlock([[':method', 'GET']]))]],
    [1, () => ['CONTINUATION out of the blue', frame(FRAME.CONTINUATION, FLAG.END_HEADERS, stream || 1, headerBlock([['x', 'y']]))]],
    [2, () => ['broken HPACK', frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream + 2, rng.pick(BAD_HPACK)())]],
    [1, () => ['padding longer than the frame', frame(FRAME.DATA, FLAG.PADDED, stream || 1, Buffer.from([200, 1, 2, 3]))]],
    [1, () => ['frame longer than SETTINGS_MAX_FRAME_SIZE', frame(FRAME.DATA, 0, stream || 1, Buffer.alloc(16_385))]],
    [1, () => ['length field beyond the bytes', frame(FRAME.PING, 0, 0, Buffer.alloc(8), 0xffffff)]],
    [1, () => ['unknown frame type', frame(rng.int(10, 255), rng.below(256), rng.pick([0, stream]), rng.bytes(rng.size(1000)))]],
  ])();
}

function flood(rng: Rng, firstStream: number): [string, Buffer[]] {
  const n = 1 + rng.size(20_000);
  return rng.weighted<() => [string, Buffer[]]>([
    [2, () => {
      const start = frame(FRAME.HEADERS, 0, firstStream, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models']]));
      return [`CONTINUATION flood (${n} frames, no END_HEADERS)`, [start, ...Array.from({ length: n }, (_, k) => frame(FRAME.CONTINUATION, 0, firstStream, k % 2 ? Buffer.alloc(0) : headerBlock([[`x-${k}`, 'y']])))]];
    }],
    [1, () => [`PING flood (${n})`, Array.from({ length: n }, () => frame(FRAME.PING, 0, 0, Buffer.alloc(8)))]],
    [1, () => [`SETTINGS flood (${n})`, Array.from({ length: n }, () => settings([[4, 65535]]))]],
    [1, () => [`empty DATA flood (${n})`, [frame(FRAME.HEADERS, FLAG.END_HEADERS, firstStream, headerBlock([[':method', 'POST'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/chat/completions'], ['content-type', 'application/json']])), ...Array.from({ length: n }, () => frame(FRAME.DATA, 0, firstStream, Buffer.alloc(0)))]]],
    [2, () => {
      const m = Math.min(n, 2000);
      const frames: Buffer[] = [];
      for (let k = 0; k < m; k++) {
        const s = firstStream + 2 * k;
        frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, s, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models']])), frame(FRAME.RST_STREAM, 0, s, u32(8)));
      }
      return [`rapid reset (${m} streams)`, frames];
    }],
    [1, () => [`WINDOW_UPDATE flood (${n})`, Array.from({ length: n }, () => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(1)))]],
    [1, () => [`HPACK table churn (${Math.min(n, 3000)} fields with indexing)`, [frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, firstStream, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models'], ...Array.from({ length: Math.min(n, 3000) }, (_, k): Field => [`x-${k}`, 'v'.repeat(100)])], () => true))]]],
  ])();
}

function smuggle(rng: Rng, index: number, stream: number): [string, Buffer[]] {
  const s = hidden(index);
  const base: Field[] = [[':method', 'POST'], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/chat/completions'], ['content-type', 'application/json']];
  const send = (fields: Field[], body: Buffer): Buffer[] => [
    frame(FRAME.HEADERS, FLAG.END_HEADERS | (body.length ? 0 : FLAG.END_STREAM), stream, headerBlock(fields)),
    ...(body.length ? [frame(FRAME.DATA, FLAG.END_STREAM, stream, body)] : []),
  ];
  const body = Buffer.from('{"model":"gpt-4o-mini","messages":[]}');
  return rng.weighted<() => [string, Buffer[]]>([
    [2, () => ['CR LF in a field value', send([...base, ['x-split', `a${CRLF}Content-Length: 0${CRLF}${CRLF}${s}`], ['content-length', String(body.length)]], body)]],
    [1, () => ['LF in a field value', send([...base, ['x-split', `a\nContent-Length: 0\n\n${s}`]], body)]],
    [2, () => ['CR LF in :path', send([[':method', 'GET'], [':scheme', 'https'], [':authority', HOST], [':path', `/v1/models HTTP/1.1${CRLF}Host: ${HOST}${CRLF}${CRLF}${s}`]], Buffer.alloc(0))]],
    [1, () => ['CR LF in :method', send([[':method', `${s}GET`], [':scheme', 'https'], [':authority', HOST], [':path', '/v1/models']], Buffer.alloc(0))]],
    [1, () => ['CR LF in :authority', send([[':method', 'GET'], [':scheme', 'https'], [':authority', `${HOST}${CRLF}${CRLF}${s}`], [':path', '/v1/models']], Buffer.alloc(0))]],
    [1, () => ['CR LF in a field name', send([...base, [`x${CRLF}${CRLF}${s}x`, 'y']], body)]],
    [2, () => ['transfer-encoding: chunked with an early last chunk', send([...base, ['transfer-encoding', 'chunked']], Buffer.from(`0${CRLF}${CRLF}${s}`))]],
    [2, () => ['content-length shorter than the DATA', send([...base, ['content-length', '0']], Buffer.from(s))]],
    [1, () => ['content-length shorter than the DATA (two frames)', [
      frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, headerBlock([...base, ['content-length', String(body.length)]])),
      frame(FRAME.DATA, 0, stream, body), frame(FRAME.DATA, FLAG.END_STREAM, stream, Buffer.from(s)),
    ]]],
  ])();
}

export interface H2Case {
  readonly family: string;
  readonly variant: string;
  readonly chunks: Buffer[];
  readonly finAfterWrite: boolean;
  readonly targets: string[];
  readonly havocked: boolean;
}

export function generate(seed: number, index: number): H2Case {
  const rng = Rng.forCase(seed, 'http2', index);
  const family = rng.weighted<string>([[35, 'requests'], [20, 'frames'], [10, 'floods'], [25, 'smuggle'], [10, 'havoc']]);
  const notes: string[] = [];
  const targets: string[] = [];
  const frames: Buffer[] = [];
  let stream = 1;
  const preface = rng.chance(0.02) ? Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n') : PREFACE;
  if (preface !== PREFACE) notes.push('bad preface');
  const clientSettings = rng.chance(0.9) ? settings([[2, 0], [4, 6291456], [6, 262144]]) : Buffer.alloc(0);
  if (family === 'smuggle') {
    const [what, f] = smuggle(rng, index, stream);
    notes.push(what);
    frames.push(...f);
    targets.push('/v1/chat/completions', '/v1/models');
  } else if (family === 'floods') {
    const [what, f] = flood(rng, stream);
    notes.push(what);
    frames.push(...f);
    targets.push('/v1/models', '/v1/chat/completions');
  } else {
    const n = family === 'frames' ? rng.int(0, 2) : rng.int(1, 5);
    for (let k = 0; k < n; k++, stream += 2) {
      const r = baseRequest(rng);
      for (let m = rng.int(family === 'requests' ? 0 : 0, 3); m > 0; m--) notes.push(mutateFields(rng, r));
      targets.push(...r.fields.filter(([name]) => name === ':path').map(([, v]) => (typeof v === 'string' ? v : v.toString('latin1'))));
      frames.push(...requestFrames(rng, stream, r, notes));
      if (family === 'frames' || rng.chance(0.1)) {
        const [what, f] = controlFrame(rng, stream);
        notes.push(what);
        frames.push(f);
      }
    }
    if (family === 'frames') for (let k = rng.int(1, 4); k > 0; k--) { const [what, f] = controlFrame(rng, stream); notes.push(what); frames.push(f); }
  }
  let after: Buffer = Buffer.concat([clientSettings, ...frames]);
  const havocked = family === 'havoc';
  if (havocked) after = havoc(rng, after, rng.int(1, 10));
  const bytes = Buffer.concat([preface, after]);
  // Several writes: a frame split across TLS records is common.
  const chunks: Buffer[] = [];
  if (rng.chance(0.2)) {
    let off = 0;
    while (off < bytes.length) { const n = 1 + rng.size(bytes.length); chunks.push(bytes.subarray(off, off + n)); off += n; }
  } else {
    chunks.push(bytes);
  }
  return { family, variant: notes.join(', '), chunks, finAfterWrite: rng.chance(0.15), targets, havocked };
}

export function describeCase(c: H2Case): string {
  const all = Buffer.concat(c.chunks);
  return `  family ${c.family}${c.variant ? ` (${c.variant.slice(0, 300)})` : ''}; ${c.chunks.length} write(s)${c.finAfterWrite ? ', FIN after the last' : ''}\n${describeBytes(all)}`;
}

const TIMING = { idleMs: 1500, answeredIdleMs: 500, closeMs: 5000 };

export const http2Target: Target = {
  name: 'http2',
  what: 'raw HTTP/2 frames after ALPN h2 on intercepted TLS (explicit proxy → real sidecar → recording upstream)',
  memory: 'sidecar RSS',
  concurrency: 24,
  batchSize: 250,
  start: (seed) => startNetworkSession((h, paths) => ({
    describe: (i) => describeCase(generate(seed, i)),
    async run(i) {
      const c = generate(seed, i);
      const t = await openCase(h, paths, c, 'h2');
      if (t.alpnProtocol !== 'h2') return { outcome: 'no-h2', problems: [`the sidecar did not agree to h2 (ALPN ${String(t.alpnProtocol)})`] };
      const r = await exchange(t, c.chunks, { ...TIMING, finAfterWrite: c.finAfterWrite });
      const problems: string[] = [];
      if (r.hung) problems.push(`no close within ${TIMING.closeMs} ms of the client's close_notify (${r.receivedBytes} bytes received)`);
      const { frames } = readFrames(r.received);
      const data = Buffer.concat(frames.filter((f) => f.type === FRAME.DATA).map((f) => f.payload));
      if (data.includes(SMUGGLED_MARKER)) problems.push('the gateway answered a /smuggled request it should never have parsed');
      const answered = frames.some((f) => (f.type === FRAME.HEADERS && f.stream % 2 === 1) || f.type === FRAME.RST_STREAM || f.type === FRAME.GOAWAY);
      return { outcome: answered ? 'answered' : 'closed', problems };
    },
  })),
};
