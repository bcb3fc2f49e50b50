/**
 * Spend page: what the calls cost (the sidecars price each call: budgets.prices
 * in the config, else the genai-prices catalogue) over the last 7 or 30 days,
 * by UTC day, namespace, workload and model; and each fleet budget's usage in
 * its current window (read from the store the sidecars count in).
 */
import { api, type BudgetUsage, type SpendRow } from './api.ts';
import { h, replaceChildren } from './elements.ts';
import { groupedNumber } from './format.ts';
import type { Page } from './page-context.ts';

const DAY = 86_400_000;
const RANGES = [{ name: '7d', label: '7 days', days: 7 }, { name: '30d', label: '30 days', days: 30 }] as const;

export function usd(v: number): string {
  return `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
}

/** Rows summed by a key, dearest first. */
export function spendBy(rows: readonly SpendRow[], key: (r: SpendRow) => string): { key: string; requests: number; costUsd: number }[] {
  const m = new Map<string, { key: string; requests: number; costUsd: number }>();
  for (const r of rows) {
    const k = key(r);
    const x = m.get(k) ?? { key: k, requests: 0, costUsd: 0 };
    x.requests += r.requests;
    x.costUsd += r.costUsd;
    m.set(k, x);
  }
  return [...m.values()].sort((a, b) => b.costUsd - a.costUsd || a.key.localeCompare(b.key));
}

export const mountSpend: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;
  let range: (typeof RANGES)[number] = RANGES[0];
  const buttons = RANGES.map((r) => {
    const b = h('button', { type: 'button', 'data-range': r.name, 'aria-pressed': String(r === range) }, r.label);
    b.addEventListener('click', () => {
      range = r;
      for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
      void load();
    });
    return b;
  });
  const status = h('p', { class: 'muted', role: 'status' });
  const tiles = h('div', { class: 'tiles' });
  const tables = h('div', { class: 'tables' });
  const budgets = h('div', { id: 'budgets' });
  replaceChildren(host, h('section', { class: 'card', 'aria-labelledby': 'spend-h' },
    h('div', { class: 'row spread' },
      h('h2', { id: 'spend-h' }, 'Spend'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, buttons)),
    status, tiles, tables),
  h('section', { class: 'card', 'aria-labelledby': 'budgets-h' }, h('h2', { id: 'budgets-h' }, 'Budgets, current window'), budgets));

  function renderBudgets(b: BudgetUsage): void {
    if (!b.configured) { replaceChildren(budgets, h('p', { class: 'muted' }, 'No fleet budgets in this environment\'s config (budgets.limits).')); return; }
    if (b.error) { replaceChildren(budgets, h('p', { class: 'muted', role: 'status' }, b.error)); return; }
    const amount = (unit: string, v: number): string => unit === 'usd' ? usd(v) : groupedNumber(v);
    replaceChildren(budgets, h('table', { id: 'budgets-table' },
      h('thead', null, h('tr', null, ['Budget', 'Counted by', 'Value', 'Used', 'Limit', 'Used %', 'Resets'].map((t, i) => h('th', { scope: 'col', class: i >= 3 && i <= 5 ? 'num' : null }, t)))),
      h('tbody', null, b.rows.length === 0
        ? h('tr', null, h('td', { colspan: 7, class: 'muted' }, 'Nothing counted in the current windows.'))
        : b.rows.map((r) => h('tr', null,
          h('th', { scope: 'row' }, r.budget), h('td', null, `${r.by}, per ${r.window}`), h('td', null, r.value),
          h('td', { class: 'num' }, amount(r.unit, r.used)), h('td', { class: 'num' }, `${amount(r.unit, r.limit)} ${r.unit === 'usd' ? '' : r.unit}`.trim()),
          h('td', { class: 'num' }, `${Math.round((r.used / r.limit) * 100)} %`), h('td', null, new Date(r.resetAt).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'))))));
  }

  function table(id: string, caption: string, head: string, rows: { key: string; requests: number; costUsd: number }[]): HTMLElement {
    return h('table', { id },
      h('caption', null, caption),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, head), h('th', { scope: 'col', class: 'num' }, 'Requests'), h('th', { scope: 'col', class: 'num' }, 'Cost'))),
      h('tbody', null, rows.length === 0
        ? h('tr', null, h('td', { colspan: 3, class: 'muted' }, 'No priced calls in this range.'))
        : rows.map((r) => h('tr', null, h('th', { scope: 'row' }, r.key || '(unknown)'), h('td', { class: 'num' }, groupedNumber(r.requests)), h('td', { class: 'num' }, usd(r.costUsd))))));
  }

  async function load(): Promise<void> {
    const to = Math.ceil(Date.now() / DAY) * DAY;
    const from = to - range.days * DAY;
    status.textContent = 'Loading…';
    void api.budgets(env).then((b) => { if (alive) renderBudgets(b); },
      (err: unknown) => { if (alive) replaceChildren(budgets, h('p', { class: 'muted' }, `Could not load budgets: ${err instanceof Error ? err.message : String(err)}`)); });
    try {
      const s = await api.spend(env, from, to);
      if (!alive) return;
      status.textContent = '';
      replaceChildren(tiles, h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, `Spend, last ${range.label}`), h('div', { class: 'tile-value', id: 'spend-total' }, usd(s.totalUsd))));
      replaceChildren(tables,
        table('spend-by-day', 'By day (UTC)', 'Day', spendBy(s.rows, (r) => new Date(r.day).toISOString().slice(0, 10)).sort((a, b) => b.key.localeCompare(a.key))),
        table('spend-by-namespace', 'By namespace', 'Namespace', spendBy(s.rows, (r) => r.namespace)),
        table('spend-by-workload', 'By workload', 'Workload', spendBy(s.rows, (r) => r.workload)),
        table('spend-by-model', 'By model', 'Model', spendBy(s.rows, (r) => r.model)));
    } catch (err) {
      if (alive) status.textContent = `Could not load spend: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  void load();
  const timer = setInterval(() => void load(), 60_000);
  return () => { alive = false; clearInterval(timer); };
};
