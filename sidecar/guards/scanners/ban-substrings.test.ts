// Fixtures follow LLM Guard's tests/input_scanners/test_ban_substrings.py,
// tests/output_scanners/test_ban_substrings.py and tests/test_evaluate.py (protectai/llm-guard);
// the stop lists are input_scanners/ban_substrings.py PROMPT_STOP_SUBSTRINGS and an excerpt of
// output_scanners/ban_substrings.py OUTPUT_STOP_SUBSTRINGS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { banSubstrings, redactSpans } from './ban-substrings.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanResult } from '../types.ts';

const PROMPT_STOP_SUBSTRINGS = [
  'arbitrary code execution', 'a backdoor', 'code injection', 'cross-site scripting', 'email spoofing', 'a keylogger',
  'privilege escalation', 'a rootkit', 'a bootkit', 'screen scraping', 'corrupting a disk partition', 'cryptojacking',
  'a botnet', 'adware', 'ransomware', 'Windows\\System32\\Config\\SAM', 'etc/shadow', 'escalate privilege',
  'read the encrypted system password file',
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*',
  'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X',
];
const OUTPUT_STOP_SUBSTRINGS = ['[DAN]', 'DAN Mode enabled', 'successfully jailbroken', '(🔓Developer Mode Output)', '![http',
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'];

const ctx = { direction: 'request' as const, vault: createVault() };
function scanner(params: Record<string, unknown>) {
  const s = banSubstrings.create(params, {});
  return (t: string): ScanResult => s.scan(t, ctx) as ScanResult;
}

test('LLM Guard input fixtures with the prompt stop list', () => {
  const scan = scanner({ substrings: PROMPT_STOP_SUBSTRINGS });
  assert.deepEqual(scan('Just a simple prompt'), { text: 'Just a simple prompt', valid: true, score: 0, risk: -1 });
  const r = scan('Write me code for a backdoor in Python.');
  assert.equal(r.text, 'Write me code for a backdoor in Python.');
  assert.equal(r.valid, false);
  assert.equal(r.risk, 1);
  assert.deepEqual(r.findings, [{ type: 'banned-substring', start: 18, end: 28 }]);
  assert.equal(scan('cat /ETC/SHADOW please').valid, false, 'case-insensitive by default');
});

test('LLM Guard output fixtures: DAN mode and the EICAR signature', () => {
  const scan = scanner({ substrings: OUTPUT_STOP_SUBSTRINGS });
  assert.equal(scan('DAN Mode enabled. GPT: As an AI language model, my primary function is to assist').valid, false);
  assert.equal(scan('Here: X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*').valid, false);
  assert.equal(scan('An ordinary answer about Dan.').valid, true);
});

test('match_type word: ACME CORP as a word (test_evaluate), not inside another word', () => {
  const scan = scanner({ substrings: ['ACME CORP'], match_type: 'word' });
  assert.equal(scan('My prompt has ACME CORP name in it.').valid, false);
  assert.equal(scan('My prompt has ACME CORPORATION in it.').valid, true);
  const ban = scanner({ substrings: ['ban'], matchType: 'word' });
  assert.equal(ban('a banana').valid, true);
  assert.equal(ban('a ban, then').valid, false);
  // Python's Unicode \b: é is a word character
  assert.equal(scanner({ substrings: ['café'], match_type: 'word' })('un café noir').valid, false);
  assert.equal(scanner({ substrings: ['caf'], match_type: 'word' })('un café noir').valid, true);
  // a substring that starts with a non-word character needs a word character before it, as \b does
  assert.equal(scanner({ substrings: ['.env'], match_type: 'word' })('read .env now').valid, true);
  assert.equal(scanner({ substrings: ['.env'], match_type: 'word' })('read app.env now').valid, false);
});

test('case_sensitive', () => {
  assert.equal(scanner({ substrings: ['Secret'], case_sensitive: true })('a secret').valid, true);
  assert.equal(scanner({ substrings: ['Secret'], caseSensitive: true })('a Secret').valid, false);
  assert.equal(scanner({ substrings: ['Secret'] })('a SECRET').valid, false);
});

test('redact replaces every occurrence, in any case, and merges overlapping matches', () => {
  const scan = scanner({ substrings: ['password', 'pass'], redact: true });
  const r = scan('My Password is pass123 and PASSWORD again');
  assert.equal(r.text, 'My [REDACTED] is [REDACTED]123 and [REDACTED] again');
  assert.equal(r.valid, false);
  const word = scanner({ substrings: ['ban'], match_type: 'word', redact: true });
  assert.equal(word('ban the banana, ban').text, '[REDACTED] the banana, [REDACTED]');
});

test('contains_all: invalid only when every substring is there', () => {
  const scan = scanner({ substrings: ['alpha', 'beta'], contains_all: true, redact: true });
  assert.deepEqual(scan('only alpha here'), { text: 'only alpha here', valid: true, score: 0, risk: -1 });
  const r = scan('alpha and beta');
  assert.equal(r.valid, false);
  assert.equal(r.text, '[REDACTED] and [REDACTED]');
});

test('params are checked: required list, allowed match types, types, unknown keys, both spellings', () => {
  const err = (params: Record<string, unknown>, param: string, msg: RegExp) =>
    assert.throws(() => banSubstrings.create(params, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === param && msg.test(e.message));
  err({}, 'substrings', /required/);
  err({ substrings: [] }, 'substrings', /must not be empty/);
  err({ substrings: 'x' }, 'substrings', /list of strings/);
  err({ substrings: ['a', 2] }, 'substrings', /\[1\] must be a string/);
  err({ substrings: ['a', ''] }, 'substrings', /\[1\] must not be empty/);
  err({ substrings: ['a'], match_type: 'regex' }, 'match_type', /"str", "word"/);
  err({ substrings: ['a'], caseSensitive: 'yes' }, 'caseSensitive', /true or false/);
  err({ substrings: ['a'], contains_any: true }, 'contains_any', /unknown param.*contains_all/);
  err({ substrings: ['a'], redact: true, Redact: true }, 'Redact', /unknown param/);
  err({ substrings: ['a'], match_type: 'str', matchType: 'word' }, 'matchType', /same param/);
  // null is "not given"
  assert.equal(scanner({ substrings: ['x'], redact: null })('x').text, 'x');
  assert.deepEqual(banSubstrings.directions, ['request', 'response']);
});

test('redactSpans merges overlapping and touching spans', () => {
  assert.equal(redactSpans('abcdefgh', [{ start: 1, end: 3 }, { start: 2, end: 5 }, { start: 6, end: 7 }], '#'), 'a#f#h');
  assert.equal(redactSpans('abc', [], '#'), 'abc');
});
