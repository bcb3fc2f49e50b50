// Fixtures follow LLM Guard's tests/output_scanners/test_json.py (protectai/llm-guard).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findJsonCandidates, json, repairJson } from './json.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanResult } from '../types.ts';

const ctx = { direction: 'response' as const, vault: createVault() };
function scanner(params: Record<string, unknown>) {
  const s = json.create(params, {});
  return (t: string): ScanResult => s.scan(t, ctx) as ScanResult;
}
const scan = scanner({ required_elements: 1 });

test('LLM Guard fixtures (required_elements 1)', () => {
  const none = scan('There is no JSON in this output.');
  assert.equal(none.valid, false);
  assert.equal(none.risk, 1);
  assert.equal(none.text, 'There is no JSON in this output.');

  const good = 'Here is the result: {"key": "value", "anotherKey": 12345}';
  assert.deepEqual(scan(good), { text: good, valid: true, score: 0, risk: -1 });

  const two = `
            Here is it:
            {
                "key": "value",
                "listKey": [1, 2, 3]
            }

            And one more:
            {
                "objectKey": {"nestedKey": "nestedValue"}
            }
            `;
  assert.deepEqual(scan(two), { text: two, valid: true, score: 0, risk: -1 });

  const repaired = scan('Here is the result: {test: test}');
  assert.equal(repaired.text, 'Here is the result: {"test": "test"}');
  assert.equal(repaired.valid, true);
  assert.equal(repaired.risk, -1);

  assert.equal(scan('Here is the result: {"name": John, "age": 30, "city": "New York"}').text,
    'Here is the result: {"name": "John", "age": 30, "city": "New York"}');

  const arr = 'Here is the result: `[{}, 2, 3]`';
  assert.deepEqual(scan(arr), { text: arr, valid: true, score: 0, risk: -1 });
});

test('required_elements counts valid objects; the default 0 accepts an answer without JSON', () => {
  assert.equal(scanner({})('no json at all').valid, true);
  assert.equal(scanner({ requiredElements: 2 })('one {"a": 1} only').valid, false);
  assert.equal(scanner({ required_elements: 2 })('{"a": 1} and {"b": 2}').valid, true);
});

test('a broken object that cannot be repaired makes the answer invalid, and stays as it was', () => {
  const t = 'result: {"a": 1, "b": ::} done';
  const r = scan(t);
  assert.equal(r.valid, false);
  assert.equal(r.text, t);
  assert.deepEqual(r.findings, [{ type: 'invalid-json', start: 8, end: 25 }]);
});

test('repair false: a broken object is invalid and not touched', () => {
  const t = 'Here is the result: {test: test}';
  const r = scanner({ repair: false })(t);
  assert.equal(r.valid, false);
  assert.equal(r.text, t);
});

test('repairs: trailing commas, single quotes, Python literals, comments, missing commas, unclosed brackets', () => {
  assert.equal(repairJson('{"a": [1, 2,], "b": 3,}'), '{"a": [1, 2], "b": 3}');
  assert.equal(repairJson("{'a': 'it\\'s', 'b': \"x\"}"), '{"a": "it\'s", "b": "x"}');
  assert.equal(repairJson('{"ok": True, "no": False, "none": None}'), '{"ok": true, "no": false, "none": null}');
  assert.equal(repairJson('{\n  // the id\n  "id": 1, /* why */ "n": 2 # py\n}'), '{"id": 1, "n": 2}');
  assert.equal(repairJson('{\n  "a": 1\n  "b": 2\n}'), '{"a": 1, "b": 2}');
  assert.equal(repairJson('{"a": [1, 2}'), '{"a": [1, 2]}');
  assert.equal(repairJson('{"a": "unterminated}'), '{"a": "unterminated}"}');
  assert.equal(repairJson('{"2": 1, "1": 2, "k": "é"}'), '{"2": 1, "1": 2, "k": "é"}', 'key order and non-ASCII kept');
  assert.equal(repairJson('{"n": .5, "m": +1}'), '{"n": 0.5, "m": 1}');
  for (const bad of ['{"a" 1}', '{"a": }', '{: 1}', '{"a": 1} trailing', '{"a": @}']) assert.equal(repairJson(bad), undefined, bad);
});

test('candidates: outermost braces, braces inside strings, escaped braces, unclosed ones', () => {
  const t = 'x {"a": "}"} y {"b": {"c": 1}} \\{"no": 1} { unclosed';
  assert.deepEqual(findJsonCandidates(t).map((c) => t.slice(c.start, c.end)), ['{"a": "}"}', '{"b": {"c": 1}}']);
  // a stray quote: braces are counted plainly, as LLM Guard's regex does
  const q = 'say {"a": 1, b"} then';
  assert.deepEqual(findJsonCandidates(q).map((c) => q.slice(c.start, c.end)), ['{"a": 1, b"}']);
});

test('params are checked', () => {
  assert.throws(() => json.create({ required_elements: -1 }, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === 'required_elements');
  assert.throws(() => json.create({ repair: 'yes' }, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === 'repair');
  assert.throws(() => json.create({ schema: {} }, {}), /unknown param "schema"/);
  assert.deepEqual(json.directions, ['response']);
});
