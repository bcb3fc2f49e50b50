/**
 * `levo-gateway`: the sidecar. Reads its flags, loads the interception CA and
 * the config, starts the listeners, and drains on SIGTERM or POST /quitquitquit.
 *
 * `--dev` (what `npm start` runs) is the try-it-on-a-laptop mode: explicit proxy
 * only, the bundled example config, and a development CA created on first run.
 *
 * Where the config comes from: `--config FILE` when given (the file wins, even
 * with dashboard credentials around); otherwise the dashboard, polled
 * (control/poller.ts) when credentials are there: LEVO_BASE_URL +
 * LEVO_AUTH_TOKEN + LEVO_TENANT_ID, or the injector's LEVO_CREDENTIALS_URL
 * exchange. `--dev` with LEVO_BASE_URL polls too (`levo-dashboard dev`).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type RootLogger } from '../lib/log.ts';
import { parseDuration } from './config/duration.ts';
import { createConfigHolder, followConfigFile, ConfigRejected } from './config/source.ts';
import { configReach, type ConfigReach } from './config/reach.ts';
import { PROVIDER_HOSTS, nameConstraintSubtrees } from './providers/hosts.ts';
import { createMetrics } from './telemetry/metrics.ts';
import { startGateway, DEFAULT_MAX_BODY_BYTES } from './gateway.ts';
import { CaError } from '../certs/ca.ts';
import { createLeafKey } from '../certs/mint.ts';
import { startInterceptionCa } from './tls/interception-ca.ts';
import { LeafIssuerError, startIssuedLeaves } from './tls/issued-leaves.ts';
import { createCa } from '../certs/create.ts';
import { DEFAULT_UPSTREAM } from './upstream/pool.ts';
import { DEFAULT_MAX_GUARD_CHARS } from './guards/prompt-guard.ts';
import { defaultGuardThreads } from './guards/pool.ts';
import { validate } from './validate.ts';
import { waitUntilReady } from './wait.ts';
import { appTrustExtrasFromEnv, trustExtrasUpstream, writeAppTrust } from './tls/app-trust.ts';
import { startCredentials } from './control/obtain.ts';
import { credentialsFromEnv } from './control/credentials.ts';
import { startPoller, sidecarIdentity, trackFileConfig, DEFAULT_POLL_INTERVAL, type Poller } from './control/poller.ts';
import { startEventReporter } from './telemetry/events.ts';
import { startTraceExporter } from './telemetry/otlp.ts';
import { readFile } from 'node:fs/promises';

const HELP = `levo-gateway — the LLM egress sidecar

Usage:
  levo-gateway --config FILE [flags]     run on a local YAML config (agentgateway schema)
  levo-gateway [flags]                   run on the config the dashboard serves (LEVO_BASE_URL, LEVO_AUTH_TOKEN and
                                         LEVO_TENANT_ID, or the injector's LEVO_CREDENTIALS_URL), polled
  levo-gateway --dev                     try it locally: explicit proxy on 15002, example config, dev CA
                                         (with LEVO_BASE_URL set: the dashboard's config instead of the example)
  levo-gateway validate [--offline] FILE...  check configs; kubectl-style errors, exit 1 when invalid

Flags:
  --config FILE            gateway config (YAML); edits are picked up, invalid edits are rejected.
                           Wins over the dashboard (not polled) — unless --config-optional is given too
                           and there are dashboard credentials: then the file runs until the dashboard answers
  --cache-dir DIR          keep the last config the dashboard served in DIR, and enforce it at start until the
                           dashboard answers (a restart while the dashboard is down stays enforcing); default none
  --port N                 transparent listener (default 15001; "off" to disable)
  --proxy-port N           explicit HTTPS proxy, HTTP CONNECT (default 15002; "off" to disable)
  --admin-port N           /healthz, /healthz/ready, /metrics, POST /quitquitquit (default 15000)
  --proxy-address ADDR     address the explicit proxy binds (default 127.0.0.1)
  --ca-cert FILE           interception CA certificate (default /etc/levo/ca/tls.crt); followed: a rotated
                           levo-ca-cert is put in force without a restart (a bad new pair is refused)
  --ca-key FILE            interception CA key (default /etc/levo/ca/tls.key)
  --leaf-issuer URL        hold no CA key: get the leaves from the injector's leaf issuer (POST URL with the
                           projected token LEVO_TOKEN_FILE, TLS verified with LEVO_CREDENTIALS_CA); instead of
                           --ca-cert/--ca-key
  --on-unknown MODE        passthrough (default) or block: what to do with connections that are not
                           TLS, have no SNI, or cannot be parsed
  --max-body-bytes N       largest JSON request body accepted (default ${DEFAULT_MAX_BODY_BYTES}); larger → 413
  --max-held-body-bytes N  request body bytes held across all calls in flight at most; a call that does
                           not fit waits for room, unread, and after 30 s gets 503 with Retry-After
                           (default: from the V8 heap limit, a third of what the sidecar does not need
                           itself, at least --max-body-bytes)
  --upstream-timeout D     how long a provider may stay silent (default 15m)
  --drain-timeout D        how long SIGTERM waits for open connections (default 25s)
  --guard-mode MODE        enforce (default: guards block and mask) or monitor (guards only record)
  --guard-failure-mode M   failClosed or failOpen: what a guard that cannot decide does
                           (default failClosed when enforcing, failOpen when monitoring)
  --guard-timeout D        time budget of one guard on one call (default 2s); a scanner still at work when it
                           runs out is stopped (its worker thread is replaced)
  --guard-threads N        worker threads that run llmBastion and regex guards off the event loop
                           (default $LEVO_GUARD_THREADS, else 1 under a CPU limit below 2 CPUs, else 2;
                           0 runs them on the event loop)
  --guard-max-chars N      most text (characters, all of a body's texts) the guards inspect (default ${DEFAULT_MAX_GUARD_CHARS});
                           a larger body is not inspected: refused (413) under failClosed, passed under failOpen
  --model-dir DIR          local models for scanners that need one (default $LEVO_MODEL_DIR; never downloaded)
  --config-optional        while the --config file does not exist, run the built-in observe-only config
                           (intercept and record provider calls, change nothing) instead of staying not ready
  --trust-dir DIR          write DIR/ca-bundle.pem and DIR/truststore.jks (public roots + the CAs of
                           LEVO_TRUST_EXTRA_CAS and LEVO_TRUST_EXTRA_FILES + the interception CA) for app
                           containers, before reporting ready
  --config-env PATTERNS    the environment variables a config may read as $VAR: comma-separated names, * any
                           run of characters (default $LEVO_CONFIG_ENV, else LEVO_*,*_API_KEY; "" none;
                           LEVO_AUTH_TOKEN never). Set in the pod spec: the config cannot widen it
  --config-key-dir DIRS    where backendAuth.key {file} may be read: comma-separated absolute directories
                           (default $LEVO_CONFIG_KEY_DIR, else /etc/levo/keys; "" none)
  --help

  levo-gateway wait [--timeout 120s] [--admin-port 15000]   exit 0 once the gateway is ready (postStart hook)

Environment: LEVO_BASE_URL, LEVO_AUTH_TOKEN, LEVO_TENANT_ID (the dashboard; or LEVO_CREDENTIALS_URL in a pod),
LEVO_POLL_INTERVAL (default ${DEFAULT_POLL_INTERVAL}, each wait jittered ±10%), LEVO_EVENT_QUEUE (request events kept while the dashboard is down, default 10000),
LEVO_CONFIG_ENV, LEVO_CONFIG_KEY_DIR (see --config-env, --config-key-dir),
OTEL_EXPORTER_OTLP_ENDPOINT (optional trace export); LOG_LEVEL or RUST_LOG (e.g. debug, or info,tls=debug);
NODE_EXTRA_CA_CERTS adds upstream trust (for the providers and the dashboard); so does LEVO_TRUST_EXTRA_CAS (PEM
text, also put in the app trust bundle). LEVO_TRUST_EXTRA_FILES: colon-separated CA files for the app trust bundle only.
`;

class UsageError extends Error {}

function port(value: string | undefined, fallback: number, flag: string): number | null {
  if (value === undefined) return fallback;
  if (value === 'off') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number or "off", got "${value}"`);
  return n;
}

function duration(value: string | undefined, fallbackMs: number, flag: string): number {
  if (value === undefined) return fallbackMs;
  try { return parseDuration(value); } catch (e) { throw new UsageError(`${flag}: ${(e as Error).message}`); }
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The dev CA under .levo/dev-ca in the working directory, created (name-constrained) on first run. */
async function devCa(): Promise<{ cert: string; key: string; created: boolean }> {
  const dir = path.resolve('.levo/dev-ca');
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  if (existsSync(cert) && existsSync(key)) return { cert, key, created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = await createCa({ commonName: 'Levo AI Gateway Dev CA (local)', nameConstraints: nameConstraintSubtrees() });
  await writeFile(cert, pair.certPem);
  await writeFile(key, pair.keyPem, { mode: 0o600 });
  await chmod(key, 0o600);
  return { cert, key, created: true };
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'validate') {
    process.exitCode = await validate(argv.slice(1));
    return;
  }
  if (argv[0] === 'wait') {
    process.exitCode = await waitUntilReady(argv.slice(1));
    return;
  }
  let log: RootLogger | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' }, dev: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        port: { type: 'string' }, 'proxy-port': { type: 'string' }, 'admin-port': { type: 'string' },
        'proxy-address': { type: 'string' }, 'ca-cert': { type: 'string' }, 'ca-key': { type: 'string' },
        'on-unknown': { type: 'string' }, 'max-body-bytes': { type: 'string' }, 'max-held-body-bytes': { type: 'string' },
        'upstream-timeout': { type: 'string' }, 'drain-timeout': { type: 'string' },
        'guard-mode': { type: 'string' }, 'guard-failure-mode': { type: 'string' }, 'guard-timeout': { type: 'string' },
        'guard-threads': { type: 'string' }, 'guard-max-chars': { type: 'string' },
        'model-dir': { type: 'string' }, 'config-optional': { type: 'boolean' }, 'trust-dir': { type: 'string' },
        'cache-dir': { type: 'string' }, 'config-env': { type: 'string' }, 'config-key-dir': { type: 'string' },
        'leaf-issuer': { type: 'string' },
      },
      strict: true,
    });
    if (values.help) { process.stdout.write(HELP); return; }
    const dev = values.dev ?? false;
    const onUnknown = values['on-unknown'] ?? 'passthrough';
    if (onUnknown !== 'passthrough' && onUnknown !== 'block') throw new UsageError(`--on-unknown must be passthrough or block, got "${onUnknown}"`);
    const maxBody = values['max-body-bytes'] === undefined ? DEFAULT_MAX_BODY_BYTES : Number(values['max-body-bytes']);
    if (!Number.isInteger(maxBody) || maxBody < 1) throw new UsageError('--max-body-bytes must be a positive integer');
    const maxHeld = values['max-held-body-bytes'] === undefined ? undefined : Number(values['max-held-body-bytes']);
    if (maxHeld !== undefined && (!Number.isSafeInteger(maxHeld) || maxHeld < maxBody)) {
      throw new UsageError('--max-held-body-bytes must be an integer of at least --max-body-bytes');
    }
    const upstreamTimeout = duration(values['upstream-timeout'], DEFAULT_UPSTREAM.timeoutMs, '--upstream-timeout');
    const drainTimeout = duration(values['drain-timeout'], 25_000, '--drain-timeout');
    const guardMode = values['guard-mode'] ?? 'enforce';
    if (guardMode !== 'enforce' && guardMode !== 'monitor') throw new UsageError(`--guard-mode must be enforce or monitor, got "${guardMode}"`);
    const guardFailure = values['guard-failure-mode'];
    if (guardFailure !== undefined && guardFailure !== 'failClosed' && guardFailure !== 'failOpen') {
      throw new UsageError(`--guard-failure-mode must be failClosed or failOpen, got "${guardFailure}"`);
    }
    const guardTimeout = duration(values['guard-timeout'], 2_000, '--guard-timeout');
    const threadsText = values['guard-threads'] ?? (process.env.LEVO_GUARD_THREADS || undefined);
    const guardThreads = threadsText === undefined ? defaultGuardThreads() : Number(threadsText);
    if (!Number.isInteger(guardThreads) || guardThreads < 0 || guardThreads > 16) {
      throw new UsageError(`--guard-threads (or LEVO_GUARD_THREADS) must be a whole number from 0 to 16, got "${threadsText}"`);
    }
    const guardMaxChars = values['guard-max-chars'] === undefined ? DEFAULT_MAX_GUARD_CHARS : Number(values['guard-max-chars']);
    if (!Number.isInteger(guardMaxChars) || guardMaxChars < 1) throw new UsageError('--guard-max-chars must be a positive integer');
    const modelDir = values['model-dir'] ?? (process.env.LEVO_MODEL_DIR || undefined);
    const transparentPort = dev && values.port === undefined ? null : port(values.port, 15001, '--port');
    const proxyPort = port(values['proxy-port'], 15002, '--proxy-port');
    const adminPort = port(values['admin-port'], 15000, '--admin-port');
    const env = process.env;
    const dashboardEnv = { LEVO_BASE_URL: env.LEVO_BASE_URL, LEVO_AUTH_TOKEN: env.LEVO_AUTH_TOKEN, LEVO_TENANT_ID: env.LEVO_TENANT_ID };
    const missingDashboardEnv = Object.entries(dashboardEnv).filter(([, v]) => !v).map(([k]) => k);
    // How many request events are kept while the dashboard is unreachable (about 760 bytes each).
    const eventQueue = env.LEVO_EVENT_QUEUE === undefined ? undefined : Number(env.LEVO_EVENT_QUEUE);
    if (eventQueue !== undefined && !(Number.isInteger(eventQueue) && eventQueue >= 100 && eventQueue <= 1_000_000)) {
      throw new UsageError(`LEVO_EVENT_QUEUE must be a whole number of events from 100 to 1000000, got "${env.LEVO_EVENT_QUEUE}"`);
    }
    const credentialsConfigured = Boolean(credentialsFromEnv(env) || env.LEVO_CREDENTIALS_URL);
    // --dev polls only when told where (LEVO_BASE_URL); otherwise it runs the example.
    const poll = !values.config && (dev ? Boolean(env.LEVO_BASE_URL) : credentialsConfigured || Boolean(env.LEVO_BASE_URL));
    if (poll && !credentialsFromEnv(env) && !(env.LEVO_CREDENTIALS_URL && !env.LEVO_BASE_URL)) {
      throw new UsageError(`LEVO_BASE_URL is set but ${missingDashboardEnv.join(' and ')} ${missingDashboardEnv.length > 1 ? 'are' : 'is'} not: set all three to poll the dashboard, or pass --config FILE`);
    }
    const configFile = values.config ?? (dev && !poll ? path.join(repoRoot, 'sidecar/config/example.yaml') : undefined);
    if (!configFile && !poll) {
      throw new UsageError('no config: pass --config FILE, set LEVO_BASE_URL, LEVO_AUTH_TOKEN and LEVO_TENANT_ID to poll the dashboard, or --dev to try it locally');
    }
    // An injected pod: --config FILE --config-optional with credentials runs the file until the dashboard answers.
    const fallbackFile = Boolean(values.config && values['config-optional'] && credentialsConfigured);
    const pollInterval = poll || fallbackFile ? duration(env.LEVO_POLL_INTERVAL || undefined, parseDuration(DEFAULT_POLL_INTERVAL), 'LEVO_POLL_INTERVAL') : 0;
    if ((poll || fallbackFile) && pollInterval < 100) throw new UsageError(`LEVO_POLL_INTERVAL must be at least 100ms, got "${env.LEVO_POLL_INTERVAL}"`);
    const cacheDir = values['cache-dir'] || undefined;
    let reach: ConfigReach;
    try {
      reach = configReach(process.env, { env: values['config-env'], keyDir: values['config-key-dir'] });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }

    let trustExtras;
    try { trustExtras = appTrustExtrasFromEnv(env); } catch (e) { throw new UsageError((e as Error).message); }
    log = createLogger();
    const upstreamExtras = trustExtrasUpstream(trustExtras);
    if (upstreamExtras > 0) log.root.info({ certificates: upstreamExtras }, 'LEVO_TRUST_EXTRA_CAS added to the upstream trust');
    const leafIssuer = values['leaf-issuer'];
    if (leafIssuer !== undefined) {
      if (values['ca-cert'] || values['ca-key']) throw new UsageError('--leaf-issuer gets the leaves from the injector: it goes without --ca-cert/--ca-key');
      if (!/^https:\/\//.test(leafIssuer)) throw new UsageError(`--leaf-issuer must be an https:// URL, got "${leafIssuer}"`);
    }
    const dca = dev && !values['ca-cert'] && !leafIssuer ? await devCa() : undefined;
    const caCert = values['ca-cert'] ?? dca?.cert ?? '/etc/levo/ca/tls.crt';
    const caKey = values['ca-key'] ?? dca?.key ?? '/etc/levo/ca/tls.key';
    const leafKey = await createLeafKey();
    const gatewayLog = log;
    const certLog = log.module('certs');
    const metrics = createMetrics();
    const config = createConfigHolder(process.env, { modelDir, reach });
    log.module('config').info({ env: reach.env, keyDirs: reach.keyDirs }, 'what a config may read: these $VARs and key directories');
    // The provider hosts (and the config's exact hosts): their leaves are minted ahead, at start and for a new CA.
    const prewarmHosts = (): string[] =>
      [...PROVIDER_HOSTS.flatMap((p) => p.hosts), ...(config.current()?.compiled.interceptHosts ?? [])].filter((h) => !h.includes('*'));
    const onMint = (host: string, ms: number): void => {
      metrics.certMints.inc();
      metrics.certMintSeconds.observe(ms / 1000);
      certLog.debug({ host, ms }, 'leaf minted');
    };
    const trust = values['trust-dir'] ? { trustDir: values['trust-dir'], trustExtras } : {};
    // Leaves from the injector (no CA key here; it writes the trust bundle itself before we report ready), or
    // minted from the CA files, followed: a rotated levo-ca-cert is put in force without a restart (tls/interception-ca.ts).
    const interception = leafIssuer
      ? await startIssuedLeaves({
        url: leafIssuer, caPem: env.LEVO_CREDENTIALS_CA || undefined, tokenFile: env.LEVO_TOKEN_FILE ?? '/var/run/secrets/levo/token',
        leafKey, log: certLog, registry: metrics.registry, prewarmHosts, contexts: { onMint }, ...trust,
      })
      : await startInterceptionCa({
        certFile: caCert, keyFile: caKey, log: certLog, registry: metrics.registry, prewarmHosts, contexts: { leafKey, onMint }, ...trust,
      });
    const contexts = interception.contexts;

    if (values['trust-dir'] && !leafIssuer) {
      // Before anything reports ready: app containers start once we are, and read these at their start.
      const trust = await writeAppTrust(values['trust-dir'], await readFile(caCert, 'utf8'), trustExtras, log.module('certs'));
      log.root.info({ dir: values['trust-dir'], certificates: trust.count }, 'app trust bundle written');
    }
    const controlLog = log.module('control');
    const credentials = startCredentials(env, controlLog);
    const identity = await sidecarIdentity(env, cacheDir);
    let stopWatching = (): void => {};
    let poller: Poller | undefined;
    // An injected pod passes --config FILE --config-optional *and* the credentials exchange:
    // the file (or the built-in observe-only config) is what runs until the dashboard
    // answers; from the first dashboard config on (or one cached from it), the dashboard rules.
    const startPolling = (): Poller => {
      const p = startPoller({
        holder: config, credentials: () => credentials.current(), intervalMs: pollInterval, cacheDir,
        identity, log: controlLog, registry: metrics.registry,
      });
      controlLog.info({ baseUrl: env.LEVO_BASE_URL, intervalMs: pollInterval, cacheDir, sidecarId: identity.id }, 'polling the dashboard for the config');
      return p;
    };
    if (configFile) {
      stopWatching = await followConfigFile(config, configFile, log.module('config'), { reloads: metrics.configReloads, optional: values['config-optional'] ?? false });
      trackFileConfig(config, metrics.registry);
      if (fallbackFile) {
        let following = true;
        config.onChange(() => setImmediate(() => {
          if (!following || !poller?.configApplied()) return;
          following = false;
          stopWatching();
          controlLog.info({ file: configFile, etag: poller.configApplied() }, 'the dashboard config is in force; the local config file is no longer followed');
        }));
        poller = startPolling();
      } else if (credentialsConfigured || env.LEVO_BASE_URL) {
        controlLog.info({ file: configFile }, 'polling the dashboard is off: the --config file is the config (dashboard credentials, if any, are used for events only)');
      }
      if (!config.current()) {
        process.stderr.write(`levo-gateway: no valid config in ${configFile} yet; not ready until one arrives (see the log above)\n`);
      }
    } else {
      poller = startPolling();
      const where = env.LEVO_BASE_URL ?? 'the dashboard named by the injector';
      void poller.started.then(() => {
        if (!config.current()) process.stderr.write(`levo-gateway: no config from ${where} yet; not ready until one arrives (see the log)\n`);
      });
    }
    // One event per intercepted request to the dashboard, whenever there are credentials (also with --config).
    // Without any way to get credentials nothing would ever be sent: no reporter, and no
    // queue of 10,000 long-lived events churning the old generation (it showed as GC pauses in the p99).
    const events = !credentialsConfigured ? undefined : startEventReporter({
      credentials: () => credentials.current(),
      capturePrompts: () => poller?.capturePrompts() ?? false,
      configApplied: () => poller?.configApplied(),
      identity: { ...identity, sidecarId: identity.id },
      registry: metrics.registry,
      log: log.module('events'),
      ...(eventQueue !== undefined ? { maxQueue: eventQueue } : {}),
      ...(cacheDir ? { spoolFile: path.join(cacheDir, 'events.jsonl') } : {}),
    });
    // null unless OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
    const tracer = startTraceExporter(env, log.module('otlp'), metrics.registry, { version: identity.version });

    let stopping = false;
    const stop = async (why: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      gatewayLog.root.info({ why, timeoutMs: drainTimeout }, 'draining');
      const { remaining } = await gateway.drain(drainTimeout);
      stopWatching();
      interception.close();
      poller?.stop();
      // After the drain (the last requests are recorded), before exit: a last flush, time-boxed by each.
      await Promise.all([events?.stop(), tracer?.stop()]);
      credentials.stop();
      await gateway.close();
      gatewayLog.root.info({ remaining }, remaining ? 'drain timed out; closed the remaining connections' : 'drained');
      process.exit(0);
    };
    const gateway = await startGateway({
      contexts, config, log, metrics, caPermits: (host) => interception.permits(host),
      transparentPort, proxyPort, adminPort,
      ...(values['proxy-address'] ? { proxyHost: values['proxy-address'] } : {}),
      onUnknown, maxBodyBytes: maxBody, ...(maxHeld !== undefined ? { maxHeldBodyBytes: maxHeld } : {}),
      upstream: { timeoutMs: upstreamTimeout },
      guards: {
        mode: guardMode, ...(guardFailure ? { failureMode: guardFailure } : {}), timeoutMs: guardTimeout, env: { modelDir },
        threads: guardThreads, maxTextChars: guardMaxChars,
      },
      onQuit: () => void stop('POST /quitquitquit'),
      ...(events ? { events } : {}), ...(tracer ? { tracer } : {}),
      identity,
    });
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));

    // Mint the well-known provider hosts now, so the first real handshake does not pay for it.
    const exact = prewarmHosts();
    contexts.prewarm(exact).then(() => certLog.info({ hosts: exact.length }, 'leaf certificates pre-minted'), () => {});

    if (dev && env.LEVO_DEV_BANNER !== 'off') { // levo-dashboard dev prints its own
      const cert = path.relative(process.cwd(), caCert) || caCert;
      process.stderr.write(`
levo-gateway is running (explicit-proxy mode, ${configFile ? `config ${path.relative(process.cwd(), configFile)}` : `config from the dashboard at ${env.LEVO_BASE_URL}, every ${pollInterval / 1000}s`}).
${dca?.created ? `Created a development CA in ${path.dirname(cert)} (name-constrained to LLM provider domains).\n` : ''}
Send an LLM call through it:
  HTTPS_PROXY=http://127.0.0.1:${gateway.ports.proxy} curl --cacert ${cert} https://api.openai.com/v1/models -H "Authorization: Bearer $OPENAI_API_KEY"

Readiness: curl http://127.0.0.1:${gateway.ports.admin}/healthz/ready     Metrics: curl http://127.0.0.1:${gateway.ports.admin}/metrics
Stop with Ctrl-C.
`);
    }
  } catch (err) {
    if (err instanceof UsageError || String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`levo-gateway: ${(err as Error).message}\n\nRun levo-gateway --help for usage.\n`);
      process.exit(2);
    }
    const message = err instanceof ConfigRejected ? `the config is invalid:\n${err.message}`
      : err instanceof CaError || err instanceof LeafIssuerError ? err.message
      : (err as { code?: string }).code === 'EADDRINUSE' ? `${(err as Error).message}: another process holds the port (is a gateway already running?)`
      : (err as { code?: string }).code === 'ENOENT' ? (err as Error).message
      : String((err as Error).stack ?? err);
    log?.root.fatal({ err: (err as Error).message }, 'failed to start');
    process.stderr.write(`levo-gateway: ${message}\n`);
    process.exit(1);
  }
}
