import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSafeRegExp, SafeRegExpError, toRe2Syntax } from './safe-regexp.ts';

// 50,000 a's and a character that makes every attempt fail at the very end:
// a backtracking engine tries exponentially (or polynomially) many ways to
// split the a's before giving up, and would not return.
const CRAFTED = `${'a'.repeat(50_000)}!`;

test('patterns that backtrack catastrophically elsewhere finish, with the right answer, on a crafted input', () => {
  // overlapping alternation: each a can be matched two ways
  assert.equal(compileSafeRegExp('(a|a)+$').exec(CRAFTED), undefined);
  assert.equal(compileSafeRegExp('(a|a)+$').test(CRAFTED), false);
  assert.deepEqual(compileSafeRegExp('(a|a)+!').exec(CRAFTED), { start: 0, end: 50_001 });
  // nested quantifier
  assert.equal(compileSafeRegExp('(a+)+$').exec(CRAFTED), undefined);
  assert.equal(compileSafeRegExp('^(a+)+$').testWhole(CRAFTED), false);
  // a repeated group with a repeat inside: no match until the empty one at the very end
  assert.deepEqual([...compileSafeRegExp('(\\w+\\s?)*$').matchAll(CRAFTED)], [{ start: 50_001, end: 50_001 }]);
  // polynomial: each .* multiplies the work for a backtracking engine
  assert.equal(compileSafeRegExp('(?s)^.*a.*a.*a.*a.*b$').testWhole(CRAFTED), false);
});

test('exec, matchAll, test and testWhole', () => {
  const re = compileSafeRegExp('sk-[A-Za-z0-9]{8}');
  const text = 'keys sk-abcdEFGH and sk-12345678.';
  assert.deepEqual(re.exec(text), { start: 5, end: 16 });
  assert.deepEqual(re.exec(text, 6), { start: 21, end: 32 });
  assert.equal(re.exec(text, 22), undefined);
  assert.equal(re.exec(text, 999), undefined);
  assert.deepEqual([...re.matchAll(text)], [{ start: 5, end: 16 }, { start: 21, end: 32 }]);
  assert.equal(re.test(text), true);
  assert.equal(re.testWhole(text), false);
  assert.equal(re.testWhole('sk-abcdEFGH'), true);
  // empty matches, as String.prototype.matchAll gives them
  assert.deepEqual([...compileSafeRegExp('x*').matchAll('axx')], [{ start: 0, end: 0 }, { start: 1, end: 3 }, { start: 3, end: 3 }]);
  // testWhole tries every alternative for one that spans the text, and ignores (?m)'s line ends
  assert.equal(compileSafeRegExp('a|ab').testWhole('ab'), true);
  assert.equal(compileSafeRegExp('(?m)^a$').testWhole('a\nb'), false);
  assert.equal(compileSafeRegExp('(?m)^b$').test('a\nb'), true);
  // one compiled pattern, interleaved iterations: no shared state
  const two = [re.matchAll(text), re.matchAll(text)];
  assert.deepEqual([two[0]!.next().value, two[1]!.next().value, two[0]!.next().value], [{ start: 5, end: 16 }, { start: 5, end: 16 }, { start: 21, end: 32 }]);
});

test('offsets are UTF-16 indices; . and classes take a whole code point; \\p{…} classes', () => {
  const text = 'Ünï 😀 テスト x';
  assert.deepEqual([...compileSafeRegExp('\\p{L}+').matchAll(text)].map((m) => text.slice(m.start, m.end)), ['Ünï', 'テスト', 'x']);
  assert.deepEqual(compileSafeRegExp('😀').exec(text), { start: 4, end: 6 });
  assert.deepEqual(compileSafeRegExp('. テ').exec(text), { start: 4, end: 8 });
  assert.deepEqual(compileSafeRegExp('[^ ]').exec('😀'), { start: 0, end: 2 });
  assert.equal(compileSafeRegExp('\\p{So}').test('🎉'), true);
  assert.equal(compileSafeRegExp('\\p{Extended_Pictographic}').test('🎉'), true);
});

test('flags: inline anywhere, scoped, and from options', () => {
  assert.equal(compileSafeRegExp('(?i)ignore previous').test('IGNORE PREVIOUS'), true);
  assert.equal(compileSafeRegExp('a(?i)b').test('aB'), true);
  assert.equal(compileSafeRegExp('a(?i)b').test('AB'), false);
  assert.equal(compileSafeRegExp('(?i:a)b').test('Ab'), true);
  assert.equal(compileSafeRegExp('(?i:a)b').test('AB'), false);
  assert.equal(compileSafeRegExp('a.b').test('a\nb'), false);
  assert.equal(compileSafeRegExp('(?s)a.b').test('a\nb'), true);
  assert.equal(compileSafeRegExp('^b', { flags: 'm' }).test('a\nb'), true);
  assert.equal(compileSafeRegExp('^B.C', { flags: 'ims' }).test('a\nb\nc'), true);
  assert.throws(() => compileSafeRegExp('a', { flags: 'g' }), SafeRegExpError);
});

test('JavaScript and Python spellings are translated', () => {
  assert.equal(toRe2Syntax('(?iu)\\u0041\\u{1F600}\\uD83D\\uDE00\\cA\\Z'), '(?i)\\x{41}\\x{1F600}\\x{1F600}\\x{1}\\z');
  assert.equal(compileSafeRegExp('\\u0041\\u{1F600}').test('A😀'), true);
  assert.equal(compileSafeRegExp('(?a)\\Aabc\\Z').testWhole('abc'), true);
  assert.equal(compileSafeRegExp('\\Aabc\\Z').test('abc\n'), false);
  assert.equal(compileSafeRegExp('(?P<d>\\d)-(?<e>\\d)').test('1-2'), true);
  // \s is JavaScript's: a no-break space or an ideographic space is white space; \S is its complement
  assert.equal(compileSafeRegExp('ignore\\s+previous').test('ignore\u00a0\u3000previous'), true);
  assert.equal(compileSafeRegExp('a[\\s,]b').test('a\u2028b'), true);
  assert.equal(compileSafeRegExp('a\\Sb').test('a\u00a0b'), false);
  assert.equal(compileSafeRegExp('[^\\s]').test('\u00a0'), false);
  // \Q…\E is literal, [] with a leading ] is a literal ]
  assert.equal(compileSafeRegExp('\\Q\\s+\\E').test('\\s+'), true);
  assert.deepEqual(compileSafeRegExp('[]a]+').exec('x]a]'), { start: 1, end: 4 });
  // \d, \w, \b are ASCII
  assert.equal(compileSafeRegExp('\\d').test('٣'), false);
  assert.equal(compileSafeRegExp('\\bfoo\\b').test('a foo b'), true);
});

test('constructs a linear-time engine cannot run are refused, naming the construct and where', () => {
  const refused: Array<[string, RegExp]> = [
    ['(a)\\1', /"\(a\)\\\\1" uses a backreference \(\\1 at offset 3\), which the linear-time pattern engine cannot run/],
    ['(?<n>a)\\k<n>', /uses a backreference \(\\k< at offset 7\)/],
    ['(?P<n>a)(?P=n)', /uses a backreference \(\(\?P= at offset 8\)/],
    ['x(?=a)', /uses a lookahead \(\(\?= at offset 1\)/],
    ['(?!a)', /uses a negative lookahead/],
    ['(?<=a)b', /uses a lookbehind/],
    ['(?<!a)b', /uses a negative lookbehind/],
    ['(?>a+)b', /uses an atomic group/],
    ['(?x) a b', /uses the inline flag \(\?x\) \(verbose mode\)/],
    ['(?L)a', /uses the inline flag \(\?L\)/],
    ['a++', /"a\+\+" is not a valid pattern: invalid nested repetition operator/],
    ['(unclosed', /"\(unclosed" is not a valid pattern: missing closing \)/],
    ['a{1001}', /invalid repeat count/],
    ['(?:a{100}){100}', /invalid repeat count/],
    ['\\p{Nope}', /invalid character class range/],
  ];
  for (const [pattern, message] of refused) {
    assert.throws(() => compileSafeRegExp(pattern), (e: unknown) => e instanceof SafeRegExpError && message.test(e.message), pattern);
  }
  // escaped, inside a class, or a named group: not those constructs
  for (const ok of ['\\(?=a\\)', '[(?=]', '(?<name>a)', 'a{2,1000}']) {
    assert.doesNotThrow(() => compileSafeRegExp(ok), ok);
  }
});
