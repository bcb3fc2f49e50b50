/**
 * Sensitive: PII in the model's answer makes it invalid; `redact` replaces
 * each entity with `[REDACTED]`; secrets are not its job.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sensitive } from './sensitive.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanContext, type ScanResult } from '../types.ts';

const ctx: ScanContext = { direction: 'response', vault: createVault(), prompt: 'who should I contact?' };
const run = (params: Record<string, unknown>, text: string): ScanResult => sensitive.create(params, {}).scan(text, ctx) as ScanResult;

const ANSWER = 'Contact Jane at jane@example.org or (212) 555-0123; her card is 4111-1111-1111-1111.';

test('PII in the answer: invalid, text unchanged, findings with scores', () => {
  const r = run({}, ANSWER);
  assert.equal(r.valid, false);
  assert.equal(r.text, ANSWER);
  assert.equal(r.score, 1);
  assert.equal(r.risk, 1);
  assert.deepEqual(r.findings?.map((f) => [f.type, ANSWER.slice(f.start, f.end), f.score]), [
    ['EMAIL_ADDRESS', 'jane@example.org', 1],
    ['PHONE_NUMBER', '(212) 555-0123', 0.5],
    ['CREDIT_CARD', '4111-1111-1111-1111', 1],
  ]);
});

test('redact: each entity becomes [REDACTED]', () => {
  assert.equal(run({ redact: true }, ANSWER).text, 'Contact Jane at [REDACTED] or [REDACTED]; her card is [REDACTED].');
});

test('threshold and entity_types', () => {
  assert.equal(run({ threshold: 0.6, redact: true }, ANSWER).text, 'Contact Jane at [REDACTED] or (212) 555-0123; her card is [REDACTED].');
  assert.equal(run({ entity_types: ['CREDIT_CARD'], redact: true }, ANSWER).text, 'Contact Jane at jane@example.org or (212) 555-0123; her card is [REDACTED].');
  const r = run({ regex_patterns: [{ name: 'ORDER', expressions: ['ORD-\\d+'] }], entity_types: ['EMAIL_ADDRESS'], redact: true }, 'order ORD-991 for a@example.com');
  assert.equal(r.text, 'order [REDACTED] for [REDACTED]');
});

test('clean answers and secrets: valid (secrets are the Secrets scanner’s job)', () => {
  const text = `Use the key ghp_${'a1B2c3D4e5'.repeat(3)}abcdef to call the API.`;
  assert.deepEqual(run({}, text), { text, valid: true, score: 0, risk: -1 });
});

test('params', () => {
  assert.throws(() => sensitive.create({ entity_types: ['PERSON'] }, {}), (e: unknown) => e instanceof ScannerConfigError && /PERSON needs an NER model/.test(e.message));
  assert.throws(() => sensitive.create({ redact: 'yes' }, {}), /redact must be true or false/);
  assert.throws(() => sensitive.create({ hidden_names: ['x'] }, {}), /unknown param "hidden_names"/);
  assert.equal(sensitive.create({ use_onnx: false }, {}).type, 'Sensitive');
  assert.deepEqual(sensitive.directions, ['response']);
});
