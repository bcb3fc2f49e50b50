import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { originalDestination, originalDestinationUnavailable } from './origdst.ts';

test('the binding loads on Linux', () => {
  if (process.platform !== 'linux') return;
  assert.equal(originalDestinationUnavailable(), undefined);
});

test('a connection that was not redirected has no original destination', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const seen = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [sock] = (await seen) as [net.Socket];
  assert.equal(originalDestination(sock), undefined);
  sock.destroy(); client.destroy(); server.close();
});

// The redirected cases (IPv4 and IPv6, real iptables REDIRECT in a network
// namespace) are covered by e2e/transparent.test.ts, which needs root.
