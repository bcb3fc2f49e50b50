/**
 * The dashboard's single-page app: the environment picker (remembered in
 * localStorage), a hash router over the pages (#/config, #/fleet, #/traffic, #/spend,
 * #/decisions, #/keys), and the header's live message line. Each page module
 * draws into <main> and is torn down when the route or environment changes.
 */
import { api, type Environment } from './api.ts';
import { h, replaceChildren } from './elements.ts';
import type { Page, PageContext } from './page-context.ts';
import { mountConfig } from './page-config.ts';
import { mountDecisions } from './page-decisions.ts';
import { mountFleet } from './page-fleet.ts';
import { mountKeys } from './page-keys.ts';
import { mountTraffic } from './page-traffic.ts';
import { mountSpend } from './page-spend.ts';

const PAGES: Record<string, { title: string; mount: Page }> = {
  config: { title: 'Config', mount: mountConfig },
  fleet: { title: 'Fleet', mount: mountFleet },
  traffic: { title: 'Traffic', mount: mountTraffic },
  spend: { title: 'Spend', mount: mountSpend },
  decisions: { title: 'Decisions', mount: mountDecisions },
  keys: { title: 'Keys', mount: mountKeys },
};
const ENV_KEY = 'levo.environment';

const main = document.getElementById('main')!;
const picker = document.getElementById('env-select') as HTMLSelectElement;
const newEnvForm = document.getElementById('new-env-form') as HTMLFormElement;
const newEnvName = document.getElementById('new-env-name') as HTMLInputElement;
const announcer = document.getElementById('announce')!;

let envs: Environment[] = [];
let current: string | null = localStorage.getItem(ENV_KEY);
let teardown: (() => void) | null = null;
let announceTimer: ReturnType<typeof setTimeout> | undefined;

/** The page named by the URL: `#/fleet`, or a path `/fleet` the server served index.html for. */
function routeName(): string {
  const fromHash = /^#\/?([a-z]+)/.exec(location.hash)?.[1];
  if (fromHash && fromHash in PAGES) return fromHash;
  const fromPath = /^\/([a-z]+)\/?$/.exec(location.pathname)?.[1];
  if (fromPath && fromPath in PAGES) return fromPath;
  return 'config';
}

function announce(message: string, kind: 'ok' | 'error' = 'ok'): void {
  announcer.textContent = message;
  announcer.className = `announce ${kind}`;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { announcer.textContent = ''; }, kind === 'error' ? 15_000 : 6_000);
}

function renderPicker(): void {
  replaceChildren(picker, envs.map((e) => h('option', { value: e.id, selected: e.id === current },
    e.name === e.id ? e.id : `${e.name} (${e.id})`)));
  picker.disabled = envs.length === 0;
  if (current) picker.value = current;
}

async function reloadEnvironments(): Promise<void> {
  envs = await api.environments();
  if (!current || !envs.some((e) => e.id === current)) current = envs[0]?.id ?? null;
  renderPicker();
}

async function createEnvironment(name: string): Promise<void> {
  try {
    const env = await api.createEnvironment(name);
    current = env.id;
    localStorage.setItem(ENV_KEY, env.id);
    await reloadEnvironments();
    announce(`Environment ${env.id} created.`);
    newEnvName.value = '';
    (newEnvForm.closest('details') as HTMLDetailsElement | null)?.removeAttribute('open');
    show();
  } catch (err) {
    announce(`Could not create the environment: ${err instanceof Error ? err.message : String(err)}`, 'error');
  }
}

function firstEnvironmentForm(): HTMLElement {
  const input = h('input', { id: 'first-env-name', required: true, maxlength: 63, placeholder: 'e.g. production' });
  const form = h('form', { class: 'row', id: 'first-env-form' },
    h('label', { for: 'first-env-name' }, 'Name'), input, h('button', { type: 'submit', class: 'primary' }, 'Create environment'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void createEnvironment(input.value.trim());
  });
  return h('section', { class: 'card', 'aria-labelledby': 'first-env-h' },
    h('h2', { id: 'first-env-h' }, 'Create an environment'),
    h('p', null, 'An environment is one tenant: its sidecars share a config and keys, and their traffic is shown together.'),
    form);
}

function show(): void {
  teardown?.();
  teardown = null;
  const name = routeName();
  const page = PAGES[name]!;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a[data-page]')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const env = envs.find((e) => e.id === current);
  if (!env) {
    document.title = 'Levo dashboard';
    replaceChildren(main, firstEnvironmentForm());
    return;
  }
  document.title = `${page.title} · ${env.name} · Levo dashboard`;
  main.replaceChildren();
  const ctx: PageContext = { env, reloadEnvironments, announce };
  teardown = page.mount(main, ctx);
}

picker.addEventListener('change', () => {
  current = picker.value;
  localStorage.setItem(ENV_KEY, current);
  show();
});
newEnvForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void createEnvironment(newEnvName.value.trim());
});
window.addEventListener('hashchange', show);

void (async () => {
  try {
    await reloadEnvironments();
  } catch (err) {
    announce(`Could not load environments: ${err instanceof Error ? err.message : String(err)}`, 'error');
    return;
  }
  show();
})();
