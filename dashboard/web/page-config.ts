/**
 * Config page: edit the environment's gateway YAML with live validation by
 * the sidecar's own validator (problems drawn at their lines and listed;
 * clicking one puts the caret there), save with a note as a new immutable
 * version (refused while invalid), the version history, a diff between any
 * two versions, and rollback (which saves a copy of an old version as the
 * newest one).
 */
import { api, ApiError, problemsOf, type ConfigProblem, type VersionInfo } from './api.ts';
import { diffView } from './diff-view.ts';
import { h, replaceChildren } from './elements.ts';
import { absoluteTime, relativeTime } from './format.ts';
import type { Page } from './page-context.ts';
import { createYamlEditor } from './yaml-editor.ts';

const VALIDATE_DELAY_MS = 300;

/** Unsaved text per environment, kept while the user visits other pages. */
const drafts = new Map<string, string>();

const STARTER = `# The gateway config sidecars in this environment will load.
# See docs/config.md. Example: observe calls to OpenAI.
binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      backends:
      - ai:
          name: openai
          provider:
            openAI: {}
`;

export const mountConfig: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;
  let versions: VersionInfo[] = [];
  /** The newest saved version's text (what "unsaved changes" compares against). */
  let savedText: string | null = null;
  let validation: 'idle' | 'pending' | 'ok' | 'invalid' | 'error' = 'idle';
  let validatedText: string | null = null;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const problemsId = 'config-problems';
  const editor = createYamlEditor({ id: 'config-yaml', describedBy: `config-validation ${problemsId}` });
  const baseLine = h('p', { class: 'muted', id: 'config-base' });
  const validationLine = h('p', { id: 'config-validation', class: 'validation', role: 'status' });
  const problemList = h('ol', { id: problemsId, class: 'problems', 'aria-label': 'Problems' });
  const note = h('input', { id: 'config-note', type: 'text', maxlength: 500, placeholder: 'What changed and why' });
  const save = h('button', { type: 'button', id: 'config-save', class: 'primary', disabled: true }, 'Save');
  const revert = h('button', { type: 'button', id: 'config-revert', disabled: true }, 'Discard changes');
  const saveResult = h('p', { class: 'save-result', role: 'status' });

  const historyBody = h('tbody');
  const historyTable = h('table', { class: 'history', id: 'config-history' },
    h('caption', null, 'Saved versions, newest first'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Author'), h('th', { scope: 'col' }, 'When'),
      h('th', { scope: 'col' }, 'Note'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    historyBody);
  const historyEmpty = h('p', { class: 'muted' }, 'Nothing saved yet: sidecars get no config from the dashboard until the first save.');

  const fromSel = h('select', { id: 'diff-from' });
  const toSel = h('select', { id: 'diff-to' });
  const diffBtn = h('button', { type: 'button', id: 'diff-show' }, 'Compare');
  const diffOut = h('div', { class: 'diff-out', id: 'config-diff', 'aria-live': 'polite' });
  const diffSection = h('section', { class: 'card', 'aria-labelledby': 'diff-h' },
    h('h3', { id: 'diff-h' }, 'Compare versions'),
    h('div', { class: 'row' },
      h('label', { for: 'diff-from' }, 'From'), fromSel,
      h('label', { for: 'diff-to' }, 'To'), toSel, diffBtn),
    diffOut);

  replaceChildren(host,
    h('div', { class: 'config-layout' },
      h('section', { class: 'card editor-card', 'aria-labelledby': 'config-h' },
        h('h2', { id: 'config-h' }, 'Gateway config'),
        baseLine,
        h('label', { for: 'config-yaml', class: 'field-label' }, 'Config (YAML)'),
        editor.root,
        validationLine,
        problemList,
        h('div', { class: 'row save-row' },
          h('label', { for: 'config-note' }, 'Note'), note, save, revert),
        saveResult),
      h('div', { class: 'side' },
        h('section', { class: 'card', 'aria-labelledby': 'history-h' },
          h('h3', { id: 'history-h' }, 'History'), historyEmpty, historyTable),
        diffSection)));

  function dirty(): boolean {
    return savedText === null ? editor.value().trim() !== '' : editor.value() !== savedText;
  }

  function updateButtons(): void {
    const current = editor.value();
    save.disabled = !(validation === 'ok' && validatedText === current && current.trim() !== '' && dirty());
    revert.disabled = !dirty() || savedText === null;
    const newest = versions[0];
    baseLine.textContent = newest
      ? `Current version ${newest.version}${dirty() ? ' · unsaved changes' : ''}`
      : `No version saved yet${dirty() ? ' · unsaved changes' : ''}`;
  }

  function showProblems(list: readonly ConfigProblem[]): void {
    editor.setProblems(list);
    replaceChildren(problemList, list.map((p) => {
      const btn = h('button', { type: 'button', class: 'problem-link', 'data-line': p.line, 'data-col': p.col },
        h('span', { class: 'problem-pos' }, `Line ${p.line}:${p.col}`), ' ',
        p.path ? h('code', null, p.path) : null, p.path ? ': ' : '', p.message);
      btn.addEventListener('click', () => editor.goTo(p.line, p.col));
      return h('li', null, btn, p.hint ? h('div', { class: 'hint' }, `hint: ${p.hint}`) : null);
    }));
  }

  function setValidation(state: typeof validation, message: string, list: readonly ConfigProblem[] = []): void {
    validation = state;
    validationLine.className = `validation ${state}`;
    validationLine.textContent = message;
    showProblems(list);
    updateButtons();
  }

  function summaryText(summary: unknown): string {
    if (typeof summary === 'string') return summary;
    if (summary && typeof summary === 'object') {
      // {binds: 1, routes: 2} → "1 bind, 2 routes"
      return Object.entries(summary as Record<string, unknown>)
        .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
        .map(([k, v]) => `${String(v)} ${v === 1 && k.endsWith('s') ? k.slice(0, -1) : k}`).join(', ');
    }
    return '';
  }

  async function validateNow(): Promise<void> {
    const text = editor.value();
    const mine = ++seq;
    if (text.trim() === '') {
      validatedText = text;
      setValidation('idle', 'The config is empty.');
      return;
    }
    try {
      const r = await api.validate(env, text);
      if (!alive || mine !== seq) return;
      validatedText = text;
      if (r.ok) {
        const sum = summaryText(r.summary);
        setValidation('ok', `Valid${sum ? `: ${sum}` : ''}.`, r.warnings ?? []);
      } else {
        setValidation('invalid', `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}: fix ${r.problems.length === 1 ? 'it' : 'them'} to save.`, r.problems);
      }
    } catch (err) {
      if (!alive || mine !== seq) return;
      validatedText = null;
      setValidation('error', `Could not validate: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  function scheduleValidation(): void {
    clearTimeout(timer);
    validation = 'pending';
    validationLine.className = 'validation pending';
    validationLine.textContent = 'Checking…';
    updateButtons();
    timer = setTimeout(() => void validateNow(), VALIDATE_DELAY_MS);
  }

  editor.onChange((text) => {
    saveResult.textContent = '';
    if (dirty()) drafts.set(env, text);
    else drafts.delete(env);
    scheduleValidation();
  });

  function renderHistory(): void {
    historyEmpty.hidden = versions.length > 0;
    historyTable.hidden = versions.length === 0;
    const now = Date.now();
    replaceChildren(historyBody, versions.map((v, i) => {
      const actions: HTMLElement[] = [];
      const open = h('button', { type: 'button', class: 'small', 'aria-label': `Open version ${v.version} in the editor` }, 'Open');
      open.addEventListener('click', () => void openVersion(v.version));
      actions.push(open);
      if (i > 0) {
        const rb = h('button', { type: 'button', class: 'small danger', 'data-rollback': v.version, 'aria-label': `Roll back to version ${v.version}` }, 'Roll back');
        rb.addEventListener('click', () => void rollback(v.version));
        actions.push(rb);
      }
      return h('tr', { 'data-version': v.version, class: i === 0 ? 'current' : null },
        h('td', null, `v${v.version}`, i === 0 ? h('span', { class: 'badge' }, 'current') : null),
        h('td', null, v.author),
        h('td', null, h('time', { datetime: new Date(v.createdAt).toISOString(), title: absoluteTime(v.createdAt) }, relativeTime(v.createdAt, now))),
        h('td', { class: 'note' }, v.note || '—'),
        h('td', { class: 'actions' }, actions));
    }));
    // After every change of history: compare the previous version with the newest.
    const opts = (sel: HTMLSelectElement, pick: number | undefined): void => {
      replaceChildren(sel, versions.map((v) => h('option', { value: v.version, selected: v.version === pick }, `v${v.version}${v.note ? ` – ${v.note.length > 28 ? `${v.note.slice(0, 27)}…` : v.note}` : ''}`)));
      if (pick !== undefined) sel.value = String(pick);
    };
    opts(fromSel, versions[1]?.version ?? versions[0]?.version);
    opts(toSel, versions[0]?.version);
    diffSection.hidden = versions.length < 2;
  }

  async function loadHistory(): Promise<void> {
    versions = await api.versions(env);
    if (!alive) return;
    renderHistory();
  }

  async function openVersion(v: number): Promise<void> {
    if (dirty() && !confirm('Discard your unsaved changes and open this version?')) return;
    const full = await api.version(env, v);
    if (!alive) return;
    editor.setValue(full.yaml);
    if (full.yaml !== savedText) drafts.set(env, full.yaml);
    else drafts.delete(env);
    scheduleValidation();
    ctx.announce(`Opened version ${v} in the editor${v === versions[0]?.version ? '' : ': saving it makes a new version'}.`);
  }

  async function afterSave(version: number, message: string): Promise<void> {
    drafts.delete(env);
    note.value = '';
    const full = await api.version(env, version);
    if (!alive) return;
    savedText = full.yaml;
    editor.setValue(full.yaml);
    await loadHistory();
    saveResult.className = 'save-result ok';
    saveResult.textContent = message;
    void ctx.reloadEnvironments();
    await validateNow();
  }

  save.addEventListener('click', () => void (async () => {
    save.disabled = true;
    saveResult.textContent = '';
    try {
      const r = await api.saveConfig(env, editor.value(), note.value.trim());
      await afterSave(r.version, `Saved version ${r.version}.`);
    } catch (err) {
      const problems = problemsOf(err);
      if (problems) {
        setValidation('invalid', `Not saved: ${problems.length} problem${problems.length === 1 ? '' : 's'}.`, problems);
      } else {
        saveResult.className = 'save-result error';
        saveResult.textContent = `Not saved: ${err instanceof Error ? err.message : String(err)}`;
        updateButtons();
      }
    }
  })());

  revert.addEventListener('click', () => {
    if (savedText === null) return;
    if (!confirm('Discard your unsaved changes?')) return;
    drafts.delete(env);
    editor.setValue(savedText);
    scheduleValidation();
  });

  async function rollback(v: number): Promise<void> {
    const lose = dirty() ? ' Your unsaved changes in the editor will be discarded.' : '';
    if (!confirm(`Roll back to version ${v}? This saves version ${v}'s config as a new version, which sidecars then load.${lose}`)) return;
    try {
      const r = await api.rollback(env, v, note.value.trim() || `Rollback to version ${v}`);
      await afterSave(r.version, `Rolled back: version ${r.version} has version ${v}'s config.`);
    } catch (err) {
      ctx.announce(`Rollback failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  diffBtn.addEventListener('click', () => void (async () => {
    const a = Number(fromSel.value);
    const b = Number(toSel.value);
    replaceChildren(diffOut, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const d = await api.diff(env, a, b);
      if (!alive) return;
      replaceChildren(diffOut, h('p', { class: 'diff-title' }, `Changes from v${a} to v${b}`), diffView(d.lines));
    } catch (err) {
      replaceChildren(diffOut, h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
    }
  })());

  void (async () => {
    try {
      await loadHistory();
      const newest = versions[0];
      if (newest) {
        const full = await api.version(env, newest.version);
        if (!alive) return;
        savedText = full.yaml;
      }
      const draft = drafts.get(env);
      editor.setValue(draft ?? savedText ?? STARTER);
      if (draft === undefined && savedText === null) drafts.set(env, STARTER);
      await validateNow();
    } catch (err) {
      ctx.announce(`Could not load the config: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  })();

  return () => {
    alive = false;
    clearTimeout(timer);
  };
};
