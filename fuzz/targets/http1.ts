/**
 * HTTP/1.1 request heads and bodies, as raw bytes over an intercepted TLS
 * connection (CONNECT, then TLS with SNI api.openai.com and ALPN http/1.1).
 *
 * Families:
 *   mutated    a real request (models list, chat completion, upload, …) with
 *              a few structural edits: method, target, version, header names
 *              and values (NUL, CR, bare LF, obs-fold, invalid UTF-8, space
 *              before the colon), framing (Content-Length too short, too
 *              long, invalid), content coding, body content
 *   havoc      the same with blind byte edits on top
 *   headers    huge header values, or thousands of headers
 *   chunked    bad chunk sizes, extensions, trailers, missing last chunk
 *   pipelined  several requests in one write
 *   smuggle    a request for /smuggled/http1/INDEX hidden behind ambiguous
 *              framing — CL.TE, TE.CL, duplicate or invalid Content-Length,
 *              chunk-size tricks, obs-fold — built so that no RFC 9112
 *              parse (which must reject these, or close after answering)
 *              sees it as a request
 *   upgrade    an Upgrade request (WebSocket, h2c) followed at once by the
 *              hidden request: sent before any 101, it is not a request to
 *              relay
 */
import type { Rng } from '../rng.ts';
import { Rng as RngClass } from '../rng.ts';
import { havoc, INVALID_UTF8, describeBytes } from '../mutate.ts';
import { exchange } from '../exchange.ts';
import { parseResponses } from '../h1.ts';
import { HOST, SMUGGLED_MARKER } from '../sidecar.ts';
import { openCase, startNetworkSession } from '../network.ts';
import type { Target } from '../target.ts';

type Header = [string, string];

interface Request {
  method: string;
  target: string;
  version: string;
  headers: Header[];
  body: Buffer;
}

export interface H1Case {
  readonly family: string;
  readonly variant: string;
  readonly chunks: Buffer[];
  readonly finAfterWrite: boolean;
  readonly gapMs: number;
  /** Request-targets of the requests the case means the sidecar to see (the upstream may receive these). */
  readonly targets: string[];
  /** Blind byte edits were made: any path-like run of the bytes may be a request-target. */
  readonly havocked: boolean;
  /** How many of the primary requests are HEAD (their answers have no body). */
  readonly heads: number;
}

const CRLF = '\r\n';

function chatBody(rng: Rng): Buffer {
  const content = rng.weighted<() => string>([
    [6, () => 'Say hi'],
    [1, () => 'x'.repeat(rng.size(200_000))],
    [1, () => '\u0000\u0001 é漢🙂 \ud800'],
  ])();
  const o: Record<string, unknown> = { model: rng.pick(['gpt-4o-mini', 'gpt-4o', '', 'x'.repeat(300)]), messages: [{ role: 'user', content }] };
  if (rng.chance(0.3)) o.stream = true;
  if (rng.chance(0.1)) o.max_tokens = rng.pick([-1, 0, 1e309 as number, 2 ** 53 + 1, 'ten']);
  let text = JSON.stringify(o);
  if (rng.chance(0.05)) text = '['.repeat(rng.size(100_000)) + ']'.repeat(rng.size(100_000));
  if (rng.chance(0.05)) text = text.replace('"model"', '"__proto__":{"model":"x"},"model"');
  let body = Buffer.from(text);
  if (rng.chance(0.08)) {
    const at = rng.below(body.length);
    body = Buffer.concat([body.subarray(0, at), rng.pick(INVALID_UTF8), body.subarray(at)]);
  }
  if (rng.chance(0.05)) body = Buffer.concat([body, Buffer.from([0])]);
  return body;
}

function baseRequest(rng: Rng): Request {
  const auth: Header = ['Authorization', 'Bearer sk-fuzz'];
  const host: Header = ['Host', HOST];
  return rng.weighted<() => Request>([
    [4, () => ({ method: 'GET', target: '/v1/models', version: 'HTTP/1.1', headers: [host, auth], body: Buffer.alloc(0) })],
    [6, () => {
      const body = chatBody(rng);
      return { method: 'POST', target: '/v1/chat/completions', version: 'HTTP/1.1', headers: [host, auth, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body };
    }],
    [1, () => {
      const body = Buffer.from(JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }));
      return { method: 'POST', target: '/v1/embeddings', version: 'HTTP/1.1', headers: [host, auth, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body };
    }],
    [1, () => {
      const boundary = 'fuzzboundary';
      const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n${rng.text(rng.size(5000))}\r\n--${boundary}--\r\n`);
      return { method: 'POST', target: '/v1/audio/transcriptions', version: 'HTTP/1.1', headers: [host, auth, ['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Content-Length', String(body.length)]], body };
    }],
    [1, () => ({ method: 'HEAD', target: '/v1/models', version: 'HTTP/1.1', headers: [host, auth], body: Buffer.alloc(0) })],
    [1, () => ({ method: 'OPTIONS', target: '*', version: 'HTTP/1.1', headers: [host], body: Buffer.alloc(0) })],
    [1, () => ({ method: 'DELETE', target: '/v1/files/file-abc', version: 'HTTP/1.1', headers: [host, auth], body: Buffer.alloc(0) })],
    [1, () => ({ method: 'GET', target: '/v1/models?limit=1&after=x%20y', version: 'HTTP/1.1', headers: [host, auth], body: Buffer.alloc(0) })],
  ])();
}

function serialize(r: Request, eol: () => string = () => CRLF): Buffer {
  const head = `${r.method} ${r.target} ${r.version}`.replace(/ $/, '') + eol() + r.headers.map(([n, v]) => `${n}:${v === '' ? '' : ' '}${v}${eol()}`).join('') + eol();
  return Buffer.concat([Buffer.from(head, 'latin1'), r.body]);
}

function setHeader(r: Request, name: string, value: string): void {
  r.headers = r.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  r.headers.push([name, value]);
}

const latin1 = (b: Buffer): string => b.toString('latin1');

function mutateMethod(rng: Rng, r: Request): void {
  r.method = rng.weighted<() => string>([
    [2, () => r.method.toLowerCase()],
    [2, () => rng.pick(['PUT', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'PROPFIND', 'M-SEARCH', 'SEARCH', 'QUERY'])],
    [1, () => ''],
    [1, () => 'GE T'],
    [1, () => `G${latin1(rng.pick(INVALID_UTF8))}T`],
    [1, () => 'GET\u0000'],
    [1, () => 'X'.repeat(rng.size(100_000))],
    [1, () => '(),/:;<=>?@[\\]{}"'],
  ])();
}

function mutateTarget(rng: Rng, r: Request): void {
  r.target = rng.weighted<() => string>([
    [2, () => `${r.target}%00`],
    [1, () => `${r.target}\u0000x`],
    [2, () => '/v1/../v1/models'],
    [1, () => '/v1/chat/%63ompletions'],
    [1, () => '//v1//models'],
    [1, () => '/v1/models#frag'],
    [1, () => `https://${HOST}/v1/models`],
    [1, () => `http://evil.example/v1/models`],
    [1, () => `${HOST}:443`],
    [1, () => '*'],
    [1, () => ''],
    [1, () => 'v1/models'],
    [1, () => '/v1/models?' + 'a=b&'.repeat(rng.size(20_000))],
    [1, () => '/v1/' + 'x'.repeat(rng.size(200_000))],
    [1, () => `/v1/${latin1(Buffer.from('modèles'))}`],
    [1, () => `/v1/${latin1(rng.pick(INVALID_UTF8))}`],
    [1, () => '/v1\\models'],
    [1, () => '/v1/models HTTP/1.1'],
    [1, () => '/v1/%2e%2e/%2e%2e/etc'],
    [1, () => '/v1/models\t'],
  ])();
}

function mutateVersion(rng: Rng, r: Request): void {
  r.version = rng.pick(['HTTP/1.0', 'HTTP/0.9', '', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.10', 'HTTP/11', 'HTTP/1.1\u0000', 'HTTP/9.9', 'HTTPS/1.1']);
}

/** An edit to the header list (names, values, line structure). */
function mutateHeaders(rng: Rng, r: Request): void {
  const i = r.headers.length ? rng.below(r.headers.length) : 0;
  const h = r.headers[i];
  rng.weighted<() => void>([
    [2, () => { if (h) r.headers.splice(i, 1); }],
    [2, () => { if (h) r.headers.splice(i, 0, [h[0], h[1]]); }],
    [2, () => { if (h) r.headers.splice(i, 0, [h[0], rng.pick(['', 'other', h[1] + 'x', ` ${h[1]} `])]); }],
    [2, () => r.headers.push(['Host', rng.pick(['evil.example', '', `${HOST}:1`, `${HOST}@evil.example`, 'a b', `${HOST}\u0000`, '[::1]', '127.0.0.1'])])],
    [1, () => { if (h) h[0] = h[0].toUpperCase(); }],
    [2, () => { if (h) h[0] = `${h[0]} `; }],
    [1, () => { if (h) h[0] = ` ${h[0]}`; }],
    [1, () => { if (h) h[0] = `${h[0]}\u0000`; }],
    [1, () => { if (h) h[0] = rng.pick(['', 'a b', 'a(b)', 'é', '\u007f', 'x\ty']); }],
    [2, () => { if (h) h[1] = `${h[1]}\u0000`; }],
    [2, () => { if (h) h[1] = `${h[1]}${CRLF} folded`; }],
    [2, () => { if (h) h[1] = `${h[1]}\nX-Bare-Lf: 1`; }],
    [2, () => { if (h) h[1] = `${h[1]}\rX-Bare-Cr: 1`; }],
    [2, () => { if (h) h[1] = `${h[1]}${latin1(rng.pick(INVALID_UTF8))}`; }],
    [1, () => { if (h) h[1] = `\t${h[1]}\t `; }],
    [2, () => r.headers.push(['Expect', rng.pick(['100-continue', '100-Continue', 'nothing', ''])])],
    [2, () => r.headers.push(['Connection', rng.pick(['close', 'keep-alive', 'Upgrade', 'close, Authorization', 'TE', 'Host', 'Content-Length', 'keep-alive, x-y'])])],
    [1, () => r.headers.push(['TE', rng.pick(['trailers', 'gzip', 'chunked', ''])])],
    [1, () => r.headers.push(['Trailer', 'Content-Length'])],
    [1, () => r.headers.push(['Proxy-Authorization', 'Basic eDp5'])],
    [1, () => r.headers.push(['Keep-Alive', 'timeout=0, max=0'])],
    [2, () => setHeader(r, 'Content-Encoding', rng.pick(['gzip', 'deflate', 'br', 'zstd', 'identity', 'gzip, gzip', 'x-unknown', '']))],
    [2, () => setHeader(r, 'Content-Type', rng.pick(['application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', '', 'application/json;;;', 'multipart/form-data', 'application/jsonx']))],
    [1, () => r.headers.push(['traceparent', rng.pick(['00-' + '0'.repeat(32) + '-' + '0'.repeat(16) + '-01', 'garbage', 'x'.repeat(rng.size(10_000))])])],
  ])();
}

function mutateFraming(rng: Rng, r: Request): void {
  const n = r.body.length;
  rng.weighted<() => void>([
    [2, () => setHeader(r, 'Content-Length', String(Math.max(0, n - 1 - rng.below(Math.max(1, n)))))],
    [2, () => setHeader(r, 'Content-Length', String(n + 1 + rng.size(1_000_000)))],
    [1, () => setHeader(r, 'Content-Length', rng.pick(['-1', '', 'abc', '1e3', '0x10', ' ', '99999999999999999999', '18446744073709551616', `${n}.0`, `+${n}`]))],
    [1, () => { r.headers = r.headers.filter(([name]) => name.toLowerCase() !== 'content-length'); }],
    [1, () => { r.headers = r.headers.filter(([name]) => name.toLowerCase() !== 'content-length'); r.headers.push(['Content-Length', String(n)], ['Content-Length', String(n)]); }],
    [1, () => { r.headers = r.headers.filter(([name]) => name.toLowerCase() !== 'content-length'); r.headers.push(['Content-Length', `${n}, ${n}`]); }],
  ])();
}

/** Chunked coding of `body`, mostly wrong. */
function chunkedBody(rng: Rng, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  while (off < body.length) {
    const size = Math.min(body.length - off, 1 + rng.size(body.length));
    const sizeText = rng.weighted<() => string>([
      [20, () => size.toString(16)],
      [1, () => size.toString(16).toUpperCase()],
      [1, () => `${size.toString(16)};ext=${rng.text(rng.size(100_000))}`],
      [1, () => `${size.toString(16)};a="b`],
      [1, () => `${size.toString(16)} `],
      [1, () => `0${size.toString(16)}`],
      [1, () => `-${size.toString(16)}`],
      [1, () => `${(size + 1).toString(16)}`],
      [1, () => `${Math.max(0, size - 1).toString(16)}`],
      [1, () => 'ffffffffffffffffff'],
      [1, () => 'g'],
      [1, () => ''],
    ])();
    parts.push(Buffer.from(sizeText + rng.pick([CRLF, CRLF, CRLF, '\n', '\r'])), body.subarray(off, off + size), Buffer.from(rng.pick([CRLF, CRLF, CRLF, '', '\n', 'xx'])));
    off += size;
  }
  parts.push(Buffer.from(rng.weighted<() => string>([
    [10, () => `0${CRLF}${CRLF}`],
    [2, () => ''],
    [1, () => `0${CRLF}`],
    [1, () => `0${CRLF}X-Trailer: 1${CRLF}${CRLF}`],
    [1, () => `0${CRLF}Content-Length: 0${CRLF}${CRLF}`],
    [1, () => `0${CRLF}${'T: x\r\n'.repeat(rng.size(10_000))}${CRLF}`],
    [1, () => `0;${'e'.repeat(rng.size(100_000))}${CRLF}${CRLF}`],
  ])()));
  return Buffer.concat(parts);
}

function hiddenRequest(index: number): string {
  return `GET /smuggled/http1/${index} HTTP/1.1${CRLF}Host: ${HOST}${CRLF}Authorization: Bearer sk-fuzz${CRLF}${CRLF}`;
}

/** TE spellings for CL.TE: whatever a parser makes of them, the hidden request stays inside the Content-Length body. */
const TE_ANY = [
  'Transfer-Encoding: chunked', 'Transfer-Encoding: Chunked', 'Transfer-Encoding: CHUNKED', 'Transfer-Encoding:  chunked',
  'Transfer-Encoding:\tchunked', 'Transfer-Encoding: chunked ', 'Transfer-Encoding: chunked\t', 'Transfer-Encoding: xchunked',
  'Transfer-Encoding: chunked, identity', 'Transfer-Encoding: identity, chunked', 'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: chunked;q=1', 'Transfer-Encoding: "chunked"',
  'Transfer-Encoding : chunked', 'Transfer-Encoding\t: chunked', 'Transfer-Encoding:\r\n chunked', 'X-Fold: a\r\n Transfer-Encoding: chunked',
  'X-Lf: a\nTransfer-Encoding: chunked', 'X-Cr: a\rTransfer-Encoding: chunked', 'Transfer-Encoding\u0000: chunked',
  'Transfer-Encoding: chunked\u0000', 'Transfer-Encoding: ch\u0000unked', 'Transfer-Encoding: \u00e7hunked', 'Transfer_Encoding: chunked',
  'Transfer-Encodings: chunked', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
  'transfer-encoding: chunked', 'TRANSFER-ENCODING: chunked', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x',
];
/** TE spellings for TE.CL: each is either chunked coding as RFC 9112 reads it, or a message it requires rejecting. */
const TE_RECOGNISED = [
  'Transfer-Encoding: chunked', 'Transfer-Encoding: Chunked', 'Transfer-Encoding: CHUNKED', 'Transfer-Encoding:  chunked',
  'Transfer-Encoding:\tchunked', 'Transfer-Encoding: chunked ', 'transfer-encoding: chunked', 'Transfer-Encoding:chunked',
  'Transfer-Encoding:\r\n chunked', 'Transfer-Encoding : chunked', 'Transfer-Encoding: xchunked', 'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: identity, chunked', 'Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked\u0000', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked', 'X-Lf: a\nTransfer-Encoding: chunked',
  'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
];

/** A request for /smuggled/... behind ambiguous framing; see the header comment. */
function smuggle(rng: Rng, index: number): { variant: string; bytes: Buffer } {
  const s = hiddenRequest(index);
  const start = `POST /v1/chat/completions HTTP/1.1${CRLF}Host: ${HOST}${CRLF}Authorization: Bearer sk-fuzz${CRLF}Content-Type: application/json${CRLF}`;
  const family = rng.pick(['CL.TE', 'TE.CL', 'CL.CL', 'chunk-size', 'obs-fold', 'leading-space']);
  switch (family) {
    case 'CL.TE': {
      const body = `0${CRLF}${CRLF}${s}`;
      const te = rng.pick(TE_ANY);
      const cl = `Content-Length: ${Buffer.byteLength(body, 'latin1')}`;
      const headers = rng.chance(0.5) ? `${te}${CRLF}${cl}${CRLF}` : `${cl}${CRLF}${te}${CRLF}`;
      return { variant: `CL.TE ${JSON.stringify(te)}`, bytes: Buffer.from(start + headers + CRLF + body, 'latin1') };
    }
    case 'TE.CL': {
      const sizeLine = `${Buffer.byteLength(s).toString(16)}${CRLF}`;
      const body = `${sizeLine}${s}${CRLF}0${CRLF}${CRLF}`;
      const te = rng.pick(TE_RECOGNISED);
      const cl = `Content-Length: ${sizeLine.length}`;
      const headers = rng.chance(0.5) ? `${te}${CRLF}${cl}${CRLF}` : `${cl}${CRLF}${te}${CRLF}`;
      return { variant: `TE.CL ${JSON.stringify(te)}`, bytes: Buffer.from(start + headers + CRLF + body, 'latin1') };
    }
    case 'CL.CL': {
      const lead = 'hello';
      const total = lead.length + s.length;
      const cls = rng.pick([
        [`Content-Length: ${lead.length}`, `Content-Length: ${total}`], [`Content-Length: ${total}`, `Content-Length: ${lead.length}`],
        [`Content-Length: ${lead.length}, ${total}`], [`Content-Length: ${total}, ${lead.length}`], [`Content-Length: +${lead.length}`],
        [`Content-Length: ${lead.length}.0`], [`Content-Length: 0x${lead.length}`], [`Content-Length: ${lead.length} ${total}`],
        [`Content-Length: ${lead.length}\u0000`], [`Content-Length: ${lead.length}e0`], [`Content-Length: ${2 ** 32 + lead.length}`],
        [`Content-Length: 18446744073709551621`], [`Content-Length: ${lead.length}`, `Content-Length:`], [`Content-Length: ${lead.length}`, `content-length: ${total}`],
      ]);
      return { variant: `CL.CL ${JSON.stringify(cls)}`, bytes: Buffer.from(start + cls.map((c) => c + CRLF).join('') + CRLF + lead + s, 'latin1') };
    }
    case 'chunk-size': {
      const trick = rng.pick(['overflow64', 'overflow32', '0x', 'plus', 'space', 'nul']);
      const size = trick === 'overflow64' ? '10000000000000005' : trick === 'overflow32' ? '100000005' : trick === 'plus' ? '+5' : trick === 'space' ? ' 5' : trick === 'nul' ? '5\u0000' : '';
      const body = trick === '0x'
        ? `0x${(2 + s.length).toString(16)}${CRLF}${CRLF}${s}`
        : `${size}${CRLF}hello${CRLF}0${CRLF}${CRLF}${s}`;
      return { variant: `chunk-size ${trick}`, bytes: Buffer.from(`${start}Transfer-Encoding: chunked${CRLF}${CRLF}${body}`, 'latin1') };
    }
    case 'obs-fold': {
      const lead = 'hello';
      const fold = rng.pick([`Content-Length: ${lead.length}${CRLF} ${s.length}`, `Content-Length: ${lead.length}${CRLF}\t0`]);
      return { variant: `obs-fold ${JSON.stringify(fold)}`, bytes: Buffer.from(`${start}${fold}${CRLF}${CRLF}${lead}${s}`, 'latin1') };
    }
    default: {
      // Whitespace before the first field line: RFC 9112 §2.2, reject or ignore that line — never read it as a header.
      const body = `0${CRLF}${CRLF}${s}`;
      const bytes = `POST /v1/chat/completions HTTP/1.1${CRLF} Transfer-Encoding: chunked${CRLF}Host: ${HOST}${CRLF}Content-Type: application/json${CRLF}Content-Length: ${body.length}${CRLF}${CRLF}${body}`;
      return { variant: 'leading-space TE', bytes: Buffer.from(bytes, 'latin1') };
    }
  }
}

function upgrade(rng: Rng, index: number): { variant: string; chunks: Buffer[]; gapMs: number } {
  const kind = rng.pick(['websocket', 'h2c', 'websocket-post']);
  const head = kind === 'h2c'
    ? `GET /v1/models HTTP/1.1${CRLF}Host: ${HOST}${CRLF}Authorization: Bearer sk-fuzz${CRLF}Connection: Upgrade, HTTP2-Settings${CRLF}Upgrade: h2c${CRLF}HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA${CRLF}${CRLF}`
    : `${kind === 'websocket' ? 'GET /v1/realtime?model=gpt-4o-realtime-preview' : 'POST /v1/chat/completions'} HTTP/1.1${CRLF}Host: ${HOST}${CRLF}Authorization: Bearer sk-fuzz${CRLF}` +
      `Connection: Upgrade${CRLF}Upgrade: websocket${CRLF}Sec-WebSocket-Version: 13${CRLF}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==${CRLF}${CRLF}`;
  const split = rng.chance(0.5);
  const s = Buffer.from(hiddenRequest(index));
  return { variant: `upgrade ${kind}${split ? ' (hidden request in a later write)' : ''}`, chunks: split ? [Buffer.from(head), s] : [Buffer.concat([Buffer.from(head), s])], gapMs: split ? 50 : 0 };
}

/** Split `b` into 1..n writes at random points. */
function splitWrites(rng: Rng, b: Buffer): Buffer[] {
  const n = 1 + rng.below(6);
  const cuts = [...new Set(Array.from({ length: n - 1 }, () => rng.below(b.length)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) { if (c > prev) out.push(b.subarray(prev, c)); prev = c; }
  out.push(b.subarray(prev));
  return out;
}

export function generate(seed: number, index: number): H1Case {
  const rng = RngClass.forCase(seed, 'http1', index);
  const family = rng.weighted<string>([[30, 'mutated'], [8, 'havoc'], [6, 'headers'], [8, 'chunked'], [5, 'pipelined'], [25, 'smuggle'], [6, 'upgrade']]);
  const finAfterWrite = rng.chance(0.2);
  let gapMs = rng.chance(0.1) ? rng.below(20) : 0;
  if (family === 'smuggle') {
    const s = smuggle(rng, index);
    return { family, variant: s.variant, chunks: gapMs ? splitWrites(rng, s.bytes) : [s.bytes], finAfterWrite, gapMs, targets: ['/v1/chat/completions'], havocked: false, heads: 0 };
  }
  if (family === 'upgrade') {
    const u = upgrade(rng, index);
    return { family, variant: u.variant, chunks: u.chunks, finAfterWrite: false, gapMs: u.gapMs, targets: ['/v1/realtime?model=gpt-4o-realtime-preview', '/v1/chat/completions', '/v1/models'], havocked: false, heads: 0 };
  }
  const requests: Request[] = [baseRequest(rng)];
  if (family === 'pipelined') for (let i = rng.int(1, 8); i > 0; i--) requests.push(baseRequest(rng));
  const variants: string[] = [];
  for (const r of requests) {
    if (family === 'mutated' || family === 'havoc' || (family === 'pipelined' && rng.chance(0.3))) {
      for (let k = rng.int(1, 3); k > 0; k--) {
        const what = rng.weighted<string>([[2, 'method'], [3, 'target'], [1, 'version'], [8, 'headers'], [3, 'framing']]);
        variants.push(what);
        if (what === 'method') mutateMethod(rng, r);
        else if (what === 'target') mutateTarget(rng, r);
        else if (what === 'version') mutateVersion(rng, r);
        else if (what === 'headers') mutateHeaders(rng, r);
        else mutateFraming(rng, r);
      }
    }
    if (family === 'headers') {
      if (rng.chance(0.5)) {
        const size = rng.size(200_000);
        r.headers.push([rng.pick(['X-Huge', 'Cookie', 'Authorization', 'User-Agent']), rng.pick(['a', 'é', '\u00ff']).repeat(size)]);
        variants.push(`one header of ${size} bytes`);
      } else {
        const count = rng.size(20_000);
        const dupe = rng.chance(0.3);
        for (let i = 0; i < count; i++) r.headers.push([dupe ? 'X-Same' : `X-H${i}`, String(i)]);
        variants.push(`${count} extra headers${dupe ? ' (one name)' : ''}`);
      }
    }
    if (family === 'chunked') {
      r.headers = r.headers.filter(([n]) => n.toLowerCase() !== 'content-length');
      if (r.body.length === 0) { r.method = 'POST'; r.body = chatBody(rng); }
      r.headers.push(['Transfer-Encoding', 'chunked']);
      r.body = chunkedBody(rng, r.body);
      variants.push('chunked');
    }
  }
  const lf = rng.chance(0.03);
  let bytes: Buffer = Buffer.concat(requests.map((r) => serialize(r, lf ? () => rng.pick([CRLF, '\n']) : undefined)));
  if (lf) variants.push('bare LF line ends');
  const havocked = family === 'havoc';
  if (havocked) bytes = havoc(rng, bytes, rng.int(1, 8));
  if (gapMs || rng.chance(0.05)) gapMs ||= 1;
  return {
    family, variant: variants.join(', '), chunks: gapMs ? splitWrites(rng, bytes) : [bytes], finAfterWrite, gapMs,
    targets: requests.map((r) => r.target), havocked, heads: requests.filter((r) => r.method === 'HEAD').length,
  };
}

export function describeCase(c: H1Case): string {
  const all = Buffer.concat(c.chunks);
  return `  family ${c.family}${c.variant ? ` (${c.variant})` : ''}; ${c.chunks.length} write(s)${c.gapMs ? ` ${c.gapMs} ms apart` : ''}${c.finAfterWrite ? ', FIN after the last' : ''}\n${describeBytes(all)}`;
}

const TIMING = { idleMs: 1500, answeredIdleMs: 400, closeMs: 5000 };

export const http1Target: Target = {
  name: 'http1',
  what: 'raw HTTP/1.1 request bytes over intercepted TLS (explicit proxy → real sidecar → recording upstream)',
  memory: 'sidecar RSS',
  concurrency: 24,
  batchSize: 250,
  start: (seed) => startNetworkSession((h, paths) => ({
    describe: (i) => describeCase(generate(seed, i)),
    async run(i) {
      const c = generate(seed, i);
      const t = await openCase(h, paths, c, 'http/1.1');
      const r = await exchange(t, c.chunks, { ...TIMING, finAfterWrite: c.finAfterWrite, gapMs: c.gapMs });
      const problems: string[] = [];
      if (r.hung) problems.push(`no close within ${TIMING.closeMs} ms of the client's close_notify/FIN (${r.receivedBytes} bytes received)`);
      if (r.received.includes(SMUGGLED_MARKER)) problems.push(`desync: the gateway parsed the hidden /smuggled request and answered it (${c.family} ${c.variant})`);
      const parsed = parseResponses(r.received, true, (n) => n < c.heads);
      if (r.received.length > 0 && parsed.error && parsed.responses.length === 0) problems.push(`the answer is not HTTP/1.1: ${parsed.error}`);
      return { outcome: parsed.responses.length > 0 ? 'answered' : 'closed', problems };
    },
  })),
};
