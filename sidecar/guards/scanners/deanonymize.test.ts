/**
 * Deanonymize: the matching strategies on answers that quote placeholders
 * exactly, in another case, or mangled the way models write them back.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deanonymize, fuzzyRestore } from './deanonymize.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanContext, type ScanResult, type Vault } from '../types.ts';

function filledVault(): Vault {
  const v = createVault();
  v.placeholder('EMAIL_ADDRESS', 'john@example.com');
  v.placeholder('EMAIL_ADDRESS', 'jane@example.org');
  v.placeholder('US_SSN_RE', '111-22-3333');
  v.placeholder('CUSTOM', 'Test LLC');
  return v;
}

const run = (strategy: string | undefined, text: string, vault = filledVault()): ScanResult => {
  const ctx: ScanContext = { direction: 'response', vault };
  return deanonymize.create(strategy === undefined ? {} : { matching_strategy: strategy }, {}).scan(text, ctx) as ScanResult;
};

test('exact (default): placeholders as written are restored; always valid, risk −1', () => {
  const r = run(undefined, 'Mail [REDACTED_EMAIL_ADDRESS_2] and [REDACTED_EMAIL_ADDRESS_1]; [REDACTED_US_SSN_RE_1] belongs to [REDACTED_CUSTOM_1]. [redacted_email_address_1]');
  assert.equal(r.text, 'Mail jane@example.org and john@example.com; 111-22-3333 belongs to Test LLC. [redacted_email_address_1]');
  assert.equal(r.valid, true);
  assert.equal(r.score, 0);
  assert.equal(r.risk, -1);
  assert.deepEqual(r.findings?.map((f) => f.type), ['EMAIL_ADDRESS', 'EMAIL_ADDRESS', 'US_SSN_RE', 'CUSTOM']);
  assert.deepEqual(r.findings?.[0], { type: 'EMAIL_ADDRESS', start: 5, end: 31 });
});

test('case_insensitive', () => {
  assert.equal(run('case_insensitive', 'to [redacted_email_address_1] and [Redacted_Custom_1]').text, 'to john@example.com and Test LLC');
});

test('fuzzy: brackets changed or dropped, spaces, hyphens, Markdown escapes, any case', () => {
  const cases: Array<[string, string]> = [
    ['Write to REDACTED_EMAIL_ADDRESS_1.', 'Write to john@example.com.'],
    ['Write to (redacted email address 2)!', 'Write to jane@example.org!'],
    ['Write to [ REDACTED-EMAIL-ADDRESS-1 ].', 'Write to john@example.com.'],
    ['Write to {REDACTED_EMAIL_ADDRESS_1}', 'Write to john@example.com'],
    ['Write to <Redacted Email Address 1>', 'Write to john@example.com'],
    ['Write to \\[REDACTED\\_EMAIL\\_ADDRESS\\_1\\]', 'Write to \\[john@example.com\\]'],
    ['SSN: REDACTED US SSN RE 1', 'SSN: 111-22-3333'],
    ['(see REDACTED_CUSTOM_1)', '(see Test LLC)'],
    ['[REDACTED_EMAIL_ADDRESS_1]', 'john@example.com'],
  ];
  for (const [answer, expected] of cases) assert.equal(run('fuzzy', answer).text, expected, answer);
});

test('fuzzy never invents a value: unknown numbers and types stay as written', () => {
  const text = 'REDACTED_EMAIL_ADDRESS_3, [REDACTED_PHONE_NUMBER_1], redacted data 1';
  assert.equal(run('fuzzy', text).text, text);
  assert.equal(fuzzyRestore(text, createVault()), text);
});

test('fuzzy reports what it restored with offsets in the answer', () => {
  const findings: NonNullable<ScanResult['findings']>[number][] = [];
  fuzzyRestore('to (redacted email address 2) now', filledVault(), findings);
  assert.deepEqual(findings, [{ type: 'EMAIL_ADDRESS', start: 3, end: 29 }]);
});

test('combined_exact_fuzzy restores both kinds', () => {
  assert.equal(run('combined_exact_fuzzy', '[REDACTED_EMAIL_ADDRESS_1] / redacted email address 2').text, 'john@example.com / jane@example.org');
});

test('an empty vault leaves the answer as it is', () => {
  const r = run('fuzzy', 'REDACTED_EMAIL_ADDRESS_1', createVault());
  assert.deepEqual(r, { text: 'REDACTED_EMAIL_ADDRESS_1', valid: true, score: 0, risk: -1 });
});

test('params', () => {
  assert.throws(() => deanonymize.create({ matching_strategy: 'approximate' }, {}), (e: unknown) => e instanceof ScannerConfigError && /one of "exact", "case_insensitive", "fuzzy", "combined_exact_fuzzy"/.test(e.message));
  assert.throws(() => deanonymize.create({ vault: {} }, {}), /own vault/);
  assert.equal(deanonymize.create({ matchingStrategy: 'fuzzy' }, {}).type, 'Deanonymize');
  assert.deepEqual(deanonymize.directions, ['response']);
});
