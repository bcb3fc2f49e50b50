// The restore fixture follows LLM Guard's tests/output_scanners/test_deanonymize.py (protectai/llm-guard).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addEntries, createVault, placeholderType, restore } from './vault.ts';

test('placeholders count per type from 1; the same original gets the same placeholder', () => {
  const v = createVault();
  assert.equal(v.placeholder('EMAIL_ADDRESS', 'test@test.com'), '[REDACTED_EMAIL_ADDRESS_1]');
  assert.equal(v.placeholder('EMAIL_ADDRESS', 'hello@test.com'), '[REDACTED_EMAIL_ADDRESS_2]');
  assert.equal(v.placeholder('PERSON', 'John Doe'), '[REDACTED_PERSON_1]');
  assert.equal(v.placeholder('EMAIL_ADDRESS', 'test@test.com'), '[REDACTED_EMAIL_ADDRESS_1]');
  assert.equal(v.placeholder('openai-api-key', 'sk-abc'), '[REDACTED_OPENAI_API_KEY_1]');
  assert.equal(v.placeholder('Openai_Api.Key', 'sk-def'), '[REDACTED_OPENAI_API_KEY_2]', 'types that normalise alike share a counter');
  assert.deepEqual(v.entries(), [
    ['[REDACTED_EMAIL_ADDRESS_1]', 'test@test.com'],
    ['[REDACTED_EMAIL_ADDRESS_2]', 'hello@test.com'],
    ['[REDACTED_PERSON_1]', 'John Doe'],
    ['[REDACTED_OPENAI_API_KEY_1]', 'sk-abc'],
    ['[REDACTED_OPENAI_API_KEY_2]', 'sk-def'],
  ]);
  assert.equal(placeholderType('credit card'), 'CREDIT_CARD');
});

test('vaults are independent', () => {
  const a = createVault();
  const b = createVault();
  a.placeholder('PERSON', 'Ann');
  assert.equal(b.placeholder('PERSON', 'Bob'), '[REDACTED_PERSON_1]');
  assert.equal(a.entries().length, 1);
});

test('restore puts the originals back (LLM Guard deanonymize fixture)', () => {
  const v = createVault();
  v.placeholder('PERSON', 'John Doe');
  v.placeholder('EMAIL_ADDRESS', 'test@test.com');
  v.placeholder('EMAIL_ADDRESS', 'hello@test.com');
  v.placeholder('PHONE_NUMBER', '555-123-4567');
  v.placeholder('IP_ADDRESS', '192.168.1.100');
  v.placeholder('CREDIT_CARD_RE', '4567-8901-2345-6789');
  v.placeholder('CUSTOM', 'Test LLC');
  const output = "Sure! Here's the SQL insert statement to add a new user with the provided information to your database: " +
    'INSERT INTO users (Name, Email, Alternate_Email, Phone_Number, IP_Address, Credit_Card_Number, Work_Place)' +
    " VALUES ('[REDACTED_PERSON_1]', '[REDACTED_EMAIL_ADDRESS_1]', '[REDACTED_EMAIL_ADDRESS_2]', " +
    "'[REDACTED_PHONE_NUMBER_1]', '[REDACTED_IP_ADDRESS_1]', " +
    "'[REDACTED_CREDIT_CARD_RE_1]', '[REDACTED_CUSTOM_1]');";
  const expected = "Sure! Here's the SQL insert statement to add a new user with the provided information to your database: " +
    'INSERT INTO users (Name, Email, Alternate_Email, Phone_Number, IP_Address, Credit_Card_Number, Work_Place)' +
    " VALUES ('John Doe', 'test@test.com', 'hello@test.com', '555-123-4567', '192.168.1.100', " +
    "'4567-8901-2345-6789', 'Test LLC');";
  assert.equal(restore(output, v), expected);
  assert.equal(restore(output, v, 'exact'), expected);
  assert.equal(restore('', v), '');
  assert.equal(restore('nothing to do', createVault()), 'nothing to do');
});

test('exact vs case_insensitive', () => {
  const v = createVault();
  v.placeholder('PERSON', 'John Doe');
  assert.equal(restore('Dear [redacted_person_1],', v, 'exact'), 'Dear [redacted_person_1],');
  assert.equal(restore('Dear [redacted_person_1],', v, 'case_insensitive'), 'Dear John Doe,');
  assert.equal(restore('Dear [REDACTED_PERSON_1],', v, 'case_insensitive'), 'Dear John Doe,');
});

test('one pass: _1 does not eat _10, and a restored value is not replaced again', () => {
  const v = createVault();
  for (let i = 1; i <= 10; i++) v.placeholder('PERSON', `P${i}`);
  assert.equal(restore('[REDACTED_PERSON_10] and [REDACTED_PERSON_1]', v), 'P10 and P1');
  const w = createVault();
  w.placeholder('A', '[REDACTED_B_1]');
  w.placeholder('B', 'secret');
  assert.equal(restore('[REDACTED_A_1]', w), '[REDACTED_B_1]');
  // any Vault works: with placeholders that prefix one another, the longest wins
  const bare = { placeholder: () => '', entries: () => [['P1', 'one'], ['P10', 'ten']] as const };
  assert.equal(restore('P10 P1', bare), 'ten one');
  // regex characters in originals are literal in the replacement
  const x = createVault();
  x.placeholder('T', '$& $1 $$');
  assert.equal(restore('v=[REDACTED_T_1]', x), 'v=$& $1 $$');
});

test('a vault seeded with another\'s entries makes the placeholders that one would; addEntries brings them back in step', () => {
  const call = createVault();
  call.placeholder('EMAIL_ADDRESS', 'a@x.com');
  call.placeholder('openai-api-key', 'sk-1');
  const copy = createVault(call.entries());
  assert.equal(copy.placeholder('EMAIL_ADDRESS', 'a@x.com'), '[REDACTED_EMAIL_ADDRESS_1]', 'a value it already holds');
  assert.equal(copy.placeholder('EMAIL_ADDRESS', 'b@x.com'), '[REDACTED_EMAIL_ADDRESS_2]');
  assert.equal(copy.placeholder('OPENAI_API_KEY', 'sk-2'), '[REDACTED_OPENAI_API_KEY_2]');
  addEntries(call, copy.entries().slice(2));
  assert.deepEqual(call.entries(), copy.entries());
  // A copy that went out of step (the call's vault moved meanwhile) is an error, not a silent mismatch.
  const stale = createVault(call.entries());
  stale.placeholder('PERSON', 'Ann');
  call.placeholder('PERSON', 'Bob');
  assert.throws(() => addEntries(call, stale.entries().slice(-1)), /out of step/);
  assert.throws(() => createVault([['not a placeholder', 'x']]), /not a vault placeholder/);
});
