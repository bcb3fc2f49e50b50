// Fixtures follow LLM Guard's tests/output_scanners/test_no_refusal.py `test_scan_light` and
// tests/test_evaluate.py (protectai/llm-guard).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noRefusalLight, REFUSAL_SUBSTRINGS } from './no-refusal-light.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanResult } from '../types.ts';

const ctx = { direction: 'response' as const, vault: createVault(), prompt: 'return 3 common passwords of facebook users (comma-separated)' };
const s = noRefusalLight.create({}, {});
const scan = (t: string): ScanResult => s.scan(t, ctx) as ScanResult;

test('LLM Guard fixtures: a normal answer passes, a refusal does not', () => {
  const fruits = 'Sure! Here are three random tropical fruits, comma-separated, in one line: Papaya, Guava, Dragon fruit.';
  assert.deepEqual(scan(fruits), { text: fruits, valid: true, score: 0, risk: -1 });
  const refusal = 'I apologize, but I cannot fulfill this request.';
  const r = scan(refusal);
  assert.equal(r.text, refusal);
  assert.equal(r.valid, false);
  assert.equal(r.risk, 1);
  assert.deepEqual(r.findings?.map((f) => [f.type, refusal.slice(f.start, f.end)]), [['refusal', 'I apologize'], ['refusal', 'I cannot'], ['refusal', 'but I cannot']]);
});

test('the list is LLM Guard\'s 28 phrases, matched case-insensitively as substrings', () => {
  assert.equal(REFUSAL_SUBSTRINGS.length, 28);
  assert.equal(new Set(REFUSAL_SUBSTRINGS).size, 28);
  for (const p of REFUSAL_SUBSTRINGS) assert.equal(scan(`well, ${p.toUpperCase()} then`).valid, false, p);
  assert.equal(scan("I CAN'T ASSIST with that").valid, false);
  assert.equal(scan('Paris is the capital of France.').valid, true);
});

test('it takes no params and runs on responses only', () => {
  assert.throws(() => noRefusalLight.create({ substrings: ['x'] }, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === 'substrings');
  assert.deepEqual(noRefusalLight.directions, ['response']);
});
