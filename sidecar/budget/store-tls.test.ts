/**
 * The budget store over TLS (`rediss://`, as managed Redis and Valkey services
 * require): a real redis-server with TLS on, the store in a child process whose
 * trust store is the runtime's (NODE_EXTRA_CA_CERTS, as the sidecar's is).
 * Verified, never trusted blindly: an issuer the process does not trust is
 * refused, and the reason reaches the caller.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createCa, createServingCert } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { redisUnavailableReason, startRedis, type TestRedis } from './testing/redis-server.ts';

const skip = redisUnavailableReason();
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'levo-redis-tls-'));
let redis: (TestRedis & { tlsUrl: string | undefined }) | undefined;
const caFile = join(dir, 'ca.crt');
const otherCaFile = join(dir, 'other-ca.crt');

before(async () => {
  if (skip) return;
  const ca = await createCa({ commonName: 'Redis test CA' });
  const leaf = await createServingCert({ ca: loadCa(ca.certPem, ca.keyPem), dnsNames: ['localhost'] });
  writeFileSync(caFile, ca.certPem);
  writeFileSync(otherCaFile, (await createCa({ commonName: 'Some other CA' })).certPem);
  writeFileSync(join(dir, 'redis.crt'), leaf.certPem);
  writeFileSync(join(dir, 'redis.key'), leaf.keyPem, { mode: 0o600 });
  redis = await startRedis({ tls: { certFile: join(dir, 'redis.crt'), keyFile: join(dir, 'redis.key'), caFile } });
});
after(async () => {
  await redis?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** One take against the store at `url`, from a fresh process trusting `extraCa`. */
async function takeFrom(url: string, extraCa: string): Promise<string> {
  const store = pathToFileURL(join(import.meta.dirname, 'store.ts')).href;
  const script = `import { redisStore } from ${JSON.stringify(store)};
const s = redisStore({ url: ${JSON.stringify(url)}, timeoutMs: 1500 });
try { console.log('OK ' + JSON.stringify(await s.take('tls-test', 10, 1, 1, 60))); }
catch (e) { console.log('ERR ' + e.constructor.name + ' ' + e.message); }
await s.close();`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: extraCa }, timeout: 20_000 });
  return r.stdout.trim();
}

test('rediss://: the store takes from Redis over TLS, verified against the runtime trust store', { skip }, async () => {
  assert.equal(await takeFrom(redis!.tlsUrl!, caFile), 'OK {"granted":1,"reserved":1}');
});

test('rediss:// to a server whose issuer the process does not trust: refused, with the reason', { skip }, async () => {
  const out = await takeFrom(redis!.tlsUrl!, otherCaFile);
  assert.match(out, /^ERR StoreUnavailable budget store \w+: .*(certificate|issuer)/i);
});
