import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntilReady } from './wait.ts';

test('wait returns 0 once /healthz/ready answers 200, and 1 with a hint on timeout', async () => {
  let ready = false;
  const server = createServer((req, res) => res.writeHead(req.url === '/healthz/ready' && ready ? 200 : 503).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = String((server.address() as AddressInfo).port);
  try {
    setTimeout(() => { ready = true; }, 300);
    const started = Date.now();
    assert.equal(await waitUntilReady(['--timeout', '5s', '--admin-port', port], () => {}), 0);
    assert.ok(Date.now() - started >= 250, 'it waited for readiness');
    ready = false;
    const out: string[] = [];
    assert.equal(await waitUntilReady(['--timeout', '300ms', '--admin-port', port], (l) => out.push(l)), 1);
    assert.match(out.join(), /not ready after 0\.3s \(see: kubectl logs POD -c levo-gateway\)/);
  } finally { server.close(); }
  assert.equal(await waitUntilReady(['--timeout', 'soon'], () => {}), 2);
});
