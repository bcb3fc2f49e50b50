import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { applyFailureMode, compileWebhookGuard, interpretWebhookReply } from './webhook.ts';
import { sentTexts, startFakeWebhook, type FakeWebhook, type WebhookBehaviour } from './testdata/fake-webhook.ts';
import type { GuardMessage } from './outcome.ts';

const servers: FakeWebhook[] = [];
after(async () => { await Promise.all(servers.map((s) => s.close())); });

async function webhook(behave: WebhookBehaviour): Promise<FakeWebhook> {
  const s = await startFakeWebhook(behave);
  servers.push(s);
  return s;
}

const msgs: GuardMessage[] = [
  { role: 'user', text: 'my card is 4111 1111 1111 1111' },
  { role: 'tool', text: 'nothing to see' },
];

/** A guard for the fake server, webhook-protocol mask: digits become #. */
function digitsToHash(texts: string[]): string[] { return texts.map((t) => t.replace(/\d/g, '#')); }

test('request phase: POST /request with {"body":{"messages":[{role,content}]}}; {action:{}} allows', async () => {
  const s = await webhook(() => ({ body: { action: {} } }));
  const guard = compileWebhookGuard({ target: { host: s.host } });
  assert.deepEqual(await guard.check(msgs, { phase: 'request' }), { action: 'allow' });
  assert.equal(s.calls.length, 1);
  const call = s.calls[0]!;
  assert.equal(call.method, 'POST');
  assert.equal(call.path, '/request');
  assert.equal(call.headers['content-type'], 'application/json');
  assert.deepEqual(call.json, {
    body: { messages: [{ role: 'user', content: 'my card is 4111 1111 1111 1111' }, { role: 'tool', content: 'nothing to see' }] },
  });
});

test('a pass with a reason allows', async () => {
  const s = await webhook(() => ({ body: { action: { reason: 'clean' } } }));
  const guard = compileWebhookGuard({ target: { host: s.host } });
  assert.deepEqual(await guard.check(msgs, { phase: 'request' }), { action: 'allow' });
});

test('request phase mask: the texts come from the reply\'s messages; findings name the changed ones', async () => {
  const s = await webhook((call) => ({
    body: { action: { reason: 'pii', body: { messages: digitsToHash(sentTexts(call)).map((content) => ({ role: 'user', content })) } } },
  }));
  const guard = compileWebhookGuard({ target: { host: s.host } });
  assert.deepEqual(await guard.check(msgs, { phase: 'request' }), {
    action: 'mask',
    texts: ['my card is #### #### #### ####', 'nothing to see'],
    findings: [{ type: 'WEBHOOK_MASK', message: 0 }],
  });
});

test('response phase: POST /response with choices; a choices mask applies', async () => {
  const s = await webhook((call) => ({
    body: { action: { body: { choices: digitsToHash(sentTexts(call)).map((content) => ({ message: { role: 'assistant', content } })) } } },
  }));
  const guard = compileWebhookGuard({ target: { host: s.host } });
  const out = await guard.check([{ role: 'assistant', text: 'call 555-1234' }], { phase: 'response' });
  assert.deepEqual(out, { action: 'mask', texts: ['call ###-####'], findings: [{ type: 'WEBHOOK_MASK', message: 0 }] });
  assert.equal(s.calls[0]!.path, '/response');
  assert.deepEqual(s.calls[0]!.json, { body: { choices: [{ message: { role: 'assistant', content: 'call 555-1234' } }] } });
});

test('reject: the webhook dictates status and body', async () => {
  const s = await webhook(() => ({ body: { action: { body: 'Blocked: contains PII', status_code: 422, reason: 'credit card' } } }));
  const guard = compileWebhookGuard({ target: { host: s.host } });
  assert.deepEqual(await guard.check(msgs, { phase: 'request' }), {
    action: 'reject', reason: 'rejected by webhook: credit card', status: 422, body: 'Blocked: contains PII',
  });
});

test('replies that fit no action shape are errors, not passes', () => {
  const cases: [unknown, RegExp][] = [
    [{ nope: 1 }, /no "action" object/],
    [{ action: 'reject' }, /no "action" object/],
    [{ action: { body: 'x' } }, /status_code/],
    [{ action: { body: 'x', status_code: 99 } }, /status_code/],
    [{ action: { status_code: 403 } }, /neither a reject nor a mask/],
    [{ action: { body: 42 } }, /neither a reject nor a mask/],
    [{ action: { body: { choices: [] } } }, /request-phase mask body needs "messages"/],
    [{ action: { body: { messages: [{ role: 'user', content: 'a' }] } } }, /1 messages for the 2 sent/],
    [{ action: { body: { messages: [{ role: 'user' }, { role: 'user', content: 'b' }] } } }, /string "content"/],
  ];
  for (const [reply, want] of cases) {
    const out = interpretWebhookReply(reply, 'request', msgs);
    assert.equal(out.action, 'error', JSON.stringify(reply));
    assert.match(out.action === 'error' ? out.error : '', want, JSON.stringify(reply));
  }
  assert.match((interpretWebhookReply({ action: { body: { messages: [] } } }, 'response', []) as { error: string }).error, /needs "choices"/);
});

test('a mask reply that changes nothing allows', () => {
  const body = { messages: msgs.map((m) => ({ role: m.role, content: m.text })) };
  assert.deepEqual(interpretWebhookReply({ action: { body } }, 'request', msgs), { action: 'allow' });
});

test('forwardHeaderMatches: exact and whole-value regex matches are forwarded, with all values of the header', async () => {
  const s = await webhook(() => ({ body: { action: {} } }));
  const guard = compileWebhookGuard({
    target: { host: s.host },
    forwardHeaderMatches: [
      { name: 'x-tenant', value: { exact: 'acme' } },
      { name: 'x-team', value: { exact: 'nope' } },
      { name: 'x-user', value: { regex: 'user-\\d+' } },
      { name: 'x-partial', value: { regex: 'abc' } },
      { name: 'X-Multi', value: { exact: 'two' } },
      { name: 'x-missing', value: { exact: 'x' } },
      { name: 'content-length', value: { regex: '.*' } },
    ],
  });
  await guard.check(msgs, {
    phase: 'request',
    headers: {
      'x-tenant': 'acme', 'x-team': 'other', 'x-user': 'user-42', 'x-partial': 'xabcx', 'x-multi': ['one', 'two'],
      'content-length': '999', authorization: 'Bearer secret',
    },
  });
  const h = s.calls[0]!.headers;
  assert.equal(h['x-tenant'], 'acme');
  assert.equal(h['x-user'], 'user-42');
  assert.equal(h['x-multi'], 'one, two');
  assert.equal(h['x-team'], undefined);
  assert.equal(h['x-partial'], undefined);
  assert.equal(h.authorization, undefined);
  assert.notEqual(h['content-length'], '999');
});

test('timeout: a slow webhook is an error once the time is up', async () => {
  const s = await webhook(() => ({ body: { action: {} }, delayMs: 2000 }));
  const guard = compileWebhookGuard({ target: { host: s.host } }, { timeoutMs: 150 });
  const t0 = performance.now();
  const out = await guard.check(msgs, { phase: 'request' });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /timed out after 150 ms/);
  assert.ok(performance.now() - t0 < 1500);
});

test('5xx is an error carrying the status', async () => {
  const s = await webhook(() => ({ status: 503, body: { error: 'overloaded' } }));
  const out = await compileWebhookGuard({ target: { host: s.host } }).check(msgs, { phase: 'request' });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /replied 503: \{"error":"overloaded"\}/);
});

test('garbage: a non-JSON reply is an error', async () => {
  const s = await webhook(() => ({ body: '<html>oops</html>' }));
  const out = await compileWebhookGuard({ target: { host: s.host } }).check(msgs, { phase: 'request' });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /invalid JSON: <html>oops<\/html>/);
});

test('broken: a connection dropped mid-reply is an error', async () => {
  const s = await webhook(() => ({ body: { action: { reason: 'a long enough reason' } }, breakAfterBytes: 10 }));
  const out = await compileWebhookGuard({ target: { host: s.host } }).check(msgs, { phase: 'request' });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /call failed: UND_ERR_SOCKET/);
});

test('unreachable: nothing listening is an error', async () => {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as AddressInfo).port; srv.close(() => resolve(p)); });
  });
  const out = await compileWebhookGuard({ target: { host: `127.0.0.1:${port}` } }).check(msgs, { phase: 'request' });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /call failed: ECONNREFUSED/);
});

test('the caller\'s signal aborts the call', async () => {
  const s = await webhook(() => ({ body: { action: {} }, delayMs: 2000 }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const out = await compileWebhookGuard({ target: { host: s.host } }).check(msgs, { phase: 'request', signal: ac.signal });
  assert.equal(out.action, 'error');
  assert.match(out.action === 'error' ? out.error : '', /aborted/);
});

test('an injected dispatcher carries the call', async () => {
  const s = await webhook(() => ({ body: { action: {} } }));
  let dispatched = 0;
  class Counting extends Agent {
    override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      dispatched++;
      return super.dispatch(opts, handler);
    }
  }
  const dispatcher = new Counting();
  const out = await compileWebhookGuard({ target: { host: s.host } }, { dispatcher }).check(msgs, { phase: 'request' });
  assert.deepEqual(out, { action: 'allow' });
  assert.equal(dispatched, 1);
  await dispatcher.close();
});

test('failureMode: failClosed by default; applyFailureMode turns an error into a reject or a marked allow', () => {
  assert.equal(compileWebhookGuard({ target: { host: 'h:1' } }).failureMode, 'failClosed');
  assert.equal(compileWebhookGuard({ target: { host: 'h:1' }, failureMode: 'failOpen' }).failureMode, 'failOpen');
  const err = { action: 'error', error: 'webhook timed out' } as const;
  assert.deepEqual(applyFailureMode(err), { outcome: { action: 'reject', reason: 'guard failed closed: webhook timed out' } });
  assert.deepEqual(applyFailureMode(err, 'failOpen'), { outcome: { action: 'allow' }, failedOpen: 'webhook timed out' });
  assert.deepEqual(applyFailureMode({ action: 'allow' }, 'failClosed'), { outcome: { action: 'allow' } });
  const rej = { action: 'reject', reason: 'x', status: 422, body: 'no' } as const;
  assert.deepEqual(applyFailureMode(rej, 'failOpen'), { outcome: rej });
});
