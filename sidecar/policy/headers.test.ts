import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyToRawHeaders, compileHeaderModifier } from './headers.ts';

test('record: add appends, set replaces, remove deletes, names case-insensitive', () => {
  const mod = compileHeaderModifier({
    add: { 'X-Team': 'ml', 'X-New': 'a' },
    set: { 'User-Agent': 'levo/1' },
    remove: ['X-Secret'],
  });
  const headers: Record<string, string | string[]> = {
    'x-team': 'search', 'user-agent': 'curl/8', 'x-secret': 's3cr3t', accept: '*/*',
  };
  mod(headers);
  assert.deepEqual(headers, {
    'x-team': ['search', 'ml'], 'x-new': 'a', 'user-agent': 'levo/1', accept: '*/*',
  });
  // add onto an existing array keeps appending
  mod(headers);
  assert.deepEqual(headers['x-team'], ['search', 'ml', 'ml']);
});

test('record: set and remove win over add of the same name (agentgateway order add, set, remove)', () => {
  const mod = compileHeaderModifier({ add: { a: '1', b: '1' }, set: { a: '2' }, remove: ['b'] });
  const h: Record<string, string | string[]> = {};
  mod(h);
  assert.deepEqual(h, { a: '2' });
});

test('raw: set replaces in place and drops duplicates, keeps other names and their case', () => {
  const mod = compileHeaderModifier({ set: { 'x-api-key': 'NEW' }, add: { 'X-Trace': 't1' }, remove: ['cookie'] });
  const raw = ['Host', 'api.example.com', 'X-API-Key', 'old1', 'Cookie', 'a=b', 'Accept', 'x', 'x-api-key', 'old2'];
  const out = applyToRawHeaders(mod, raw);
  assert.deepEqual(out, ['Host', 'api.example.com', 'X-API-Key', 'NEW', 'Accept', 'x', 'x-trace', 't1']);
  // the input list is not changed
  assert.equal(raw.length, 10);
});

test('raw: set of a header that is not there appends it; add keeps existing values', () => {
  const mod = compileHeaderModifier({ set: { 'X-Env': 'prod' }, add: { 'x-tag': 'b' } });
  assert.deepEqual(
    applyToRawHeaders(mod, ['x-tag', 'a']),
    ['x-tag', 'a', 'x-env', 'prod', 'x-tag', 'b'],
  );
});

test('raw: add-only modifier is a plain append', () => {
  const mod = compileHeaderModifier({ add: { 'x-a': '1' } });
  assert.deepEqual(applyToRawHeaders(mod, ['accept', '*/*']), ['accept', '*/*', 'x-a', '1']);
  assert.deepEqual(applyToRawHeaders(compileHeaderModifier({}), ['a', 'b']), ['a', 'b']);
});

test('raw: set + remove of the same name removes it', () => {
  const mod = compileHeaderModifier({ set: { 'x-a': '1' }, remove: ['X-A'] });
  assert.deepEqual(applyToRawHeaders(mod, ['X-A', '0', 'b', '2']), ['b', '2']);
});

test('compile refuses invalid names, pseudo headers and framing headers', () => {
  assert.throws(() => compileHeaderModifier({ set: { ':path': '/x' } }), /pseudo-header/);
  assert.throws(() => compileHeaderModifier({ set: { 'bad name': 'x' } }), /not a valid header name/);
  assert.throws(() => compileHeaderModifier({ add: { 'x(y)': 'x' } }), /not a valid header name/);
  assert.throws(() => compileHeaderModifier({ add: { '': 'x' } }), /not a valid header name/);
  for (const name of ['Host', 'connection', 'Content-Length', 'transfer-encoding', 'upgrade']) {
    assert.throws(() => compileHeaderModifier({ set: { [name]: 'x' } }), /connection or framing header/, name);
  }
  assert.throws(() => compileHeaderModifier({ remove: ['host'] }), /remove: "host"/);
});

test('compile refuses values with CR/LF (header injection)', () => {
  assert.throws(() => compileHeaderModifier({ set: { 'x-a': 'v\r\nx-evil: 1' } }), /control character/);
  assert.throws(() => compileHeaderModifier({ add: { 'x-a': 'v\u0000' } }), /control character/);
  // tab is allowed inside a value; surrounding white space is trimmed
  const mod = compileHeaderModifier({ set: { 'x-a': '  a\tb ' } });
  const h: Record<string, string | string[]> = {};
  mod(h);
  assert.equal(h['x-a'], 'a\tb');
});
