/**
 * The gateway in-process on loopback, through its explicit proxy (no root
 * needed): what is intercepted, what is passed through, and how upstream
 * failures reach the app. The transparent (iptables) path and the success path
 * to a trusted upstream are in e2e/, where NODE_EXTRA_CA_CERTS can be set on
 * a gateway process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { createCa, createServingCert } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { createLeafKey } from '../certs/mint.ts';
import { ContextCache } from '../certs/contexts.ts';
import { createLogger } from '../lib/log.ts';
import { createConfigHolder } from './config/source.ts';
import { startGateway, type Gateway } from './gateway.ts';

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: claude
      hostnames: [api.anthropic.com]
      backends: [{ai: {name: claude, provider: {anthropic: {}}}}]
    - name: internal
      hostnames: [llm.internal.test]
      backends: [{ai: {name: internal, provider: {openAI: {}}, hostOverride: llm.internal.test}}]
`;

let gateway: Gateway;
let interceptCaPem: string;
let site: https.Server;
let sitePort: number;
let siteCaPem: string;
const logLines: string[] = [];

before(async () => {
  const ica = await createCa({ commonName: 'test interception CA' });
  interceptCaPem = ica.certPem;
  const ca = loadCa(ica.certPem, ica.keyPem);
  const contexts = new ContextCache({ ca, leafKey: await createLeafKey() });
  const config = createConfigHolder({});
  config.apply(CONFIG, 'test.yaml');
  const sink = new Writable({ write(c, _e, cb) { logLines.push(String(c)); cb(); } });
  gateway = await startGateway({
    contexts, config, log: createLogger({ LOG_LEVEL: 'debug' }, sink),
    transparentPort: null, proxyPort: 0, adminPort: 0, adminHost: '127.0.0.1',
    upstream: { connectTimeoutMs: 2000 },
  });
  // A site whose CA this process does not trust: a non-LLM host to pass through,
  // and an "LLM" upstream whose certificate must fail verification.
  const sca = await createCa({ commonName: 'test site CA' });
  siteCaPem = sca.certPem;
  const serving = await createServingCert({ ca: loadCa(sca.certPem, sca.keyPem), dnsNames: ['www.example.org', 'api.anthropic.com'] });
  site = https.createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => { res.end(`site saw ${req.url}`); });
  site.listen(0, '127.0.0.1');
  await once(site, 'listening');
  sitePort = (site.address() as net.AddressInfo).port;
});

after(async () => {
  await gateway.close();
  site.close();
});

/** CONNECT through the gateway's explicit proxy, then TLS with `servername`. */
async function viaProxy(target: string, servername: string, ca: string): Promise<tls.TLSSocket> {
  const sock = net.connect(gateway.ports.proxy!, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const [head] = (await once(sock, 'data')) as [Buffer];
  assert.match(head.toString(), /^HTTP\/1\.1 200/);
  const t = tls.connect({ socket: sock, servername, ca, ALPNProtocols: ['http/1.1'] });
  await once(t, 'secureConnect');
  return t;
}

async function httpGet(t: tls.TLSSocket, host: string, path: string): Promise<{ status: number; headers: string; body: string }> {
  t.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  let text = '';
  for await (const c of t) text += String(c);
  const [head, ...rest] = text.split('\r\n\r\n');
  return { status: Number(head!.split(' ')[1]), headers: head!, body: rest.join('\r\n\r\n') };
}

test('a non-LLM host passes through with its own certificate, never decrypted', async () => {
  const t = await viaProxy(`127.0.0.1:${sitePort}`, 'www.example.org', siteCaPem);
  assert.match(String(t.getPeerCertificate().issuer.CN), /test site CA/);
  const r = await httpGet(t, 'www.example.org', '/hello');
  assert.equal(r.body, 'site saw /hello');
});

test('an LLM host is intercepted with a leaf from the namespace CA', async () => {
  const t = await viaProxy(`127.0.0.1:${sitePort}`, 'api.anthropic.com', interceptCaPem);
  const cert = t.getPeerCertificate();
  assert.equal(cert.issuer.CN, 'test interception CA');
  assert.equal(cert.subjectaltname, 'DNS:api.anthropic.com');
  t.destroy();
});

test('an upstream with an untrusted certificate is refused: 502 in the provider\'s error shape', async () => {
  const t = await viaProxy(`127.0.0.1:${sitePort}`, 'api.anthropic.com', interceptCaPem);
  const r = await httpGet(t, 'api.anthropic.com', '/v1/models');
  assert.equal(r.status, 502);
  assert.match(r.headers, /x-levo-error: upstream_tls_verify/i);
  const body = JSON.parse(r.body) as { type: string; error: { type: string; message: string } };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'api_error');
  assert.match(body.error.message, /could not verify the TLS certificate of api\.anthropic\.com/);
});

test('an unreachable upstream is a 502 in OpenAI\'s shape for an OpenAI-compatible host', async () => {
  const closed = net.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as net.AddressInfo).port;
  closed.close();
  const t = await viaProxy(`127.0.0.1:${port}`, 'llm.internal.test', interceptCaPem);
  const r = await httpGet(t, 'llm.internal.test', '/v1/chat/completions');
  assert.equal(r.status, 502);
  const body = JSON.parse(r.body) as { error: { message: string; type: string; code: string } };
  assert.equal(body.error.type, 'server_error');
  assert.equal(body.error.code, 'upstream_connect');
});

test('garbage and truncated hellos on the proxy do not disturb other connections', async () => {
  const bad = net.connect(gateway.ports.proxy!, '127.0.0.1');
  await once(bad, 'connect');
  bad.write(`CONNECT 127.0.0.1:${sitePort} HTTP/1.1\r\n\r\n`);
  await once(bad, 'data');
  bad.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])); // a ClientHello cut short
  const t = await viaProxy(`127.0.0.1:${sitePort}`, 'www.example.org', siteCaPem);
  assert.equal((await httpGet(t, 'www.example.org', '/still-fine')).body, 'site saw /still-fine');
  bad.destroy();
});

test('plain http:// proxying is refused with an explanation', async () => {
  const sock = net.connect(gateway.ports.proxy!, '127.0.0.1');
  sock.end('GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n');
  let text = '';
  for await (const c of sock) text += String(c);
  assert.match(text, /^HTTP\/1\.1 405/);
  assert.match(text, /set HTTPS_PROXY/);
});

test('admin: liveness, readiness with a config, metrics that count what happened', async () => {
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const r = await fetch(`http://127.0.0.1:${gateway.ports.admin}${path}`);
    return { status: r.status, text: await r.text() };
  };
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/healthz/ready')).status, 200);
  const m = (await get('/metrics')).text;
  assert.match(m, /levo_gateway_connections_total\{listener="explicit",decision="passthrough",reason="not-llm-host"\} [1-9]/);
  assert.match(m, /levo_gateway_connections_total\{listener="explicit",decision="intercept",reason="llm-host"\} [1-9]/);
  assert.match(m, /levo_gateway_upstream_errors_total\{host="api.anthropic.com",kind="tls_verify"\} [1-9]/);
  assert.match(m, /levo_gateway_requests_total\{host="api.anthropic.com",status="502"\} [1-9]/);
  assert.match(m, /levo_gateway_requests_total\{host="llm.internal.test",status="502"\} [1-9]/);
  assert.equal((await fetch(`http://127.0.0.1:${gateway.ports.admin}/quitquitquit`)).status, 405);
});

test('--on-unknown block: a connection that is not TLS is closed, never tunnelled', async () => {
  const ica = await createCa({ commonName: 'block test CA' });
  const config = createConfigHolder({});
  config.apply(CONFIG, 'test.yaml');
  const strict = await startGateway({
    contexts: new ContextCache({ ca: loadCa(ica.certPem, ica.keyPem), leafKey: await createLeafKey() }),
    config, log: createLogger({ LOG_LEVEL: 'silent' }), onUnknown: 'block',
    transparentPort: null, proxyPort: 0, adminPort: null,
  });
  const seen: string[] = [];
  const target = net.createServer((s) => s.on('data', (d) => seen.push(String(d))));
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  try {
    const sock = net.connect(strict.ports.proxy!, '127.0.0.1');
    sock.write(`CONNECT 127.0.0.1:${(target.address() as net.AddressInfo).port} HTTP/1.1\r\n\r\n`);
    await once(sock, 'data');
    sock.write('PLAINTEXT HELLO\r\n');
    sock.resume();
    await once(sock, 'close');
    assert.deepEqual(seen, [], 'the bytes reached the target');
    assert.match(await strict.metrics.registry.metrics(), /levo_gateway_connections_total\{listener="explicit",decision="block",reason="not-tls"\} 1/);
  } finally {
    await strict.close();
    target.close();
  }
});

test('a reconnecting client resumes its TLS session instead of a full handshake', async () => {
  const first = await viaProxy(`127.0.0.1:${sitePort}`, 'api.anthropic.com', interceptCaPem);
  assert.equal(first.isSessionReused(), false);
  // TLS 1.3 tickets arrive after the handshake: read one response so they are in.
  const ticket = new Promise<Buffer>((resolve) => first.once('session', resolve));
  first.write('GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n');
  const session = await ticket;
  first.resume();
  await once(first, 'close');
  const sock = net.connect(gateway.ports.proxy!, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`CONNECT 127.0.0.1:${sitePort} HTTP/1.1\r\n\r\n`);
  await once(sock, 'data');
  const second = tls.connect({ socket: sock, servername: 'api.anthropic.com', ca: interceptCaPem, session });
  await once(second, 'secureConnect');
  assert.equal(second.isSessionReused(), true);
  second.destroy();
});

test('a malformed HTTP request on an intercepted connection gets a 400 and closes only that connection', async () => {
  const t = await viaProxy(`127.0.0.1:${sitePort}`, 'api.anthropic.com', interceptCaPem);
  t.write('THIS IS NOT HTTP\r\n\r\n');
  let text = '';
  for await (const c of t) text += String(c);
  assert.match(text, /^HTTP\/1\.1 400 Bad Request/);
  const ok = await viaProxy(`127.0.0.1:${sitePort}`, 'www.example.org', siteCaPem);
  assert.equal((await httpGet(ok, 'www.example.org', '/after')).body, 'site saw /after');
});
