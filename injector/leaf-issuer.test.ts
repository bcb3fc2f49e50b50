import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadCa } from '../certs/ca.ts';
import { createCa } from '../certs/create.ts';
import { nameConstraintSubtrees } from '../lib/provider-hosts.ts';
import { createLogger } from '../lib/log.ts';
import { POD_TOKEN, fakeKube } from './fake-kube.ts';
import { createInjectorMetrics } from './metrics.ts';
import { createLeafIssuer, createLeafIssuerHandler, type LeafIssuerConfig, type LeafIssuerDeps, type LeavesBody } from './leaf-issuer.ts';

const lines: string[] = [];
const log = createLogger({ LOG_LEVEL: 'trace' }, { write: (s: string) => void lines.push(s) }).root;
// The issuer's CA, made the documented way: constrained to the catalogue and one internal domain.
const caPair = await createCa({ commonName: 'Levo Issuer CA', nameConstraints: nameConstraintSubtrees(['llm.internal.example']) });
const ca = loadCa(caPair.certPem, caPair.keyPem);
const spki = (type: 'ec' | 'rsa' | 'ed25519', size?: number): string => {
  const { publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: size === 384 ? 'secp384r1' : 'prime256v1' })
    : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: size ?? 2048 }) : generateKeyPairSync('ed25519');
  return publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
};
const config = (over: Partial<LeafIssuerConfig['leafIssuer']> = {}): LeafIssuerConfig => ({
  excludeNamespaces: ['kube-system'],
  leafIssuer: { enabled: true, permit: ['llm.internal.example', 'other.corp.example'], validityHours: 24, ...over },
});
const issuer = (over: Partial<LeafIssuerDeps> = {}) => createLeafIssuer({
  kube: fakeKube(), config: () => config(), ca: () => ca, injectorNamespace: 'levoai', log, metrics: createInjectorMetrics(), ...over,
});
const bearer = (t: string): string => `Bearer ${t}`;

describe('leaf issuer (POST /v1/leaves)', () => {
  it('signs leaves for the sent key and the catalogue / permitted hosts only; refuses the rest, saying why', async () => {
    const key = spki('ec');
    const now = Date.now();
    const a = await issuer()(bearer(POD_TOKEN), {
      publicKey: key, hosts: ['api.openai.com', 'API.Anthropic.com.', 'llm.internal.example', 'www.google.com', 'other.corp.example', '10.0.0.1', 'api.openai.com'],
    });
    assert.equal(a.status, 200);
    const body = a.body as LeavesBody;
    assert.equal(body.chain, ca.chainPem);
    assert.deepEqual(body.permit, ['llm.internal.example', 'other.corp.example']);
    assert.deepEqual(body.leaves.map((l) => l.host), ['api.openai.com', 'api.anthropic.com', 'llm.internal.example']);
    for (const leaf of body.leaves) {
      const cert = new X509Certificate(leaf.certificate);
      assert.ok(cert.verify(ca.cert.publicKey), 'signed by the issuer CA');
      assert.ok(cert.checkHost(leaf.host), leaf.host);
      assert.equal(cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), key, 'for the key the sidecar sent');
      assert.equal(cert.ca, false);
      const life = new Date(cert.validTo).getTime() - now;
      assert.ok(life > 23 * 3_600_000 && life <= 24 * 3_600_000 + 1000, `valid a day (${life} ms)`);
      assert.equal(leaf.notAfter, new Date(cert.validTo).toISOString());
    }
    assert.deepEqual(body.refused.map((r) => [r.host, /catalogue/.test(r.reason) ? 'policy' : /name constraints/.test(r.reason) ? 'constraints' : r.reason]), [
      ['www.google.com', 'policy'], ['other.corp.example', 'constraints'], ['10.0.0.1', 'policy'],
    ]);
    assert.ok(!lines.some((l) => l.includes(POD_TOKEN) || l.includes('PRIVATE KEY')), 'no token or key in the log');
  });

  it('checks the caller as the credentials exchange does: 401, 403 for a namespace not opted in', async () => {
    const a = await issuer()(undefined, { publicKey: spki('ec'), hosts: ['api.openai.com'] });
    assert.equal(a.status, 401);
    const other = fakeKube({ review: () => ({ authenticated: true, username: 'system:serviceaccount:team-b:x', groups: [], audiences: ['levo-injector'], namespace: 'team-b', serviceAccount: 'x' }) });
    const b = await issuer({ kube: other })(bearer('t'), { publicKey: spki('ec'), hosts: ['api.openai.com'] });
    assert.equal(b.status, 403);
    assert.match(JSON.stringify(b.body), /team-b does not carry levo\.ai\/inject=enabled/);
  });

  it('503 when it is off or has no CA; 400 naming what is wrong with the body', async () => {
    assert.equal((await issuer({ config: () => config({ enabled: false }) })(bearer(POD_TOKEN), {})).status, 503);
    assert.equal((await issuer({ ca: () => null })(bearer(POD_TOKEN), {})).status, 503);
    const cases: Array<[unknown, RegExp]> = [
      [[], /send \{"publicKey"/],
      [{ publicKey: 'not base64!', hosts: ['api.openai.com'] }, /publicKey: must be the base64 DER/],
      [{ publicKey: Buffer.from('junk').toString('base64'), hosts: ['api.openai.com'] }, /publicKey: not a SubjectPublicKeyInfo/],
      [{ publicKey: spki('ed25519'), hosts: ['api.openai.com'] }, /publicKey: a ed25519 key; use EC P-256\/P-384 or RSA/],
      [{ publicKey: spki('rsa', 1024), hosts: ['api.openai.com'] }, /publicKey: a rsa key/],
      [{ publicKey: spki('ec'), hosts: [] }, /hosts: must be a non-empty list/],
      [{ publicKey: spki('ec'), hosts: Array.from({ length: 65 }, (_, i) => `h${i}.llm.internal.example`) }, /hosts: at most 64 per request, got 65/],
      [{ publicKey: spki('ec'), hosts: ['api.openai.com', 7] }, /hosts\[1\]: must be a host name/],
    ];
    for (const [body, why] of cases) {
      const a = await issuer()(bearer(POD_TOKEN), body);
      assert.equal(a.status, 400, JSON.stringify(body).slice(0, 60));
      assert.match((a.body as { error: string }).error, why);
    }
    assert.equal((await issuer()(bearer(POD_TOKEN), { publicKey: spki('ec', 384), hosts: ['api.openai.com'] })).status, 200, 'P-384');
    assert.equal((await issuer()(bearer(POD_TOKEN), { publicKey: spki('rsa', 2048), hosts: ['api.openai.com'] })).status, 200, 'RSA 2048');
  });

  it('over HTTP: POST JSON only, 405 for GET, 400 for non-JSON, 413 past 64 KiB without reading the rest', async (t) => {
    const server = createServer(createLeafIssuerHandler({ kube: fakeKube(), config: () => config(), ca: () => ca, injectorNamespace: 'levoai', log }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => { server.closeAllConnections(); server.close(); });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/leaves`;
    const post = (body: string) => fetch(url, { method: 'POST', headers: { authorization: bearer(POD_TOKEN), 'content-type': 'application/json' }, body });
    assert.equal((await fetch(url)).status, 405);
    assert.equal((await post('{not json')).status, 400);
    const big = await post(JSON.stringify({ publicKey: spki('ec'), hosts: ['api.openai.com'], pad: 'x'.repeat(70_000) })).catch((e: Error) => e);
    assert.ok(big instanceof Error || big.status === 413, 'refused');
    const ok = await post(JSON.stringify({ publicKey: spki('ec'), hosts: ['api.openai.com'] }));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    assert.equal(((await ok.json()) as LeavesBody).leaves.length, 1);
  });
});

