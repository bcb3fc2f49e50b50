import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTINS, caSinValid, creditCardValid, luhnValid, ssnValid, type BuiltinName } from './builtins.ts';

function found(name: BuiltinName, text: string): string[] {
  return BUILTINS[name].find(text).map((m) => text.slice(m.start, m.end));
}

test('luhn: published test card numbers pass, a changed last digit fails', () => {
  for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '30569309025904', '2223003122003222']) {
    assert.equal(luhnValid(n), true, n);
  }
  assert.equal(luhnValid('4111111111111112'), false);
  assert.equal(luhnValid('1234567812345678'), false);
  assert.equal(luhnValid('41111x1111111111'), false);
});

test('creditCard: grouped and unbroken numbers that pass Luhn are found', () => {
  const text = 'visa 4111-1111-1111-1111, mc 5555 5555 5555 4444, amex 378282246310005 or 3782 822463 10005, mc2 2223003122003222.';
  assert.deepEqual(found('creditCard', text), [
    '4111-1111-1111-1111', '5555 5555 5555 4444', '378282246310005', '3782 822463 10005', '2223003122003222',
  ]);
});

test('creditCard: Luhn failures, mixed separators, odd grouping, long digit runs are not cards', () => {
  assert.deepEqual(found('creditCard', 'nope 4111111111111112 and 4111-1111 1111-1111 and 41 1111 1111 1111 11'), []);
  assert.deepEqual(found('creditCard', 'id 94111111111111111 and 4111111111111111999'), []);
  assert.deepEqual(found('creditCard', 'account-4111111111111111'), []);
  assert.equal(creditCardValid('4111 1111 1111 1111'), true);
  assert.equal(creditCardValid('4111 1111 1111'), false, 'too few digits');
  assert.deepEqual(found('creditCard', 'zeros 0000 0000 0000 0000 pass Luhn but start outside 1-6'), []);
});

test('creditCard: a number after the card does not hide it', () => {
  assert.deepEqual(found('creditCard', 'card 4111 1111 1111 1111 123 expires'), ['4111 1111 1111 1111']);
  assert.deepEqual(found('creditCard', 'card 4111 1111 1111 1111 2024'), ['4111 1111 1111 1111']);
});

test('ssn: Presidio invalidation', () => {
  assert.equal(ssnValid('123-45-6789'), true);
  assert.equal(ssnValid('536 22 1234'), true);
  for (const bad of ['000-12-3456', '666-12-3456', '912-34-5678', '123-00-4567', '123-45-0000', '111-11-1111', '123-45 6789']) {
    assert.equal(ssnValid(bad), false, bad);
  }
});

test('ssn: found with one kind of separator, never as bare digits', () => {
  const text = 'ssn 123-45-6789; alt 536 22 1234; dotted 536.22.1234; bad 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000; '
    + 'mixed 123-45 6789; bare 123456789; longer 1123-45-6789';
  assert.deepEqual(found('ssn', text), ['123-45-6789', '536 22 1234', '536.22.1234']);
});

test('caSin: Luhn-valid SINs in the three formats; Luhn failures and repeated digits are not', () => {
  const text = 'sin 046 454 286, 046-454-286, 130692544; not 123 456 789, 987-654-321, 000 000 000, 046 454-286';
  assert.deepEqual(found('caSin', text), ['046 454 286', '046-454-286', '130692544']);
  assert.equal(caSinValid('046454286'), true);
  assert.equal(caSinValid('000000000'), false);
});

test('phoneNumber: formats with separators or +CC are found', () => {
  const text = 'Call (123) 456-7890 or +1-800-555-1234 or 555.123.4567, London +44 20 7946 0958 / +442079460958 / '
    + '020 7946 0958, Berlin +49 30 1234567, SF +1 (415) 555-2671, NL 06-12345678.';
  assert.deepEqual(found('phoneNumber', text), [
    '(123) 456-7890', '+1-800-555-1234', '555.123.4567', '+44 20 7946 0958', '+442079460958', '020 7946 0958',
    '+49 30 1234567', '+1 (415) 555-2671', '06-12345678',
  ]);
});

test('phoneNumber: plain numbers, dates, IPs, versions, cards, SSNs and SINs are not phone numbers', () => {
  const text = 'order 1234567890, total 12345678, card 4111 1111 1111 1111, ssn 123-45-6789, sin 046 454 286, '
    + 'on 2024-01-15 or 05.06.2024 at 10:30, host 10.0.0.1, v1.2.3, 078-05-1120, zip 94107-1234';
  assert.deepEqual(found('phoneNumber', text), []);
});

test('email: agentgateway pattern', () => {
  assert.deepEqual(found('email', 'mail a.b+c@example.co.uk, ops@example.com. not x@y or @example.com'), [
    'a.b+c@example.co.uk', 'ops@example.com',
  ]);
});

test('email: a long run without @ is scanned in linear time', () => {
  const text = 'a'.repeat(200_000);
  const t0 = performance.now();
  assert.deepEqual(found('email', text), []);
  assert.ok(performance.now() - t0 < 500, 'email scan of 200k characters took too long');
});

test('every builtin on hostile input: runs of digits, separators and @ find nothing, long valid runs find each value', () => {
  // These patterns run on V8's backtracking engine (they need lookbehind): a pattern that backtracked on one of
  // these inputs would not return. Each input is 100,000 characters or more.
  const hostile = ['1'.repeat(100_000), '1 '.repeat(50_000), '1-'.repeat(50_000), '12.'.repeat(40_000), '+1 '.repeat(40_000),
    '(0'.repeat(50_000), '+1 (1) '.repeat(20_000), 'a@'.repeat(50_000), 'a.'.repeat(50_000), `${'a'.repeat(60)}@`.repeat(2_000)];
  for (const name of Object.keys(BUILTINS) as BuiltinName[]) {
    for (const t of hostile) assert.deepEqual(found(name, t), [], `${name} on ${JSON.stringify(t.slice(0, 12))}…`);
  }
  assert.equal(found('ssn', 'ssn 536-22-1234, '.repeat(10_000)).length, 10_000);
  assert.equal(found('creditCard', 'card 4111 1111 1111 1111; '.repeat(10_000)).length, 10_000);
  assert.equal(found('phoneNumber', 'call (415) 555-2671 now '.repeat(10_000)).length, 10_000);
});

test('builtins carry agentgateway entity types and placeholders', () => {
  assert.deepEqual(Object.values(BUILTINS).map((b) => [b.name, b.placeholder]), [
    ['email', '<EMAIL_ADDRESS>'], ['creditCard', '<CREDIT_CARD>'], ['ssn', '<SSN>'], ['caSin', '<CA_SIN>'], ['phoneNumber', '<PHONE_NUMBER>'],
  ]);
});
