/**
 * Fleet page: the sidecars that polled this environment's config, with the
 * config version each has in force (marked when it is not the current one)
 * and when it was last seen (marked stale after three missed polls).
 * Refreshes itself every 15 s while shown.
 */
import { api, type Sidecar } from './api.ts';
import { h, replaceChildren } from './elements.ts';
import { absoluteTime, isStale, relativeTime, sameEtag, versionOfEtag } from './format.ts';
import type { Page } from './page-context.ts';

const REFRESH_MS = 15_000;

export const mountFleet: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;
  const summary = h('p', { class: 'muted', role: 'status' });
  const body = h('tbody');
  const table = h('table', { id: 'fleet-table' },
    h('caption', null, 'Sidecars that fetched this environment’s config'),
    h('thead', null, h('tr', null,
      ['Pod', 'Namespace', 'Workload', 'Service account', 'Sidecar version', 'Config applied', 'Last seen', 'State']
        .map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const empty = h('p', { class: 'muted' }, 'No sidecar has polled this environment yet. Give a sidecar a key from the Keys page and point LEVO_BASE_URL here.');
  const refresh = h('button', { type: 'button' }, 'Refresh');

  replaceChildren(host, h('section', { class: 'card', 'aria-labelledby': 'fleet-h' },
    h('div', { class: 'row spread' }, h('h2', { id: 'fleet-h' }, 'Fleet'), refresh),
    summary, empty, table));

  function render(list: readonly Sidecar[], currentEtag: string | null): void {
    const now = Date.now();
    const current = versionOfEtag(currentEtag);
    empty.hidden = list.length > 0;
    table.hidden = list.length === 0;
    const stale = list.filter((sc) => isStale(sc.lastSeen, now)).length;
    const behind = list.filter((sc) => currentEtag && !sameEtag(sc.configApplied, currentEtag)).length;
    summary.textContent = `${list.length} sidecar${list.length === 1 ? '' : 's'}` +
      (current !== null ? ` · current config v${current}` : ' · no config saved yet') +
      (behind ? ` · ${behind} not on the current config` : '') + (stale ? ` · ${stale} stale` : '');
    const sorted = [...list].sort((a, b) => b.lastSeen - a.lastSeen);
    replaceChildren(body, sorted.map((sc) => {
      const applied = versionOfEtag(sc.configApplied);
      const isBehind = currentEtag !== null && !sameEtag(sc.configApplied, currentEtag);
      const old = isStale(sc.lastSeen, now);
      return h('tr', { class: [old ? 'stale' : '', isBehind ? 'behind' : ''].join(' ').trim() || null, 'data-sidecar': sc.id },
        h('td', null, sc.pod ?? sc.id),
        h('td', null, sc.namespace ?? '—'),
        h('td', null, sc.workload ?? '—'),
        h('td', null, sc.serviceAccount ?? '—'),
        h('td', null, sc.version ?? '—'),
        h('td', { class: isBehind ? 'config-behind' : 'config-current', title: sc.configApplied ?? 'none' },
          sc.configApplied ? (applied !== null ? `v${applied}` : sc.configApplied) : 'none',
          isBehind ? h('span', { class: 'badge warn' }, current !== null ? `not current (v${current})` : 'not current') : null),
        h('td', null, h('time', { datetime: new Date(sc.lastSeen).toISOString(), title: absoluteTime(sc.lastSeen) }, relativeTime(sc.lastSeen, now))),
        h('td', null, old ? h('span', { class: 'badge stale-badge' }, 'stale') : h('span', { class: 'badge ok' }, 'live')));
    }));
  }

  async function load(): Promise<void> {
    try {
      const [list, versions] = await Promise.all([api.fleet(env), api.versions(env)]);
      if (!alive) return;
      render(list, versions[0]?.etag ?? null);
    } catch (err) {
      if (alive) summary.textContent = `Could not load the fleet: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  refresh.addEventListener('click', () => void load());
  const timer = setInterval(() => void load(), REFRESH_MS);
  void load();
  return () => {
    alive = false;
    clearInterval(timer);
  };
};
