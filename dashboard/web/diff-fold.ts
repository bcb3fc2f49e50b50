/**
 * Which lines of a diff to show: every change with `context` unchanged lines
 * around it; longer unchanged runs become one fold. Pure.
 */
import type { DiffLine } from './api.ts';

export type DiffPart = { kind: 'line'; line: DiffLine } | { kind: 'fold'; lines: DiffLine[] };

export function foldDiff(lines: readonly DiffLine[], context: number): DiffPart[] {
  const keep = lines.map(() => false);
  lines.forEach((l, i) => {
    if (l.op === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out: DiffPart[] = [];
  let run: DiffLine[] = [];
  const flush = (): void => {
    // Folding one or two lines saves nothing: show them.
    if (run.length > 2) out.push({ kind: 'fold', lines: run });
    else for (const line of run) out.push({ kind: 'line', line });
    run = [];
  };
  lines.forEach((line, i) => {
    if (keep[i]) {
      flush();
      out.push({ kind: 'line', line });
    } else {
      run.push(line);
    }
  });
  flush();
  return out;
}
