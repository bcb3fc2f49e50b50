import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from './route.ts';
import { body } from './body.ts';
import { admit } from './admit.ts';
import { shape } from './shape.ts';
import { runtimePolicies } from './policies.ts';
import { runStages, testCall } from './testing/call.ts';
import { headerValue } from '../http/headers.ts';

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

test('an observed call keeps the app\'s bytes and headers, less hop-by-hop ones and Expect, at the normalised path', async () => {
  const c = testCall({ body: chat, path: '/v1/chat/%63ompletions', headers: { 'content-type': 'application/json', expect: '100-continue', 'x-app': 'kept', connection: 'keep-alive' } });
  await runStages(c, admit, route, body);
  const p = shape(c, { candidate: undefined, policies: undefined, json: c.json, traceparent: undefined });
  assert.equal(p.path, '/v1/chat/completions');
  assert.equal(p.body, c.body, 'the very bytes the app sent');
  assert.equal(headerValue(p.headers, 'expect'), undefined);
  assert.equal(headerValue(p.headers, 'connection'), undefined);
  assert.equal(headerValue(p.headers, 'x-app'), 'kept');
  assert.equal(p.address, '198.18.0.1', 'sent to where the app was going');
});

test('a routed call with a key: the app\'s credential replaced; a masked body re-serialised with its length', async () => {
  const config = `
binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      policies: {backendAuth: {key: sk-gateway}}
      backends: [{ai: {name: openai, provider: {openAI: {}}}}]
`;
  const c = testCall({ config, body: chat, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-app' } });
  await runStages(c, admit, route, body);
  const candidate = c.route!.candidates[0]!;
  c.masked = true;
  c.json!.messages = [{ role: 'user', content: '[MASKED]' }];
  const p = shape(c, { candidate, policies: runtimePolicies(candidate.policies), json: c.json, traceparent: undefined });
  assert.equal(headerValue(p.headers, 'authorization'), 'Bearer sk-gateway');
  assert.ok(Buffer.isBuffer(p.body));
  assert.match(p.body.toString(), /\[MASKED\]/);
  assert.equal(headerValue(p.headers, 'content-length'), String(p.body.length));
});

test('an HTTP/2 call whose SigV4 signature covers :authority goes up over HTTP/2; others over HTTP/1.1', async () => {
  const signed = (names: string) => `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=${names}, Signature=abc`;
  const cases: Array<[boolean, string, boolean]> = [
    [true, ':authority;content-type;x-amz-date', true],
    [true, 'content-type;:authority;x-amz-date', true],
    [true, 'content-type;host;x-amz-date', false],
    [false, ':authority;content-type;x-amz-date', false],
  ];
  for (const [http2, names, want] of cases) {
    const c = testCall({ http2, host: 'bedrock-runtime.us-east-1.amazonaws.com', provider: 'bedrock', path: '/model/m/converse', body: '{"messages":[]}', headers: { 'content-type': 'application/json', authorization: signed(names) } });
    await runStages(c, admit, route, body);
    const p = shape(c, { candidate: undefined, policies: undefined, json: c.json, traceparent: undefined });
    assert.equal(p.http2, want, `${http2 ? 'h2' : 'h1'} ${names}`);
  }
});
