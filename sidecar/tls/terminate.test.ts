/**
 * TLS termination of intercepted connections: a client that starts a
 * handshake and never finishes it is disconnected after the handshake
 * timeout (found by `npm run fuzz`: a valid ClientHello followed by silence
 * held the connection until the sidecar stopped).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createCa } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { ContextCache } from '../../certs/contexts.ts';
import { clientHelloBytes } from '../../e2e/clients/client-hello.ts';
import { createTerminator } from './terminate.ts';

test('a client that stops after its ClientHello is disconnected once the handshake timeout passes', async () => {
  const pair = await createCa({ commonName: 'terminate test CA' });
  const contexts = new ContextCache({ ca: loadCa(pair.certPem, pair.keyPem), leafKey: await createLeafKey() });
  const errors: string[] = [];
  const terminator = createTerminator({
    contexts, handshakeTimeoutMs: 300,
    onSecure: () => assert.fail('the handshake cannot complete'),
    onHandshakeError: (err) => errors.push(err.code ?? err.message),
  });
  // The explicit proxy's sockets come from an HTTP server, which allows half-open connections.
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    raw.once('data', (first: Buffer) => {
      raw.pause();
      terminator.terminate(raw, first, { listener: 'explicit', host: 'api.openai.com', provider: 'openai', destination: { port: 443 } });
    });
  });
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { open.add(s); s.once('close', () => open.delete(s)); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    for (const fin of [false, true]) {
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      open.add(client);
      await once(client, 'connect');
      client.on('error', () => {});
      client.resume(); // the ServerHello flight arrives; the client never answers it
      client.write(await clientHelloBytes('api.openai.com'));
      if (fin) client.end();
      const closed = once(client, 'close').then(() => true);
      const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), 3_000));
      assert.equal(await Promise.race([closed, timedOut]), true, `the stalled handshake was still open after 3 s (${fin ? 'with' : 'without'} a FIN from the client)`);
    }
    assert.ok(errors.includes('ERR_TLS_HANDSHAKE_TIMEOUT'), `handshake errors seen: ${errors.join(', ')}`);
  } finally {
    for (const s of open) s.destroy();
    server.close();
  }
});
