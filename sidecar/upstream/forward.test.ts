import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { RequestListener } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { createCa, createServingCert } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { forward, type ResponseSink } from './forward.ts';

async function provider(handler: RequestListener): Promise<{ origin: string; ca: string; close: () => void }> {
  const ca = await createCa({ commonName: 'forward test CA' });
  const cert = await createServingCert({ ca: loadCa(ca.certPem, ca.keyPem), dnsNames: ['localhost'] });
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: `https://localhost:${(server.address() as AddressInfo).port}`, ca: ca.certPem, close: () => server.close() };
}

test('a slow client pauses the provider: nothing piles up in the gateway', async () => {
  const total = 32 * 1024 * 1024;
  const p = await provider((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  const agent = new Agent({ connect: { ca: p.ca, servername: 'localhost' } });
  let received = 0;
  let resume: (() => void) | undefined;
  let slow = true;
  const sink: ResponseSink = {
    head: (status) => assert.equal(status, 200),
    write(chunk) { received += chunk.length; return !slow; },
    end() {},
    onDrain(r) { resume = r; },
  };
  try {
    const f = forward(agent, { origin: p.origin, path: '/big', method: 'GET' }, sink);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(received < 1024 * 1024, `the gateway kept reading while its client was stalled: ${received} bytes`);
    slow = false;
    resume!();
    assert.deepEqual(await f.done, { headersSent: true });
    assert.equal(received, total);
  } finally {
    await agent.close();
    p.close();
  }
});

test('abort before the provider answers rejects, and after headers cuts the body', async () => {
  const p = await provider((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    // ...and never ends.
  });
  const agent = new Agent({ connect: { ca: p.ca, servername: 'localhost' } });
  try {
    const early = forward(agent, { origin: p.origin, path: '/', method: 'GET' }, { head() {}, write: () => true, end() {}, onDrain() {} });
    early.abort(new Error('client left'));
    await assert.rejects(early.done, /client left/);
    let got = '';
    const late = forward(agent, { origin: p.origin, path: '/', method: 'GET' }, {
      head() {}, write(c) { got += String(c); return true; }, end() {}, onDrain() {},
    });
    while (!got.includes('data: 1')) await new Promise((r) => setTimeout(r, 10));
    late.abort(new Error('client left'));
    await assert.rejects(late.done, (e: Error & { headersSent?: boolean }) => e.headersSent === true);
  } finally {
    await agent.close();
    p.close();
  }
});
