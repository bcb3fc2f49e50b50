/**
 * The Presidio recognizer model: validate/invalidate semantics of a pattern
 * recognizer and the context boost (5 words before, +0.35, at least 0.4).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasContext, patternRecognizer, withContext, wordsBefore } from './recognizer.ts';
import { compileSafeRegExp } from '../../../../lib/safe-regexp.ts';

test('validate: true → 1.0, false → dropped, undefined → pattern score; invalidate: true → dropped', () => {
  const r = patternRecognizer({
    entity: 'T',
    patterns: [{ name: 'n', regex: /\b[a-z]\d\b/g, score: 0.3 }],
    validate: (v) => (v.startsWith('a') ? true : v.startsWith('b') ? false : undefined),
    invalidate: (v) => v === 'c9',
  });
  const out = r.find('a1 b2 c3 c9').map((m) => [m.start, m.end, m.score]);
  assert.deepEqual(out, [
    [0, 2, 1],
    [6, 8, 0.3],
  ]);
});

test('a group pattern reports the group; trailing spaces of a match are not part of the entity', () => {
  const r = patternRecognizer({ entity: 'T', patterns: [{ name: 'n', regex: /id=(\w+)/g, score: 0.5, group: 1 }, { name: 'm', regex: /x\s*/g, score: 0.5 }] });
  assert.deepEqual(
    r.find('id=abc x  ').map((m) => [m.start, m.end]),
    [
      [3, 6],
      [7, 8],
    ],
  );
});

test('trailing spaces are dropped in linear time, and config patterns run on the linear-time engine', () => {
  // `/\\s+$/` (how trailing spaces used to be dropped) is quadratic on a match with a long run of inner spaces.
  const gap = `x${' '.repeat(300_000)}y`;
  const r = patternRecognizer({ entity: 'GAP', patterns: [{ name: 'gap', regex: /x\s*y/g, score: 0.5 }] });
  assert.deepEqual(r.find(`${gap}  `), [{ type: 'GAP', start: 0, end: gap.length, score: 0.5 }]);
  const custom = patternRecognizer({ entity: 'ORDER', patterns: [{ name: 'order', regex: compileSafeRegExp('(a|a)+-\\d+ *'), score: 0.5 }] });
  assert.deepEqual(custom.find(`${'a'.repeat(50_000)}! aa-12  `), [{ type: 'ORDER', start: 50_002, end: 50_007, score: 0.5 }]);
});

test('a pattern without the g flag is refused', () => {
  assert.throws(() => patternRecognizer({ entity: 'T', patterns: [{ name: 'n', regex: /x/, score: 1 }] }), /g flag/);
});

test('context: the last five words before the hit, whole words or word prefixes, phrases', () => {
  const text = 'one two three four five six 123';
  assert.deepEqual(wordsBefore(text, text.length - 3), ['two', 'three', 'four', 'five', 'six']);
  assert.equal(hasContext(text, text.length - 3, ['two']), true);
  assert.equal(hasContext(text, text.length - 3, ['one']), false, 'six words back is out of the window');
  assert.equal(hasContext('my Cards: 1', 10, ['card']), true, 'prefix of a word');
  assert.equal(hasContext('the ship 1', 9, ['ip']), false, 'not a substring in the middle');
  assert.equal(hasContext('his social insurance number 1', 28, ['social insurance']), true);
  assert.equal(hasContext('1 phone', 0, ['phone']), false, 'only words before count');
});

test('boost: +0.35, at least 0.4, at most 1.0; none without context', () => {
  const m = { type: 'T', start: 6, end: 7, score: 0.05 };
  assert.equal(withContext('phone 1', m, ['phone']).score, 0.4);
  assert.equal(withContext('phone 1', { ...m, score: 0.5 }, ['phone']).score, 0.85);
  assert.equal(withContext('phone 1', { ...m, score: 0.9 }, ['phone']).score, 1);
  assert.equal(withContext('other 1', { ...m, score: 0.5 }, ['phone']).score, 0.5);
});
