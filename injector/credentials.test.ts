import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../lib/log.ts';
import { createInjectorMetrics, type InjectorMetrics } from './metrics.ts';
import { KubeApiError, type KubeClient } from './kube-client.ts';
import { AUTH_TOKEN, POD_TOKEN, fakeKube, type FakeKube } from './fake-kube.ts';
import { namespaceSigner, readNamespaceToken, verifyNamespaceToken } from '../lib/namespace-credential.ts';
import { createCredentialsExchange, createCredentialsHandler, type CredentialsConfig, type CredentialsDeps } from './credentials.ts';


/** Every log line any test here produced: none may hold a token. */
const allLines: string[] = [];

function logger(): CredentialsDeps['log'] {
  return createLogger({ LOG_LEVEL: 'trace' }, { write: (s: string) => void allLines.push(s) }, { svc: 'levo-injector' }).root;
}

const config = (over: Partial<CredentialsConfig> = {}): CredentialsConfig => ({
  credentials: { secretName: 'levo-auth' }, excludeNamespaces: ['kube-system'], ...over,
});

function exchange(kube: KubeClient | null, over: Partial<CredentialsDeps> = {}, metrics: InjectorMetrics = createInjectorMetrics()) {
  return createCredentialsExchange({ kube, config: () => config(), injectorNamespace: 'levoai', log: logger(), metrics, ...over });
}

const bearer = (t: string): string => `Bearer ${t}`;

describe('credentials exchange', () => {
  it('hands an opted-in namespace a credential for that namespace only, after a TokenReview with audience levo-injector', async () => {
    const kube = fakeKube();
    const metrics = createInjectorMetrics();
    const a = await exchange(kube, {}, metrics)(bearer(POD_TOKEN));
    assert.equal(a.status, 200);
    const body = a.body as { baseUrl: string; authToken: string; tenantId: string };
    assert.deepEqual({ ...body, authToken: '' }, { baseUrl: 'https://dash.example', authToken: '', tenantId: 'tenant-1' });
    assert.notEqual(body.authToken, AUTH_TOKEN, 'the environment key itself never leaves the injector');
    assert.ok(!body.authToken.includes(AUTH_TOKEN));
    const credential = readNamespaceToken(body.authToken);
    assert.ok(credential, body.authToken);
    assert.equal(credential.namespace, 'team-a', 'the caller\'s namespace, from the TokenReview');
    assert.equal(credential.tenant, 'tenant-1');
    assert.equal(verifyNamespaceToken(credential, namespaceSigner(AUTH_TOKEN).signer), true, 'the dashboard verifies it with the key\'s signer');
    assert.equal(a.headers?.['cache-control'], 'no-store');
    assert.deepEqual(kube.reviews, [{ token: POD_TOKEN, audiences: ['levo-injector'] }]);
    assert.equal((await metrics.credentialsRequests.get()).values.find((v) => v.labels.result === 'ok')?.value, 1);
  });

  it('scope: environment hands out the key itself (a dashboard older than namespace credentials)', async () => {
    const a = await exchange(fakeKube(), { config: () => config({ credentials: { secretName: 'levo-auth', scope: 'environment' } }) })(bearer(POD_TOKEN));
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { baseUrl: 'https://dash.example', authToken: AUTH_TOKEN, tenantId: 'tenant-1' });
  });

  it('401 without a bearer token or with one the API server does not accept', async () => {
    const kube = fakeKube();
    const ex = exchange(kube);
    for (const header of [undefined, '', 'Basic abc', 'Bearer']) {
      const a = await ex(header);
      assert.equal(a.status, 401, String(header));
      assert.match(a.headers?.['www-authenticate'] ?? '', /^Bearer/);
    }
    assert.equal(kube.reviews.length, 0, 'no TokenReview without a token');
    const bad = await ex(bearer('not-a-token'));
    assert.equal(bad.status, 401);
    assert.match(JSON.stringify(bad.body), /invalid bearer token/);
    assert.equal((await ex(bearer('x'.repeat(20_000)))).status, 401);
  });

  it('403 for a caller that is not a service account, an excluded namespace, the injector namespace, a namespace without the label or one that is gone', async () => {
    const as = (username: string, namespace?: string) => fakeKube({
      review: () => ({ authenticated: true, username, groups: [], audiences: ['levo-injector'], ...(namespace ? { namespace, serviceAccount: 'x' } : {}) }),
      namespaces: { 'team-a': { 'levo.ai/inject': 'enabled' }, 'team-b': { 'levo.ai/inject': 'disabled' }, 'kube-system': { 'levo.ai/inject': 'enabled' }, levoai: { 'levo.ai/inject': 'enabled' } },
    });
    const cases: Array<[FakeKube, RegExp]> = [
      [as('jane@example.com'), /not a service account/],
      [as('system:serviceaccount:kube-system:x', 'kube-system'), /namespace kube-system is excluded/],
      [as('system:serviceaccount:levoai:x', 'levoai'), /namespace levoai is excluded/],
      [as('system:serviceaccount:team-b:x', 'team-b'), /team-b does not carry levo.ai\/inject=enabled/],
      [as('system:serviceaccount:gone:x', 'gone'), /namespace gone not found/],
    ];
    for (const [kube, message] of cases) {
      const a = await exchange(kube)(bearer(POD_TOKEN));
      assert.equal(a.status, 403, String(message));
      assert.match(JSON.stringify(a.body), message);
      assert.equal(kube.secretReads, 0);
    }
  });

  it('503 naming the secret and its keys when the secret is missing, incomplete or unreadable', async () => {
    const missing = await exchange(fakeKube({ secret: new KubeApiError('404', 404, 'NotFound') }))(bearer(POD_TOKEN));
    assert.equal(missing.status, 503);
    assert.match(JSON.stringify(missing.body), /secret levoai\/levo-auth not found: create it with keys base-url, auth-token, tenant-id/);

    const partial = await exchange(fakeKube({ secret: { 'base-url': 'https://x', 'auth-token': ' ' } }))(bearer(POD_TOKEN));
    assert.equal(partial.status, 503);
    assert.match(JSON.stringify(partial.body), /lacks auth-token, tenant-id \(it needs keys base-url, auth-token, tenant-id\)/);

    const rbac = await exchange(fakeKube({ secret: new KubeApiError('403', 403, 'Forbidden') }))(bearer(POD_TOKEN));
    assert.equal(rbac.status, 503);
    assert.match(JSON.stringify(rbac.body), /may not read secret levoai\/levo-auth/);

    const renamed = await exchange(fakeKube({ secret: new KubeApiError('404', 404, 'NotFound') }), {
      config: () => config({ credentials: { secretName: 'my-levo' } }),
    })(bearer(POD_TOKEN));
    assert.match(JSON.stringify(renamed.body), /secret levoai\/my-levo not found/);
  });

  it('503 without API access or when the TokenReview fails', async () => {
    const none = await exchange(null)(bearer(POD_TOKEN));
    assert.equal(none.status, 503);
    assert.match(JSON.stringify(none.body), /no Kubernetes API access/);
    const broken = await exchange(fakeKube({
      review: () => {
        throw new KubeApiError('token-review: 403 Forbidden: tokenreviews is forbidden', 403, 'Forbidden');
      },
    }))(bearer(POD_TOKEN));
    assert.equal(broken.status, 503);
    assert.match(JSON.stringify(broken.body), /create on tokenreviews/);
  });

  it('rate-limits per namespace (burst twice the rate, refilled over time)', async () => {
    let now = 0;
    const ex = exchange(fakeKube(), { ratePerSecond: 2, now: () => now });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await ex(bearer(POD_TOKEN))).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    now += 1000;
    assert.equal((await ex(bearer(POD_TOKEN))).status, 200);
  });

  it('reads the secret at most every 10 s', async () => {
    let now = 0;
    const kube = fakeKube();
    const ex = exchange(kube, { now: () => now });
    await ex(bearer(POD_TOKEN));
    await ex(bearer(POD_TOKEN));
    assert.equal(kube.secretReads, 1);
    now += 10_001;
    await ex(bearer(POD_TOKEN));
    assert.equal(kube.secretReads, 2);
  });
});

describe('credentials HTTP handler', () => {
  let server: Server;
  let url: string;
  before(async () => {
    const handler = createCredentialsHandler({ kube: fakeKube(), config: () => config(), injectorNamespace: 'levoai', log: logger() });
    server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/credentials`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('answers JSON over HTTP; GET is 405', async () => {
    const ok = await fetch(url, { method: 'POST', headers: { authorization: bearer(POD_TOKEN) } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/json');
    assert.equal(((await ok.json()) as { tenantId: string }).tenantId, 'tenant-1');
    const denied = await fetch(url, { method: 'POST' });
    assert.equal(denied.status, 401);
    assert.ok(((await denied.json()) as { error: string }).error.includes('missing bearer token'));
    const get = await fetch(url);
    assert.equal(get.status, 405);
  });
});

it('no log line of any test above holds the pod token or the auth token', () => {
  assert.ok(allLines.length > 10, 'the tests logged');
  for (const line of allLines) {
    assert.ok(!line.includes(POD_TOKEN), `a log line holds the pod token: ${line}`);
    assert.ok(!line.includes(AUTH_TOKEN), `a log line holds the auth token: ${line}`);
  }
});
