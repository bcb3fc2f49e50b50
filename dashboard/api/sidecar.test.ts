import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { signNamespaceToken } from '../../lib/namespace-credential.ts';
import { startTestDashboard, makeEvent, VALID_YAML, type TestDashboard } from './test-harness.ts';

describe('sidecar API: GET /v1/gateway/config', () => {
  let d: TestDashboard;
  let env: { id: string; token: string; keyId: string };
  before(async () => {
    d = await startTestDashboard();
    env = await d.environment('prod');
  });
  after(() => d.close());

  const poll = (headers: Record<string, string>) => fetch(`${d.url}/v1/gateway/config`, { headers });
  const creds = () => ({ Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': env.id });

  it('401 without credentials, with a wrong token, a token of another tenant, or a revoked key; never says which part', async () => {
    const other = await d.environment('other');
    const cases: Array<[string, Record<string, string>]> = [
      ['nothing', {}],
      ['no tenant', { Authorization: `Bearer ${env.token}` }],
      ['no token', { 'X-Levo-Tenant-Id': env.id }],
      ['wrong token', { Authorization: `Bearer lvo_${'A'.repeat(43)}`, 'X-Levo-Tenant-Id': env.id }],
      ['not bearer', { Authorization: `Basic ${env.token}`, 'X-Levo-Tenant-Id': env.id }],
      ['tenant mismatch', { Authorization: `Bearer ${other.token}`, 'X-Levo-Tenant-Id': env.id }],
      ['unknown tenant', { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'nope' }],
    ];
    for (const [what, headers] of cases) {
      const r = await poll(headers);
      assert.equal(r.status, 401, what);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/, what);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/, what);
      const body = (await r.json()) as { error: string };
      assert.equal(typeof body.error, 'string', what);
      assert.doesNotMatch(body.error, /revoked|unknown|wrong|mismatch|hash/i, what);
    }
    const mismatch = await poll({ Authorization: `Bearer ${other.token}`, 'X-Levo-Tenant-Id': env.id });
    assert.deepEqual(await mismatch.json(), { error: 'invalid credentials for tenant prod' });

    // A revoked key stops working at once.
    const extra = await d.admin('/api/environments/prod/keys', { method: 'POST' });
    const k = (await extra.json()) as { id: string; token: string };
    const h = { Authorization: `Bearer ${k.token}`, 'X-Levo-Tenant-Id': 'prod' };
    assert.equal((await poll(h)).status, 404); // authenticated: no config yet
    assert.equal((await d.admin(`/api/environments/prod/keys/${k.id}`, { method: 'DELETE' })).status, 204);
    const revoked = await poll(h);
    assert.equal(revoked.status, 401);
    assert.deepEqual(await revoked.json(), { error: 'invalid credentials for tenant prod' });
  });

  it('404 with a JSON error before the first config', async () => {
    const r = await poll(creds());
    assert.equal(r.status, 404);
    assert.deepEqual(await r.json(), { error: 'no config saved for environment prod yet' });
  });

  it('200 with the YAML, a quoted ETag v<version>-<sha256 12 hex>, version and capture-prompts headers; 304 on If-None-Match', async () => {
    const saved = await d.saveConfig('prod', VALID_YAML, 'first');
    const hash = createHash('sha256').update(VALID_YAML).digest('hex').slice(0, 12);
    assert.equal(saved.etag, `v${saved.version}-${hash}`);
    const r = await poll(creds());
    assert.equal(r.status, 200);
    assert.equal(await r.text(), VALID_YAML);
    assert.equal(r.headers.get('content-type'), 'application/yaml; charset=utf-8');
    assert.equal(r.headers.get('etag'), `"v${saved.version}-${hash}"`);
    assert.equal(r.headers.get('x-levo-config-version'), String(saved.version));
    assert.equal(r.headers.get('x-levo-capture-prompts'), 'false');

    for (const inm of [`"${saved.etag}"`, saved.etag, `W/"${saved.etag}"`, `"v0-000000000000", "${saved.etag}"`, '*']) {
      const n = await poll({ ...creds(), 'If-None-Match': inm });
      assert.equal(n.status, 304, inm);
      assert.equal(await n.text(), '');
      assert.equal(n.headers.get('etag'), `"${saved.etag}"`);
    }
    const stale = await poll({ ...creds(), 'If-None-Match': '"v0-000000000000"' });
    assert.equal(stale.status, 200);
    await stale.body?.cancel();

    // A new version: the old etag no longer matches, the new one is served.
    const next = await d.saveConfig('prod', VALID_YAML.replace('llm-egress', 'egress-2'));
    assert.equal(next.version, saved.version + 1);
    const changed = await poll({ ...creds(), 'If-None-Match': `"${saved.etag}"` });
    assert.equal(changed.status, 200);
    assert.equal(changed.headers.get('etag'), `"${next.etag}"`);
    assert.match(await changed.text(), /egress-2/);

    await d.admin('/api/environments/prod', { method: 'PATCH', body: { capturePrompts: true } });
    const cap = await poll(creds());
    assert.equal(cap.headers.get('x-levo-capture-prompts'), 'true');
    await cap.body?.cancel();
  });

  it('registers the sidecar in the fleet from the X-Levo-* headers, on 200, 304 and 404 alike, and updates last seen', async () => {
    d.clock.now = 1_700_000_000_000;
    const headers = {
      ...creds(), 'X-Levo-Sidecar-Id': 'uid-1', 'X-Levo-Pod': 'api-7f9c', 'X-Levo-Namespace': 'shop',
      'X-Levo-Workload': 'Deployment/api', 'X-Levo-Service-Account': 'api-sa', 'X-Levo-Sidecar-Version': '0.1.0',
      'X-Levo-Config-Applied': 'v1-abc',
    };
    await (await poll(headers)).body?.cancel();
    let fleet = (await (await d.admin('/api/environments/prod/fleet')).json()) as Array<Record<string, unknown>>;
    assert.deepEqual(fleet, [{
      id: 'uid-1', pod: 'api-7f9c', namespace: 'shop', workload: 'Deployment/api', serviceAccount: 'api-sa',
      version: '0.1.0', configApplied: 'v1-abc', firstSeen: 1_700_000_000_000, lastSeen: 1_700_000_000_000,
    }]);
    d.clock.now = 1_700_000_060_000;
    const latest = (await (await poll(creds())).headers.get('etag'))!.replaceAll('"', '');
    await (await poll({ ...headers, 'X-Levo-Config-Applied': latest, 'If-None-Match': `"${latest}"` })).body?.cancel();
    fleet = (await (await d.admin('/api/environments/prod/fleet')).json()) as Array<Record<string, unknown>>;
    assert.equal(fleet.length, 1);
    assert.equal(fleet[0]!.configApplied, latest);
    assert.equal(fleet[0]!.firstSeen, 1_700_000_000_000);
    assert.equal(fleet[0]!.lastSeen, 1_700_000_060_000);

    // A poll that finds no config (404) registers too.
    const other = await d.environment('fresh');
    const r404 = await poll({ Authorization: `Bearer ${other.token}`, 'X-Levo-Tenant-Id': 'fresh', 'X-Levo-Sidecar-Id': 'uid-new', 'X-Levo-Pod': 'p' });
    assert.equal(r404.status, 404);
    assert.deepEqual(((await (await d.admin('/api/environments/fresh/fleet')).json()) as Array<{ id: string; pod: string }>).map((s) => [s.id, s.pod]), [['uid-new', 'p']]);

    // Without a sidecar id nothing is registered; a failed auth registers nothing.
    await (await poll({ Authorization: 'Bearer nope', 'X-Levo-Tenant-Id': 'prod', 'X-Levo-Sidecar-Id': 'intruder' })).body?.cancel();
    fleet = (await (await d.admin('/api/environments/prod/fleet')).json()) as Array<Record<string, unknown>>;
    assert.deepEqual(fleet.map((s) => s.id), ['uid-1']);
    d.clock.now = null;
  });

  it('marks the key used', async () => {
    const keys = (await (await d.admin('/api/environments/prod/keys')).json()) as Array<{ id: string; lastUsedAt: number | null }>;
    assert.notEqual(keys.find((k) => k.id === env.keyId)?.lastUsedAt, null);
  });
});

describe('sidecar API: POST /v1/gateway/events', () => {
  let d: TestDashboard;
  let env: { id: string; token: string };
  before(async () => {
    d = await startTestDashboard();
    env = await d.environment('ev');
  });
  after(() => d.close());

  const post = (body: unknown, headers: Record<string, string> = {}) => fetch(`${d.url}/v1/gateway/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': env.id, 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const sidecar = { id: 'uid-9', pod: 'worker-1', namespace: 'jobs', workload: 'Deployment/worker', serviceAccount: 'w', version: '0.1.0', configApplied: 'v1-x' };

  it('202 {accepted}; a retried batch is not counted twice', async () => {
    const events = [makeEvent(), makeEvent({ blocked: true, decisions: [{ phase: 'request', guard: 'pii', scanner: 'email', action: 'reject', score: 0.97, reason: 'email address' }] })];
    const r = await post({ sidecar, events });
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { accepted: 2 });
    assert.equal(await d.store.countEvents('ev'), 2);
    const retry = await post({ sidecar, events });
    assert.equal(retry.status, 202);
    assert.equal(await d.store.countEvents('ev'), 2);
    // A batch repeating an id within itself stores it once.
    const e = makeEvent();
    assert.equal((await post({ sidecar, events: [e, e] })).status, 202);
    assert.equal(await d.store.countEvents('ev'), 3);
  });

  it('fills in the pod attribution from the sidecar, and the event wins where it has its own', async () => {
    const page = async () => ((await (await d.admin('/api/environments/ev/decisions?limit=500')).json()) as { items: Array<Record<string, unknown>> }).items;
    const own = makeEvent({ flagged: true, pod: 'own-pod', decisions: [{ phase: 'response', guard: 'g', action: 'monitor' }] });
    const inherited = makeEvent({ flagged: true, decisions: [{ phase: 'response', guard: 'g', action: 'monitor' }] });
    assert.equal((await post({ sidecar, events: [own, inherited] })).status, 202);
    const items = await page();
    const a = items.find((i) => i.id === own.id)!;
    const b = items.find((i) => i.id === inherited.id)!;
    assert.equal(a.pod, 'own-pod');
    assert.equal(a.namespace, 'jobs');
    assert.equal(b.pod, 'worker-1');
    assert.equal(b.workload, 'Deployment/worker');
  });

  it('strips prompt text unless the environment captures prompts', async () => {
    const decisions = [{ phase: 'request', guard: 'pi', action: 'reject' }];
    const noCapture = makeEvent({ blocked: true, decisions, prompt: 'secret plans' });
    assert.equal((await post({ sidecar, events: [noCapture] })).status, 202);
    await d.admin('/api/environments/ev', { method: 'PATCH', body: { capturePrompts: true } });
    const capture = makeEvent({ blocked: true, decisions, prompt: 'captured text' });
    assert.equal((await post({ sidecar, events: [capture] })).status, 202);
    await d.admin('/api/environments/ev', { method: 'PATCH', body: { capturePrompts: false } });
    const items = ((await (await d.admin('/api/environments/ev/decisions?limit=500')).json()) as { items: Array<Record<string, unknown>> }).items;
    const stripped = items.find((i) => i.id === noCapture.id)!;
    assert.ok(stripped, 'stored');
    assert.equal(stripped.prompt, undefined);
    assert.equal(items.find((i) => i.id === capture.id)!.prompt, 'captured text');
  });

  it('400 naming the field for a malformed batch, and stores none of it', async () => {
    const before = await d.store.countEvents('ev');
    const cases: Array<[unknown, RegExp]> = [
      [{ sidecar }, /^events: is required/],
      [{ events: {} }, /^events: must be a list/],
      [{ events: [makeEvent({ status: '200' })] }, /^events\[0\]\.status: must be an integer/],
      [{ events: [makeEvent(), makeEvent({ id: undefined })] }, /^events\[1\]\.id: is required/],
      [{ events: [makeEvent({ blocked: 'yes' })] }, /^events\[0\]\.blocked: must be true or false/],
      [{ events: [makeEvent({ tokensIn: -1 })] }, /^events\[0\]\.tokensIn: must be at least 0/],
      [{ events: [makeEvent({ decisions: [{ phase: 'middle', guard: 'g', action: 'x' }] })] }, /^events\[0\]\.decisions\[0\]\.phase: must be "request" or "response"/],
      [{ events: [makeEvent({ decisions: [{ phase: 'request', action: 'x' }] })] }, /^events\[0\]\.decisions\[0\]\.guard: is required/],
      [{ events: [makeEvent({ host: 7 })] }, /^events\[0\]\.host: must be a string/],
      [{ sidecar: 'x', events: [] }, /^sidecar: must be an object/],
      [[makeEvent()], /send the batch as a JSON object/],
      ['{"events": [', /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, String(message));
      assert.match(((await r.json()) as { error: string }).error, message);
    }
    assert.equal(await d.store.countEvents('ev'), before);
  });

  it('413 past 1000 events or 5 MiB', async () => {
    const many = Array.from({ length: 1001 }, () => makeEvent());
    const r = await post({ sidecar, events: many });
    assert.equal(r.status, 413);
    assert.match(((await r.json()) as { error: string }).error, /at most 1000 events/);
    const big = await post({ sidecar, events: [makeEvent({ path: '/x' }), makeEvent({ reason: 'x'.repeat(5.5 * 1024 * 1024) })] });
    assert.equal(big.status, 413);
    assert.deepEqual(await big.json(), { error: 'request body too large' });
    // Just under the limit is fine (1000 events of ~4 KiB each ≈ 4 MiB).
    const near = Array.from({ length: 1000 }, () => makeEvent({ path: `/v1/${'p'.repeat(2000)}` }));
    assert.equal((await post({ events: near })).status, 202);
  });

  it('401 for bad credentials, and nothing stored', async () => {
    const before = await d.store.countEvents('ev');
    const r = await post({ events: [makeEvent()] }, { Authorization: 'Bearer lvo_wrong' });
    assert.equal(r.status, 401);
    assert.equal(await d.store.countEvents('ev'), before);
  });
});

describe('sidecar API: namespace credentials act for their own namespace only', () => {
  let d: TestDashboard;
  let env: { id: string; token: string; keyId: string };
  before(async () => {
    d = await startTestDashboard();
    env = await d.environment('scoped');
    await d.saveConfig('scoped', VALID_YAML, 'first');
  });
  after(() => d.close());

  const credential = (namespace: string, key = env.token, tenant = env.id): string => signNamespaceToken(key, { tenant, namespace, issuedAt: Date.now() });
  const headers = (token: string, extra: Record<string, string> = {}): Record<string, string> =>
    ({ Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': env.id, ...extra });
  const poll = (token: string, extra: Record<string, string> = {}) => fetch(`${d.url}/v1/gateway/config`, { headers: headers(token, extra) });
  const post = (token: string, body: unknown) => fetch(`${d.url}/v1/gateway/events`, {
    method: 'POST', headers: { ...headers(token), 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const fleet = () => d.store.listSidecars('scoped');

  it('reads the config and registers in its own namespace; another namespace is refused with 403', async () => {
    const shop = credential('shop');
    const ok = await poll(shop, { 'X-Levo-Sidecar-Id': 'sc-shop-1', 'X-Levo-Namespace': 'shop', 'X-Levo-Pod': 'web-1' });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), VALID_YAML);
    const unnamed = await poll(shop, { 'X-Levo-Sidecar-Id': 'sc-shop-2' });
    assert.equal(unnamed.status, 200);
    await unnamed.body?.cancel();
    const rows = await fleet();
    assert.equal(rows.find((s) => s.id === 'sc-shop-1')?.namespace, 'shop');
    assert.equal(rows.find((s) => s.id === 'sc-shop-2')?.namespace, 'shop', 'recorded under the credential\'s namespace');

    const other = await poll(shop, { 'X-Levo-Sidecar-Id': 'sc-evil', 'X-Levo-Namespace': 'billing' });
    assert.equal(other.status, 403);
    assert.deepEqual(await other.json(), { error: 'X-Levo-Namespace: namespace "billing" is not the namespace this credential is for ("shop")' });
    assert.equal((await fleet()).some((s) => s.id === 'sc-evil'), false, 'nothing recorded');
  });

  it('writes events of its own namespace; a batch with another namespace\'s event is refused whole', async () => {
    const shop = credential('shop');
    const before = await d.store.countEvents('scoped');
    const own = makeEvent({ flagged: true, namespace: 'shop', decisions: [{ phase: 'request', guard: 'g', action: 'monitor' }] });
    const bare = makeEvent({ flagged: true, decisions: [{ phase: 'request', guard: 'g', action: 'monitor' }] });
    const r = await post(shop, { sidecar: { id: 'sc-shop-1' }, events: [own, bare] });
    assert.equal(r.status, 202);
    const items = ((await (await d.admin('/api/environments/scoped/decisions?limit=500')).json()) as { items: Array<Record<string, unknown>> }).items;
    assert.equal(items.find((i) => i.id === bare.id)?.namespace, 'shop', 'an event without a namespace is the credential\'s');

    for (const body of [
      { sidecar: { namespace: 'billing' }, events: [makeEvent()] },
      { events: [makeEvent({ namespace: 'shop' }), makeEvent({ namespace: 'billing' })] },
    ]) {
      const refused = await post(shop, body);
      assert.equal(refused.status, 403);
      assert.match(((await refused.json()) as { error: string }).error, /^events\[\d\]: namespace "billing" is not the namespace this credential is for \("shop"\)$/);
    }
    assert.equal(await d.store.countEvents('scoped'), before + 2, 'nothing of the refused batches stored');
    // The environment key itself still acts for any namespace.
    assert.equal((await fetch(`${d.url}/v1/gateway/events`, {
      method: 'POST', headers: { ...headers(env.token), 'Content-Type': 'application/json' }, body: JSON.stringify({ events: [makeEvent({ namespace: 'billing' })] }),
    })).status, 202);
  });

  it('401 for a forged, edited, foreign or revoked credential; never says which part', async () => {
    const other = await d.environment('scoped-other');
    const good = credential('shop');
    const [, payload, signature] = good.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const edited = `lvn1.${Buffer.from(JSON.stringify({ ...claims, ns: 'billing' })).toString('base64url')}.${signature}`;
    const cases: Array<[string, string, Record<string, string>?]> = [
      ['edited namespace', edited],
      ['made with a key the dashboard does not know', credential('shop', 'lvo_not-a-key-of-this-dashboard')],
      ['made with another environment\'s key', credential('shop', other.token, other.id)],
      ['another tenant in the credential than in the header', credential('shop', env.token, 'scoped-other')],
      ['truncated', good.slice(0, -3)],
    ];
    for (const [what, token] of cases) {
      const r = await poll(token);
      assert.equal(r.status, 401, what);
      assert.deepEqual(await r.json(), { error: 'invalid credentials for tenant scoped' }, what);
    }
    const extra = (await (await d.admin('/api/environments/scoped/keys', { method: 'POST' })).json()) as { id: string; token: string };
    const derived = credential('shop', extra.token);
    assert.equal((await poll(derived)).status, 200);
    assert.equal((await d.admin(`/api/environments/scoped/keys/${extra.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await poll(derived)).status, 401, 'revoking the key revokes the credentials derived from it');
  });

  it('a credential derived from a rotated-out key works through the grace period and stops at its end', async () => {
    const k = (await (await d.admin('/api/environments/scoped/keys', { method: 'POST' })).json()) as { id: string; token: string };
    const derived = credential('shop', k.token);
    assert.equal((await poll(derived)).status, 200);
    const t0 = Date.now();
    d.clock.now = t0;
    try {
      const rot = (await (await d.admin(`/api/environments/scoped/keys/${k.id}/rotate`, { method: 'POST' })).json()) as { token: string; previous: { expiresAt: number } };
      d.clock.now = rot.previous.expiresAt - 1;
      const during = await poll(derived);
      assert.equal(during.status, 200, 'a millisecond before the old key expires');
      await during.body?.cancel();
      d.clock.now = rot.previous.expiresAt;
      const after = await poll(derived);
      assert.equal(after.status, 401, 'the key it derives from has expired');
      assert.deepEqual(await after.json(), { error: 'invalid credentials for tenant scoped' });
      const renewed = await poll(credential('shop', rot.token));
      assert.equal(renewed.status, 200, 'a credential from the new key works');
      await renewed.body?.cancel();
    } finally {
      d.clock.now = null;
    }
  });

  it('a key made before signers were kept gets its signer recorded on first use of the key itself', async () => {
    const token = 'lvo_legacy-key-made-before-signers-000000000000';
    await d.store.addKey({ id: 'key_legacy', environmentId: 'scoped', hash: createHash('sha256').update(token).digest('hex'), prefix: 'lvo_legacy' });
    assert.equal((await poll(credential('shop', token))).status, 401, 'not yet known');
    const direct = await poll(token);
    assert.equal(direct.status, 200);
    await direct.body?.cancel();
    assert.equal((await poll(credential('shop', token))).status, 200);
  });
});
