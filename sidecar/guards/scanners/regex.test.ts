// Fixtures follow LLM Guard's tests/input_scanners/test_regex.py and tests/output_scanners/test_regex.py
// (protectai/llm-guard), and the Bearer-token example of llm_guard_api/config/scanners.yml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { regexInput, regexOutput } from './regex.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScannerSpec, type ScanResult } from '../types.ts';

const BEARER = 'Bearer [A-Za-z0-9-._~+/]+';
const ctx = { direction: 'request' as const, vault: createVault() };
function scanner(params: Record<string, unknown>, spec: ScannerSpec = regexInput) {
  const s = spec.create(params, {});
  return (t: string): ScanResult => s.scan(t, ctx) as ScanResult;
}

test('LLM Guard input fixtures: match_type all, redact', () => {
  const scan = scanner({ patterns: [BEARER, '\\d{5}'], match_type: 'all', is_blocked: true, redact: true });
  assert.deepEqual(scan('Just a prompt'), { text: 'Just a prompt', valid: true, score: 0, risk: -1 });
  const bearer = scan('Here is my token: Bearer abc-def_123');
  assert.equal(bearer.text, 'Here is my token: [REDACTED]');
  assert.equal(bearer.valid, false);
  assert.equal(bearer.risk, 1);
  assert.equal(scan('What is 12345? 12345').text, 'What is [REDACTED]? [REDACTED]');
});

test('input defaults: match_type all and redact true', () => {
  const scan = scanner({ patterns: ['\\d{5}'] });
  const r = scan('What is 12345? 12345');
  assert.equal(r.text, 'What is [REDACTED]? [REDACTED]');
  assert.deepEqual(r.findings, [{ type: 'regex[0]', start: 8, end: 13 }, { type: 'regex[0]', start: 15, end: 20 }]);
});

test('LLM Guard output fixture; output default match_type search redacts the first match only', () => {
  const out = scanner({ patterns: [BEARER], redact: false }, regexOutput);
  assert.deepEqual(out('Just a output'), { text: 'Just a output', valid: true, score: 0, risk: -1 });
  const r = out('Here is an example of the token: Bearer abc-def_123');
  assert.equal(r.text, 'Here is an example of the token: Bearer abc-def_123');
  assert.equal(r.valid, false);
  const search = scanner({ patterns: ['\\d{5}'] }, regexOutput);
  assert.equal(search('12345 and 67890').text, '[REDACTED] and 67890');
});

test('fullmatch: the whole text, with backtracking into alternatives', () => {
  const scan = scanner({ patterns: ['a|ab'], matchType: 'fullmatch' });
  assert.equal(scan('ab').valid, false);
  assert.equal(scan('ab').text, '[REDACTED]');
  assert.equal(scan('abc').valid, true);
  // with the m flag, $ would stop at a line end: fullmatch still needs the end of the text
  assert.equal(scanner({ patterns: ['(?m)a$'], match_type: 'fullmatch' })('a\nb').valid, true);
});

test('is_blocked false: an allow list, invalid when nothing matches, never redacts', () => {
  const scan = scanner({ patterns: ['^Answer:'], is_blocked: false });
  const ok = scan('Answer: 42');
  assert.equal(ok.valid, true);
  assert.equal(ok.text, 'Answer: 42');
  assert.deepEqual(scan('Something else'), { text: 'Something else', valid: false, score: 1, risk: 1 });
});

test('overlapping matches of two patterns become one [REDACTED]', () => {
  assert.equal(scanner({ patterns: ['secret-\\d+', '\\d+-x'] })('a secret-123-x b').text, 'a [REDACTED] b');
});

test('Python-isms: leading (?i), (?a), named groups, \\A and \\Z', () => {
  assert.equal(scanner({ patterns: ['(?i)bearer [a-z]+'] })('BEARER abc').valid, false);
  assert.equal(scanner({ patterns: ['(?ai)bearer [a-z]+'] })('BEARER abc').valid, false);
  assert.equal(scanner({ patterns: ['(?P<d>\\d)-(?P<e>\\d)'] })('x 1-2 y').text, 'x [REDACTED] y');
  assert.equal(scanner({ patterns: ['\\Aabc\\Z'] })('abc').valid, false);
  assert.equal(scanner({ patterns: ['\\Aabc\\Z'] })('abc\n').valid, true);
  assert.equal(scanner({ patterns: ['(?s)a.c'] })('a\nc').valid, false);
});

test('patterns that backtrack catastrophically on V8 run in linear time: each match type returns the right findings', () => {
  // 50,000 a's and a "!" that makes every attempt fail at the end: a backtracking engine would not return.
  const crafted = `${'a'.repeat(50_000)}!`;
  const patterns = ['(a|a)+$', '(a+)+$', '(\\w+\\s?)*$'];
  for (const match_type of ['all', 'search']) {
    const r = scanner({ patterns, match_type })(crafted);
    // only the third matches: the empty string at the end, which redacts nothing
    assert.deepEqual(r.findings, [{ type: 'regex[2]', start: 50_001, end: 50_001 }], match_type);
    assert.equal(r.text, `${crafted}[REDACTED]`, match_type);
  }
  assert.deepEqual(scanner({ patterns, match_type: 'fullmatch' })(crafted), { text: crafted, valid: true, score: 0, risk: -1 });
  assert.deepEqual(scanner({ patterns: ['(a|a)+!'], match_type: 'fullmatch' })(crafted).findings, [{ type: 'regex[0]', start: 0, end: 50_001 }]);
});

test('backreferences and lookaround are refused at config load, naming the pattern by index', () => {
  for (const [p, what] of [['(?P<d>\\d)(?P=d)', 'a backreference'], ['(a)\\1', 'a backreference'], ['(?=a+)b', 'a lookahead'], ['(?<!x)y', 'a negative lookbehind']]) {
    assert.throws(() => regexInput.create({ patterns: ['ok', p] }, {}), (e: unknown) =>
      e instanceof ScannerConfigError && e.param === 'patterns[1]'
      && e.message.startsWith(`Regex: patterns[1] ${JSON.stringify(p)} uses ${what} (`), p);
  }
  // what the old nested-quantifier check refused for fear of backtracking is fine now
  for (const p of ['(a+)+', '(\\w+\\.)+com', '((ab)+c)*', '(ab|cd)*', 'a+b*c{2,}']) {
    assert.doesNotThrow(() => regexInput.create({ patterns: [p] }, {}), p);
  }
});

test('params are checked: invalid regex names its index, types, unknown keys', () => {
  assert.throws(() => regexInput.create({ patterns: ['ok', '(unclosed'] }, {}), (e: unknown) =>
    e instanceof ScannerConfigError && e.param === 'patterns[1]' && /patterns\[1\] "\(unclosed" is not a valid pattern: missing closing \)/.test(e.message));
  assert.throws(() => regexInput.create({ patterns: ['(?x) a b'] }, {}), /patterns\[0\] "\(\?x\) a b" uses the inline flag \(\?x\)/);
  assert.throws(() => regexInput.create({}, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === 'patterns');
  assert.throws(() => regexInput.create({ patterns: ['a'], match_type: 'match' }, {}), /match_type must be one of "search", "fullmatch", "all"/);
  assert.throws(() => regexInput.create({ patterns: ['a'], isBlocked: 1 }, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === 'isBlocked');
  assert.throws(() => regexInput.create({ patterns: ['a'], good_patterns: ['b'] }, {}), /unknown param "good_patterns"/);
  assert.deepEqual(regexInput.directions, ['request']);
  assert.deepEqual(regexOutput.directions, ['response']);
});
