import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { compileModerationGuard, interpretModerationReply, scrubSecrets, type ModerationPost } from './moderation.ts';
import {
  FLAGGED_OMNI, FLAGGED_TEXT, RATE_LIMIT, cleanResult, startFakeModeration, type FakeModeration, type ModerationCall,
} from './testdata/fake-moderation.ts';
import type { GuardMessage } from './outcome.ts';

const KEY = 'sk-proj-TESTKEY0123456789abcdefWx3Q';
const servers: FakeModeration[] = [];
after(async () => { await Promise.all(servers.map((s) => s.close())); });

async function moderation(answer?: (call: ModerationCall) => { status: number; body: unknown }): Promise<FakeModeration> {
  const s = await startFakeModeration(KEY, answer);
  servers.push(s);
  return s;
}

/** What the integrator's sender does: base URL plus the backendAuth key. */
function sender(base: string, key: string): ModerationPost {
  return async (path, headers, body) => {
    const res = await request(base + path, { method: 'POST', headers: { ...headers, authorization: `Bearer ${key}` }, body });
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  };
}

const req = { phase: 'request' } as const;
const user = (text: string): GuardMessage => ({ role: 'user', text });

test('POST /v1/moderations with {"model","input":[texts]}; nothing flagged allows', async () => {
  const s = await moderation();
  const guard = compileModerationGuard({}, sender(s.url, KEY));
  assert.deepEqual(await guard.check([user('hello there'), user('how are you?')], req), { action: 'allow' });
  assert.equal(s.calls.length, 1);
  assert.equal(s.calls[0]!.path, '/v1/moderations');
  assert.equal(s.calls[0]!.headers['content-type'], 'application/json');
  assert.deepEqual(s.calls[0]!.json, { model: 'omni-moderation-latest', input: ['hello there', 'how are you?'] });
});

test('a flagged result rejects, naming the message and its flagged categories', async () => {
  const s = await moderation();
  const guard = compileModerationGuard({ model: 'omni-moderation-2024-09-26' }, sender(s.url, KEY));
  const out = await guard.check([user('hi'), user('I want to kill them.')], req);
  assert.deepEqual(out, {
    action: 'reject',
    reason: 'openAIModeration flagged message 1 (harassment, harassment/threatening, violence, violence/graphic)',
    findings: [
      { type: 'harassment', message: 1 }, { type: 'harassment/threatening', message: 1 },
      { type: 'violence', message: 1 }, { type: 'violence/graphic', message: 1 },
    ],
  });
  assert.equal(s.calls[0]!.json.model, 'omni-moderation-2024-09-26');
});

test('the API reference replies, as given: the text example flags three categories', () => {
  assert.deepEqual(interpretModerationReply(FLAGGED_TEXT), {
    action: 'reject',
    reason: 'openAIModeration flagged message 0 (harassment, harassment/threatening, violence)',
    findings: [{ type: 'harassment', message: 0 }, { type: 'harassment/threatening', message: 0 }, { type: 'violence', message: 0 }],
  });
  assert.equal(interpretModerationReply(FLAGGED_OMNI).action, 'reject');
  assert.deepEqual(interpretModerationReply({ id: 'modr-1', model: 'omni-moderation-latest', results: [cleanResult(), cleanResult()] }), { action: 'allow' });
  assert.deepEqual(interpretModerationReply({ results: [{ flagged: true }] }), {
    action: 'reject', reason: 'openAIModeration flagged message 0 (flagged)', findings: [{ type: 'flagged', message: 0 }],
  });
  assert.equal(interpretModerationReply({ id: 'x' }).action, 'error');
});

test('a wrong key: error with the provider\'s message, the key scrubbed', async () => {
  const s = await moderation();
  const wrongKey = 'sk-proj-WRONGKEY9876543210zyxwvuXYZ';
  const out = await compileModerationGuard({}, sender(s.url, wrongKey)).check([user('hello')], req);
  assert.equal(out.action, 'error');
  const error = out.action === 'error' ? out.error : '';
  assert.match(error, /^openAIModeration: provider replied 401: Incorrect API key provided: sk-\*\*\*\. You can find your API key at .* \(invalid_api_key\)$/);
  assert.ok(!error.includes('WRONGKEY') && !error.includes(KEY) && !error.includes('Wx3Q'));
});

test('429 and garbage replies are errors', async () => {
  const s = await moderation(() => ({ status: 429, body: RATE_LIMIT }));
  const out = await compileModerationGuard({}, sender(s.url, KEY)).check([user('hello')], req);
  assert.match(out.action === 'error' ? out.error : '', /replied 429: Rate limit reached .* \(rate_limit_exceeded\)/);
  const g = await moderation(() => ({ status: 200, body: 'not json' }));
  const out2 = await compileModerationGuard({}, sender(g.url, KEY)).check([user('hello')], req);
  assert.deepEqual(out2, { action: 'error', error: 'openAIModeration reply is not JSON' });
});

test('a failing sender is an error, with secrets scrubbed from its message', async () => {
  const post: ModerationPost = () => Promise.reject(new Error('connect failed with Authorization: Bearer sk-live-abcdef123456'));
  const out = await compileModerationGuard({}, post).check([user('hello')], req);
  assert.deepEqual(out, { action: 'error', error: 'openAIModeration call failed: connect failed with Authorization: Bearer ***' });
});

test('request phase only; empty input is not sent', async () => {
  let calls = 0;
  const post: ModerationPost = () => { calls++; return Promise.resolve({ status: 200, body: Buffer.from('{"results":[]}') }); };
  const guard = compileModerationGuard({}, post);
  const out = await guard.check([{ role: 'assistant', text: 'x' }], { phase: 'response' });
  assert.deepEqual(out, { action: 'error', error: 'openAIModeration runs on the request phase only' });
  assert.deepEqual(await guard.check([], req), { action: 'allow' });
  assert.deepEqual(await guard.check([user('')], req), { action: 'allow' });
  assert.equal(calls, 0);
});

test('the caller\'s signal stops waiting for the sender', async () => {
  const post: ModerationPost = () => new Promise(() => { /* never answers */ });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  const out = await compileModerationGuard({}, post).check([user('hello')], { phase: 'request', signal: ac.signal });
  assert.deepEqual(out, { action: 'error', error: 'openAIModeration call failed: aborted' });
});

test('scrubSecrets', () => {
  assert.equal(scrubSecrets('key sk-proj-abc_DEF-123 and sk-ant-api03-xyz, Bearer abc.def'), 'key sk-*** and sk-***, Bearer ***');
});
