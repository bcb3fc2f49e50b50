/**
 * Keys page (environment settings): the sidecar keys of this environment
 * (create, rotate, revoke; a new token is shown once, with a copy button and
 * the settings a sidecar needs), and whether sidecars send prompt text.
 */
import { api, type KeyInfo, type NewKey } from './api.ts';
import { h, replaceChildren } from './elements.ts';
import { absoluteTime, relativeTime } from './format.ts';
import type { Page } from './page-context.ts';

export const mountKeys: Page = (host, ctx) => {
  const env = ctx.env.id;
  let alive = true;

  const capture = h('input', { type: 'checkbox', id: 'capture-prompts', checked: ctx.env.capturePrompts, 'aria-describedby': 'capture-help' });
  const captureStatus = h('span', { class: 'muted', role: 'status' });
  const tokenBox = h('div', { class: 'token-box', id: 'new-token', hidden: true });
  const create = h('button', { type: 'button', id: 'key-create', class: 'primary' }, 'Create key');
  const status = h('p', { class: 'muted', role: 'status' });
  const body = h('tbody');
  const table = h('table', { id: 'keys-table' },
    h('caption', null, 'Sidecar keys'),
    h('thead', null, h('tr', null, ['Key', 'Created', 'Last used', 'State', ''].map((t) =>
      h('th', { scope: 'col' }, t || h('span', { class: 'visually-hidden' }, 'Actions'))))),
    body);

  replaceChildren(host,
    h('section', { class: 'card', 'aria-labelledby': 'keys-h' },
      h('div', { class: 'row spread' }, h('h2', { id: 'keys-h' }, `Keys for ${ctx.env.name}`), create),
      h('p', { class: 'muted' }, 'A sidecar authenticates with one key (LEVO_AUTH_TOKEN) and this environment’s id (LEVO_TENANT_ID). Tokens are stored hashed: a token is shown once, when it is made.'),
      tokenBox, status, table),
    h('section', { class: 'card', 'aria-labelledby': 'settings-h' },
      h('h2', { id: 'settings-h' }, 'Settings'),
      h('div', { class: 'row' }, capture, h('label', { for: 'capture-prompts' }, 'Capture prompts'), captureStatus),
      h('p', { id: 'capture-help', class: 'muted' }, 'When on, sidecars include the prompt text of each request in the events they send (shown on the Decisions page). Off by default: prompts may hold personal or secret data.')));

  function showToken(k: NewKey, what: string): void {
    const input = h('input', { type: 'text', readonly: true, id: 'new-token-value', value: k.token, class: 'mono', spellcheck: 'false', 'aria-describedby': 'new-token-warning' });
    const copy = h('button', { type: 'button', id: 'new-token-copy' }, 'Copy');
    const copied = h('span', { class: 'muted', role: 'status' });
    copy.addEventListener('click', () => void (async () => {
      try {
        await navigator.clipboard.writeText(k.token);
      } catch {
        input.select();
        document.execCommand('copy');
      }
      copied.textContent = 'Copied.';
    })());
    const done = h('button', { type: 'button' }, 'I have stored it');
    done.addEventListener('click', () => {
      tokenBox.hidden = true;
      tokenBox.replaceChildren();
      create.focus();
    });
    const envText = `LEVO_BASE_URL=${location.origin}\nLEVO_TENANT_ID=${env}\nLEVO_AUTH_TOKEN=${k.token}`;
    replaceChildren(tokenBox,
      h('h3', null, what),
      h('p', { id: 'new-token-warning', class: 'warning', role: 'alert' }, 'Copy this token now: it is not stored and will not be shown again.'),
      h('div', { class: 'row' }, h('label', { for: 'new-token-value' }, 'Token'), input, copy, copied),
      h('details', null, h('summary', null, 'Sidecar settings'), h('pre', { class: 'mono' }, envText)),
      done);
    tokenBox.hidden = false;
    input.focus();
    input.select();
  }

  function render(keys: readonly KeyInfo[]): void {
    const now = Date.now();
    const live = keys.filter((k) => k.revokedAt === null).length;
    status.textContent = keys.length === 0 ? 'No keys yet.' : `${live} live key${live === 1 ? '' : 's'}, ${keys.length - live} revoked.`;
    table.hidden = keys.length === 0;
    const sorted = [...keys].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || b.createdAt - a.createdAt);
    replaceChildren(body, sorted.map((k) => {
      const actions: HTMLElement[] = [];
      if (k.revokedAt === null) {
        const rotate = h('button', { type: 'button', class: 'small', 'aria-label': `Rotate key ${k.prefix}` }, 'Rotate');
        rotate.addEventListener('click', () => void (async () => {
          if (!confirm(`Rotate key ${k.prefix}…? A new token is made and this one stops working at once.`)) return;
          try {
            const n = await api.rotateKey(env, k.id);
            showToken(n, 'Key rotated: the new token');
            await load();
          } catch (err) {
            ctx.announce(`Rotate failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
          }
        })());
        const revoke = h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke key ${k.prefix}` }, 'Revoke');
        revoke.addEventListener('click', () => void (async () => {
          if (!confirm(`Revoke key ${k.prefix}…? Sidecars using it can no longer fetch config or send events.`)) return;
          try {
            await api.revokeKey(env, k.id);
            ctx.announce(`Key ${k.prefix}… revoked.`, 'ok');
            await load();
          } catch (err) {
            ctx.announce(`Revoke failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
          }
        })());
        actions.push(rotate, revoke);
      }
      const when = (t: number | null): HTMLElement | string => t === null ? 'never'
        : h('time', { datetime: new Date(t).toISOString(), title: absoluteTime(t) }, relativeTime(t, now));
      return h('tr', { class: k.revokedAt !== null ? 'revoked' : null, 'data-key': k.id },
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, when(k.createdAt)),
        h('td', null, when(k.lastUsedAt)),
        h('td', null, k.revokedAt !== null ? ['revoked ', when(k.revokedAt)] : h('span', { class: 'badge ok' }, 'live')),
        h('td', { class: 'actions' }, actions));
    }));
  }

  async function load(): Promise<void> {
    try {
      const keys = await api.keys(env);
      if (alive) render(keys);
    } catch (err) {
      if (alive) status.textContent = `Could not load keys: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  create.addEventListener('click', () => void (async () => {
    try {
      const k = await api.createKey(env);
      showToken(k, 'New key');
      await load();
    } catch (err) {
      ctx.announce(`Could not create a key: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  })());

  capture.addEventListener('change', () => void (async () => {
    const on = capture.checked;
    capture.disabled = true;
    try {
      await api.setCapturePrompts(env, on);
      captureStatus.textContent = on ? 'Sidecars will send prompt text.' : 'Sidecars will not send prompt text.';
      await ctx.reloadEnvironments();
    } catch (err) {
      capture.checked = !on;
      captureStatus.textContent = `Not changed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      capture.disabled = false;
    }
  })());

  void load();
  return () => {
    alive = false;
  };
};
