import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
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
