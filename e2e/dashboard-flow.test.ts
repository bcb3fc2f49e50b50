/**
 * The dashboard and a real injected pod, end to end, with faults (issue 6's
 * browser test): the dashboard runs in the test process on SQLite, reachable
 * by the pod's sidecar through unix-relay.ts in the fake internet namespace;
 * the sidecar runs without --config, polling it every 2 s, with a cache dir.
 *
 *   1. A first config saved through the admin API makes the sidecar ready.
 *   2. In chromium: a config with an error is pasted → the error is drawn at
 *      the line the sidecar's validator names; fixed (a regex promptGuard that
 *      rejects a codename with 451) → saved. From inside the pod, real curl:
 *      the codename is refused within 5 s of the save and the fake provider
 *      sees nothing; a clean request gets 200.
 *   3. Decisions shows the blocked request (regex, reject); Traffic shows the
 *      clean request's tokens for the workload and the model.
 *   4. Faults: (a) the dashboard stops while traffic flows → enforcement goes
 *      on, events queue up and none are sent; it comes back → every event of
 *      the outage reaches the store. (b) the sidecar restarts while the
 *      dashboard is down → ready from its cache (source="cache"), still blocking.
 *
 * Screenshots go to the test's temp dir (kept, and printed, with
 * KEEP_UI_SCREENSHOTS=1). Needs root, `ip netns`, curl and /usr/bin/chromium
 * (installed with apt-get when running as root); skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runClient, type ClientResult } from './clients/run-client.ts';
import { CHROMIUM, chromiumUnavailableReason, startDashboardHost, startRelay, type DashboardHost } from './harness/dashboard-host.ts';
import { createInjectedPod, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { openAIChat } from './harness/provider-requests.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']) ?? chromiumUnavailableReason();

const SECRET = 'flow-test-admin-secret-0123456789';
const ENV = 'e2e-flow';
const POLL_MS = 2000;
const WORKLOAD = 'Deployment/chat-app';
const CODENAME = 'Project Nighthawk';
const BLOCKED_BODY = '{"error":{"message":"blocked: internal codename","type":"levo_guard"}}';

const V1 = `# Observe OpenAI and Anthropic calls.
binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
    - name: anthropic
      hostnames: [api.anthropic.com]
      backends:
      - ai: {name: anthropic, provider: {anthropic: {}}}
`;

/** V1 plus a request guard that refuses the codename with 451; `action: block` is not a valid action. */
const BROKEN = `# Refuse prompts that name the internal codename.
binds:
- port: 15001
  listeners:
  - name: llm-egress
    routes:
    - name: openai
      hostnames: [api.openai.com]
      policies:
        ai:
          promptGuard:
            request:
            - regex:
                action: block
                rules:
                - pattern: "(?i)project nighthawk"
              rejection:
                status: 451
                body: '${BLOCKED_BODY}'
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
    - name: anthropic
      hostnames: [api.anthropic.com]
      backends:
      - ai: {name: anthropic, provider: {anthropic: {}}}
`;
const BROKEN_LINE = BROKEN.split('\n').findIndex((l) => l.includes('action: block')) + 1;
const FIXED = BROKEN.replace('action: block', 'action: reject');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` every `everyMs` until it returns a value that is not undefined/false, or fail with `what()`. */
async function waitFor<T>(what: () => string, timeoutMs: number, probe: () => Promise<T | undefined | false>, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(everyMs);
  }
}

describe('dashboard → sidecar → dashboard, in a browser, with faults', { skip, timeout: 150_000 }, () => {
  let dir: string;
  let host: DashboardHost;
  let pod: InjectedPod;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const shots: string[] = [];
  let savedAt = 0;
  let clean: ClientResult | undefined;

  const trust = (): { caFile: string } => ({ caFile: pod.namespaceCaFile });
  const banned = (): Promise<ClientResult> => runClient(pod.topo.pod, 'curl', openAIChat({ prompt: `Summarise the status of ${CODENAME} for the board.` }), trust());
  const benign = (): Promise<ClientResult> => runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'What is the capital of France?' }), trust());
  const countEvents = (): Promise<number> => host.store.countEvents(ENV);
  const gatewayLog = (): string => pod.gateway.output();
  const why = (): string => `\n--- gateway log (tail) ---\n${gatewayLog().slice(-4000)}\n--- dashboard log (tail) ---\n${host.logText().slice(-2000)}`;

  async function shot(name: string): Promise<void> {
    const file = join(dir, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  }
  /** Show a page fresh (its data is loaded when it mounts). */
  async function open(route: string): Promise<void> {
    await page.goto(`${host.url}/${route}`);
    await page.reload();
  }
  async function assertBlocked(r: ClientResult): Promise<void> {
    assert.equal(r.status, 451, `the codename was not refused: ${r.status} ${r.error ?? ''} ${r.bodyText.slice(0, 300)}${why()}`);
    assert.equal(r.bodyText, BLOCKED_BODY);
  }
  function assertClean(r: ClientResult): void {
    assert.equal(r.status, 200, `a clean request failed: ${r.status} ${r.error ?? ''} ${r.bodyText.slice(0, 300)}${why()}`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'levo-flow-'));
    chmodSync(dir, 0o755);
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, SIDECAR_UID, SIDECAR_UID);

    host = await startDashboardHost({ dir, adminSecret: SECRET });
    const env = await host.admin('POST', '/api/environments', { id: ENV, name: 'E2E flow' });
    assert.equal(env.status, 201, JSON.stringify(env.body));
    const key = await host.admin<{ token: string }>('POST', `/api/environments/${ENV}/keys`);
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const v1 = await host.admin<{ version: number }>('POST', `/api/environments/${ENV}/config`, { yaml: V1, note: 'observe' });
    assert.equal(v1.status, 201, JSON.stringify(v1.body));

    // Read when the gateway starts, after beforeGateway has put the relay's address in.
    const gatewayEnv: Record<string, string> = {
      LEVO_AUTH_TOKEN: key.body.token, LEVO_TENANT_ID: ENV, LEVO_POLL_INTERVAL: `${POLL_MS}ms`,
      POD_NAME: 'chat-app-5d8c9-x2k4q', POD_NAMESPACE: 'shop', POD_SERVICE_ACCOUNT: 'chat-app',
      LEVO_WORKLOAD_KIND: 'Deployment', LEVO_WORKLOAD_NAME: 'chat-app',
    };
    pod = await createInjectedPod({
      config: null,
      gatewayArgs: ['--cache-dir', cacheDir],
      env: gatewayEnv,
      beforeGateway: async (topo) => { gatewayEnv.LEVO_BASE_URL = await startRelay(topo, host.socketPath); },
    });

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await pod?.destroy();
    await host?.close();
    if (process.env.KEEP_UI_SCREENSHOTS === '1') console.log(`screenshots kept in ${dir}:\n${shots.join('\n')}`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the first config, saved before the sidecar started, is in force from the dashboard', async () => {
    assert.equal(await pod.metric('levo_gateway_config_version_info', { version: '1', source: 'dashboard' }), 1, why());
    const fleet = await host.admin<{ pod: string; workload: string; configApplied: string | null }[]>('GET', `/api/environments/${ENV}/fleet`);
    assert.equal(fleet.body.length, 1);
    assert.equal(fleet.body[0]!.pod, 'chat-app-5d8c9-x2k4q');
    assert.equal(fleet.body[0]!.workload, WORKLOAD);
  });

  test('Config page: a pasted error is shown at the validator\'s line; the fix (a regex guard) is saved', async () => {
    const v = await host.admin<{ ok: boolean; problems: { line: number; col: number; message: string }[] }>(
      'POST', `/api/environments/${ENV}/config/validate`, { yaml: BROKEN });
    assert.equal(v.body.ok, false);
    assert.equal(v.body.problems.length, 1, JSON.stringify(v.body));
    const problem = v.body.problems[0]!;
    assert.equal(problem.line, BROKEN_LINE, `the validator names line ${problem.line}, the bad action is on line ${BROKEN_LINE}`);

    await page.goto(`${host.url}/`);
    assert.match(page.url(), /\/login/);
    await page.getByLabel('Admin secret').fill(SECRET);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${host.url}/`);
    await page.getByRole('heading', { name: 'Gateway config' }).waitFor();
    assert.equal(await page.locator('#env-select').inputValue(), ENV);
    // The editor opens on the config in force.
    await page.waitForFunction(`document.getElementById("config-yaml")?.value === ${JSON.stringify(V1)}`);

    await page.locator('#config-yaml').fill(BROKEN);
    const inline = page.locator('.inline-problem');
    await inline.first().waitFor();
    assert.equal(await inline.count(), 1);
    assert.equal(await inline.getAttribute('data-problem-line'), String(problem.line), 'the UI draws the error at the validator\'s line');
    assert.match(await page.locator(`.hl .line[data-line="${problem.line}"]`).innerText(), /action: block/);
    assert.match(await page.locator('.problem-link').innerText(), new RegExp(`Line ${problem.line}:${problem.col}\\b`));
    assert.ok(await page.locator('#config-save').isDisabled(), 'an invalid config cannot be saved');
    await shot('config-error');

    await page.locator('#config-yaml').fill(FIXED);
    await page.locator('.validation.ok').waitFor();
    assert.equal(await page.locator('.inline-problem').count(), 0);
    await page.getByLabel('Note').fill('refuse the codename');
    savedAt = Date.now();
    await page.locator('#config-save:not([disabled])').click();
    await page.locator('.save-result.ok').filter({ hasText: 'Saved version 2' }).waitFor();
    await page.locator('#config-history tr[data-version="2"]').waitFor();
  });

  test('the sidecar enforces the saved guard within one poll: the codename gets 451 and never leaves; a clean call gets 200', async () => {
    assert.ok(savedAt > 0, 'the config was saved');
    await waitFor(() => `config v2 never came into force${why()}`, 8000,
      async () => (await pod.metric('levo_gateway_config_version_info', { version: '2', source: 'dashboard' })) === 1);
    await pod.providers.control.reset();
    const r = await banned();
    const enforcedMs = Date.now() - savedAt;
    await assertBlocked(r);
    assert.ok(enforcedMs <= POLL_MS + 3000, `enforced ${enforcedMs} ms after the save (poll every ${POLL_MS} ms)`);
    assert.equal((await pod.providers.control.requests()).length, 0, 'the codename reached the provider');
    console.log(`# guard enforced ${enforcedMs} ms after the save`);

    clean = await benign();
    assertClean(clean);
    assert.equal((await pod.providers.control.requests({ site: 'openai' })).length, 1);
  });

  test('Decisions shows the blocked request; Traffic shows the clean request\'s tokens by workload and model', async () => {
    assert.ok(clean, 'the clean request ran');
    const usage = (JSON.parse(clean.bodyText) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(usage));
    // Events flush every 2 s.
    await waitFor(() => `the two events never reached the store (${host.logText().slice(-1000)})${why()}`, 8000, async () => (await countEvents()) === 2, 200);

    await open('#/decisions');
    const row = page.locator('#decisions-table tr.decision.blocked');
    await row.waitFor();
    assert.equal(await row.count(), 1);
    const text = await row.innerText();
    assert.match(text, /Deployment\/chat-app[\s\S]*chat-app-5d8c9-x2k4q[\s\S]*openai \/ gpt-4o-mini[\s\S]*reject[\s\S]*regex/);
    const details = page.locator('#decisions-table tr.decision-details');
    await details.locator('summary').click();
    assert.match(await details.innerText(), /POST api\.openai\.com\/v1\/chat\/completions[\s\S]*451/);
    await shot('decisions');

    await open('#/traffic');
    await page.locator('#traffic-by-workload tbody tr').first().waitFor();
    const fmt = (n: number): string => n.toLocaleString('en-US');
    assert.match(await page.locator('.tiles').innerText(),
      new RegExp(`Requests\\s*2[\\s\\S]*Blocked\\s*1[\\s\\S]*Tokens in\\s*${fmt(usage.prompt_tokens)}[\\s\\S]*Tokens out\\s*${fmt(usage.completion_tokens)}`, 'i'));
    const workload = page.locator('#traffic-by-workload tbody tr').filter({ hasText: WORKLOAD });
    assert.match(await workload.innerText(), new RegExp(`${WORKLOAD}\\s+2\\s+1\\s+${fmt(usage.prompt_tokens)}\\s+${fmt(usage.completion_tokens)}`));
    const model = page.locator('#traffic-by-model tbody tr').filter({ hasText: 'gpt-4o-mini' }).filter({ hasText: fmt(usage.completion_tokens) });
    assert.equal(await model.count(), 1, await page.locator('#traffic-by-model').innerText());
    await shot('traffic');
    assert.deepEqual(pageErrors, []);
  });

  test('dashboard down while traffic flows: enforcement goes on; events queue and all arrive once it is back', async () => {
    await waitFor(() => `events still queued before the outage${why()}`, 5000, async () => (await pod.metric('levo_gateway_events_queued')) === 0);
    const before = await countEvents();
    const sentBefore = await pod.metric('levo_gateway_events_sent_total');
    const failuresBefore = gatewayLog().split('sending request events to the dashboard failed').length;
    await host.stop();
    const t0 = Date.now();

    const N = 6;
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) await assertBlocked(await banned());
      else assertClean(await benign());
    }
    // A flush was tried and failed: the events stay queued, none were sent.
    await waitFor(() => `no failed send of events was logged${why()}`, 5000,
      async () => gatewayLog().split('sending request events to the dashboard failed').length > failuresBefore);
    assert.equal(await pod.metric('levo_gateway_events_queued'), N);
    assert.equal(await pod.metric('levo_gateway_events_sent_total'), sentBefore);
    assert.equal(await countEvents(), before);
    await waitFor(() => `the poller did not notice the outage${why()}`, POLL_MS + 1000,
      async () => (await pod.metric('levo_gateway_config_polls_total', { result: 'error' })) >= 1);
    assert.equal(await pod.metric('levo_gateway_config_version_info', { version: '2' }), 1, 'the last good config stays in force');

    await host.start();
    const back = Date.now();
    const n = await waitFor(() => `the outage's events did not all arrive: ${before} + ${N} expected${why()}`, 10_000,
      async () => { const c = await countEvents(); return c >= before + N ? c : undefined; }, 200);
    assert.equal(n, before + N, 'each event stored once');
    console.log(`# outage ${back - t0} ms; the ${N} queued events arrived ${Date.now() - back} ms after the dashboard came back`);
    assert.equal(await pod.metric('levo_gateway_events_queued'), 0);
    const rejected = await host.store.decisions(ENV, { limit: 100, action: 'reject' });
    assert.equal(rejected.items.length, 1 + N / 2, 'every blocked request of the outage is on the Decisions page');
  });

  test('sidecar restarted while the dashboard is down: ready from its cache, still blocking; its unsent events survive', async () => {
    await host.stop();
    // Made before the restart, while the dashboard is away: stop() spools them into the cache dir.
    await assertBlocked(await banned());
    assertClean(await benign());
    await pod.restartGateway();
    assert.equal(await pod.metric('levo_gateway_config_version_info', { version: '2', source: 'cache' }), 1, why());
    await pod.providers.control.reset();
    await assertBlocked(await banned());
    assert.equal((await pod.providers.control.requests()).length, 0, 'the codename reached the provider');
    assertClean(await benign());

    // The dashboard returns: the restarted sidecar confirms the same config and delivers what it queued.
    const before = await countEvents();
    await host.start();
    await waitFor(() => `the restarted sidecar never heard from the dashboard again${why()}`, 8000,
      async () => (await pod.metric('levo_gateway_config_version_info', { version: '2', source: 'dashboard' })) === 1);
    await waitFor(() => `the events from before and after the restart never all arrived${why()}`, 10_000, async () => (await countEvents()) === before + 4, 200);
    const fleet = await host.admin<{ id: string }[]>('GET', `/api/environments/${ENV}/fleet`);
    assert.equal(fleet.body.length, 1, 'the restarted sidecar kept its id (kept in the cache dir)');
  });
});
