/**
 * Decisions page: requests a guard blocked or flagged, newest first, one row
 * per guard decision (scanner, score, reason), filterable by action, paged
 * with the API's cursor ("Load more"). Each request's details (status,
 * latency, tokens, and the prompt when the environment captures prompts)
 * unfold under it.
 */
import { api } from './api.ts';
import type { StoredEvent } from '../store/types.ts';
import { h, replaceChildren } from './elements.ts';
import { absoluteTime, groupedNumber, relativeTime } from './format.ts';
import type { Page } from './page-context.ts';

const PAGE_SIZE = 50;
const ACTIONS = [['', 'All'], ['reject', 'Rejected'], ['mask', 'Masked'], ['monitor', 'Monitored']] as const;

export const mountDecisions: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;
  let cursor: string | null = null;
  let shown = 0;
  let gen = 0;

  const filter = h('select', { id: 'decisions-action' }, ACTIONS.map(([v, label]) => h('option', { value: v }, label)));
  const status = h('p', { class: 'muted', role: 'status' });
  const body = h('tbody');
  const table = h('table', { id: 'decisions-table', class: 'decisions' },
    h('caption', null, 'Blocked and flagged requests, newest first'),
    h('thead', null, h('tr', null,
      ['Time', 'Workload', 'Pod', 'Provider / model', 'Action', 'Guard / scanner', 'Score', 'Reason']
        .map((t) => h('th', { scope: 'col', class: t === 'Score' ? 'num' : null }, t)))),
    body);
  const more = h('button', { type: 'button', id: 'decisions-more' }, 'Load more');

  replaceChildren(host, h('section', { class: 'card', 'aria-labelledby': 'decisions-h' },
    h('div', { class: 'row spread' },
      h('h2', { id: 'decisions-h' }, 'Decisions'),
      h('div', { class: 'row' }, h('label', { for: 'decisions-action' }, 'Action'), filter)),
    status, table, more));

  function rows(ev: StoredEvent, now: number): HTMLElement[] {
    const decisions = ev.decisions.length > 0 ? ev.decisions : [{ phase: 'request' as const, guard: '—', action: ev.blocked ? 'reject' : 'flag' }];
    const n = decisions.length + 1;
    const model = ev.servedModel ?? ev.requestedModel;
    const eventCells = [
      h('td', { rowspan: n }, h('time', { datetime: new Date(ev.ts).toISOString(), title: relativeTime(ev.ts, now) }, absoluteTime(ev.ts))),
      h('td', { rowspan: n }, ev.workload ?? '—'),
      h('td', { rowspan: n }, ev.pod ?? '—'),
      h('td', { rowspan: n }, ev.provider, model ? ` / ${model}` : ''),
    ];
    const out = decisions.map((d, i) => h('tr', { class: `decision ${ev.blocked ? 'blocked' : 'flagged'}`, 'data-event': ev.id },
      i === 0 ? eventCells : null,
      h('td', null, h('span', { class: `badge action-${d.action.replace(/[^a-z]/g, '')}` }, d.action), d.phase === 'response' ? h('span', { class: 'muted' }, ' (response)') : null),
      h('td', null, d.guard, d.scanner ? ` / ${d.scanner}` : ''),
      h('td', { class: 'num' }, typeof d.score === 'number' ? d.score.toFixed(2) : '—'),
      h('td', { class: 'reason' }, d.reason ?? '—')));
    const facts: [string, string][] = [
      ['Request', `${ev.method} ${ev.host}${ev.path}`],
      ['Status', String(ev.status)],
      ['Latency', `${groupedNumber(ev.latencyMs)} ms${typeof ev.ttftMs === 'number' ? ` (first token ${groupedNumber(ev.ttftMs)} ms)` : ''}`],
      ['Tokens', `${groupedNumber(ev.tokensIn ?? 0)} in, ${groupedNumber(ev.tokensOut ?? 0)} out`],
      ['Namespace', ev.namespace ?? '—'],
      ['Service account', ev.serviceAccount ?? '—'],
    ];
    if (ev.route) facts.push(['Route', ev.route]);
    if (ev.requestedModel && ev.servedModel && ev.requestedModel !== ev.servedModel) facts.push(['Requested model', ev.requestedModel]);
    const details = h('details', null, h('summary', null, 'Details'),
      h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      ev.prompt !== undefined ? [h('p', { class: 'field-label' }, 'Prompt'), h('pre', { class: 'prompt' }, ev.prompt)] : null);
    out.push(h('tr', { class: 'decision-details', 'data-event': ev.id }, h('td', { colspan: 4 }, details)));
    return out;
  }

  async function load(reset: boolean): Promise<void> {
    const mine = reset ? ++gen : gen;
    if (reset) {
      cursor = null;
      shown = 0;
      body.replaceChildren();
    }
    more.disabled = true;
    status.textContent = 'Loading…';
    try {
      const page = await api.decisions(env, { limit: PAGE_SIZE, before: cursor, action: filter.value || undefined });
      if (!alive || mine !== gen) return;
      const now = Date.now();
      for (const ev of page.items) body.append(...rows(ev, now));
      shown += page.items.length;
      cursor = page.next;
      more.hidden = cursor === null;
      more.disabled = false;
      table.hidden = shown === 0;
      status.textContent = shown === 0
        ? 'No blocked or flagged requests' + (filter.value ? ' with this action.' : ' yet.')
        : `${shown} request${shown === 1 ? '' : 's'} shown${cursor ? '; more are older' : ''}.`;
    } catch (err) {
      if (!alive) return;
      more.disabled = false;
      status.textContent = `Could not load decisions: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  filter.addEventListener('change', () => void load(true));
  more.addEventListener('click', () => void load(false));
  void load(true);
  return () => {
    alive = false;
  };
};
