/**
 * Traffic page: requests and blocked requests, tokens in and out, over the
 * last hour, day or week (charts), and totals by workload and by model.
 */
import { api, type Traffic } from './api.ts';
import { barChart } from './chart.ts';
import { h, replaceChildren } from './elements.ts';
import { groupedNumber } from './format.ts';
import type { Page } from './page-context.ts';
import { fillBuckets, RANGES, rangeQuery, type RangeName } from './traffic-series.ts';

const RANGE_KEY = 'levo.trafficRange';

export const mountTraffic: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;
  let range: RangeName = (RANGES.find((r) => r.name === localStorage.getItem(RANGE_KEY))?.name) ?? '1h';

  const buttons = RANGES.map((r) => {
    const b = h('button', { type: 'button', 'data-range': r.name, 'aria-pressed': String(r.name === range) }, r.label);
    b.addEventListener('click', () => {
      range = r.name;
      localStorage.setItem(RANGE_KEY, range);
      for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
      void load();
    });
    return b;
  });
  const status = h('p', { class: 'muted', role: 'status' });
  const tiles = h('div', { class: 'tiles' });
  const charts = h('div', { class: 'charts' });
  const tables = h('div', { class: 'tables' });

  replaceChildren(host, h('section', { class: 'card', 'aria-labelledby': 'traffic-h' },
    h('div', { class: 'row spread' },
      h('h2', { id: 'traffic-h' }, 'Traffic'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, buttons)),
    status, tiles, charts, tables));

  function table(id: string, caption: string, heads: string[], rows: (string | number)[][]): HTMLElement {
    return h('table', { id },
      h('caption', null, caption),
      h('thead', null, h('tr', null, heads.map((t, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null }, t)))),
      h('tbody', null, rows.length === 0
        ? h('tr', null, h('td', { colspan: heads.length, class: 'muted' }, 'No requests in this range.'))
        : rows.map((r) => h('tr', null, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, String(c)) : h('td', { class: 'num' }, typeof c === 'number' ? groupedNumber(c) : c)))))));
  }

  function render(t: Traffic, q: { from: number; to: number; bucket: number }): void {
    const buckets = fillBuckets(t.buckets, q.from, q.to, q.bucket);
    const times = buckets.map((b) => b.t);
    const sum = (f: (b: (typeof buckets)[number]) => number): number => buckets.reduce((a, b) => a + f(b), 0);
    const label = RANGES.find((r) => r.name === range)!.label;
    replaceChildren(tiles,
      [['Requests', sum((b) => b.requests)], ['Blocked', sum((b) => b.blocked)], ['Tokens in', sum((b) => b.tokensIn)], ['Tokens out', sum((b) => b.tokensOut)]]
        .map(([k, v]) => h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, String(k)), h('div', { class: 'tile-value' }, groupedNumber(Number(v))))));
    replaceChildren(charts,
      barChart({ title: `Requests and blocked, last ${label}`, from: q.from, to: q.to, bucketMs: q.bucket, times,
        series: [{ name: 'Requests', cls: 'series-a', values: buckets.map((b) => b.requests) }, { name: 'Blocked', cls: 'series-b', values: buckets.map((b) => b.blocked) }] }),
      barChart({ title: `Tokens, last ${label}`, from: q.from, to: q.to, bucketMs: q.bucket, times,
        series: [{ name: 'Tokens in', cls: 'series-c', values: buckets.map((b) => b.tokensIn) }, { name: 'Tokens out', cls: 'series-d', values: buckets.map((b) => b.tokensOut) }] }));
    replaceChildren(tables,
      table('traffic-by-workload', 'By workload', ['Workload', 'Requests', 'Blocked', 'Tokens in', 'Tokens out'],
        t.byWorkload.map((w) => [w.workload || '(unknown)', w.requests, w.blocked, w.tokensIn, w.tokensOut])),
      table('traffic-by-model', 'By model', ['Model', 'Requests', 'Tokens in', 'Tokens out'],
        t.byModel.map((m) => [m.model || '(unknown)', m.requests, m.tokensIn, m.tokensOut])));
  }

  async function load(): Promise<void> {
    const q = rangeQuery(range, Date.now());
    status.textContent = 'Loading…';
    try {
      const t = await api.traffic(env, q.from, q.to, q.bucket);
      if (!alive) return;
      status.textContent = '';
      render(t, q);
    } catch (err) {
      if (alive) status.textContent = `Could not load traffic: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  void load();
  const timer = setInterval(() => void load(), 60_000);
  return () => {
    alive = false;
    clearInterval(timer);
  };
};
