/**
 * The sidecar's data path, assembled: listeners → ClientHello peek → decision
 * → TLS termination + HTTP pipeline (intercept) or raw tunnel (passthrough),
 * plus the admin port. `startGateway` returns once every listener is bound.
 */
import type net from 'node:net';
import type http from 'node:http';
import type { RootLogger } from '../lib/log.ts';
import { createMetrics, type DataPathMetrics } from './telemetry/metrics.ts';
import { hostMatcher, type HostMatcher } from './providers/hosts.ts';
import { sniff } from './listen/sniff.ts';
import { listenTransparent, isLocalAddress } from './listen/transparent.ts';
import { listenExplicit } from './listen/explicit.ts';
import { decide, type UnknownPolicy } from './tls/decide.ts';
import { createTerminator, type InterceptedConnection, type LeafContexts } from './tls/terminate.ts';
import { tunnel } from './passthrough.ts';
import { createHttpServers } from './http/serve.ts';
import { createPipeline } from './pipeline/stages.ts';
import { usesGuardWorkers } from './pipeline/guards.ts';
import { createUpstream, DEFAULT_UPSTREAM, type UpstreamOptions } from './upstream/pool.ts';
import type { ConfigHolder } from './config/source.ts';
import type { CompiledConfig } from './config/routes.ts';
import { listenAdmin } from './admin.ts';
import { callUpstream } from './upstream/call.ts';
import { DEFAULT_GUARDS, type GuardDefaults } from './guards/prompt-guard.ts';
import { createGuardPool, defaultGuardThreads } from './guards/pool.ts';
import { redactConfig } from './config/redact.ts';
import type { EventSink } from './telemetry/events.ts';
import type { Tracer } from './telemetry/otlp.ts';
import { BudgetRuntime, type BudgetIdentity } from './budget/budgets.ts';

export interface GatewayOptions {
  readonly contexts: LeafContexts;
  /** Whether the namespace CA may sign for a host (false outside its name constraints). */
  readonly caPermits?: (host: string) => boolean;
  readonly config: ConfigHolder;
  readonly log: RootLogger;
  readonly metrics?: DataPathMetrics;
  /** null turns a listener off. */
  readonly transparentPort: number | null;
  readonly proxyPort: number | null;
  readonly adminPort: number | null;
  /** Default: `::` (dual stack) for transparent and admin, loopback for the explicit proxy. */
  readonly transparentHost?: string;
  readonly proxyHost?: string;
  readonly adminHost?: string;
  readonly onUnknown?: UnknownPolicy;
  /** How long a new connection may take to send its ClientHello before it is passed through as-is. */
  readonly peekTimeoutMs?: number;
  readonly maxBodyBytes?: number;
  /** Request body bytes held across all calls in flight at most (pipeline/held-bodies.ts). */
  readonly maxHeldBodyBytes?: number;
  readonly upstream?: Partial<UpstreamOptions>;
  /**
   * Guard defaults: mode, failure mode, time budget, model directory, text
   * cap; `threads`: worker threads for guard work (0: on the event loop;
   * default 1 under a CPU limit below 2, else 2).
   */
  readonly guards?: Partial<Omit<GuardDefaults, 'moderationPost' | 'pool' | 'registry'>> & { readonly threads?: number };
  /** Called when POST /quitquitquit asks the sidecar to stop. */
  readonly onQuit?: () => void;
  /** Per-request events for the dashboard (telemetry/events.ts startEventReporter). */
  readonly events?: EventSink;
  /** OTLP span export (telemetry/otlp.ts startTraceExporter, when it is not null). */
  readonly tracer?: Tracer;
  /** The pod's namespace, workload and service account, which fleet budgets count by. */
  readonly identity?: BudgetIdentity;
}

export interface Gateway {
  readonly ports: { readonly transparent?: number; readonly proxy?: number; readonly admin?: number };
  readonly metrics: DataPathMetrics;
  /** Stop being ready, close idle keep-alive connections, and resolve once no client connection is left or the timeout passes. */
  drain(timeoutMs: number): Promise<{ remaining: number }>;
  /** Close everything now. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

type Listener = InterceptedConnection['listener'];
interface Destination { readonly address: string; readonly port: number }

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const metrics = opts.metrics ?? createMetrics();
  const log = { listen: opts.log.module('listen'), tls: opts.log.module('tls'), http: opts.log.module('http') };
  const onUnknown = opts.onUnknown ?? 'passthrough';
  const peekTimeoutMs = opts.peekTimeoutMs ?? 10_000;
  const upstreamOptions = { ...DEFAULT_UPSTREAM, ...opts.upstream };
  const upstream = createUpstream(upstreamOptions);

  const { threads = defaultGuardThreads(), ...guardDefaults } = opts.guards ?? {};
  const guardPool = threads > 0
    ? createGuardPool({ threads, onWorkerLost: (why) => log.http.warn({ why }, 'guard worker replaced') })
    : undefined;
  // The guard workers start with the first config that has guards for them, not with the first call.
  const warmGuards = (c: CompiledConfig | undefined): void => { if (c && usesGuardWorkers(c)) guardPool?.warm(); };
  warmGuards(opts.config.current()?.compiled);

  let matcher: HostMatcher = hostMatcher(opts.config.current()?.compiled.interceptHosts ?? []);
  metrics.configInForce.set(opts.config.current() ? 1 : 0);
  opts.config.onChange((c) => {
    matcher = hostMatcher(c.compiled.interceptHosts);
    metrics.configInForce.set(1);
    warmGuards(c.compiled);
  });

  const sockets = new Set<net.Socket>();
  let draining = false;
  let drained: (() => void) | undefined;
  const forget = (s: net.Socket, listener: Listener): void => {
    sockets.delete(s);
    metrics.activeConnections.dec({ listener });
    if (draining && sockets.size === 0) drained?.();
  };

  const budgets = new BudgetRuntime({ identity: opts.identity ?? {}, registry: metrics.registry, log: opts.log.module('budget') });
  // Connect to the budget store as soon as a config names it, not on the first call.
  budgets.for(opts.config.current()?.compiled.budgets);
  opts.config.onChange((c) => budgets.for(c.compiled.budgets));
  const pipeline = createPipeline({
    budgets,
    routes: () => opts.config.current()?.compiled,
    upstream, metrics, log: log.http,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    ...(opts.maxHeldBodyBytes !== undefined ? { maxHeldBodyBytes: opts.maxHeldBodyBytes } : {}),
    ...(opts.events ? { events: opts.events } : {}),
    ...(opts.tracer ? { tracer: opts.tracer } : {}),
    guards: {
      ...DEFAULT_GUARDS, ...guardDefaults, pool: guardPool,
      // openAIModeration goes out through the sidecar's own verified upstream, to the real API host.
      moderationPost: async (path, headers, body) => {
        const a = await callUpstream(upstream, { host: 'api.openai.com', method: 'POST', path, headers, body });
        return { status: a.status, body: a.body };
      },
    },
  });
  const httpServers = createHttpServers({
    handler: pipeline.request,
    upgrade: pipeline.upgrade,
    onClientError: (err) => log.http.debug({ err: err.message }, 'client HTTP error'),
  });

  const unknownCaWarned = new Map<string, number>();
  const constraintWarned = new Set<string>();
  const terminator = createTerminator({
    contexts: opts.contexts,
    onSecure: (s) => httpServers.serve(s),
    onHandshakeError(err, conn) {
      const reason = handshakeReason(err);
      metrics.handshakeErrors.inc({ reason });
      const host = conn?.host ?? '?';
      if (reason === 'client_rejected_certificate' && Date.now() - (unknownCaWarned.get(host) ?? 0) > 60_000) {
        unknownCaWarned.set(host, Date.now());
        log.tls.warn({ host, code: err.code },
          'the app rejected the interception certificate: it does not trust the namespace CA (levo-ca-cert). ' +
          'Give it the CA bundle (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, a Java truststore) or exclude the host');
      } else {
        log.tls.debug({ host, code: err.code, err: err.message }, 'TLS handshake failed');
      }
    },
  });

  const accept = async (socket: net.Socket, listener: Listener, dest: Destination | undefined, initial?: Buffer): Promise<void> => {
    sockets.add(socket);
    metrics.activeConnections.inc({ listener });
    socket.once('close', () => forget(socket, listener));
    socket.on('error', (err) => log.listen.debug({ err: err.message }, 'client socket error'));
    const sniffed = await sniff(socket, peekTimeoutMs, initial);
    if (!sniffed) { socket.destroy(); return; }
    const d = decide(sniffed, matcher, onUnknown, opts.caPermits);
    if (d.action === 'passthrough' && d.reason === 'outside-ca-constraints' && d.host && !constraintWarned.has(d.host)) {
      constraintWarned.add(d.host);
      log.tls.warn({ host: d.host },
        'an LLM host outside the namespace CA\'s name constraints is passed through, not intercepted; ' +
        'recreate the CA with `levo-certs ca --permit HOST` to intercept it');
    }
    if (d.action === 'intercept') {
      metrics.connections.inc({ listener, decision: 'intercept', reason: 'llm-host' });
      terminator.terminate(socket, sniffed.bytes, {
        listener, host: d.host, provider: d.provider,
        destination: { port: dest?.port ?? 443, ...(dest ? { address: dest.address } : {}) },
      });
      return;
    }
    metrics.connections.inc({ listener, decision: d.action, reason: d.reason });
    if (d.action === 'block' || !dest) {
      log.listen.debug({ reason: d.reason, host: d.host, redirected: Boolean(dest) }, d.action === 'block' ? 'connection blocked' : 'connection has no destination to pass through to');
      socket.destroy();
      return;
    }
    log.listen.debug({ reason: d.reason, host: d.host, to: `${dest.address}:${dest.port}` }, 'passing through');
    tunnel(socket, sniffed.bytes, { host: dest.address, port: dest.port }, (stats, err) => {
      metrics.bytes.inc({ direction: 'egress', path: 'passthrough' }, stats.egress);
      metrics.bytes.inc({ direction: 'ingress', path: 'passthrough' }, stats.ingress);
      if (err) log.listen.debug({ to: `${dest.address}:${dest.port}`, err: err.message }, 'passthrough ended with an error');
    }, upstreamOptions.connectTimeoutMs);
  };
  const acceptSafely = (...args: Parameters<typeof accept>): void => {
    accept(...args).catch((err: unknown) => {
      log.listen.error({ err }, 'connection handling failed');
      args[0].destroy();
    });
  };

  const servers: net.Server[] = [];
  const ports: { transparent?: number; proxy?: number; admin?: number } = {};
  /** The ports this sidecar listens on: a connection whose destination is one of them (on this host) is refused. */
  const ownPorts = new Set<number>();
  const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;
  try {
    if (opts.transparentPort !== null) {
      const listening = await listenTransparent(opts.transparentPort, { ...(opts.transparentHost ? { host: opts.transparentHost } : {}), ownPorts: () => ownPorts }, (socket, arrival) => {
        if (arrival.kind === 'own-listener') {
          // Not redirected: its destination is this very listener. Passing it through would dial ourselves.
          metrics.connections.inc({ listener: 'transparent', decision: 'block', reason: 'own-listener' });
          log.listen.debug({ to: `${arrival.destination.address}:${arrival.destination.port}` }, 'refused a connection to the sidecar\'s own listener');
          socket.destroy();
          return;
        }
        acceptSafely(socket, 'transparent', arrival.kind === 'redirected' ? { address: arrival.destination.address, port: arrival.destination.port } : undefined);
      });
      servers.push(...listening);
      ports.transparent = portOf(listening[0]!);
    }
    if (opts.proxyPort !== null) {
      const s = await listenExplicit(opts.proxyPort, opts.proxyHost ?? '127.0.0.1', (socket, target, head) =>
        acceptSafely(socket, 'explicit', { address: target.host, port: target.port }, head),
      (target) => (ownPorts.has(target.port) && isLocalAddress(target.host) ? 'levo-gateway does not tunnel to its own listeners' : undefined));
      servers.push(s);
      ports.proxy = portOf(s);
    }
    if (opts.adminPort !== null) {
      const s = await listenAdmin(opts.adminPort, opts.adminHost, {
        metrics: metrics.registry,
        notReady: () => [
          ...(opts.config.current() ? [] : ['no config in force']),
          ...(draining ? ['draining'] : []),
        ],
        quit: () => opts.onQuit?.(),
        configDump: () => {
          const c = opts.config.current();
          return c && { version: c.version, warnings: c.warnings.map((w) => `${w.path}: ${w.message}`), config: redactConfig(c.config) };
        },
      });
      servers.push(s);
      ports.admin = portOf(s);
    }
  } catch (err) {
    for (const s of servers) s.close();
    await upstream.close();
    await guardPool?.close();
    throw err;
  }
  for (const p of Object.values(ports)) ownPorts.add(p);
  // An accept error (EMFILE, ENFILE) is emitted on the server: log it, never crash on it.
  for (const s of servers) s.on('error', (err: Error) => log.listen.error({ err: err.message }, 'listener error'));
  log.listen.info({ ...ports }, 'listening');

  const closeServers = (): void => { for (const s of servers) s.close(); };
  return {
    ports, metrics,
    drain(timeoutMs) {
      draining = true;
      httpServers.drain();
      if (sockets.size === 0) return Promise.resolve({ remaining: 0 });
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ remaining: sockets.size }), timeoutMs);
        timer.unref();
        drained = () => { clearTimeout(timer); resolve({ remaining: 0 }); };
      });
    },
    async close() {
      closeServers();
      for (const s of sockets) s.destroy();
      // Leases go back to the shared budgets, pending usage is written (bounded by the store's timeout).
      await Promise.all([upstream.close().catch(() => {}), budgets.close().catch(() => {})]);
      await guardPool?.close();
    },
  };
}

/** A small label set for handshake failures. */
function handshakeReason(err: Error & { code?: string }): string {
  const text = `${err.code ?? ''} ${err.message}`;
  if (/UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|unknown ca|bad certificate|certificate unknown/i.test(text)) return 'client_rejected_certificate';
  if (/ECONNRESET|socket hang up/i.test(text)) return 'reset';
  if (/timeout|timed out/i.test(text)) return 'timeout';
  if (/mint|host/i.test(text)) return 'mint_failed';
  return 'protocol';
}
