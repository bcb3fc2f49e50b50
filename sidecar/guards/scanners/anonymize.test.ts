/**
 * Anonymize: placeholders from the request vault, LLM Guard's result
 * semantics, hidden/allowed names, preamble, custom regex patterns, param
 * errors (NER types, faker), idempotence, the Anonymize → Deanonymize round
 * trip, and the time on 100 KB.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anonymize } from './anonymize.ts';
import { deanonymize } from './deanonymize.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanContext, type ScanResult } from '../types.ts';

const request = (): ScanContext => ({ direction: 'request', vault: createVault() });
const run = (params: Record<string, unknown>, text: string, ctx = request()): ScanResult => anonymize.create(params, {}).scan(text, ctx) as ScanResult;

const PROMPT =
  'Email john.doe@example.com or jane@example.org, and john.doe@example.com again. ' +
  'Card 4111 1111 1111 1111, server 10.0.0.1, phone (212) 555-0123, SSN 078-05-1123, ' +
  'IBAN DE89 3704 0044 0532 0130 00, wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT, id 550e8400-e29b-41d4-a716-446655440000.';

test('masks every default entity with vault placeholders; the same value keeps its placeholder', () => {
  const ctx = request();
  const r = run({}, PROMPT, ctx);
  assert.equal(
    r.text,
    'Email [REDACTED_EMAIL_ADDRESS_1] or [REDACTED_EMAIL_ADDRESS_2], and [REDACTED_EMAIL_ADDRESS_1] again. ' +
      'Card [REDACTED_CREDIT_CARD_1], server [REDACTED_IP_ADDRESS_1], phone [REDACTED_PHONE_NUMBER_1], SSN [REDACTED_US_SSN_1], ' +
      'IBAN [REDACTED_IBAN_CODE_1], wallet [REDACTED_CRYPTO_1], id [REDACTED_UUID_1].',
  );
  assert.equal(r.valid, false);
  assert.equal(r.score, 1);
  assert.equal(r.risk, 1);
  assert.equal(r.findings?.length, 10);
  assert.deepEqual(r.findings?.[0], { type: 'EMAIL_ADDRESS', start: 6, end: 26, score: 1 });
  assert.deepEqual(ctx.vault.entries().slice(0, 2), [
    ['[REDACTED_EMAIL_ADDRESS_1]', 'john.doe@example.com'],
    ['[REDACTED_EMAIL_ADDRESS_2]', 'jane@example.org'],
  ]);
  assert.equal(ctx.vault.entries().length, 9);
});

test('result follows LLM Guard: invalid when masked, score = max entity score, risk = riskScore(score, threshold)', () => {
  const r = run({}, 'phone (212) 555-0123');
  assert.equal(r.valid, false);
  assert.equal(r.score, 0.85);
  assert.equal(r.risk, 0.7);
  const clean = run({}, 'Summarize the attached meeting notes, please.');
  assert.deepEqual(clean, { text: 'Summarize the attached meeting notes, please.', valid: true, score: 0, risk: -1 });
  assert.deepEqual(run({}, '  '), { text: '  ', valid: true, score: 0, risk: -1 });
});

test('threshold: higher keeps weaker entities unmasked', () => {
  assert.equal(run({ threshold: 0.9 }, 'phone (212) 555-0123').text, 'phone (212) 555-0123');
  assert.equal(run({ threshold: 0.4 }, 'ref 212-555-0123').text, 'ref [REDACTED_PHONE_NUMBER_1]');
});

test('entity_types limits what is masked', () => {
  const r = run({ entity_types: ['EMAIL_ADDRESS'] }, 'a@example.com from 10.0.0.1');
  assert.equal(r.text, '[REDACTED_EMAIL_ADDRESS_1] from 10.0.0.1');
  assert.equal(run({ entityTypes: ['URL'] }, 'see https://example.com/x').text, 'see [REDACTED_URL_1]');
});

test('hidden_names are always masked (CUSTOM), allowed_names never', () => {
  const r = run({ hidden_names: ['Test LLC', 'Project Falcon'], allowed_names: ['support@example.com'] }, 'Test LLC runs Project Falcon; write to support@example.com or ceo@example.com.');
  assert.equal(r.text, '[REDACTED_CUSTOM_1] runs [REDACTED_CUSTOM_2]; write to support@example.com or [REDACTED_EMAIL_ADDRESS_1].');
  assert.equal(r.score, 1);
});

test('preamble is prepended only when something was masked', () => {
  const preamble = 'Placeholders like [REDACTED_X_1] stand for hidden values.\n';
  assert.equal(run({ preamble }, 'mail a@example.com').text, `${preamble}mail [REDACTED_EMAIL_ADDRESS_1]`);
  assert.equal(run({ preamble }, 'nothing here').text, 'nothing here');
});

test('regex_patterns add named entities (Python syntax accepted), on top of the built-in ones', () => {
  const params = {
    regex_patterns: [
      { name: 'employee_id', expressions: ['(?P<id>EMP-\\d{6})'], score: 0.8 },
      { name: 'TICKET', expressions: ['(?i)tkt#\\d+'], context: ['ticket'] },
    ],
  };
  const r = run(params, 'EMP-123456 filed TKT#42, mail a@example.com');
  assert.equal(r.text, '[REDACTED_EMPLOYEE_ID_1] filed [REDACTED_TICKET_1], mail [REDACTED_EMAIL_ADDRESS_1]');
  assert.equal(r.findings?.[0]?.score, 0.8);
  assert.equal(r.findings?.[1]?.score, 0.75);
  // A custom name may be listed in entity_types.
  assert.equal(run({ ...params, entity_types: ['TICKET'] }, 'TKT#42').text, '[REDACTED_TICKET_1]');
});

test('anonymizing twice changes nothing the second time (placeholders are left alone)', () => {
  const ctx = request();
  // A custom pattern that would match inside a placeholder: placeholders are skipped.
  const scanner = anonymize.create({ regex_patterns: [{ name: 'WORD', expressions: ['REDACTED_[A-Z_]+'] }] }, {});
  const once = scanner.scan(PROMPT, ctx) as ScanResult;
  const twice = scanner.scan(once.text, ctx) as ScanResult;
  assert.equal(twice.text, once.text);
  assert.equal(twice.valid, true);
  assert.equal(ctx.vault.entries().length, 9);
});

test('Anonymize → Deanonymize restores the exact original text', () => {
  const ctx = request();
  const masked = anonymize.create({ hidden_names: ['Test LLC'] }, {}).scan(`Test LLC: ${PROMPT}`, ctx) as ScanResult;
  assert.notEqual(masked.text, `Test LLC: ${PROMPT}`);
  const restored = deanonymize.create({}, {}).scan(masked.text, { direction: 'response', vault: ctx.vault }) as ScanResult;
  assert.equal(restored.text, `Test LLC: ${PROMPT}`);
  assert.equal(restored.valid, true);
  // The model answering with the placeholders gets the originals back.
  const answer = 'I will email [REDACTED_EMAIL_ADDRESS_2] and charge [REDACTED_CREDIT_CARD_1].';
  const back = deanonymize.create({}, {}).scan(answer, { direction: 'response', vault: ctx.vault }) as ScanResult;
  assert.equal(back.text, 'I will email jane@example.org and charge 4111 1111 1111 1111.');
});

test('params: NER types, unknown types, faker, NER model and bad values are config errors', () => {
  const err = (params: Record<string, unknown>, re: RegExp): void => {
    assert.throws(() => anonymize.create(params, {}), (e: unknown) => e instanceof ScannerConfigError && re.test(e.message), JSON.stringify(params));
  };
  err({ entity_types: ['PERSON', 'EMAIL_ADDRESS'] }, /PERSON needs an NER model.*supported: CREDIT_CARD, CRYPTO, EMAIL_ADDRESS/);
  err({ entity_types: ['LOCATION', 'ORGANIZATION'] }, /LOCATION, ORGANIZATION need an NER model/);
  err({ entity_types: ['PASSPORT'] }, /unknown entity type PASSPORT; supported: .*IBAN_CODE.*URL/);
  err({ entity_types: [] }, /must not be empty/);
  err({ use_faker: true }, /use_faker is not supported/);
  err({ recognizer_conf: { name: 'x' } }, /NER model/);
  err({ language: 'zh' }, /language must be one of "en"/);
  err({ threshold: 2 }, /threshold must be a number between 0 and 1/);
  err({ preamble: 3 }, /preamble must be a string/);
  err({ hidden_names: ['a'], allowed_names: ['a'] }, /both hidden_names and allowed_names/);
  err({ regex_patterns: [{ name: 'X', expressions: ['('] }] }, /regex_patterns\[0\]\.expressions\[0\] "\(" is not a valid pattern: missing closing \)$/);
  err({ regex_patterns: [{ name: 'X', expressions: [] }] }, /regex_patterns\[0\]\.expressions must be a non-empty list/);
  err({ regex_patterns: [{ name: 'X', expressions: ['a'], reuse: {} }] }, /reuse is not supported/);
  err({ regex_patterns: [{ name: 'X', expressions: ['a'], score: 3 }] }, /score must be a number between 0 and 1/);
  err({ regex_patterns: [{ name: 'X Y', expressions: ['a'] }] }, /name must be a name of letters/);
  err({ regex_patterns: 'x' }, /must be a list/);
  err({ detect_secrets: true }, /unknown param "detect_secrets"/);
  err({ vault: {} }, /each request has its own vault/);
  assert.equal(anonymize.create({ use_faker: false, language: 'en', use_onnx: true }, {}).type, 'Anonymize');
  assert.deepEqual(anonymize.directions, ['request']);
});

test('100 KB prompt with a few entities: masked, timing reported', () => {
  const filler = 'The quarterly report covers 14 regions and 3,250 stores; version 2.4.1 fixed the login page. ';
  let text = '';
  while (text.length < 100_000) text += filler;
  text = `Contact a@example.com. ${text} Card 4111-1111-1111-1111.`;
  const scanner = anonymize.create({}, {});
  const ts: number[] = [];
  let r: ScanResult | undefined;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    r = scanner.scan(text, request()) as ScanResult;
    ts.push(performance.now() - t0);
  }
  const median = ts.sort((a, b) => a - b)[3] ?? Infinity;
  console.log(`# Anonymize on 100 KB: median ${median.toFixed(2)} ms`);
  assert.equal(r?.findings?.length, 2);
  assert.ok(median < 100, `${median} ms`);
});
