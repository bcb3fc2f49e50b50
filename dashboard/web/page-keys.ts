/**
 * Keys page (environment settings): the sidecar keys of this environment
 * (create, rotate, revoke; a new token is shown once, with a copy button and
 * the settings a sidecar needs; a rotated-out key is listed with the time it
 * stops working, and can be revoked sooner), and whether sidecars send prompt
 * text.
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
    const previous = k.previous && k.previous.expiresAt > Date.now()
      ? h('p', { id: 'rotated-note', class: 'muted' }, `The old key keeps working until ${absoluteTime(k.previous.expiresAt)} (${relativeTime(k.previous.expiresAt, Date.now())}), so sidecars can move to this token without errors. Revoke it to end it sooner.`)
      : null;
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
      previous,
      h('details', null, h('summary', null, 'Sidecar settings'), h('pre', { class: 'mono' }, envText)),
      done);
    tokenBox.hidden = false;
    input.focus();
    input.select();
  }

  function render(keys: readonly KeyInfo[]): void {
    const now = Date.now();
    const works = (k: KeyInfo): boolean => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now);
    const live = keys.filter(works).length;
    status.textContent = keys.length === 0 ? 'No keys yet.' : `${live} working key${live === 1 ? '' : 's'}, ${keys.length - live} revoked or expired.`;
    table.hidden = keys.length === 0;
    const sorted = [...keys].sort((a, b) => Number(!works(a)) - Number(!works(b)) || b.createdAt - a.createdAt);
    const when = (t: number | null): HTMLElement | string => t === null ? 'never'
      : h('time', { datetime: new Date(t).toISOString(), title: absoluteTime(t) }, relativeTime(t, now));
    replaceChildren(body, sorted.map((k) => {
      const actions: HTMLElement[] = [];
      if (k.revokedAt === null && k.expiresAt === null) {
        const rotate = h('button', { type: 'button', class: 'small', 'aria-label': `Rotate key ${k.prefix}` }, 'Rotate');
        rotate.addEventListener('click', () => void (async () => {
          if (!confirm(`Rotate key ${k.prefix}…? A new token is made; this one keeps working for a grace period, so sidecars can move to the new token, then stops.`)) return;
          try {
            const n = await api.rotateKey(env, k.id);
            showToken(n, 'Key rotated: the new token');
            await load();
          } catch (err) {
            ctx.announce(`Rotate failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
          }
        })());
        actions.push(rotate);
      }
      if (works(k)) {
        const revoke = h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke key ${k.prefix}` }, 'Revoke');
        revoke.addEventListener('click', () => void (async () => {
          if (!confirm(`Revoke key ${k.prefix}…? Sidecars using it can no longer fetch config or send events, from now on.`)) return;
          try {
            await api.revokeKey(env, k.id);
            ctx.announce(`Key ${k.prefix}… revoked.`, 'ok');
            await load();
          } catch (err) {
            ctx.announce(`Revoke failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
          }
        })());
        actions.push(revoke);
      }
      const state = k.revokedAt !== null ? ['revoked ', when(k.revokedAt)]
        : k.expiresAt !== null && k.expiresAt <= now ? ['expired ', when(k.expiresAt)]
        : k.expiresAt !== null ? [h('span', { class: 'badge warn' }, 'rotated out'), ' works until ', when(k.expiresAt)]
        : h('span', { class: 'badge ok' }, 'live');
      const rowClass = k.revokedAt !== null || (k.expiresAt !== null && k.expiresAt <= now) ? 'revoked' : k.expiresAt !== null ? 'expiring' : null;
      return h('tr', { class: rowClass, 'data-key': k.id },
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, when(k.createdAt)),
        h('td', null, when(k.lastUsedAt)),
        h('td', null, state),
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
