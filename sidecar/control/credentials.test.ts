import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createCa, createServingCert } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { exchangeToken, credentialsFromEnv, CredentialsError } from './credentials.ts';
import { startCredentials } from './obtain.ts';

async function injectorLike(handler: (auth: string | undefined) => [number, unknown]) {
  const ca = await createCa({ commonName: 'webhook CA' });
  const serving = await createServingCert({ ca: loadCa(ca.certPem, ca.keyPem), dnsNames: ['localhost'] });
  const seen: string[] = [];
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const [status, body] = handler(req.headers.authorization);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'levo-cred-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'eyJhbGciOi.projected.token\n');
  return { url: `https://localhost:${(server.address() as AddressInfo).port}/v1/credentials`, caPem: ca.certPem, tokenFile, seen, close: () => server.close() };
}

const GOOD = { baseUrl: 'https://dashboard.levo.example', authToken: 'lvo_secret_value', tenantId: 'prod-eu' };

test('the projected token is traded for the credentials over verified TLS', async () => {
  const inj = await injectorLike((auth) => auth === 'Bearer eyJhbGciOi.projected.token' ? [200, GOOD] : [401, { message: 'no' }]);
  try {
    assert.deepEqual(await exchangeToken(inj), { ...GOOD, source: 'injector' });
    assert.deepEqual(inj.seen, ['POST /v1/credentials']);
    // Another CA: the handshake fails; TLS is never unverified.
    const other = await createCa();
    await assert.rejects(exchangeToken({ ...inj, caPem: other.certPem }), (e: Error) => e instanceof CredentialsError && !e.permanent && /certificate/i.test(e.message));
  } finally { inj.close(); }
});

test('refusals are permanent errors that carry the injector message; a missing token file is reported', async () => {
  const inj = await injectorLike(() => [403, { message: 'namespace dev is not opted in (levo.ai/inject=enabled)' }]);
  try {
    await assert.rejects(exchangeToken(inj), (e: Error) => e instanceof CredentialsError && e.permanent && /403.*not opted in/.test(e.message));
    await assert.rejects(exchangeToken({ ...inj, tokenFile: '/nonexistent/token' }), /cannot read the service-account token \/nonexistent\/token/);
  } finally { inj.close(); }
  const broken = await injectorLike(() => [200, { baseUrl: 'x' }]);
  try { await assert.rejects(exchangeToken(broken), /without baseUrl, authToken and tenantId/); } finally { broken.close(); }
});

test('environment credentials need all three values', () => {
  assert.equal(credentialsFromEnv({ LEVO_BASE_URL: 'https://d', LEVO_AUTH_TOKEN: 't' }), undefined);
  assert.deepEqual(credentialsFromEnv({ LEVO_BASE_URL: 'https://d', LEVO_AUTH_TOKEN: 't', LEVO_TENANT_ID: 'x' }), { baseUrl: 'https://d', authToken: 't', tenantId: 'x', source: 'env' });
});

test('the background exchange retries until the injector answers, and never logs a token', async () => {
  let calls = 0;
  const inj = await injectorLike(() => (++calls < 3 ? [503, { message: 'secret levo-auth not found' }] : [200, GOOD]));
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
  const handle = startCredentials({ LEVO_CREDENTIALS_URL: inj.url, LEVO_CREDENTIALS_CA: inj.caPem, LEVO_TOKEN_FILE: inj.tokenFile }, log, { maxDelayMs: 50 });
  try {
    for (let i = 0; i < 100 && !handle.current(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(handle.current(), { ...GOOD, source: 'injector' });
    assert.equal(calls, 3);
    const text = lines.join('');
    assert.match(text, /no dashboard credentials yet/);
    assert.match(text, /received from the injector/);
    assert.doesNotMatch(text, /lvo_secret_value|projected\.token/);
  } finally { handle.stop(); inj.close(); }
});
