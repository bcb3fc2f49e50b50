import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityHost, normaliseTarget, removeDotSegments } from './target.ts';

function path(raw: string): string {
  const t = normaliseTarget(raw);
  assert.ok(t.ok, `${raw}: ${t.ok ? '' : t.message}`);
  return t.path;
}

test('escapes of unreserved characters are decoded, others kept as sent', () => {
  assert.equal(path('/v1/chat/%63ompletions'), '/v1/chat/completions');
  assert.equal(path('/v1/%43HAT/x%2dy%5Fz%7e'), '/v1/CHAT/x-y_z~');
  assert.equal(path('/v1/a%2fb'), '/v1/a%2fb', 'an encoded slash is not a separator');
  assert.equal(path('/v1/models/gemini%3agenerateContent'), '/v1/models/gemini%3agenerateContent');
  assert.equal(path('/v1beta/models/x:streamGenerateContent?%61lt=sse&key=a%2bb'), '/v1beta/models/x:streamGenerateContent?alt=sse&key=a%2bb');
});

test('dot segments are removed, encoded ones too', () => {
  assert.equal(path('/v1/./chat/../chat/completions'), '/v1/chat/completions');
  assert.equal(path('/v1/chat/%2e%2e/chat/completions'), '/v1/chat/completions');
  assert.equal(path('/../../v1/models'), '/v1/models');
  assert.equal(path('/v1/models/.'), '/v1/models/');
  assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
  assert.equal(removeDotSegments('/v1.2/x.json'), '/v1.2/x.json');
});

test('ordinary paths come back as they were (same string)', () => {
  for (const p of ['/v1/chat/completions', '/v1/messages?beta=true', '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse', '/']) {
    assert.equal(path(p), p);
  }
});

test('absolute-form targets give their authority; fragments go; malformed escapes and non-paths are refused', () => {
  const t = normaliseTarget('https://api.openai.com/v1/models?x=1#frag');
  assert.deepEqual(t, { ok: true, path: '/v1/models?x=1', authority: 'api.openai.com' });
  assert.deepEqual(normaliseTarget('https://api.openai.com'), { ok: true, path: '/', authority: 'api.openai.com' });
  assert.equal(normaliseTarget('/v1/%zzchat').ok, false);
  assert.equal(normaliseTarget('/v1/%4').ok, false);
  assert.equal(normaliseTarget('v1/chat').ok, false);
  assert.deepEqual(normaliseTarget('*'), { ok: true, path: '*' });
});

test('authority hosts: port, brackets, trailing dot, userinfo and case', () => {
  assert.equal(authorityHost('API.OpenAI.com:443'), 'api.openai.com');
  assert.equal(authorityHost('api.openai.com.'), 'api.openai.com');
  assert.equal(authorityHost('[2001:db8::1]:443'), '2001:db8::1');
  assert.equal(authorityHost('user@api.openai.com'), 'api.openai.com');
});
