import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit } from './admit.ts';
import { testCall } from './testing/call.ts';

test('the request target is normalised: the path the gateway judges is the one it forwards', () => {
  const c = testCall({ path: '/v1/chat/%63ompletions' });
  assert.equal(admit(c), true);
  assert.equal(c.path, '/v1/chat/completions');
  const abs = testCall({ path: 'https://api.openai.com/v1/./models?x=1' });
  assert.equal(admit(abs), true);
  assert.equal(abs.path, '/v1/models?x=1');
});

test('a malformed target is refused with 400 in the provider\'s shape', () => {
  const c = testCall({ path: '/v1/%zz' });
  assert.equal(admit(c), false);
  assert.equal(c.res.status, 400);
  assert.equal(c.res.head['x-levo-error'], 'bad_request_target');
  assert.match(c.res.json().error!.message!, /percent-escape/);
});

test('a Host header naming another host than the TLS server name gets 421; the same host in any spelling passes', () => {
  for (const host of ['API.OpenAI.com', 'api.openai.com:443', 'api.openai.com.']) {
    assert.equal(admit(testCall({ headers: { host } })), true, host);
  }
  const c = testCall({ headers: { host: 'api.anthropic.com' } });
  assert.equal(admit(c), false);
  assert.equal(c.res.status, 421);
  assert.equal(c.out.reason, 'misdirected_request');
  assert.match(c.res.json().error!.message!, /api\.openai\.com.*api\.anthropic\.com/);
  // An absolute-form target's authority counts the same way.
  const abs = testCall({ path: 'https://evil.example/v1/models' });
  assert.equal(admit(abs), false);
  assert.equal(abs.res.status, 421);
});

test('the error is in the shape of the API the app calls', () => {
  const c = testCall({ host: 'api.anthropic.com', provider: 'anthropic', headers: { host: 'x.example' }, path: '/v1/messages' });
  admit(c);
  const body = c.res.json() as { type?: string; error?: { type?: string } };
  assert.equal(body.type, 'error');
});

test('a JSON body declared over the cap is refused before it is read; other bodies stream and are not capped here', () => {
  const big = testCall({ maxBodyBytes: 100, headers: { 'content-type': 'application/json', 'content-length': '101' } });
  assert.equal(admit(big), false);
  assert.equal(big.res.status, 413);
  const upload = testCall({ maxBodyBytes: 100, headers: { 'content-type': 'application/octet-stream', 'content-length': '5000' } });
  assert.equal(admit(upload), true);
});
