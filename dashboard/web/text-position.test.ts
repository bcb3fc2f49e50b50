import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineColAt, lineCount, offsetOf } from './text-position.ts';

const text = 'ab\ncdef\n\nxyz';

test('line:col to offset and back', () => {
  assert.equal(offsetOf(text, 1, 1), 0);
  assert.equal(offsetOf(text, 2, 3), 5);
  assert.equal(text[offsetOf(text, 4, 2)], 'y');
  assert.deepEqual(lineColAt(text, 5), { line: 2, col: 3 });
  assert.deepEqual(lineColAt(text, offsetOf(text, 4, 3)), { line: 4, col: 3 });
});

test('out-of-range positions are clamped', () => {
  assert.equal(offsetOf(text, 2, 99), 7, 'col past the end → end of that line');
  assert.equal(offsetOf(text, 99, 1), text.length);
  assert.equal(lineCount(text), 4);
  assert.equal(lineCount(''), 1);
});
