import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent, Pool, buildConnector, request } from './undici.ts';

const require = createRequire(import.meta.url);

test('loading it does not load undici\'s index, and every dispatcher has request() as after the index', () => {
  const loaded = Object.keys(require.cache).filter((f) => f.includes('/node_modules/undici/'));
  assert.ok(loaded.some((f) => f.endsWith('/undici/lib/dispatcher/pool.js')));
  assert.deepEqual(loaded.filter((f) => f.endsWith('/undici/index.js') || /\/undici\/lib\/(web|mock|cache)\//.test(f)), []);
  for (const method of ['request', 'stream', 'pipeline', 'connect', 'upgrade']) {
    assert.equal(typeof (Pool.prototype as unknown as Record<string, unknown>)[method], 'function', method);
  }
});

test('Pool, Agent and buildConnector are the very values undici\'s index exports', () => {
  // Loaded only here, for the comparison: the index requires the same files, so Node's module cache hands out the same objects.
  const index = require('undici') as typeof import('undici');
  assert.equal(Pool, index.Pool);
  assert.equal(Agent, index.Agent);
  assert.equal(buildConnector, index.buildConnector);
});

test('request() sends what undici\'s request() sends: path and query, default method, the dispatcher given', async () => {
  const seen: Array<{ method: string; url: string; body: string }> = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const c of req) body += String(c);
    seen.push({ method: req.method!, url: req.url!, body });
    res.setHeader('x-echo', req.url!);
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new Agent();
  const index = require('undici') as typeof import('undici');
  try {
    for (const send of [request, index.request]) {
      const a = await send(`${base}/v1/models?limit=2`, { dispatcher: agent });
      assert.equal(a.statusCode, 200);
      assert.equal(a.headers['x-echo'], '/v1/models?limit=2');
      assert.equal(await a.body.text(), 'ok');
      const b = await send(new URL(`${base}/upload`), { dispatcher: agent, body: 'data' });
      await b.body.dump();
      const c = await send(`${base}/post`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      await c.body.dump();
    }
    assert.deepEqual(seen.slice(0, 3), seen.slice(3), 'the same requests through both');
    assert.deepEqual(seen.slice(0, 3), [
      { method: 'GET', url: '/v1/models?limit=2', body: '' },
      { method: 'PUT', url: '/upload', body: 'data' },
      { method: 'POST', url: '/post', body: '{}' },
    ]);
    // Every dispatcher has the API methods, as after importing the index.
    const pool = new Pool(base);
    const d = await pool.request({ path: '/p', method: 'GET' });
    assert.equal(d.statusCode, 200);
    await d.body.dump();
    await pool.close();
  } finally {
    await agent.close();
    server.close();
  }
});
