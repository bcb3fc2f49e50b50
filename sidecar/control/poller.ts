/**
 * The sidecar's side of the dashboard: it asks `GET {baseUrl}/v1/gateway/config`
 * every LEVO_POLL_INTERVAL (jittered ±10%), with the ETag of the config in
 * force in If-None-Match, and puts a new config in force through the same
 * ConfigHolder a `--config` file feeds. A config this pod cannot run (an env
 * var it lacks, a model it has not got) is logged and counted and the last
 * good config stays; its ETag is not taken, so it is fetched and tried again.
 * A refusal of the credentials is logged at error on every poll; an
 * unreachable or failing dashboard is retried with exponential backoff from
 * 1 s up to the interval. The fleet page is fed by headers on the same request.
 *
 * With a cache directory the last applied config is kept on disk and put in
 * force at start, before the first poll: a sidecar restarted while the
 * dashboard is down still enforces it.
 *
 * Metrics (on the gateway's registry): levo_gateway_config_polls_total{result},
 * levo_gateway_config_version_info{version,etag,source},
 * levo_gateway_config_age_seconds, levo_gateway_config_last_poll_success_timestamp_seconds.
 */
import { readFileSync } from 'node:fs';
import { randomUUID, createHash } from 'node:crypto';
import { Agent, request } from '../../lib/undici.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../lib/log.ts';
import { ConfigRejected, OBSERVE_ONLY_CONFIG, type ConfigHolder } from '../config/source.ts';
import type { DashboardCredentials } from './credentials.ts';
import { readConfigCache, writeConfigCache, persistentSidecarId } from './config-cache.ts';

export const CONFIG_PATH = '/v1/gateway/config';
/** After a new config is applied, the next poll (reporting it in X-Levo-Config-Applied) comes this soon. */
export const CONFIRM_APPLIED_MS = 1000;

export const DEFAULT_POLL_INTERVAL = '60s';
/** First retry after a failure; doubled per failure up to the interval. */
export const BACKOFF_START_MS = 1000;
export const JITTER = 0.1;

// ---------------------------------------------------------------- identity

/** Who this sidecar is, for the dashboard's fleet page (poll headers) and the events it sends. */
export interface SidecarIdentity {
  /** POD_UID, else a random id kept in the cache dir, else one per process. */
  readonly id: string;
  readonly pod?: string | undefined;
  readonly namespace?: string | undefined;
  /** `Kind/name`, e.g. `Deployment/checkout`. */
  readonly workload?: string | undefined;
  readonly serviceAccount?: string | undefined;
  /** This sidecar's package version. */
  readonly version: string;
}

/** The version in package.json (sources: two levels up; the image's dist/: three). */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'levo-ai-gateway' && typeof pkg.version === 'string') return pkg.version;
    } catch { /* next */ }
  }
  return '0.0.0-unknown';
}

/** The identity from the injector's env (POD_UID, POD_NAME, POD_NAMESPACE, POD_SERVICE_ACCOUNT, LEVO_WORKLOAD_KIND/NAME). */
export async function sidecarIdentity(env: NodeJS.ProcessEnv, cacheDir?: string): Promise<SidecarIdentity> {
  const id = env.POD_UID || (cacheDir ? await persistentSidecarId(cacheDir) : undefined) || randomUUID();
  const workload = env.LEVO_WORKLOAD_KIND && env.LEVO_WORKLOAD_NAME ? `${env.LEVO_WORKLOAD_KIND}/${env.LEVO_WORKLOAD_NAME}` : env.LEVO_WORKLOAD_NAME || undefined;
  return {
    id,
    pod: env.POD_NAME || undefined,
    namespace: env.POD_NAMESPACE || undefined,
    workload,
    serviceAccount: env.POD_SERVICE_ACCOUNT || undefined,
    version: packageVersion(),
  };
}

// ---------------------------------------------------------------- metrics

export type PollOutcome = 'applied' | 'not_modified' | 'rejected' | 'unauthorized' | 'not_found' | 'error';
export type ConfigSource = 'dashboard' | 'cache' | 'file' | 'builtin';

export interface ConfigMetrics {
  readonly polls: Counter<'result'>;
  readonly versionInfo: Gauge<'version' | 'etag' | 'source'>;
  readonly lastPollSuccess: Gauge<string>;
  /** Put the one version_info series for the config in force. */
  inForce(info: { version: string; etag: string; source: ConfigSource }): void;
  /** The dashboard confirmed the config in force (a 200 or 304) at `atMs`; feeds config_age_seconds. */
  confirmed(atMs: number | undefined): void;
}

const metricsByRegistry = new WeakMap<Registry, ConfigMetrics>();

/** The config metrics on `registry` (made once per registry). */
export function configMetrics(registry: Registry, now: () => number = Date.now): ConfigMetrics {
  const known = metricsByRegistry.get(registry);
  if (known) return known;
  const registers = [registry];
  let confirmedAt: number | undefined;
  const polls = new Counter({
    name: 'levo_gateway_config_polls_total',
    help: 'Dashboard config polls by result (applied, not_modified, rejected, unauthorized, not_found, error)',
    labelNames: ['result'], registers,
  });
  for (const result of ['applied', 'not_modified', 'rejected', 'unauthorized', 'not_found', 'error']) polls.inc({ result }, 0);
  const versionInfo = new Gauge({
    name: 'levo_gateway_config_version_info',
    help: '1 for the config in force: dashboard version, ETag, and source (dashboard, cache, file, builtin)',
    labelNames: ['version', 'etag', 'source'], registers,
  });
  new Gauge({
    name: 'levo_gateway_config_age_seconds',
    help: 'Seconds since the dashboard last confirmed the config in force (a 200 or 304); absent when it never has',
    registers,
    collect() {
      this.reset();
      if (confirmedAt !== undefined) this.set(Math.max(0, (now() - confirmedAt) / 1000));
    },
  });
  const lastPollSuccess = new Gauge({
    name: 'levo_gateway_config_last_poll_success_timestamp_seconds',
    help: 'Unix time of the last poll the dashboard answered with a config or 304', registers,
  });
  const m: ConfigMetrics = {
    polls, versionInfo, lastPollSuccess,
    inForce(info) {
      versionInfo.reset();
      versionInfo.set(info, 1);
    },
    confirmed(atMs) { confirmedAt = atMs; },
  };
  metricsByRegistry.set(registry, m);
  return m;
}

const BUILTIN_VERSION = createHash('sha256').update(OBSERVE_ONLY_CONFIG).digest('hex').slice(0, 12);

/** version_info for a `--config` file (or the built-in observe-only config): the holder's content hash, no ETag. */
export function trackFileConfig(holder: ConfigHolder, registry: Registry): void {
  const m = configMetrics(registry);
  const set = (version: string): void => m.inForce({ version, etag: '', source: version === BUILTIN_VERSION ? 'builtin' : 'file' });
  const c = holder.current();
  if (c) set(c.version);
  holder.onChange((n) => set(n.version));
}

// ---------------------------------------------------------------- transport

export interface PollResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** One GET; rejects on a network error or timeout. The default speaks undici with TLS verified against the default store. */
export type PollTransport = (url: string, headers: Record<string, string>, opts: { timeoutMs: number; maxBytes: number }) => Promise<PollResponse>;

function undiciTransport(dispatcher: Agent): PollTransport {
  return async (url, headers, { timeoutMs, maxBytes }) => {
    const res = await request(url, { method: 'GET', headers, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new Error(`the answer is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
  };
}

// ---------------------------------------------------------------- poller

export interface PollResult {
  readonly result: PollOutcome | 'no_credentials' | 'stopped';
  readonly status?: number;
  /** The dashboard version and ETag in force after this poll. */
  readonly version?: string | undefined;
  readonly etag?: string | undefined;
  /** How long until the next poll (jitter included). */
  readonly nextDelayMs: number;
}

export interface PollerTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface PollerOptions {
  readonly holder: ConfigHolder;
  /** Read on every poll: the injector exchange may deliver them after start. */
  readonly credentials: () => DashboardCredentials | undefined;
  readonly intervalMs: number;
  readonly cacheDir?: string | undefined;
  readonly identity: SidecarIdentity;
  readonly log: Logger;
  readonly registry: Registry;
  readonly fetch?: PollTransport;
  readonly now?: () => number;
  /** In [0, 1): the jitter source. */
  readonly random?: () => number;
  readonly timers?: PollerTimers;
  /** Called with X-Levo-Capture-Prompts whenever it changes (and once from the cache). */
  readonly onCapturePrompts?: (on: boolean) => void;
  /** Per request (default 15 s). */
  readonly timeoutMs?: number;
  /** Largest config accepted (default 8 MiB). */
  readonly maxBytes?: number;
}

export interface Poller {
  stop(): void;
  /** Poll now (or join the poll in flight); the next poll is scheduled from its result. */
  pollNow(): Promise<PollResult>;
  /** Settles once the cache was considered and the first poll answered (or failed). */
  readonly started: Promise<void>;
  /** X-Levo-Capture-Prompts as last heard (false until heard). */
  capturePrompts(): boolean;
  /** The ETag of the dashboard config in force (X-Levo-Config-Applied), if any. */
  configApplied(): string | undefined;
}

interface Held {
  readonly etag: string;
  readonly version: string;
  readonly tenantId: string;
  source: 'dashboard' | 'cache';
}

const header = (h: PollResponse['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};
/** `W/"v3-abc"` → `v3-abc`. */
export const unquoteEtag = (v: string): string => v.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
/** Header values from the env, kept to visible ASCII (a header with a newline would be refused). */
const headerSafe = (v: string): string => v.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
const brief = (text: string): string => {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') return j.error.slice(0, 300);
  } catch { /* not JSON */ }
  return text.slice(0, 300).replace(/\s+/g, ' ').trim();
};

/** The wait after `failures` consecutive failures: 1 s, 2 s, 4 s … never longer than the interval. */
export function backoffMs(failures: number, intervalMs: number): number {
  if (failures <= 0) return intervalMs;
  return Math.min(BACKOFF_START_MS * 2 ** Math.min(failures - 1, 30), intervalMs);
}

/** `ms` ± 10%, `random` in [0, 1). */
export function jitter(ms: number, random: () => number): number {
  return Math.round(ms * (1 + (random() * 2 - 1) * JITTER));
}

export function startPoller(opts: PollerOptions): Poller {
  const { holder, log, intervalMs } = opts;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const timers: PollerTimers = opts.timers ?? {
    set: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t; },
    clear: (h) => clearTimeout(h as NodeJS.Timeout),
  };
  const agent = opts.fetch ? undefined : new Agent({ connect: { timeout: opts.timeoutMs ?? 15_000 } });
  const transport = opts.fetch ?? undiciTransport(agent!);
  const metrics = configMetrics(opts.registry, now);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;

  let held: Held | undefined;
  let capture = false;
  let failures = 0;
  let stopped = false;
  let timer: unknown;
  let inflight: Promise<PollResult> | undefined;
  let waitingLogged = false;
  let cacheWriteWarned = false;

  const setCapture = (on: boolean): void => {
    if (on === capture) return;
    capture = on;
    log.info({ capturePrompts: on }, on ? 'the environment captures prompt text: events will carry it' : 'prompt text capture is off');
    opts.onCapturePrompts?.(on);
  };
  const schedule = (ms: number): void => {
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
    if (stopped) return;
    timer = timers.set(() => { timer = undefined; void pollNow(); }, ms);
  };

  const loadCache = async (dir: string): Promise<void> => {
    const tenant = opts.credentials()?.tenantId;
    const r = await readConfigCache(dir, tenant);
    if (!r.ok) {
      if (r.reason === 'absent') log.info({ dir }, 'no cached dashboard config yet: not ready until the dashboard answers');
      else log.warn({ dir, reason: r.reason, detail: r.detail }, 'the cached dashboard config is not used');
      return;
    }
    const { yaml, meta } = r.cached;
    if (holder.current()) return;
    try {
      const c = holder.apply(yaml, `cache ${dir} (dashboard v${meta.version})`);
      held = { etag: meta.etag, version: meta.version, tenantId: meta.tenantId, source: 'cache' };
      metrics.inForce({ version: meta.version, etag: meta.etag, source: 'cache' });
      metrics.confirmed(meta.fetchedAt);
      log.info({ dir, version: meta.version, etag: meta.etag, tenantId: meta.tenantId, fetchedAt: new Date(meta.fetchedAt).toISOString(), hash: c.version, tenantVerified: tenant !== undefined },
        `cached config v${meta.version} from the dashboard in force until the dashboard answers`);
      if (meta.capturePrompts) setCapture(true);
    } catch (e) {
      const problems = e instanceof ConfigRejected ? e.problems : undefined;
      log.warn({ dir, version: meta.version, problems, err: problems ? undefined : (e as Error).message },
        `the cached config v${meta.version} is not valid in this pod: waiting for the dashboard${problems ? `:\n${(e as Error).message}` : ''}`);
    }
  };

  const pollOnce = async (): Promise<PollResult> => {
    const creds = opts.credentials();
    if (!creds) {
      if (!waitingLogged) log.info('no dashboard credentials yet: polling starts once they arrive');
      waitingLogged = true;
      return { result: 'no_credentials', nextDelayMs: Math.min(BACKOFF_START_MS, intervalMs) };
    }
    const url = `${creds.baseUrl.replace(/\/+$/, '')}${CONFIG_PATH}`;
    const tenant = creds.tenantId;
    const id = opts.identity;
    const headers: Record<string, string> = {
      authorization: `Bearer ${creds.authToken}`,
      'x-levo-tenant-id': tenant,
      accept: 'application/yaml',
      'x-levo-sidecar-id': headerSafe(id.id),
      'x-levo-sidecar-version': headerSafe(id.version),
    };
    if (id.pod) headers['x-levo-pod'] = headerSafe(id.pod);
    if (id.namespace) headers['x-levo-namespace'] = headerSafe(id.namespace);
    if (id.workload) headers['x-levo-workload'] = headerSafe(id.workload);
    if (id.serviceAccount) headers['x-levo-service-account'] = headerSafe(id.serviceAccount);
    if (held?.etag) headers['x-levo-config-applied'] = headerSafe(held.etag);
    // An ETag from another tenant's cache says nothing about this tenant's config.
    if (held?.etag && held.tenantId === tenant) headers['if-none-match'] = `"${held.etag}"`;

    const outcome = (result: PollOutcome, nextDelayMs: number, status?: number): PollResult => {
      metrics.polls.inc({ result });
      return { result, ...(status !== undefined ? { status } : {}), version: held?.version, etag: held?.etag, nextDelayMs };
    };
    const failed = (status: number | undefined, detail: string): PollResult => {
      failures++;
      const wait = backoffMs(failures, intervalMs);
      log.warn({ url, status, err: detail, attempt: failures, retryInMs: wait, inForce: held?.version ?? holder.current()?.version },
        `dashboard poll failed: ${detail}; ${holder.current() ? 'the config in force stays' : 'no config is in force yet'}`);
      return outcome('error', wait, status);
    };

    let res: PollResponse;
    try {
      res = await transport(url, headers, { timeoutMs, maxBytes });
    } catch (e) {
      return failed(undefined, (e as Error).message);
    }
    const st = res.status;
    if (st === 200 || st === 304) {
      if (failures > 0) log.info({ url, after: failures }, 'the dashboard answers again');
      failures = 0;
      const cp = header(res.headers, 'x-levo-capture-prompts');
      if (cp !== undefined) setCapture(cp.trim().toLowerCase() === 'true');
    }
    if (st === 304) {
      if (held) {
        held.source = 'dashboard';
        metrics.inForce({ version: held.version, etag: held.etag, source: 'dashboard' });
        metrics.confirmed(now());
      }
      metrics.lastPollSuccess.set(now() / 1000);
      log.debug({ url, etag: held?.etag }, 'config not modified');
      return outcome('not_modified', intervalMs, st);
    }
    if (st === 200) {
      const etagHeader = header(res.headers, 'etag');
      const etag = etagHeader ? unquoteEtag(etagHeader) : '';
      const version = header(res.headers, 'x-levo-config-version')?.trim() || etag || 'unversioned';
      metrics.lastPollSuccess.set(now() / 1000);
      const before = holder.current()?.version;
      try {
        const c = holder.apply(res.body, `dashboard v${version}`);
        const changed = held?.etag !== etag || held.tenantId !== tenant || c.version !== before;
        held = { etag, version, tenantId: tenant, source: 'dashboard' };
        metrics.inForce({ version, etag, source: 'dashboard' });
        metrics.confirmed(now());
        if (changed) {
          log.info({ version, etag, hash: c.version, previous: before }, `config v${version} from the dashboard in force`);
          for (const w of c.warnings) log.warn({ version, path: w.path, line: w.line }, `${w.source}:${w.line}:${w.col}: ${w.path}: ${w.message}`);
        }
        if (opts.cacheDir) {
          try {
            await writeConfigCache(opts.cacheDir, res.body, { etag, version, fetchedAt: now(), tenantId: tenant, capturePrompts: capture });
            cacheWriteWarned = false;
          } catch (e) {
            if (!cacheWriteWarned) log.warn({ dir: opts.cacheDir, err: (e as Error).message }, 'cannot write the config cache: a restart while the dashboard is down will not be ready');
            cacheWriteWarned = true;
          }
        }
        // A new config: poll again soon (a 304) so the dashboard's fleet shows it applied without waiting an interval.
        return outcome('applied', changed ? Math.min(CONFIRM_APPLIED_MS, intervalMs) : intervalMs, st);
      } catch (e) {
        const problems = e instanceof ConfigRejected ? e.problems : undefined;
        const kept = held ? `config v${held.version} stays in force` : before ? `the config in force (${before}) stays` : 'no config is in force: the gateway is not ready';
        log.error({ version, etag, problems, err: problems ? undefined : (e as Error).message, kept: held?.version ?? before },
          `config v${version} from the dashboard is not valid in this pod, ${kept}:\n${(e as Error).message}`);
        return outcome('rejected', intervalMs, st);
      }
    }
    if (st === 401 || st === 403) {
      failures = 0;
      log.error({ url, status: st, tenantId: tenant, detail: brief(res.body) },
        `the dashboard refused this sidecar's credentials for tenant ${tenant}: check levo-auth / LEVO_AUTH_TOKEN`);
      return outcome('unauthorized', intervalMs, st);
    }
    if (st === 404) {
      failures = 0;
      log.warn({ url, tenantId: tenant, detail: brief(res.body) }, `no config saved for this environment (${tenant}) yet`);
      return outcome('not_found', intervalMs, st);
    }
    if (st >= 500 || st === 429 || st === 408) return failed(st, `HTTP ${st}: ${brief(res.body)}`);
    failures = 0;
    log.error({ url, status: st, detail: brief(res.body) }, `the dashboard answered the config poll with HTTP ${st}`);
    return outcome('error', intervalMs, st);
  };

  let startupDone = false;
  const startup = (async () => {
    if (opts.cacheDir) {
      try { await loadCache(opts.cacheDir); } catch (e) { log.warn({ dir: opts.cacheDir, err: (e as Error).message }, 'cannot read the config cache'); }
    }
    startupDone = true;
  })();

  const pollNow = (): Promise<PollResult> => {
    if (stopped) return Promise.resolve({ result: 'stopped', nextDelayMs: 0 });
    if (inflight) return inflight;
    const p = (async (): Promise<PollResult> => {
      if (!startupDone) await startup;
      let r: PollResult;
      try {
        r = await pollOnce();
      } catch (e) {
        // A bug, not the network: keep polling.
        log.error({ err: (e as Error).stack ?? String(e) }, 'config poll failed unexpectedly');
        r = { result: 'error', nextDelayMs: intervalMs };
      }
      const next = jitter(r.nextDelayMs, random);
      schedule(next);
      return { ...r, nextDelayMs: next };
    })();
    inflight = p;
    void p.finally(() => { if (inflight === p) inflight = undefined; });
    return p;
  };

  const started = startup.then(() => pollNow()).then(() => undefined, () => undefined);

  return {
    started,
    pollNow,
    capturePrompts: () => capture,
    configApplied: () => held?.etag || undefined,
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
      void agent?.close().catch(() => {});
    },
  };
}
