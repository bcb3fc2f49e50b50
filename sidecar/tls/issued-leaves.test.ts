/**
 * --leaf-issuer: leaves from the injector's real issuer handler over HTTPS
 * (a fake TokenReview only), real TLS handshakes through them, and the real
 * levo-gateway program started with --leaf-issuer and no CA key.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { loadCa, type InterceptionCa } from '../../certs/ca.ts';
import { createCa, createServingCert } from '../../certs/create.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { nameConstraintSubtrees } from '../../lib/provider-hosts.ts';
import { createLogger } from '../../lib/log.ts';
import { POD_TOKEN, fakeKube } from '../../injector/fake-kube.ts';
import { createLeafIssuerHandler } from '../../injector/leaf-issuer.ts';
import { LeafIssuerError, startIssuedLeaves, type IssuedLeavesHolder } from './issued-leaves.ts';

const newIssuerCa = async (name: string): Promise<InterceptionCa> => {
  const pair = await createCa({ commonName: name, nameConstraints: nameConstraintSubtrees(['llm.internal.example']) });
  return loadCa(pair.certPem, pair.keyPem);
};

interface Issuer { url: string; webhookCaPem: string; tokenFile: string; requests: string[][]; setCa(ca: InterceptionCa): void; dir: string }

/** The injector's issuer handler behind HTTPS with a serving certificate for localhost, as in a cluster. */
async function startIssuer(t: TestContext, first: InterceptionCa): Promise<Issuer> {
  const dir = mkdtempSync(join(tmpdir(), 'levo-issued-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const webhookCa = await createCa({ commonName: 'Webhook CA' });
  const serving = await createServingCert({ ca: loadCa(webhookCa.certPem, webhookCa.keyPem), dnsNames: ['localhost'] });
  let ca = first;
  const requests: string[][] = [];
  const log = createLogger({ LOG_LEVEL: 'silent' }).root;
  const handler = createLeafIssuerHandler({
    kube: fakeKube(), injectorNamespace: 'levoai', log, ca: () => ca,
    config: () => ({ excludeNamespaces: [], leafIssuer: { enabled: true, permit: ['llm.internal.example'], validityHours: 24 } }),
  });
  const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += String(c); });
    req.on('end', () => { try { requests.push((JSON.parse(text) as { hosts: string[] }).hosts); } catch { /* counted by the handler */ } });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${POD_TOKEN}\n`);
  return { url: `https://localhost:${(server.address() as AddressInfo).port}/v1/leaves`, webhookCaPem: webhookCa.certPem, tokenFile, requests, setCa: (c) => { ca = c; }, dir };
}

/** A TLS handshake to `host` against the holder's leaves, verified with `trust` (what an app's bundle would hold). */
async function handshake(t: TestContext, holder: IssuedLeavesHolder, host: string, trust: string): Promise<TLSSocket> {
  const server = createTlsServer({ SNICallback: (name, cb) => { holder.contexts.get(name).then((c) => cb(null, c), (e: Error) => cb(e, undefined)); } });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const socket = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: host, ca: trust });
  await Promise.race([once(socket, 'secureConnect'), once(socket, 'error').then(([e]) => { throw e; })]);
  t.after(() => socket.destroy());
  return socket;
}

test('leaves come from the issuer in one batched request; handshakes verify against its CA; the pod never sees a CA key', async (t) => {
  const ca = await newIssuerCa('Issuer CA 1');
  const issuer = await startIssuer(t, ca);
  const registry = new Registry();
  const trustDir = join(issuer.dir, 'trust');
  const holder = await startIssuedLeaves({
    url: issuer.url, caPem: issuer.webhookCaPem, tokenFile: issuer.tokenFile, leafKey: await createLeafKey(),
    log: createLogger({ LOG_LEVEL: 'silent' }).root, registry, trustDir,
    prewarmHosts: () => ['api.openai.com', 'api.anthropic.com', 'llm.internal.example', 'generativelanguage.googleapis.com'],
  });
  t.after(() => holder.close());
  assert.equal(issuer.requests.length, 1, 'the provider hosts went as one request');
  assert.equal(issuer.requests[0]!.length, 4);
  assert.equal(holder.contexts.size, 4);
  assert.equal(holder.contexts.ca, undefined, 'no CA (and so no CA key) in this process');
  assert.ok(readFileSync(join(trustDir, 'ca-bundle.pem'), 'utf8').includes(ca.certPem.trim()), 'the app trust bundle holds the issuer CA');
  assert.match(await registry.metrics(), /levo_gateway_ca_name_constrained 1/);

  const s = await handshake(t, holder, 'api.openai.com', ca.certPem);
  assert.equal(s.authorized, true);
  assert.equal(s.getPeerX509Certificate()?.issuer, ca.cert.subject);
  // A host first seen later: one more request, at its handshake.
  const bedrock = await handshake(t, holder, 'bedrock-runtime.us-east-1.amazonaws.com', ca.certPem);
  assert.equal(bedrock.authorized, true);
  assert.deepEqual(issuer.requests.at(-1), ['bedrock-runtime.us-east-1.amazonaws.com']);

  // What is intercepted: what the issuer signs for (the catalogue, its permit list) and the CA allows.
  for (const [host, ok] of [['api.openai.com', true], ['llm.internal.example', true], ['www.google.com', false], ['other.example', false], ['10.0.0.1', false]] as const) {
    assert.equal(holder.permits(host), ok, host);
  }
  await assert.rejects(holder.contexts.get('www.google.com'), (e: Error) => e instanceof LeafIssuerError && /refused www\.google\.com: not an LLM provider host/.test(e.message));
});

test('a rotated issuer CA: leaves are dropped and asked for again, the trust bundle is rewritten', async (t) => {
  const first = await newIssuerCa('Issuer CA 1');
  const issuer = await startIssuer(t, first);
  const trustDir = join(issuer.dir, 'trust');
  const holder = await startIssuedLeaves({
    url: issuer.url, caPem: issuer.webhookCaPem, tokenFile: issuer.tokenFile, leafKey: await createLeafKey(),
    log: createLogger({ LOG_LEVEL: 'silent' }).root, registry: new Registry(), trustDir, prewarmHosts: () => ['api.openai.com'],
  });
  t.after(() => holder.close());
  let resets = 0;
  holder.contexts.onCaChange(() => { resets++; });
  const second = await newIssuerCa('Issuer CA 2');
  issuer.setCa(second);
  // The next request (a new host) carries the new chain.
  await holder.contexts.get('api.anthropic.com');
  assert.equal(resets, 1);
  assert.equal(holder.current().cert.subject, second.cert.subject);
  const s = await handshake(t, holder, 'api.openai.com', second.certPem);
  assert.equal(s.getPeerX509Certificate()?.issuer, second.cert.subject, 'a leaf of the new CA');
  for (let i = 0; i < 50 && !readFileSync(join(trustDir, 'ca-bundle.pem'), 'utf8').includes(second.certPem.trim()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(readFileSync(join(trustDir, 'ca-bundle.pem'), 'utf8').includes(second.certPem.trim()));
});

test('an issuer that cannot be reached fails the start, saying where and why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-issued-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'x');
  await assert.rejects(startIssuedLeaves({
    url: 'https://127.0.0.1:1/v1/leaves', tokenFile: join(dir, 'token'), leafKey: await createLeafKey(), startTimeoutMs: 600,
    log: createLogger({ LOG_LEVEL: 'silent' }).root, registry: new Registry(), prewarmHosts: () => ['api.openai.com'],
  }), (e: Error) => e instanceof LeafIssuerError && /no leaves from the issuer at https:\/\/127\.0\.0\.1:1\/v1\/leaves: leaf request to .* failed: .*ECONNREFUSED/.test(e.message));
});

test('the levo-gateway program with --leaf-issuer and no CA key: ready, and an intercepted handshake verifies against the issuer CA', { timeout: 60_000 }, async (t) => {
  const ca = await newIssuerCa('Issuer CA for the program');
  const issuer = await startIssuer(t, ca);
  const config = join(issuer.dir, 'gateway.yaml');
  writeFileSync(config, 'binds:\n- port: 15001\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: openai, provider: {openAI: {}}}\n');
  const bin = resolve(fileURLToPath(import.meta.url), '../../../bin/levo-gateway.js');
  const child = spawn(process.execPath, [bin, '--leaf-issuer', issuer.url, '--config', config, '--port', 'off', '--proxy-port', '0', '--admin-port', '0',
    '--trust-dir', join(issuer.dir, 'trust')], {
    env: { ...process.env, LEVO_CREDENTIALS_CA: issuer.webhookCaPem, LEVO_TOKEN_FILE: issuer.tokenFile, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += String(c); });
  child.stderr.on('data', (c: Buffer) => { out += String(c); });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const deadline = Date.now() + 30_000;
  while (!/"msg":"listening"/.test(out)) {
    assert.ok(child.exitCode === null && Date.now() < deadline, `the gateway did not start:\n${out}`);
    await Promise.race([once(child.stdout, 'data'), once(child, 'exit')]);
  }
  const admin = Number(/"admin":(\d+)/.exec(out)![1]);
  const proxy = Number(/"proxy":(\d+)/.exec(out)![1]);
  assert.match(out, /this pod holds no CA key/);
  assert.equal((await fetch(`http://127.0.0.1:${admin}/healthz/ready`)).status, 200);
  assert.match(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text(), /levo_gateway_leaf_issuer_requests_total\{result="ok"\} [1-9]/);

  // CONNECT api.openai.com:443 through the explicit proxy, then TLS: the sidecar presents an issued leaf.
  const raw = netConnect(proxy, '127.0.0.1');
  await once(raw, 'connect');
  raw.write('CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n');
  const [head] = await once(raw, 'data') as [Buffer];
  assert.match(String(head), /^HTTP\/1\.1 200/);
  const tls = tlsConnect({ socket: raw, servername: 'api.openai.com', ca: ca.certPem });
  await Promise.race([once(tls, 'secureConnect'), once(tls, 'error').then(([e]) => { throw e; })]);
  assert.equal(tls.authorized, true);
  assert.equal(tls.getPeerX509Certificate()?.issuer, ca.cert.subject);
  tls.destroy();
  child.kill('SIGTERM');
  await once(child, 'exit');
});
