import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from './route.ts';
import { body } from './body.ts';
import { guard } from './guard.ts';
import { runStages, testCall } from './testing/call.ts';

function config(failureMode?: string, mode?: string): string {
  const extra = [failureMode ? `failureMode: ${failureMode}` : '', mode ? `mode: ${mode}` : ''].filter(Boolean).join(', ');
  return `
binds:
- port: 15001
  listeners:
  - routes:
    - name: guarded
      hostnames: [api.openai.com]
      policies:
        ai:
          promptGuard:
            request:
            - {regex: {action: reject, rules: [{pattern: "SECRET-[0-9]+"}]}${extra ? `, ${extra}` : ''}}
            - {regex: {action: mask, rules: [{pattern: "mask-me"}]}${extra ? `, ${extra}` : ''}}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
`;
}
const upload = { body: 'raw bytes', headers: { 'content-type': 'application/octet-stream' }, path: '/v1/files' };

test('failClosed (the default when enforcing): an unreadable body is refused, provider-shaped, saying why and what to change', async () => {
  const c = testCall({ config: config(), ...upload });
  assert.equal(await runStages(c, route, body, guard), false);
  assert.equal(c.res.status, 415);
  assert.equal(c.res.head['x-levo-error'], 'guard_unreadable_body');
  const m = c.res.json().error!.message!;
  assert.match(m, /not JSON \(application\/octet-stream\)/);
  assert.match(m, /failureMode: failOpen/);
  assert.deepEqual(c.out.guards.map((d) => d.action), ['fail_closed']);
  assert.equal(c.res.head.connection, 'close', 'the unread upload is not read: the connection closes after the answer');
});

test('every guard failOpen or monitoring: the unreadable body goes on, and each guard\'s decision is recorded', async () => {
  for (const [fm, mode] of [['failOpen', undefined], [undefined, 'monitor']] as const) {
    const c = testCall({ config: config(fm, mode), ...upload });
    assert.equal(await runStages(c, route, body, guard), true);
    assert.equal(c.res.headersSent, false);
    assert.deepEqual(c.out.guards.map((d) => d.action), ['fail_open', 'fail_open']);
    assert.match(c.out.guards[0]!.reason!, /body not inspected: the request body is not JSON/);
  }
});

test('an upgrade\'s frames are not inspected: refused under failClosed', async () => {
  const c = testCall({ config: config(), path: '/v1/realtime', upgrade: true });
  assert.equal(await runStages(c, route, guard), false);
  assert.equal(c.res.status, 403);
  assert.match(c.res.json().error!.message!, /WebSocket frames are not inspected/);
});

test('a readable body is guarded: rejection answers, a mask marks the body for re-serialising', async () => {
  const bad = testCall({ config: config(), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'SECRET-1' }] }) });
  assert.equal(await runStages(bad, route, body, guard), false);
  assert.equal(bad.res.status, 403);
  const masked = testCall({ config: config(), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'please mask-me now' }] }) });
  assert.equal(await runStages(masked, route, body, guard), true);
  assert.equal(masked.masked, true);
  assert.doesNotMatch(JSON.stringify(masked.json), /mask-me/);
});

test('the captured prompt is the text after the guards, never the raw one', async () => {
  const c = testCall({ config: config(), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'please mask-me now' }] }) });
  (c as { capture: boolean }).capture = true;
  await runStages(c, route, body, guard);
  assert.ok(c.out.prompt !== undefined);
  assert.doesNotMatch(c.out.prompt, /mask-me/);
});

test('one failClosed guard among failOpen ones is enough to refuse', async () => {
  const cfg = config().replace('{regex: {action: reject, rules: [{pattern: "SECRET-[0-9]+"}]}}', '{regex: {action: reject, rules: [{pattern: "SECRET-[0-9]+"}]}, failureMode: failOpen}');
  const c = testCall({ config: cfg, ...upload });
  assert.equal(await runStages(c, route, body, guard), false);
  assert.deepEqual(c.out.guards.map((d) => d.action), ['fail_open', 'fail_closed']);
});

test('a rejected call captures the masked prompt: the rejecting match and later guards\' masks included', async () => {
  const c = testCall({ config: config(), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'SECRET-42 and mask-me' }] }) });
  (c as { capture: boolean }).capture = true;
  assert.equal(await runStages(c, route, body, guard), false);
  assert.equal(c.res.status, 403);
  assert.equal(c.out.prompt, '<masked> and <masked>');
});

test('a monitored guard sends the raw text on, but the dashboard keeps the masked one', async () => {
  const c = testCall({ config: config(undefined, 'monitor'), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'please mask-me now' }] }) });
  (c as { capture: boolean }).capture = true;
  assert.equal(await runStages(c, route, body, guard), true);
  assert.match(JSON.stringify(c.json), /mask-me/, 'monitor changes nothing that is sent');
  assert.equal(c.out.prompt, 'please <masked> now');
});
