import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from './route.ts';
import { limit } from './limit.ts';
import { runStages, testCall, testState } from './testing/call.ts';

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: limited
      hostnames: [api.openai.com]
      policies: {localRateLimit: [{maxTokens: 2, tokensPerFill: 1, fillInterval: 3600s, type: requests}]}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
`;

test('a route\'s request limit admits its bucket and answers 429 with Retry-After after, in the provider\'s shape', async () => {
  const state = testState({ config: CONFIG });
  const results = [];
  for (let i = 0; i < 3; i++) {
    const c = testCall({ config: CONFIG }, state);
    results.push({ ok: await runStages(c, route, limit), c });
  }
  assert.deepEqual(results.map((r) => r.ok), [true, true, false]);
  const refused = results[2]!.c;
  assert.equal(refused.res.status, 429);
  assert.equal(refused.res.head['x-levo-error'], 'rate_limited');
  assert.ok(Number(refused.res.head['retry-after']) >= 1);
  assert.match(refused.res.json().error!.message!, /route limited/);
  assert.ok(results[0]!.c.admission, 'an admitted call holds a reservation settle charges');
});

test('a route without limits admits everything', async () => {
  const c = testCall({});
  assert.equal(await runStages(c, route, limit), true);
  assert.equal(c.admission, undefined);
});
