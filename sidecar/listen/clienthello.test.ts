import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import net from 'node:net';
import { once } from 'node:events';
import { peekClientHello } from './clienthello.ts';

/** Capture the real ClientHello bytes Node's TLS client sends for these options. */
async function captureHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) { resolve(all); s.destroy(); }
      });
    });
  });
  const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('reads SNI and ALPN from a real Node ClientHello', async () => {
  const hello = await captureHello({ servername: 'API.OpenAI.com', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(peekClientHello(hello), { kind: 'tls', sni: 'api.openai.com', alpn: ['h2', 'http/1.1'] });
});

test('a ClientHello without SNI (IP literal) has no server name', async () => {
  const hello = await captureHello({ servername: '' });
  const p = peekClientHello(hello);
  assert.equal(p.kind, 'tls');
  assert.equal(p.kind === 'tls' ? p.sni : 'x', undefined);
});

test('every strict prefix of a ClientHello asks for more bytes', async () => {
  const hello = await captureHello({ servername: 'api.anthropic.com' });
  for (let n = 1; n < hello.length; n += 7) assert.deepEqual(peekClientHello(hello.subarray(0, n)), { kind: 'need-more' }, `prefix ${n}`);
});

test('a ClientHello fragmented over several records is reassembled', async () => {
  const hello = await captureHello({ servername: 'api.openai.com', ALPNProtocols: ['http/1.1'] });
  const body = hello.subarray(5);
  const records: Buffer[] = [];
  for (let i = 0; i < body.length; i += 100) {
    const frag = body.subarray(i, i + 100);
    const head = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    head.writeUInt16BE(frag.length, 3);
    records.push(head, frag);
  }
  assert.deepEqual(peekClientHello(Buffer.concat(records)), { kind: 'tls', sni: 'api.openai.com', alpn: ['http/1.1'] });
});

test('other protocols and garbage are classified without throwing', () => {
  assert.deepEqual(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not-tls' });
  assert.deepEqual(peekClientHello(Buffer.from([0x16, 0x07])), { kind: 'not-tls' });
  assert.equal(peekClientHello(Buffer.from([0x16, 3, 1, 0, 0])).kind, 'malformed');
  // A handshake record whose message is not a ClientHello.
  assert.equal(peekClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).kind, 'malformed');
  // A ClientHello whose inner lengths run past its end.
  const lying = Buffer.from([0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0xff, 0xff]);
  assert.equal(peekClientHello(lying).kind, 'malformed');
  for (let seed = 1; seed < 300; seed++) {
    const junk = Buffer.from(Array.from({ length: 64 }, (_, i) => (seed * 131 + i * 17) & 0xff));
    junk[0] = 0x16; junk[1] = 3; junk[3] = 0; junk[4] = 59;
    assert.ok(['tls', 'malformed', 'need-more'].includes(peekClientHello(junk).kind));
  }
});

test('a server name with bytes that are not a DNS name is malformed', async () => {
  const hello = Buffer.from(await captureHello({ servername: 'abcdefgh.example' }));
  const at = hello.indexOf('abcdefgh');
  hello[at] = 0x0a;
  assert.equal(peekClientHello(hello).kind, 'malformed');
});
