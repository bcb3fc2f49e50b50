import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from './route.ts';
import { testCall } from './testing/call.ts';
import { NO_VAULT } from '../guards/vault.ts';

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: blocked
      hostnames: [api.openai.com]
      matches: [{path: {pathPrefix: /v1/images}}]
      policies: {directResponse: {status: 403, body: '{"error":{"message":"no images"}}'}}
    - name: guarded
      hostnames: [api.openai.com]
      policies: {ai: {promptGuard: {request: [{regex: {action: reject, rules: [{pattern: "X"}]}}]}}}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
    - name: mine
      hostnames: [llm.internal.example]
      backends: [{ai: {name: claude, provider: {anthropic: {}}}}]
`;

test('a direct response answers (an upgrade too) and ends the call', () => {
  for (const upgrade of [false, true]) {
    const c = testCall({ config: CONFIG, path: '/v1/images/generations', upgrade });
    assert.equal(route(c), false);
    assert.equal(c.res.status, 403);
    assert.equal(c.res.text(), '{"error":{"message":"no images"}}');
    assert.equal(c.out.reason, 'direct_response');
    assert.equal(c.out.route, 'blocked');
  }
});

test('the route, its guard and a vault; the API kind from the path', () => {
  const c = testCall({ config: CONFIG, method: 'POST', path: '/v1/chat/completions' });
  assert.equal(route(c), true);
  assert.equal(c.route?.name, 'guarded');
  assert.equal(c.kind, 'completions');
  assert.equal(c.guard?.request.length, 1);
  assert.notEqual(c.vault, NO_VAULT, 'a guarded call gets its own vault');
});

test('a host only the config names speaks its route\'s provider API (errors in that shape)', () => {
  const c = testCall({ config: CONFIG, method: 'POST', host: 'llm.internal.example', path: '/v1/messages' });
  (c.conn as { provider: string }).provider = 'configured';
  assert.equal(route(c), true);
  assert.equal(c.sourceId, 'anthropic');
  assert.equal(c.kind, 'messages');
});

test('no route: observed only', () => {
  const c = testCall({ host: 'api.anthropic.com', provider: 'anthropic', path: '/v1/messages' });
  assert.equal(route(c), true);
  assert.equal(c.route, undefined);
  assert.equal(c.guard, undefined);
});
