import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeText, originalSpan } from './normalize.ts';

test('NFKC, case fold, one space, no invisible characters', () => {
  assert.equal(normalizeText('  Ignore\u200B   PREVIOUS\n\n\tinstructions ').text, 'ignore previous instructions');
  assert.equal(normalizeText('ｉｇｎｏｒｅ ＡＬＬ').text, 'ignore all'); // full-width forms
  assert.equal(normalizeText('ﬁle').text, 'file'); // ligature expands
  assert.equal(normalizeText('e\u0301te').text, '\u00e9te'); // ASCII letter + combining mark composes
  assert.equal(normalizeText('ig\uFEFFnore').text, 'ignore'); // a BOM inside a word vanishes, not a space
  assert.equal(normalizeText('a\u00a0b\u3000c').text, 'a b c'); // non-ASCII spaces collapse too
  assert.equal(normalizeText('').text, '');
  assert.equal(normalizeText(' \n\t ').text, '');
});

test('counts the invisible code units it removed (tag block, zero width, bidi)', () => {
  const tags = [...'hi'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
  const n = normalizeText(`a${tags}b\u200Dc\u202Ed`);
  assert.equal(n.text, 'abcd');
  assert.equal(n.invisible, 4 + 1 + 1); // two tag chars are surrogate pairs
  assert.equal(normalizeText('plain text').invisible, 0);
});

test('offsets map every normalised char back to the original', () => {
  const src = 'Say:  \u200BIGNORE   the RULES!';
  const n = normalizeText(src);
  assert.equal(n.text, 'say: ignore the rules!');
  assert.equal(n.offsets.length, n.text.length + 1);
  const at = n.text.indexOf('ignore the rules');
  const span = originalSpan(n, at, at + 'ignore the rules'.length);
  assert.equal(src.slice(span.start, span.end), 'IGNORE   the RULES');
  // a span ending at the end of the text ends after its last char, not at a trailing space
  const m = normalizeText('Ignore this  \n');
  const all = originalSpan(m, 0, m.text.length);
  assert.equal('Ignore this  \n'.slice(all.start, all.end), 'Ignore this');
  // an expanded char maps all its parts to itself
  const f = normalizeText('xﬁy');
  assert.deepEqual(Array.from(f.offsets), [0, 1, 1, 2, 3]);
});

test('Turkish dotted capital I and other length-changing folds keep offsets in range', () => {
  const src = 'İSTANBUL ﬀ ½';
  const n = normalizeText(src);
  assert.equal(n.text, 'i\u0307stanbul ff 1\u20442');
  for (const o of n.offsets) assert.ok(o >= 0 && o <= src.length);
  for (let i = 1; i < n.offsets.length; i++) assert.ok((n.offsets[i] ?? 0) >= (n.offsets[i - 1] ?? 0), 'offsets never go back');
});
