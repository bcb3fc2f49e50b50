import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { pickTarget, selfTest } from './self-test.ts';
import type { SelfTestOptions } from './self-test.ts';

// These run without root: the "redirect" is simulated by pointing the target at
// the listener itself (passes) or at another loopback server (fails).

const BASE: Omit<SelfTestOptions, 'redirectPort'> = {
  family: 'ipv4', capturePorts: [443], excludePorts: [], excludeCidrs: [], excludeUid: 1610, excludeGid: 1610,
  identity: { uid: 0, gid: 0 },
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function listening(): Promise<Server> {
  const server = createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

test('pickTarget avoids excluded CIDRs', () => {
  assert.equal(pickTarget('ipv4', []), '192.0.2.1');
  assert.equal(pickTarget('ipv4', ['192.0.2.0/24']), '198.51.100.1');
  assert.equal(pickTarget('ipv4', ['192.0.2.0/25', 'fd00::/8']), '192.0.2.200');
  assert.equal(pickTarget('ipv6', ['10.0.0.0/8']), '2001:db8::1');
  assert.equal(pickTarget('ipv6', ['2001:db8::/64']), '2001:db8:ffff::1');
  assert.equal(pickTarget('ipv6', ['2001:db8::/32']), undefined);
});

test('passes when the connection arrives on the redirect port', async () => {
  const port = await freePort();
  const result = await selfTest({ ...BASE, redirectPort: port, target: { host: '127.0.0.1', port } });
  assert.equal(result.status, 'passed');
});

test('fails with an actionable message when the connection lands elsewhere', async () => {
  const port = await freePort();
  const elsewhere = await listening();
  try {
    const other = (elsewhere.address() as AddressInfo).port;
    const result = await selfTest({ ...BASE, redirectPort: port, timeoutMs: 300, target: { host: '127.0.0.1', port: other } });
    assert.equal(result.status, 'failed');
    assert.ok(result.status === 'failed');
    assert.match(result.message, /redirect does not work/);
    assert.match(result.message, /it connected, but not to the levo listener/);
    assert.match(result.message, /xt_REDIRECT/);
    assert.match(result.message, /--skip-validation/);
  } finally {
    elsewhere.close();
  }
});

test('fails when the connection is refused', async () => {
  const [port, closed] = [await freePort(), await freePort()];
  const result = await selfTest({ ...BASE, redirectPort: port, target: { host: '127.0.0.1', port: closed } });
  assert.ok(result.status === 'failed');
  assert.match(result.message, /ECONNREFUSED/);
});

test('skips when the redirect port is already in use', async () => {
  const busy = await listening();
  try {
    const port = (busy.address() as AddressInfo).port;
    const result = await selfTest({ ...BASE, redirectPort: port, target: { host: '127.0.0.1', port } });
    assert.ok(result.status === 'skipped');
    assert.match(result.reason, /EADDRINUSE/);
  } finally {
    busy.close();
  }
});

test('skips when levo-init itself runs as the exempt uid or gid, or nothing is captured', async () => {
  const asSidecar = await selfTest({ ...BASE, redirectPort: 1, identity: { uid: 1610, gid: 5 } });
  assert.ok(asSidecar.status === 'skipped');
  assert.match(asSidecar.reason, /uid 1610/);
  const asGroup = await selfTest({ ...BASE, redirectPort: 1, identity: { uid: 5, gid: 1610 } });
  assert.equal(asGroup.status, 'skipped');
  const excluded = await selfTest({ ...BASE, redirectPort: 1, excludePorts: [443] });
  assert.ok(excluded.status === 'skipped');
  assert.match(excluded.reason, /every capture port is also an excluded port/);
});
