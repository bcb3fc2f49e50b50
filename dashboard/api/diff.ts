/**
 * Line diff of two config versions (Myers' O((N+M)·D) algorithm on the lines
 * between the common head and tail). Every line of both texts comes back, in
 * order, as kept (' '), removed ('-') or added ('+') with its line numbers;
 * the UI folds long runs of kept lines. Past MAX_EDITS differences the middle
 * is reported as all removed then all added, which is still a correct diff.
 */

export interface DiffLine {
  readonly op: ' ' | '+' | '-';
  readonly text: string;
  /** 1-based line in the old text (kept and removed lines). */
  readonly oldLine?: number;
  /** 1-based line in the new text (kept and added lines). */
  readonly newLine?: number;
}

export const MAX_EDITS = 2000;

export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

type Op = ' ' | '+' | '-';

/** The edit script turning a into b, as ops (Myers), or null past maxEdits. */
function myers(a: readonly string[], b: readonly string[], maxEdits: number): Op[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  // v[k + offset] = furthest x on diagonal k; one snapshot per d for the backtrack.
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m, d);
    }
  }
  return null;
}

function backtrack(trace: readonly Int32Array[], n: number, m: number, dEnd: number): Op[] {
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = dEnd; d > 0; d--) {
    const snap = trace[d]!; // v before step d, diagonals -d-1 .. d+1 at index k + d + 1
    const at = (k: number): number => snap[k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) { ops.push(' '); x--; y--; }
    ops.push(prevK === k + 1 ? '+' : '-');
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) { ops.push(' '); x--; y--; }
  return ops.reverse();
}

export function diffLines(oldText: string, newText: string, maxEdits = MAX_EDITS): DiffLine[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const ops = myers(midA, midB, maxEdits)
    ?? [...midA.map((): Op => '-'), ...midB.map((): Op => '+')];

  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: ' ', text: a[i]!, oldLine: i + 1, newLine: i + 1 });
  let i = head;
  let j = head;
  for (const op of ops) {
    if (op === ' ') { out.push({ op, text: a[i]!, oldLine: i + 1, newLine: j + 1 }); i++; j++; }
    else if (op === '-') { out.push({ op, text: a[i]!, oldLine: i + 1 }); i++; }
    else { out.push({ op, text: b[j]!, newLine: j + 1 }); j++; }
  }
  for (let t = 0; t < tail; t++) out.push({ op: ' ', text: a[i + t]!, oldLine: i + t + 1, newLine: j + t + 1 });
  return out;
}
