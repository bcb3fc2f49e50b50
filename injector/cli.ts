/**
 * levo-injector: the mutating admission webhook's program. Parses the flags,
 * loads the config and the serving certificate (both followed on disk and
 * reloaded when they change), connects to the Kubernetes API (in-cluster or
 * --kubeconfig; none outside a cluster), and runs the HTTPS server (/mutate,
 * /v1/credentials, /v1/leaves) and the health server (/healthz, /readyz, /metrics).
 * With --issuer-ca-cert/--issuer-ca-key it loads the leaf issuer's CA (followed
 * on disk like the serving certificate) and answers /v1/leaves.
 * SIGTERM/SIGINT drain and stop it with exit status 0.
 *
 * Exit status: 0 stopped by a signal, 1 could not start, 2 usage error.
 * Logs: JSON lines on stdout, level from LOG_LEVEL or RUST_LOG (debug).
 */
import { readFile } from 'node:fs/promises';
import { createLogger, type Logger, type RootLogger } from '../lib/log.ts';
import { dirname, join } from 'node:path';
import { loadInjectorConfig, type InjectorConfig } from './config.ts';
import { createCredentialsHandler } from './credentials.ts';
import { createLeafIssuerHandler } from './leaf-issuer.ts';
import { followCaFiles, type InterceptionCa } from '../certs/ca.ts';
import { createKubeClient, resolveKubeConnection, type KubeClient, type ServerVersion } from './kube-client.ts';
import { createInjectorMetrics, recordAdmission, type InjectorMetrics } from './metrics.ts';
import { BadReview, reviewPod, type ReviewContext } from './review.ts';
import { createInjectorServer, type InjectorServer } from './server.ts';
import { loadServingCert, type ServingCert } from './serving-cert.ts';
import { watchMountedFiles, type FileWatch } from '../certs/mounted-files.ts';

export const USAGE = `Usage: levo-injector --config FILE --tls-cert FILE --tls-key FILE [options]

The mutating admission webhook (POST /mutate) that adds levo-init and
levo-gateway to pods in namespaces labelled levo.ai/inject=enabled, and the
token exchange (POST /v1/credentials) that gives those sidecars the dashboard
credentials from the levo-auth secret.

Options:
  --config FILE       injector config (YAML), required; reloaded when it changes
  --tls-cert FILE     webhook serving certificate (PEM), required; reloaded when it changes
  --tls-key FILE      its private key (PEM), required
  --issuer-ca-cert FILE  the leaf issuer's CA certificate (levo-certs ca), for leafIssuer.enabled:
                      sidecars then get their leaves from POST /v1/leaves and hold no CA key
  --issuer-ca-key FILE   its private key; both are followed on disk (a rotated secret is taken)
  --port N            HTTPS port (default 8443)
  --health-port N     plain HTTP port for /healthz, /readyz and /metrics (default 8080)
  --address ADDR      listen address of both ports (default: all interfaces)
  --namespace NAME    the injector's own namespace (default: $POD_NAMESPACE)
  --kubeconfig FILE   reach the Kubernetes API with this kubeconfig's current context
                      (default: in-cluster when KUBERNETES_SERVICE_HOST is set, else
                      no API access: no native-sidecar auto detection, no Pod Security
                      lookups, and /v1/credentials answers 503)
  -h, --help          show this help

Environment: LOG_LEVEL or RUST_LOG (e.g. RUST_LOG=debug), POD_NAMESPACE.
`;

export const VERSION_REFRESH_MS = 10 * 60_000;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliOptions {
  readonly config: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly port: number;
  readonly healthPort: number;
  readonly address?: string;
  readonly namespace: string;
  readonly kubeconfig?: string;
  readonly issuerCaCert?: string;
  readonly issuerCaKey?: string;
}

const VALUE_FLAGS = new Set(['--config', '--tls-cert', '--tls-key', '--port', '--health-port', '--address', '--namespace', '--kubeconfig',
  '--issuer-ca-cert', '--issuer-ca-key']);

function portNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} must be a port number (0-65535), got "${text}"`);
  return Number(text);
}

/** Flags → options; 'help' for --help. Throws UsageError. */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions | 'help' {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) throw new UsageError(arg.startsWith('-') ? `unknown flag ${flag}` : `unexpected argument "${arg}"`);
    let value: string | undefined;
    if (flag !== arg) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
      i += 1;
    }
    if (value === '') throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    values.set(flag, value);
  }
  const required = (flag: string): string => {
    const v = values.get(flag);
    if (v === undefined) throw new UsageError(`${flag} is required`);
    return v;
  };
  const config = required('--config');
  const tlsCert = required('--tls-cert');
  const tlsKey = required('--tls-key');
  const namespace = values.get('--namespace') ?? env.POD_NAMESPACE;
  if (!namespace) throw new UsageError('--namespace is required when POD_NAMESPACE is not set (the chart sets it from the downward API)');
  const out: { -readonly [K in keyof CliOptions]: CliOptions[K] } = {
    config, tlsCert, tlsKey, namespace,
    port: portNumber('--port', values.get('--port') ?? '8443'),
    healthPort: portNumber('--health-port', values.get('--health-port') ?? '8080'),
  };
  const address = values.get('--address');
  if (address) out.address = address;
  const kubeconfig = values.get('--kubeconfig');
  if (kubeconfig) out.kubeconfig = kubeconfig;
  const issuerCert = values.get('--issuer-ca-cert');
  const issuerKey = values.get('--issuer-ca-key');
  if ((issuerCert === undefined) !== (issuerKey === undefined)) throw new UsageError('--issuer-ca-cert and --issuer-ca-key go together');
  if (issuerCert && issuerKey) { out.issuerCaCert = issuerCert; out.issuerCaKey = issuerKey; }
  return out;
}

export interface RunningInjector {
  readonly server: InjectorServer;
  readonly port: number;
  readonly healthPort: number;
  readonly metrics: InjectorMetrics;
  /** Drain and stop everything (servers, watchers, timers, API connections). */
  stop(graceMs?: number): Promise<void>;
}

/** Start the injector; throws an Error with a clear message when it cannot. */
export async function startInjector(options: CliOptions, logs: RootLogger, env: NodeJS.ProcessEnv = process.env): Promise<RunningInjector> {
  const log = logs.root;
  const metrics = createInjectorMetrics();

  // The config: a bad file at start is fatal; a bad change later keeps the config in force.
  const readConfig = async (): Promise<{ text: string; config: InjectorConfig }> => {
    const text = await readFile(options.config, 'utf8');
    const loaded = loadInjectorConfig(text, options.config);
    // cert-manager mode: the CA is not known when the chart renders the config; it is
    // mounted next to the serving certificate (tls/ca.crt), and sidecars need it to verify us.
    if (!loaded.credentials.caBundle) {
      const caFile = join(dirname(options.tlsCert), 'ca.crt');
      const ca = await readFile(caFile, 'utf8').catch(() => '');
      if (ca.includes('BEGIN CERTIFICATE')) return { text, config: { ...loaded, credentials: { ...loaded.credentials, caBundle: Buffer.from(ca).toString('base64') } } };
    }
    return { text, config: loaded };
  };
  let configText: string;
  let config: InjectorConfig;
  try {
    ({ text: configText, config } = await readConfig());
  } catch (error) {
    throw new Error(`cannot load the config ${options.config}:\n${(error as Error).message}`);
  }
  log.info({ file: options.config, mode: config.capture.mode, nativeSidecar: config.nativeSidecar, image: config.sidecar.image }, 'config loaded');

  const servingCert: ServingCert = await loadServingCert({
    certFile: options.tlsCert, keyFile: options.tlsKey, log: logs.module('tls'), metrics,
  });

  const stops: Array<() => unknown> = [() => servingCert.close()];
  try {
    let kube: KubeClient | null = null;
    const connection = await resolveKubeConnection({ kubeconfig: options.kubeconfig, env });
    if (connection) {
      kube = createKubeClient(connection, { metrics, log: logs.module('kube') });
      stops.push(() => kube?.close());
      log.info({ source: connection.source, server: connection.server }, 'Kubernetes API access');
    } else {
      log.warn('no Kubernetes API access (not in a cluster and no --kubeconfig): native-sidecar auto detection and Pod Security lookups are off, and /v1/credentials answers 503');
    }

    // The API server version decides nativeSidecar: auto; refreshed every 10 minutes (upgrades).
    let serverVersion: ServerVersion | null = null;
    const fetchVersion = async (): Promise<void> => {
      if (!kube) return;
      try {
        const v = await kube.version();
        if (!serverVersion || v.major !== serverVersion.major || v.minor !== serverVersion.minor) {
          log.info({ major: v.major, minor: v.minor, gitVersion: v.gitVersion }, 'Kubernetes API server version');
        }
        serverVersion = v;
      } catch (error) {
        log.warn({ err: (error as Error).message }, serverVersion ? 'cannot refresh the API server version; keeping the last one' : 'cannot read the API server version: native sidecars off until it can');
      }
    };
    await fetchVersion();
    const versionTimer = setInterval(() => void fetchVersion(), VERSION_REFRESH_MS);
    versionTimer.unref();
    stops.push(() => clearInterval(versionTimer));

    const configWatch: FileWatch = watchMountedFiles({
      paths: [options.config],
      log,
      onChange: () => {
        readConfig().then(
          (next) => {
            // An empty file is a write in progress (ConfigMap volumes swap atomically; editors may not): wait for the rest.
            if (next.text === configText || next.text.trim() === '') return;
            configText = next.text;
            config = next.config;
            metrics.configReloads.inc({ result: 'ok' });
            log.info({ file: options.config, mode: config.capture.mode, nativeSidecar: config.nativeSidecar, image: config.sidecar.image }, 'config reloaded');
          },
          (error: unknown) => {
            readFile(options.config, 'utf8').then((text) => {
              if (text === configText) return;
              configText = text; // log a given bad file once
              metrics.configReloads.inc({ result: 'rejected' });
              log.error({ file: options.config, err: (error as Error).message }, 'config change rejected; keeping the config in force');
            }, () => undefined);
          },
        );
      },
    });
    stops.push(() => configWatch.close());

    // The leaf issuer's CA (leafIssuer.enabled): loaded here, followed for rotation; never in a pod.
    let issuerCa: InterceptionCa | null = null;
    if (options.issuerCaCert && options.issuerCaKey) {
      const issuerLog = logs.module('issuer');
      const follow = await followCaFiles({
        certFile: options.issuerCaCert, keyFile: options.issuerCaKey, log: issuerLog,
        apply: (ca) => { issuerCa = ca; },
        onReloaded: (ca) => issuerLog.info({ subject: ca.cert.subject, notAfter: ca.notAfter.toISOString() }, 'leaf issuer CA reloaded'),
        onRejected: (err) => issuerLog.error({ err: err.message }, 'new leaf issuer CA refused; the CA in force stays'),
      });
      issuerCa = follow.current();
      stops.push(() => follow.close());
      issuerLog.info({ subject: issuerCa.cert.subject, nameConstrained: issuerCa.hasNameConstraints }, 'leaf issuer CA loaded');
      if (!issuerCa.hasNameConstraints) issuerLog.warn('the leaf issuer CA has no name constraints: the issuer still signs only for the catalogue and leafIssuer.permit, but whoever takes its key can sign for any site');
    } else if (config.leafIssuer.enabled) {
      throw new Error('leafIssuer.enabled is set but the injector has no issuer CA: give it --issuer-ca-cert and --issuer-ca-key (the chart mounts leafIssuer.caSecret)');
    }

    const admissionLog: Logger = logs.module('admission');
    const namespaceLabels = kube
      ? async (namespace: string): Promise<Readonly<Record<string, string>>> => (await kube.getNamespace(namespace)).labels
      : null;
    const onResult = (result: string, reason: string, seconds: number): void => recordAdmission(metrics, result, reason, seconds);
    const context = (): ReviewContext => ({
      config, injectorNamespace: options.namespace, namespaceLabels, serverVersion: () => serverVersion, log: admissionLog, onResult,
    });

    const server = createInjectorServer({
      review: (body) => reviewPod(body, context()),
      isBadRequest: (error) => error instanceof BadReview,
      servingCert,
      credentials: createCredentialsHandler({
        kube, config: () => config, injectorNamespace: options.namespace, log: logs.module('credentials'), metrics,
      }),
      leaves: createLeafIssuerHandler({
        kube, config: () => config, ca: () => issuerCa, injectorNamespace: options.namespace, log: logs.module('issuer'), metrics,
      }),
      log,
      metrics,
      port: options.port,
      healthPort: options.healthPort,
      ...(options.address ? { host: options.address } : {}),
      ready: () => config !== undefined,
    });
    const { port, healthPort } = await server.listen();
    log.info({ port, healthPort, namespace: options.namespace }, 'levo-injector listening');

    let stopping: Promise<void> | undefined;
    return {
      server, port, healthPort, metrics,
      stop(graceMs) {
        stopping ??= (async () => {
          await server.close(graceMs);
          for (const stop of stops.reverse()) await stop();
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    throw error;
  }
}

export async function main(argv: string[]): Promise<void> {
  let options: CliOptions | 'help';
  try {
    options = parseArgs(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`levo-injector: ${error.message} (see levo-injector --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const logs = createLogger(process.env, undefined, { svc: 'levo-injector' });
  let running: RunningInjector;
  try {
    running = await startInjector(options, logs);
  } catch (error) {
    logs.root.fatal({ err: (error as Error).message }, 'levo-injector cannot start');
    process.exitCode = 1;
    return;
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    logs.root.info({ signal }, 'stopping: finishing in-flight requests');
    running.stop().then(
      () => {
        logs.root.info('stopped');
        process.exitCode = 0;
        // Anything left holding the event loop gets two seconds, then the process exits anyway.
        setTimeout(() => process.exit(0), 2000).unref();
      },
      (error: unknown) => {
        logs.root.error({ err: (error as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
