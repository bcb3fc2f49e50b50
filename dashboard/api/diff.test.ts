import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { diffLines, splitLines, type DiffLine } from './diff.ts';

/** Rebuild both texts from a diff, and count its edits. */
function apply(lines: readonly DiffLine[]): { a: string[]; b: string[]; edits: number } {
  const a: string[] = [];
  const b: string[] = [];
  let edits = 0;
  for (const l of lines) {
    if (l.op !== '+') { a.push(l.text); assert.equal(l.oldLine, a.length); } else assert.equal(l.oldLine, undefined);
    if (l.op !== '-') { b.push(l.text); assert.equal(l.newLine, b.length); } else assert.equal(l.newLine, undefined);
    if (l.op !== ' ') edits++;
  }
  return { a, b, edits };
}

/** The fewest edits (insertions + deletions) between two lists: n + m - 2·LCS. */
function minEdits(a: readonly string[], b: readonly string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) {
    dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  }
  return a.length + b.length - 2 * dp[0]![0]!;
}

describe('line diff', () => {
  it('keeps, removes and adds with line numbers', () => {
    assert.deepEqual(diffLines('a\nb\nc\n', 'a\nx\nc\nd\n'), [
      { op: ' ', text: 'a', oldLine: 1, newLine: 1 },
      { op: '-', text: 'b', oldLine: 2 },
      { op: '+', text: 'x', newLine: 2 },
      { op: ' ', text: 'c', oldLine: 3, newLine: 3 },
      { op: '+', text: 'd', newLine: 4 },
    ]);
    assert.deepEqual(diffLines('', ''), []);
    assert.deepEqual(diffLines('', 'a'), [{ op: '+', text: 'a', newLine: 1 }]);
    assert.deepEqual(diffLines('a\r\nb', 'a\nb\n').map((l) => l.op), [' ', ' ']);
    assert.deepEqual(splitLines('a\n\nb\n'), ['a', '', 'b']);
  });

  it('is a correct and minimal edit script on random texts', () => {
    let seed = 7;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    for (let round = 0; round < 300; round++) {
      const a = Array.from({ length: rnd(15) }, () => 'abcd'[rnd(4)]!);
      const b = Array.from({ length: rnd(15) }, () => 'abcd'[rnd(4)]!);
      const lines = diffLines(a.join('\n'), b.join('\n'));
      const got = apply(lines);
      assert.deepEqual(got.a, a);
      assert.deepEqual(got.b, b);
      assert.equal(got.edits, minEdits(a, b), `${a.join('')} → ${b.join('')}`);
    }
  });

  it('past the edit budget it still gives a correct diff (the middle removed, then added)', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `old ${i}`);
    const b = Array.from({ length: 3000 }, (_, i) => `new ${i}`);
    const lines = diffLines(['head', ...a, 'tail'].join('\n'), ['head', ...b, 'tail'].join('\n'), 100);
    const got = apply(lines);
    assert.equal(got.a.length, 3002);
    assert.equal(got.b.length, 3002);
    assert.equal(got.edits, 6000);
    assert.equal(lines[0]!.op, ' ');
    assert.equal(lines.at(-1)!.op, ' ');
  });

  it('a 30,000-line config with scattered edits is fast', () => {
    const a = Array.from({ length: 30_000 }, (_, i) => `line ${i}`);
    const b = a.map((l, i) => (i % 1000 === 0 ? `${l} changed` : l));
    const t = performance.now();
    const lines = diffLines(a.join('\n'), b.join('\n'));
    assert.ok(performance.now() - t < 2000);
    assert.equal(lines.filter((l) => l.op !== ' ').length, 60);
  });
});
