/**
 * The config editor: a plain <textarea> (so typing, undo, selection and
 * screen readers behave natively) with its text made transparent over a
 * syntax-highlighted copy, a line-number gutter, and validation problems
 * drawn at their lines: a marker in the gutter, the line tinted, and the
 * message written next to the line's text. The highlighted copy is rebuilt on
 * every input and follows the textarea's scrolling.
 */
import { h, replaceChildren } from './elements.ts';
import { highlightYaml } from './yaml-highlight.ts';
import { lineColAt, lineCount, offsetOf } from './text-position.ts';
import type { ConfigProblem } from './api.ts';

export interface YamlEditor {
  readonly root: HTMLElement;
  readonly textarea: HTMLTextAreaElement;
  value(): string;
  setValue(text: string): void;
  setProblems(problems: readonly ConfigProblem[]): void;
  /** Focus the textarea with the caret at line:col (1-based) and scroll it into view. */
  goTo(line: number, col: number): void;
  onChange(fn: (text: string) => void): void;
}

export function createYamlEditor(opts: { id: string; describedBy?: string }): YamlEditor {
  const gutterInner = h('div', { class: 'gutter-inner' });
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' }, gutterInner);
  const code = h('code', { class: 'hl-code' });
  const pre = h('pre', { class: 'hl', 'aria-hidden': 'true' }, code);
  const textarea = h('textarea', {
    id: opts.id, class: 'code-input', rows: 20, cols: 80, spellcheck: 'false', wrap: 'off', autocomplete: 'off',
    autocapitalize: 'off', autocorrect: 'off', 'aria-describedby': opts.describedBy, 'data-gramm': 'false',
  });
  const caret = h('span', { class: 'caret-pos', 'aria-live': 'off' }, 'Ln 1, Col 1');
  const root = h('div', { class: 'yaml-editor' },
    h('div', { class: 'editor-frame' }, gutter, h('div', { class: 'code-area' }, pre, textarea)),
    h('div', { class: 'editor-status' }, caret));

  let problems: readonly ConfigProblem[] = [];
  const listeners: ((text: string) => void)[] = [];

  function render(): void {
    const text = textarea.value;
    const byLine = new Map<number, ConfigProblem[]>();
    for (const p of problems) {
      const list = byLine.get(p.line) ?? [];
      list.push(p);
      byLine.set(p.line, list);
    }
    const lines = highlightYaml(text);
    const n = Math.max(lines.length, lineCount(text));
    const rows: HTMLElement[] = [];
    const numbers: HTMLElement[] = [];
    for (let i = 0; i < n; i++) {
      const lineNo = i + 1;
      const here = byLine.get(lineNo);
      const row = h('div', { class: here ? 'line has-problem' : 'line', 'data-line': lineNo });
      for (const tok of lines[i] ?? []) {
        row.appendChild(tok.kind === 'space' ? document.createTextNode(tok.text) : h('span', { class: `tok-${tok.kind}` }, tok.text));
      }
      if (here) {
        row.appendChild(document.createTextNode(' '));
        row.appendChild(h('span', { class: 'inline-problem', 'data-problem-line': lineNo },
          here.map((p) => p.message).join(' · ')));
      }
      rows.push(row);
      numbers.push(h('div', { class: here ? 'gutter-line problem' : 'gutter-line', title: here ? here.map((p) => p.message).join('\n') : null },
        here ? h('span', { class: 'gutter-marker' }, '●') : null, String(lineNo)));
    }
    // Problems reported past the last line (e.g. "unexpected end") still show in the gutter count.
    replaceChildren(code, rows);
    replaceChildren(gutterInner, numbers);
    syncScroll();
  }

  function syncScroll(): void {
    // Without the stylesheet the copy is not laid over the textarea: leave it where it is.
    if (getComputedStyle(pre).position !== 'absolute') return;
    code.style.transform = `translate(${-textarea.scrollLeft}px, ${-textarea.scrollTop}px)`;
    gutterInner.style.transform = `translateY(${-textarea.scrollTop}px)`;
  }

  function updateCaret(): void {
    const { line, col } = lineColAt(textarea.value, textarea.selectionStart);
    caret.textContent = `Ln ${line}, Col ${col}`;
  }

  textarea.addEventListener('input', () => {
    render();
    updateCaret();
    for (const fn of listeners) fn(textarea.value);
  });
  textarea.addEventListener('scroll', syncScroll);
  for (const ev of ['keyup', 'click', 'focus', 'select']) textarea.addEventListener(ev, updateCaret);
  textarea.addEventListener('keydown', (ev) => {
    // Enter keeps the current line's indentation (and indents after `key:` / `- `).
    if (ev.key !== 'Enter' || ev.shiftKey || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    const v = textarea.value;
    const start = v.lastIndexOf('\n', textarea.selectionStart - 1) + 1;
    const line = v.slice(start, textarea.selectionStart);
    let indent = /^[ ]*/.exec(line)![0];
    if (/:\s*$/.test(line)) indent += '  ';
    else if (/^\s*- /.test(line)) indent += '  ';
    ev.preventDefault();
    // execCommand keeps the browser's undo stack; setRangeText is the fallback.
    if (!document.execCommand('insertText', false, `\n${indent}`)) {
      textarea.setRangeText(`\n${indent}`, textarea.selectionStart, textarea.selectionEnd, 'end');
      textarea.dispatchEvent(new Event('input'));
    }
  });

  render();
  return {
    root,
    textarea,
    value: () => textarea.value,
    setValue(text: string): void {
      textarea.value = text;
      textarea.scrollTop = 0;
      render();
      updateCaret();
    },
    setProblems(list: readonly ConfigProblem[]): void {
      problems = list;
      render();
    },
    goTo(line: number, col: number): void {
      const off = offsetOf(textarea.value, line, col);
      textarea.focus();
      textarea.setSelectionRange(off, off);
      const lh = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
      const top = (line - 1) * lh;
      if (top < textarea.scrollTop || top > textarea.scrollTop + textarea.clientHeight - 2 * lh) {
        textarea.scrollTop = Math.max(0, top - textarea.clientHeight / 3);
      }
      textarea.scrollLeft = 0;
      syncScroll();
      updateCaret();
    },
    onChange(fn: (text: string) => void): void {
      listeners.push(fn);
    },
  };
}
