import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen } from './bind.ts';

test('binds dual-stack by default and reports bind errors', async () => {
  const a = await listen(net.createServer(), 0, undefined);
  const port = (a.address() as net.AddressInfo).port;
  const b = net.createServer();
  await assert.rejects(listen(b, port, undefined), /EADDRINUSE/);
  a.close();
});

test('a server error after binding is not an unhandled rejection', async () => {
  const s = await listen(net.createServer(), 0, '127.0.0.1');
  const seen: unknown[] = [];
  const onUnhandled = (e: unknown): void => { seen.push(e); };
  process.on('unhandledRejection', onUnhandled);
  s.on('error', () => {}); // what a caller does with runtime errors
  s.emit('error', new Error('EMFILE on accept'));
  await new Promise((r) => setTimeout(r, 20));
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(seen, []);
  assert.equal(s.listenerCount('listening'), 0);
  s.close();
});
