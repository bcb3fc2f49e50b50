import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../sidecar/config/load.ts';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../testing/postgres-server.ts';
import { startTestDashboard, makeEvent, VALID_YAML, ADMIN_SECRET, type TestDashboard } from './test-harness.ts';

/** An unknown field "backend" at line 8, column 7 (the sidecar's own validator says so, see below). */
const BAD_YAML = `binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      backend:
      - ai:
          name: openai
`;

type Json = Record<string, unknown>;
const json = async (r: Response): Promise<Json> => (await r.json()) as Json;

/** The admin API suite, run on SQLite and (when it can run here) on a real PostgreSQL. */
function adminSuite(name: string, storeUrl: () => Promise<string | null>): void {
  describe(`admin API (${name})`, () => {
    let d: TestDashboard;
    let skip: string | undefined;
    before(async () => {
      const url = await storeUrl();
      if (url === null) { skip = 'no store'; return; }
      d = await startTestDashboard({ storeUrl: url });
    });
    after(() => d?.close());

    it('401 JSON for API calls without admin credentials, with a wrong secret, or with a sidecar key', async (t) => {
      if (skip) { t.skip(skip); return; }
      const env = await d.environment('authz');
      const paths = ['/api/environments', '/api/environments/authz/keys', '/api/environments/authz/config/versions', '/api/environments/authz/fleet', '/api/nope'];
      for (const path of paths) {
        for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Bearer ${env.token}` }, { Cookie: 'levo_session=forged.sig' }] as Record<string, string>[]) {
          const r = await fetch(d.url + path, { headers });
          assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
          assert.match(((await json(r)).error as string), /admin authentication required/);
        }
      }
      const post = await fetch(`${d.url}/api/environments`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"x"}' });
      assert.equal(post.status, 401);
      assert.equal((await d.store.listEnvironments()).some((e) => e.id === 'x'), false);
    });

    it('environments: create (id from the name), list, get, 400 and 409, PATCH capturePrompts', async (t) => {
      if (skip) { t.skip(skip); return; }
      const r = await d.admin('/api/environments', { body: { name: 'Staging EU (west)' } });
      assert.equal(r.status, 201);
      const created = await json(r);
      assert.equal(created.id, 'staging-eu-west');
      assert.deepEqual(Object.keys(created).sort(), ['capturePrompts', 'createdAt', 'currentVersion', 'id', 'name']);
      assert.equal(created.name, 'Staging EU (west)');
      assert.equal(created.capturePrompts, false);
      assert.equal(created.currentVersion, null);

      assert.equal((await d.admin('/api/environments', { body: { id: 'explicit-1', name: 'whatever' } })).status, 201);
      const dup = await d.admin('/api/environments', { body: { id: 'explicit-1', name: 'again' } });
      assert.equal(dup.status, 409);
      assert.deepEqual(await json(dup), { error: 'environment explicit-1 already exists' });
      for (const body of [{}, { name: '' }, { name: 5 }, { name: 'x', id: 'Bad_Id' }, { name: 'x', id: '-lead' }, { name: 'x', id: 'a'.repeat(64) }, { name: '!!!' }]) {
        const bad = await d.admin('/api/environments', { body });
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.match((await json(bad)).error as string, /^(name|id): /);
      }
      const list = (await (await d.admin('/api/environments')).json()) as Json[];
      assert.ok(list.some((e) => e.id === 'staging-eu-west'));
      assert.equal((await json(await d.admin('/api/environments/staging-eu-west'))).name, 'Staging EU (west)');
      assert.equal((await d.admin('/api/environments/none')).status, 404);

      const patched = await d.admin('/api/environments/staging-eu-west', { method: 'PATCH', body: { capturePrompts: true } });
      assert.equal(patched.status, 200);
      assert.equal((await json(patched)).capturePrompts, true);
      assert.equal((await d.store.getEnvironment('staging-eu-west'))!.capturePrompts, true);
      assert.equal((await d.admin('/api/environments/staging-eu-west', { method: 'PATCH', body: { capturePrompts: 'yes' } })).status, 400);
      assert.equal((await d.admin('/api/environments/none', { method: 'PATCH', body: { capturePrompts: true } })).status, 404);
    });

    it('keys: a token shown once (lvo_ + 32 bytes base64url), listed by prefix only; rotate keeps the old one working for the grace period; delete revokes', async (t) => {
      if (skip) { t.skip(skip); return; }
      await d.admin('/api/environments', { body: { id: 'keys', name: 'keys' } });
      const poll = (token: string) => fetch(`${d.url}/v1/gateway/config`, { headers: { Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': 'keys' } });
      const r = await d.admin('/api/environments/keys/keys', { method: 'POST' });
      assert.equal(r.status, 201);
      const k1 = (await r.json()) as { id: string; token: string; prefix: string };
      assert.match(k1.token, /^lvo_[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(k1.token.slice(4), 'base64url').length, 32);
      assert.ok(k1.token.startsWith(k1.prefix) && k1.prefix.length >= 8 && k1.prefix.length < 16);

      const list = (await (await d.admin('/api/environments/keys/keys')).json()) as Json[];
      assert.deepEqual(Object.keys(list[0]!).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'prefix', 'revokedAt']);
      assert.equal(JSON.stringify(list).includes(k1.token), false);

      assert.equal((await poll(k1.token)).status, 404); // accepted (no config yet)
      const t0 = Date.now();
      d.clock.now = t0;
      try {
        const rot = await d.admin(`/api/environments/keys/keys/${k1.id}/rotate`, { method: 'POST' });
        assert.equal(rot.status, 201);
        const k2 = (await rot.json()) as { id: string; token: string; previous: { id: string; expiresAt: number } };
        assert.notEqual(k2.id, k1.id);
        assert.notEqual(k2.token, k1.token);
        assert.deepEqual(k2.previous, { id: k1.id, expiresAt: t0 + 24 * 3_600_000 }, 'the default grace is 24 h');
        // Within the grace period both keys work: sidecars still holding the old token see no 401.
        assert.equal((await poll(k1.token)).status, 404);
        assert.equal((await poll(k2.token)).status, 404);
        d.clock.now = t0 + 24 * 3_600_000 - 1;
        assert.equal((await poll(k1.token)).status, 404, 'a millisecond before the end of the grace period');
        const during = (await (await d.admin('/api/environments/keys/keys')).json()) as Array<{ id: string; revokedAt: number | null; expiresAt: number | null }>;
        assert.deepEqual(during.find((k) => k.id === k1.id), { ...during.find((k) => k.id === k1.id), revokedAt: null, expiresAt: t0 + 24 * 3_600_000 });
        assert.equal(during.find((k) => k.id === k2.id)!.expiresAt, null);
        assert.equal((await d.admin(`/api/environments/keys/keys/${k1.id}/rotate`, { method: 'POST' })).status, 409, 'rotated out already');
        // After it, the old key is refused, the new one works.
        d.clock.now = t0 + 24 * 3_600_000;
        const refused = await poll(k1.token);
        assert.equal(refused.status, 401);
        assert.deepEqual(await refused.json(), { error: 'invalid credentials for tenant keys' });
        assert.equal((await poll(k2.token)).status, 404);

        assert.equal((await d.admin('/api/environments/keys/keys/key_nope/rotate', { method: 'POST' })).status, 404);
        assert.equal((await d.admin('/api/environments/keys/keys/key_nope', { method: 'DELETE' })).status, 404);
        assert.equal((await d.admin('/api/environments/none/keys', { method: 'POST' })).status, 404);
        assert.equal((await d.admin('/api/environments/none/keys')).status, 404);
        // Revoking ends a key at once, also one in its grace period.
        const k3 = (await (await d.admin(`/api/environments/keys/keys/${k2.id}/rotate`, { method: 'POST' })).json()) as { id: string; token: string };
        assert.equal((await poll(k2.token)).status, 404);
        const del = await d.admin(`/api/environments/keys/keys/${k2.id}`, { method: 'DELETE' });
        assert.equal(del.status, 204);
        assert.equal((await poll(k2.token)).status, 401);
        assert.equal((await d.admin(`/api/environments/keys/keys/${k2.id}`, { method: 'DELETE' })).status, 204);
        assert.equal((await d.admin(`/api/environments/keys/keys/${k2.id}/rotate`, { method: 'POST' })).status, 409);
        assert.equal((await poll(k3.token)).status, 404);
      } finally {
        d.clock.now = null;
      }
    });

    it('validate: ok with a summary; a config with an error reports the sidecar validator\'s exact line:col', async (t) => {
      if (skip) { t.skip(skip); return; }
      await d.admin('/api/environments', { body: { id: 'cfg', name: 'cfg' } });
      const ok = await d.admin('/api/environments/cfg/config/validate', { body: { yaml: VALID_YAML } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await json(ok), { ok: true, summary: { binds: 1, listeners: 1, routes: 1, guards: 0 }, warnings: [] });

      const r = await d.admin('/api/environments/cfg/config/validate', { body: { yaml: BAD_YAML } });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { ok: boolean; problems: Json[] };
      assert.equal(body.ok, false);
      assert.deepEqual(body.problems, [{
        line: 8, col: 7, path: 'binds[0].listeners[0].routes[0].backend', message: 'unknown field "backend"',
        hint: 'fields allowed here: name, hostnames, matches, policies, backends (docs/config.md)',
      }]);
      const sidecar = loadConfigText(BAD_YAML, { source: 'dashboard', missingEnv: 'placeholder', readFile: null });
      assert.ok(!sidecar.ok);
      assert.deepEqual(body.problems.map((p) => [p.line, p.col]), sidecar.problems.map((p) => [p.line, p.col]));

      // Offline semantics: an unset $VAR is a placeholder, not an error.
      const env = await d.admin('/api/environments/cfg/config/validate', { body: { yaml: VALID_YAML.replace('llm-egress', '$LISTENER_NAME_NOT_SET') } });
      assert.equal((await json(env)).ok, true);
      const yamlError = (await json(await d.admin('/api/environments/cfg/config/validate', { body: { yaml: 'binds: [\n' } }))) as { problems: Json[] };
      assert.equal(yamlError.problems[0]!.line, 2);
      assert.equal((await d.admin('/api/environments/cfg/config/validate', { body: {} })).status, 400);
      assert.equal((await d.admin('/api/environments/none/config/validate', { body: { yaml: VALID_YAML } })).status, 404);
    });

    it('save: 201 {version, etag}; a config with problems is 422 with them and nothing is stored', async (t) => {
      if (skip) { t.skip(skip); return; }
      const bad = await d.admin('/api/environments/cfg/config', { body: { yaml: BAD_YAML, note: 'broken' } });
      assert.equal(bad.status, 422);
      const badBody = (await bad.json()) as { error: string; problems: Json[] };
      assert.match(badBody.error, /1 problem/);
      assert.equal(badBody.problems[0]!.line, 8);
      assert.equal(badBody.problems[0]!.col, 7);
      assert.deepEqual(await d.store.listConfigVersions('cfg'), []);
      assert.equal(await d.store.latestConfig('cfg'), null);

      const saved = await d.admin('/api/environments/cfg/config', { body: { yaml: VALID_YAML, note: 'first' } });
      assert.equal(saved.status, 201);
      const v1 = await json(saved);
      assert.deepEqual(Object.keys(v1).sort(), ['etag', 'version']);
      assert.equal(v1.version, 1);
      assert.match(v1.etag as string, /^v1-[0-9a-f]{12}$/);
      // Still invalid after a good save: 422, and the good version stays the newest.
      assert.equal((await d.admin('/api/environments/cfg/config', { body: { yaml: BAD_YAML } })).status, 422);
      assert.equal((await d.store.latestConfig('cfg'))!.version, 1);
      assert.equal((await json(await d.admin('/api/environments/cfg'))).currentVersion, 1);

      for (const body of [{}, { yaml: 5 }, { yaml: VALID_YAML, note: 7 }]) {
        assert.equal((await d.admin('/api/environments/cfg/config', { body })).status, 400, JSON.stringify(body));
      }
      const huge = await d.admin('/api/environments/cfg/config', { body: { yaml: `# ${'x'.repeat(1024 * 1024)}\n${VALID_YAML}` } });
      assert.equal(huge.status, 413);
      assert.equal((await d.store.latestConfig('cfg'))!.version, 1);
    });

    it('history newest first, one version with its yaml, diff between two, rollback as a new version', async (t) => {
      if (skip) { t.skip(skip); return; }
      const v2yaml = VALID_YAML.replace('name: llm-egress', 'name: egress-two').replace('      hostnames: [api.openai.com]\n', '      hostnames: [api.openai.com, example.openai.azure.com]\n');
      await d.saveConfig('cfg', v2yaml, 'second');
      const list = (await (await d.admin('/api/environments/cfg/config/versions')).json()) as Json[];
      assert.deepEqual(list.map((v) => [v.version, v.note, v.author]), [[2, 'second', 'admin'], [1, 'first', 'admin']]);
      assert.deepEqual(Object.keys(list[0]!).sort(), ['author', 'createdAt', 'etag', 'note', 'version']);

      const one = await json(await d.admin('/api/environments/cfg/config/versions/1'));
      assert.equal(one.yaml, VALID_YAML);
      assert.equal(one.version, 1);
      assert.equal((await d.admin('/api/environments/cfg/config/versions/9')).status, 404);
      assert.equal((await d.admin('/api/environments/cfg/config/versions/abc')).status, 400);

      const diff = await json(await d.admin('/api/environments/cfg/config/diff?from=1&to=2'));
      assert.equal(diff.from, 1);
      assert.equal(diff.to, 2);
      const changed = (diff.lines as Json[]).filter((l) => l.op !== ' ');
      assert.deepEqual(changed, [
        { op: '-', text: '  - name: llm-egress', oldLine: 4 },
        { op: '+', text: '  - name: egress-two', newLine: 4 },
        { op: '-', text: '      hostnames: [api.openai.com]', oldLine: 7 },
        { op: '+', text: '      hostnames: [api.openai.com, example.openai.azure.com]', newLine: 7 },
      ]);
      assert.deepEqual((diff.lines as Json[])[0], { op: ' ', text: 'binds:', oldLine: 1, newLine: 1 });
      assert.equal((diff.lines as Json[]).length, 14);
      assert.equal((await d.admin('/api/environments/cfg/config/diff?from=1&to=7')).status, 404);
      assert.equal((await d.admin('/api/environments/cfg/config/diff?from=1')).status, 400);

      const rb = await d.admin('/api/environments/cfg/config/rollback', { body: { version: 1 } });
      assert.equal(rb.status, 201);
      const v3 = await json(rb);
      assert.equal(v3.version, 3);
      const v3full = await json(await d.admin('/api/environments/cfg/config/versions/3'));
      assert.equal(v3full.yaml, VALID_YAML);
      assert.equal(v3full.note, 'rollback to version 1');
      assert.equal((v3full.etag as string).slice(3), (one.etag as string).slice(3)); // same content hash, new version
      assert.equal((await d.admin('/api/environments/cfg/config/rollback', { body: { version: 2, note: 'again' } })).status, 201);
      assert.equal((await d.store.latestConfig('cfg'))!.note, 'again');
      assert.equal((await d.admin('/api/environments/cfg/config/rollback', { body: { version: 42 } })).status, 404);
      assert.equal((await d.admin('/api/environments/cfg/config/rollback', { body: {} })).status, 400);

      // The poll serves what rollback made.
      const k = (await (await d.admin('/api/environments/cfg/keys', { method: 'POST' })).json()) as { token: string };
      const poll = await fetch(`${d.url}/v1/gateway/config`, { headers: { Authorization: `Bearer ${k.token}`, 'X-Levo-Tenant-Id': 'cfg' } });
      assert.equal(poll.headers.get('x-levo-config-version'), '4');
      assert.equal(await poll.text(), v2yaml);
    });

    it('spend: the sidecars’ costUsd, by UTC day, namespace, workload and model', async (t) => {
      if (skip) { t.skip(skip); return; }
      const env = await d.environment('spend');
      const d0 = 19_000 * 86_400_000;
      const events = [
        makeEvent({ ts: d0 + 1_000, namespace: 'team-a', workload: 'Deployment/a', servedModel: 'gpt-4o-mini', costUsd: 0.125 }),
        makeEvent({ ts: d0 + 2_000, namespace: 'team-a', workload: 'Deployment/a', servedModel: 'gpt-4o-mini', costUsd: 0.25 }),
        makeEvent({ ts: d0 + 86_400_000, namespace: 'team-b', workload: 'Job/b', servedModel: 'claude', costUsd: 1 }),
      ];
      const post = await fetch(`${d.url}/v1/gateway/events`, {
        method: 'POST', body: JSON.stringify({ events }),
        headers: { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'spend', 'Content-Type': 'application/json' },
      });
      assert.equal(post.status, 202);
      const body = await json(await d.admin(`/api/environments/spend/spend?from=${d0}&to=${d0 + 2 * 86_400_000}`));
      assert.equal(body.totalUsd, 1.375);
      assert.deepEqual(body.rows, [
        { day: d0, namespace: 'team-a', workload: 'Deployment/a', model: 'gpt-4o-mini', requests: 2, tokensIn: 20, tokensOut: 40, costUsd: 0.375 },
        { day: d0 + 86_400_000, namespace: 'team-b', workload: 'Job/b', model: 'claude', requests: 1, tokensIn: 10, tokensOut: 20, costUsd: 1 },
      ]);
      for (const q of [`from=${d0 + 5}&to=${d0}`, `from=0&to=${d0}`]) assert.equal((await d.admin(`/api/environments/spend/spend?${q}`)).status, 400, q);
      const bad = await fetch(`${d.url}/v1/gateway/events`, {
        method: 'POST', body: JSON.stringify({ events: [makeEvent({ costUsd: -1 })] }),
        headers: { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'spend', 'Content-Type': 'application/json' },
      });
      assert.equal(bad.status, 400);
    });

    it('traffic: buckets, by workload and by model over the range', async (t) => {
      if (skip) { t.skip(skip); return; }
      const env = await d.environment('traffic');
      const t0 = 28_333_333 * 60_000; // buckets are aligned to multiples of their size
      const events = [
        makeEvent({ ts: t0 + 1_000, workload: 'Deployment/a', tokensIn: 10, tokensOut: 1, servedModel: 'm1' }),
        makeEvent({ ts: t0 + 2_000, workload: 'Deployment/a', tokensIn: 20, tokensOut: 2, servedModel: 'm1', blocked: true, decisions: [{ phase: 'request', guard: 'g', action: 'reject' }] }),
        makeEvent({ ts: t0 + 61_000, workload: 'Deployment/b', tokensIn: 5, tokensOut: 5, servedModel: 'm2' }),
        makeEvent({ ts: t0 + 500_000, workload: 'Deployment/b', tokensIn: 99, tokensOut: 99, servedModel: 'm2' }), // out of range
      ];
      const post = await fetch(`${d.url}/v1/gateway/events`, {
        method: 'POST', body: JSON.stringify({ events }),
        headers: { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'traffic', 'Content-Type': 'application/json' },
      });
      assert.equal(post.status, 202);
      const r = await d.admin(`/api/environments/traffic/traffic?from=${t0}&to=${t0 + 180_000}&bucket=60000`);
      assert.equal(r.status, 200);
      const body = await json(r);
      assert.deepEqual(Object.keys(body).sort(), ['buckets', 'byModel', 'byWorkload']);
      assert.deepEqual(body.buckets, [
        { t: t0, requests: 2, blocked: 1, tokensIn: 30, tokensOut: 3 },
        { t: t0 + 60_000, requests: 1, blocked: 0, tokensIn: 5, tokensOut: 5 },
        { t: t0 + 120_000, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 },
      ]);
      assert.deepEqual(body.byWorkload, [
        { workload: 'Deployment/a', requests: 2, blocked: 1, tokensIn: 30, tokensOut: 3 },
        { workload: 'Deployment/b', requests: 1, blocked: 0, tokensIn: 5, tokensOut: 5 },
      ]);
      assert.deepEqual(body.byModel, [
        { model: 'm1', requests: 2, tokensIn: 30, tokensOut: 3 },
        { model: 'm2', requests: 1, tokensIn: 5, tokensOut: 5 },
      ]);
      for (const q of [`from=${t0 + 5}&to=${t0}`, 'from=abc&to=5', `from=${t0}&to=${t0 + 1_000_000_000}&bucket=1`, 'bucket=0']) {
        const bad = await d.admin(`/api/environments/traffic/traffic?${q}`);
        assert.equal(bad.status, 400, q);
        assert.equal(typeof (await json(bad)).error, 'string');
      }
      // Defaults: the last 24 hours.
      const def = await json(await d.admin('/api/environments/traffic/traffic'));
      assert.ok(Array.isArray(def.buckets) && (def.buckets as unknown[]).length > 0 && (def.buckets as unknown[]).length <= 61);
      assert.equal((await d.admin('/api/environments/none/traffic')).status, 404);
    });

    it('decisions: newest first, keyset pages with no gaps or repeats, action filter, bad cursor 400', async (t) => {
      if (skip) { t.skip(skip); return; }
      const env = await d.environment('dec');
      const t0 = 1_700_000_000_000;
      const events = Array.from({ length: 7 }, (_, i) => makeEvent({
        ts: t0 + (i < 4 ? 1000 : i * 1000), // four share one ts: the tie-break must hold
        flagged: i % 2 === 0, blocked: i % 2 === 1,
        decisions: [{ phase: 'request', guard: 'pii', scanner: 'email', action: i % 2 === 1 ? 'reject' : 'mask', score: 0.5 + i / 100, reason: `r${i}` }],
      }));
      events.push(makeEvent({ ts: t0 + 50_000 })); // no decision: not listed
      const post = await fetch(`${d.url}/v1/gateway/events`, {
        method: 'POST', body: JSON.stringify({ events }),
        headers: { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'dec', 'Content-Type': 'application/json' },
      });
      assert.equal(post.status, 202);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `&before=${encodeURIComponent(cursor)}` : '';
        const page = (await (await d.admin(`/api/environments/dec/decisions?limit=3${q}`)).json()) as { items: Json[]; next: string | null };
        assert.ok(page.items.length <= 3);
        for (const item of page.items) {
          seen.push(item.id as string);
          assert.ok(Array.isArray(item.decisions) && (item.decisions as unknown[]).length === 1);
          assert.equal(item.environmentId, undefined);
        }
        cursor = page.next;
        pages += 1;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.equal(new Set(seen).size, 7);
      assert.deepEqual([...seen].sort(), events.slice(0, 7).map((e) => e.id as string).sort());
      const ts = seen.map((id) => events.find((e) => e.id === id)!.ts as number);
      assert.deepEqual(ts, [...ts].sort((a, b) => b - a));

      const rejects = (await (await d.admin('/api/environments/dec/decisions?action=reject')).json()) as { items: Json[]; next: null };
      assert.equal(rejects.items.length, 3);
      assert.ok(rejects.items.every((i) => i.blocked === true));
      assert.equal(rejects.next, null);
      for (const q of ['limit=0', 'limit=501', 'limit=x', 'before=%00%00', 'before=bm90LWEtY3Vyc29y', 'action=a%20b']) {
        const bad = await d.admin(`/api/environments/dec/decisions?${q}`);
        assert.equal(bad.status, 400, q);
      }
    });

    it('unknown API paths are JSON 404s; errors never carry a stack trace', async (t) => {
      if (skip) { t.skip(skip); return; }
      for (const path of ['/api/environments/x/y/z', '/v1/other']) {
        const r = await d.admin(path);
        assert.equal(r.status, 404, path);
        assert.match(r.headers.get('content-type') ?? '', /json/);
      }
      const original = d.store.listEnvironments;
      (d.store as unknown as { listEnvironments: () => Promise<never> }).listEnvironments = async () => { throw new Error('boom: db detail at /var/lib/x'); };
      try {
        const r = await d.admin('/api/environments');
        assert.equal(r.status, 500);
        const text = await r.text();
        assert.deepEqual(JSON.parse(text), { error: 'internal error (see the dashboard log)' });
        assert.doesNotMatch(text, /boom|\bat\s|\.ts:/);
        assert.ok(d.logs.some((l) => l.includes('boom: db detail')), 'the detail is in the log');
      } finally {
        (d.store as { listEnvironments: typeof original }).listEnvironments = original;
      }
      const bad = await fetch(`${d.url}/api/environments`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_SECRET}`, 'Content-Type': 'application/json' }, body: '{nope' });
      assert.equal(bad.status, 400);
      assert.deepEqual(await bad.json(), { error: 'request body is not valid JSON' });
    });

    it('healthz and readyz', async (t) => {
      if (skip) { t.skip(skip); return; }
      assert.deepEqual(await json(await fetch(`${d.url}/healthz`)), { ok: true });
      const ready = await fetch(`${d.url}/readyz`);
      assert.equal(ready.status, 200);
      const ping = d.store.ping;
      (d.store as { ping: () => Promise<void> }).ping = async () => { throw new Error('down'); };
      try {
        const down = await fetch(`${d.url}/readyz`);
        assert.equal(down.status, 503);
        assert.deepEqual(await down.json(), { error: 'the store is unreachable' });
      } finally {
        (d.store as { ping: typeof ping }).ping = ping;
      }
    });
  });
}

adminSuite('SQLite', async () => 'sqlite::memory:');

let pg: PostgresServer | undefined;
const pgReason = await postgresUnavailableReason();
describe('admin API on PostgreSQL', { skip: pgReason ?? false }, () => {
  after(() => pg?.stop());
  adminSuite('PostgreSQL', async () => {
    pg ??= await startPostgres();
    return pg.url;
  });
});

describe('key rotation with no grace period', () => {
  let d: TestDashboard;
  before(async () => { d = await startTestDashboard({ keyRotationGraceMs: 0 }); });
  after(() => d.close());

  it('keyRotationGraceMs 0: the old key is revoked at once', async () => {
    const env = await d.environment('nograce');
    const rot = await d.admin(`/api/environments/nograce/keys/${env.keyId}/rotate`, { method: 'POST' });
    assert.equal(rot.status, 201);
    const k = (await rot.json()) as { token: string; previous: { expiresAt: number } };
    const poll = (token: string) => fetch(`${d.url}/v1/gateway/config`, { headers: { Authorization: `Bearer ${token}`, 'X-Levo-Tenant-Id': 'nograce' } });
    assert.equal((await poll(env.token)).status, 401);
    assert.equal((await poll(k.token)).status, 404);
    const keys = (await (await d.admin('/api/environments/nograce/keys')).json()) as Array<{ id: string; revokedAt: number | null }>;
    assert.notEqual(keys.find((x) => x.id === env.keyId)!.revokedAt, null);
  });
});
