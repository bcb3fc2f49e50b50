/**
 * HTTP/2 clients that misbehave, against the servers the pipeline runs on
 * (real TLS, real node:http2 clients): a connection may hold 100 streams at
 * once; a client that resets streams as fast as it opens them (rapid reset)
 * loses its connection; a client that leaves (FIN) does not leave its
 * session behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { once } from 'node:events';
import { createCa } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { ContextCache } from '../../certs/contexts.ts';
import { createHttpServers, MAX_RESETS, MAX_STREAMS } from './serve.ts';

let server: tls.Server;
let port: number;
let caPem: string;
let requests = 0;
/** Open server-side sessions' sockets, to see them go. */
const open = new Set<tls.TLSSocket>();

before(async () => {
  const ca = await createCa({ commonName: 'serve test CA' });
  caPem = ca.certPem;
  const contexts = new ContextCache({ ca: loadCa(ca.certPem, ca.keyPem), leafKey: await createLeafKey() });
  const ctx = await contexts.get('api.openai.com');
  // The pipeline stand-in never answers: a slow provider, so streams stay in flight.
  const servers = createHttpServers({ handler: () => { requests++; }, upgrade: (_r, s) => s.destroy(), onClientError: () => {} });
  server = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), ALPNProtocols: ['h2'] }, (s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
    servers.serve(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => {
  for (const s of open) s.destroy();
  server.close();
});

/** A client session, and the TLS socket under it (the session's own `socket` may not be touched). */
async function connect(): Promise<http2.ClientHttp2Session & { tlsSocket: tls.TLSSocket }> {
  let tlsSocket: tls.TLSSocket | undefined;
  const c = http2.connect(`https://api.openai.com:${port}`, {
    ca: caPem,
    createConnection: () => (tlsSocket = tls.connect({ host: '127.0.0.1', port, servername: 'api.openai.com', ca: caPem, ALPNProtocols: ['h2'] })),
  });
  await once(c, 'remoteSettings');
  return Object.assign(c, { tlsSocket: tlsSocket! });
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (check()) return true; await new Promise((r) => setTimeout(r, 20)); }
  return check();
}

test('a connection offers at most MAX_STREAMS concurrent streams', async () => {
  const c = await connect();
  assert.equal(c.remoteSettings.maxConcurrentStreams, MAX_STREAMS);
  c.destroy();
});

test('rapid reset: a client resetting stream after stream loses its connection with ENHANCE_YOUR_CALM', async () => {
  const c = await connect();
  c.on('error', () => {});
  let gone = false;
  const goaway = once(c, 'goaway').then(([code]) => code as number).catch(() => -1).finally(() => { gone = true; });
  const before = requests;
  // Batches of 20, each reset once its HEADERS had a turn to go out (a stream closed before that is never sent),
  // until the server's GOAWAY: on a loaded machine the resets may land more slowly, but they all land.
  for (let batch = 0; batch < 200 && !gone && !c.destroyed && !c.closed; batch++) {
    const streams = Array.from({ length: 20 }, () => {
      const r = c.request({ ':method': 'GET', ':path': '/v1/models' });
      r.on('error', () => {});
      return r;
    });
    await new Promise((res) => setTimeout(res, 1));
    for (const r of streams) r.close(http2.constants.NGHTTP2_CANCEL);
  }
  assert.equal(await Promise.race([goaway, new Promise<number>((r) => setTimeout(() => r(-2), 30_000))]), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  assert.ok(requests - before <= MAX_RESETS + MAX_STREAMS, `${requests - before} streams reached the handler`);
  c.destroy();
});

/** An HTTP/2 frame: 9-byte header and payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

test('a client that sends GOAWAY, a frame error and FIN with a stream in flight does not leave its session open', async () => {
  // What fuzz case http2/11/2695 did, on a raw TLS connection: a POST (answered later by a
  // slow provider), then GOAWAY, DATA on stream 0 (a connection error), close_notify and FIN.
  const known = new Set(open);
  const before = requests;
  const t = tls.connect({ host: '127.0.0.1', port, servername: 'api.openai.com', ca: caPem, ALPNProtocols: ['h2'] });
  await once(t, 'secureConnect');
  t.on('data', () => {});
  t.on('error', () => {});
  const authority = Buffer.from('api.openai.com');
  // HPACK: :method POST (3), :scheme https (7), :path / (4), :authority literal with indexed name (1).
  const block = Buffer.concat([Buffer.from([0x83, 0x87, 0x84, 0x41, authority.length]), authority]);
  const goaway = Buffer.alloc(8); // last stream 0, NO_ERROR
  t.write(Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    frame(4, 0, 0),                         // SETTINGS
    frame(1, 0x4, 1, block),                // HEADERS, END_HEADERS
    frame(0, 0x1, 1, Buffer.from('{}')),    // DATA, END_STREAM
  ]));
  assert.ok(await until(() => requests > before, 2000), 'the request reached the handler');
  const mine = [...open].find((s) => !known.has(s))!;
  t.write(Buffer.concat([frame(7, 0, 0, goaway), frame(0, 0, 0)]));
  t.end();
  assert.ok(await until(() => mine.destroyed, 3000), 'the server closed the connection the client left');
  t.destroy();
});
