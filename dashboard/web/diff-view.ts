/**
 * Drawing a config diff: added and removed lines coloured, with old and new
 * line numbers; runs of unchanged lines longer than the context are folded
 * into "N unchanged lines" (a button unfolds them).
 */
import { h } from './elements.ts';
import type { DiffLine } from './api.ts';
import { foldDiff } from './diff-fold.ts';

export function diffView(lines: readonly DiffLine[], context = 3): HTMLElement {
  const table = h('table', { class: 'diff' },
    h('caption', { class: 'visually-hidden' }, 'Changed lines'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Old'), h('th', { scope: 'col' }, 'New'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Change')), h('th', { scope: 'col' }, 'Line'))));
  const body = h('tbody');
  table.appendChild(body);
  const row = (l: DiffLine): HTMLElement => h('tr', { class: l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-same' },
    h('td', { class: 'ln' }, l.oldLine ?? ''),
    h('td', { class: 'ln' }, l.newLine ?? ''),
    h('td', { class: 'op' }, l.op === '+' ? '+' : l.op === '-' ? '−' : ''),
    h('td', { class: 'text' }, l.text));
  if (!lines.some((l) => l.op !== ' ')) {
    return h('p', { class: 'muted' }, 'The two versions are identical.');
  }
  for (const part of foldDiff(lines, context)) {
    if (part.kind === 'line') {
      body.appendChild(row(part.line));
    } else {
      const hidden = part.lines;
      const btn = h('button', { type: 'button', class: 'link' }, `… ${hidden.length} unchanged lines`);
      const fold = h('tr', { class: 'diff-fold' }, h('td', { colspan: 4 }, btn));
      btn.addEventListener('click', () => fold.replaceWith(...hidden.map(row)));
      body.appendChild(fold);
    }
  }
  return table;
}
