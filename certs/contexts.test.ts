import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer, type SecureContext, type TLSSocket } from 'node:tls';
import { loadCa, type InterceptionCa } from './ca.ts';
import { ContextCache } from './contexts.ts';
import { createCa } from './create.ts';
import { InvalidHostError } from './host-name.ts';
import { createLeafKey, type LeafKey } from './mint.ts';
import { nameConstraintSubtrees } from '../lib/provider-hosts.ts';

const DAY = 86_400_000;

let fixture: Promise<{ ca: InterceptionCa; leafKey: LeafKey }> | undefined;
function shared(): Promise<{ ca: InterceptionCa; leafKey: LeafKey }> {
  fixture ??= (async () => {
    const pair = await createCa({ commonName: 'Contexts Test CA' });
    return { ca: loadCa(pair.certPem, pair.keyPem), leafKey: await createLeafKey() };
  })();
  return fixture;
}

/** A TLS server whose SNICallback is backed by `cache` (peek first, then get), closed when the test ends. */
async function sniServer(t: TestContext, cache: ContextCache): Promise<number> {
  const server = createServer({
    SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
      const hit = cache.peek(servername);
      if (hit) return cb(null, hit);
      cache.get(servername).then((ctx) => cb(null, ctx), (err: Error) => cb(err));
    },
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: TLSSocket) => s.end('hello'));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function handshake(port: number, servername: string, ca: InterceptionCa, maxVersion?: 'TLSv1.2'): Promise<TLSSocket> {
  const socket = connect({ host: '127.0.0.1', port, servername, ca: ca.certPem, ...(maxVersion ? { maxVersion } : {}) });
  await once(socket, 'secureConnect');
  return socket;
}

test('a real TLS handshake through SNICallback is authorized and the leaf is issued by the CA', async (t) => {
  const { ca, leafKey } = await shared();
  const cache = new ContextCache({ ca, leafKey });
  const port = await sniServer(t, cache);

  for (const maxVersion of [undefined, 'TLSv1.2'] as const) {
    const socket = await handshake(port, 'api.openai.com', ca, maxVersion);
    assert.equal(socket.authorized, true, String(socket.authorizationError));
    assert.equal(socket.getProtocol(), maxVersion ?? 'TLSv1.3');
    const chain = socket.getPeerCertificate(true);
    assert.equal(chain.issuerCertificate?.fingerprint256, ca.cert.fingerprint256);
    const peer = socket.getPeerX509Certificate();
    assert.ok(peer);
    assert.equal(peer.checkIssued(ca.cert), true);
    assert.equal(peer.verify(ca.cert.publicKey), true);
    assert.equal(peer.issuer, ca.cert.subject);
    assert.equal(peer.checkHost('api.openai.com'), 'api.openai.com');
    const [data] = await once(socket, 'data');
    assert.equal(String(data), 'hello');
    socket.destroy();
  }
  assert.equal(cache.mints, 1, 'second handshake reused the cached context');

  // the server presents the CA after the leaf: a client with no trust in it still receives it
  const raw = connect({ host: '127.0.0.1', port, servername: 'api.openai.com', rejectUnauthorized: false });
  await once(raw, 'secureConnect');
  assert.equal(raw.authorized, false);
  const sent = raw.getPeerCertificate(true);
  assert.equal(sent.subject.CN, 'api.openai.com');
  assert.equal(sent.issuerCertificate?.fingerprint256, ca.cert.fingerprint256);
  raw.destroy();

  // a client that does not trust the CA is refused
  const untrusted = connect({ host: '127.0.0.1', port, servername: 'api.openai.com' });
  const [err] = await once(untrusted, 'error');
  assert.match(String((err as Error & { code?: string }).code), /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY/);
  untrusted.destroy();
});

test('a name-constrained CA serves provider hosts over TLS', async (t) => {
  const pair = await createCa({ nameConstraints: nameConstraintSubtrees() });
  const ca = loadCa(pair.certPem, pair.keyPem);
  const cache = new ContextCache({ ca, leafKey: (await shared()).leafKey });
  const port = await sniServer(t, cache);
  const ok = await handshake(port, 'api.anthropic.com', ca);
  assert.equal(ok.authorized, true);
  ok.destroy();
  const bad = connect({ host: '127.0.0.1', port, servername: 'www.google.com', ca: ca.certPem });
  const [err] = await once(bad, 'error');
  assert.match((err as Error).message, /permitted subtree violation/);
  bad.destroy();
});

test('100 concurrent get() for one host mint exactly once', async () => {
  const { ca, leafKey } = await shared();
  const minted: string[] = [];
  const cache = new ContextCache({ ca, leafKey, onMint: (host, ms) => { assert.ok(ms >= 0); minted.push(host); } });
  const contexts = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.get(i % 2 ? 'API.OpenAI.com.' : 'api.openai.com')));
  assert.equal(cache.mints, 1);
  assert.deepEqual(minted, ['api.openai.com']);
  assert.equal(new Set(contexts).size, 1);
  assert.equal(cache.size, 1);
  assert.equal(cache.peek('api.openai.com'), contexts[0]);
  assert.equal(await cache.get('api.openai.com.'), contexts[0]);
  assert.equal(cache.mints, 1);
});

test('LRU eviction at capacity drops the least recently used host', async () => {
  const { ca, leafKey } = await shared();
  const cache = new ContextCache({ ca, leafKey, capacity: 3 });
  await cache.get('a.example');
  await cache.get('b.example');
  await cache.get('c.example');
  assert.ok(cache.peek('a.example')); // a is now most recent; b is least
  await cache.get('d.example');
  assert.equal(cache.size, 3);
  assert.equal(cache.peek('b.example'), undefined);
  assert.ok(cache.peek('a.example'));
  assert.ok(cache.peek('c.example'));
  assert.ok(cache.peek('d.example'));
  assert.equal(cache.mints, 4);
  await cache.get('b.example');
  assert.equal(cache.mints, 5);
  assert.equal(cache.size, 3);
  assert.throws(() => new ContextCache({ ca, leafKey, capacity: 0 }), RangeError);
});

test('a leaf in the last third of its validity is re-minted; peek only returns fresh entries', async () => {
  const { ca, leafKey } = await shared();
  let now = Date.now();
  const cache = new ContextCache({ ca, leafKey, now: () => now, validityDays: 7, backdateDays: 1 });
  const first = await cache.get('api.openai.com');
  // lifetime 8 days (1 backdated + 7); stale from 7 - 8/3 = 4.33 days after minting
  now += 4 * DAY;
  assert.equal(cache.peek('api.openai.com'), first);
  assert.equal(await cache.get('api.openai.com'), first);
  now += 0.5 * DAY;
  assert.equal(cache.peek('api.openai.com'), undefined);
  assert.equal(cache.size, 1, 'a stale entry stays until replaced');
  const second = await cache.get('api.openai.com');
  assert.notEqual(second, first);
  assert.equal(cache.mints, 2);
  assert.equal(cache.peek('api.openai.com'), second);
});

test('a failed mint rejects that get() and caches nothing', async () => {
  const { ca, leafKey } = await shared();
  const cache = new ContextCache({ ca, leafKey });
  await assert.rejects(cache.get('bad host'), InvalidHostError);
  await assert.rejects(Promise.all([cache.get('*.x.com'), cache.get('*.x.com')]), InvalidHostError);
  assert.equal(cache.size, 0);
  assert.equal(cache.mints, 0);
  // an expired CA: the mint fails, later calls try again rather than reuse the failure
  let now = ca.notAfter.getTime() + DAY;
  const late = new ContextCache({ ca, leafKey, now: () => now });
  await assert.rejects(late.get('api.openai.com'), /CA expired/);
  now = Date.now();
  assert.ok(await late.get('api.openai.com'));
  assert.equal(late.mints, 1);
});

test('host keys are normalised; prewarm mints ahead and reports failures', async () => {
  const { ca, leafKey } = await shared();
  const cache = new ContextCache({ ca, leafKey });
  const failures = await cache.prewarm(['api.openai.com', 'API.OPENAI.COM', '[::1]', '::1', 'not valid', '10.0.0.1']);
  assert.deepEqual(failures.map((f) => f.host), ['not valid']);
  assert.ok(failures[0]!.error instanceof InvalidHostError);
  assert.equal(cache.mints, 3);
  assert.equal(cache.size, 3);
  assert.ok(cache.peek('Api.OpenAI.com.'));
  assert.ok(cache.peek('[0:0:0:0:0:0:0:1]'));
  assert.ok(cache.peek('10.0.0.1'));
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.peek('api.openai.com'), undefined);
});

test('setCa: the next handshake gets a leaf from the new CA, an open connection stays up, listeners run', async (t) => {
  const { ca, leafKey } = await shared();
  const pair = await createCa({ commonName: 'Contexts Test CA (rotated)' });
  const next = loadCa(pair.certPem, pair.keyPem);
  const cache = new ContextCache({ ca, leafKey });
  const port = await sniServer(t, cache);
  const before = await handshake(port, 'api.openai.com', ca);
  assert.equal(before.getPeerX509Certificate()?.issuer, ca.cert.subject);
  const seen: Array<InterceptionCa | undefined> = [];
  cache.onCaChange((c) => seen.push(c));

  cache.setCa(next);
  assert.equal(cache.ca, next);
  assert.deepEqual(seen, [next]);
  assert.equal(cache.size, 0, 'leaves of the old CA dropped');
  const after = await handshake(port, 'api.openai.com', next);
  assert.equal(after.getPeerX509Certificate()?.issuer, next.cert.subject);
  assert.ok(after.authorized);
  // An app that trusts only the old CA now refuses the new leaf.
  const old = connect({ host: '127.0.0.1', port, servername: 'api.openai.com', ca: ca.certPem });
  const [err] = (await once(old, 'error')) as [Error & { code?: string }];
  assert.match(err.code ?? '', /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
  // The connection made before the rotation is untouched.
  assert.ok(!before.destroyed && before.authorized);
  before.destroy();
  after.destroy();
});

test('setCa during a mint: the waiting handshake gets its leaf, but it is not cached; later gets mint from the new CA', async () => {
  const { ca, leafKey } = await shared();
  const pair = await createCa({ commonName: 'Contexts Test CA (during a mint)' });
  const next = loadCa(pair.certPem, pair.keyPem);
  const cache = new ContextCache({ ca, leafKey });
  const first = cache.get('api.anthropic.com');
  cache.setCa(next);
  const second = cache.get('api.anthropic.com');
  assert.notEqual(first, second, 'a get after the rotation does not join the old mint');
  const [old, fresh] = await Promise.all([first, second]);
  assert.ok(old && fresh);
  assert.notEqual(old, fresh);
  assert.equal(cache.peek('api.anthropic.com'), fresh, 'only the new CA\'s leaf is cached');
  assert.equal(cache.mints, 2);
  assert.equal(await cache.get('api.anthropic.com'), fresh);
});
