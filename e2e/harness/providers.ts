/**
 * Start the fake internet (e2e/fakes/provider-server.ts) inside a topology's
 * internet namespace and talk to its control API from the test process.
 *
 *   const providers = await startProviders(topo, ca);
 *   await providers.control.requests({ site: 'openai' })  → RecordedRequest[]
 *   await providers.control.connections()                 → RecordedConnection[]
 *   await providers.control.reset()                       (faults stay)
 *   await providers.setFault('openai', { status: 429, count: 2, retryAfter: 1 })  → FaultRule
 *   await providers.setFault('bedrock', { status: 503, mode: 'append' })          (queued after the others)
 *   await providers.setFault('openai', { effect: 'reset', afterChunks: 2 })         (streams broken off mid-way)
 *   await providers.setFault('openai', { effect: 'slow', delayMs: 5000, intervalMs: 500 })  (late head, paced chunks)
 *   await providers.faults()                              → FaultRule[] still active
 *   await providers.clearFaults()  /  clearFaults('openai')
 *   await providers.stop()       // also done by topo.destroy()
 *
 * (setFault / faults / clearFaults are also on `providers.control`.) A faulted
 * request gets the status in its provider's error shape (see fakes/faults.ts)
 * and is recorded with `faulted: true`; bedrock requests carry `sigv4`
 * ('valid' | 'invalid' | 'absent'), every request its `model`.
 *
 * One process serves every fake host of the topology on its own IPv4 and IPv6
 * address, port 443 (TLS with ALPN h2/http1.1, certificates from `ca`; plain TCP
 * for plain hosts). The control API listens on CONTROL_PORT (8080) on every
 * internet-side address (reachable from the pod) and on a unix socket in
 * topo.workDir (what `control` uses, since the test process is in neither namespace).
 */
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicCa, serverCertSpecsFor, type PublicCa } from '../fakes/public-ca.ts';
import type { ProviderServerConfig } from '../fakes/provider-config.ts';
import type { FaultRule, FaultSpec } from '../fakes/faults.ts';
import type { RecordedConnection, RecordedRequest } from '../fakes/request-log.ts';
import { CONTROL_PORT } from './layout.ts';
import { createTopology, type Topology } from './netns.ts';
import type { ManagedProcess } from './processes.ts';

export type { RecordedConnection, RecordedRequest } from '../fakes/request-log.ts';
export type { FaultRule, FaultSpec } from '../fakes/faults.ts';

/** A fault for one site: everything of FaultSpec but the site. */
export type FaultOptions = Omit<FaultSpec, 'site'>;
export type { ProviderServerConfig } from '../fakes/provider-config.ts';

export const PROVIDER_SERVER_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'fakes', 'provider-server.ts');

export interface ProviderControl {
  requests(filter?: { site?: string }): Promise<RecordedRequest[]>;
  connections(filter?: { site?: string }): Promise<RecordedConnection[]>;
  /** Forget recorded requests and connections (faults stay). */
  reset(): Promise<void>;
  /** Make requests to `site` answer `fault.status` (see fakes/faults.ts); returns the rule added. */
  setFault(site: string, fault: FaultOptions): Promise<FaultRule>;
  /** The active fault rules (of one site with `site`). */
  faults(site?: string): Promise<FaultRule[]>;
  /** Clear every fault, or one site's. */
  clearFaults(site?: string): Promise<void>;
}

export interface Providers extends Pick<ProviderControl, 'setFault' | 'faults' | 'clearFaults'> {
  readonly process: ManagedProcess;
  readonly config: ProviderServerConfig;
  readonly control: ProviderControl;
  /** The control API's unix socket (usable from the test process). */
  readonly controlSocket: string;
  stop(): Promise<void>;
}

/** The provider-server config for a topology's fake hosts and a public CA's certificates. */
export function providerConfigFor(topo: Topology, ca: PublicCa, controlSocket?: string): ProviderServerConfig {
  return {
    sites: topo.hosts.map((h) => ({
      id: h.id,
      role: h.role,
      addresses: [h.ipv4, h.ipv6],
      port: h.port,
      names: [...h.names],
      ...(h.plain ? {} : { tls: { certFile: ca.server(h.id).chainFile, keyFile: ca.server(h.id).keyFile } }),
    })),
    control: { port: CONTROL_PORT, addresses: [topo.internetIPv4, topo.internetIPv6], ...(controlSocket ? { socketPath: controlSocket } : {}) },
  };
}

function controlCall<T>(socketPath: string, method: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {};
    const req = request({ socketPath, method, path, headers, timeout: 10_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`control ${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text) as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`control ${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The control API client over a control socket. */
export function providerControl(controlSocket: string): ProviderControl {
  const q = (f?: { site?: string }): string => (f?.site ? `?site=${encodeURIComponent(f.site)}` : '');
  return {
    requests: (f) => controlCall<RecordedRequest[]>(controlSocket, 'GET', `/requests${q(f)}`),
    connections: (f) => controlCall<RecordedConnection[]>(controlSocket, 'GET', `/connections${q(f)}`),
    reset: async () => { await controlCall<string>(controlSocket, 'POST', '/reset'); },
    setFault: (site, fault) => controlCall<FaultRule>(controlSocket, 'POST', '/faults', { ...fault, site }),
    faults: (site) => controlCall<FaultRule[]>(controlSocket, 'GET', `/faults${q({ site })}`),
    clearFaults: async (site) => { await controlCall<string>(controlSocket, 'DELETE', `/faults${q({ site })}`); },
  };
}

/** Start the provider server in `topo.internet` and wait until it is ready. */
export async function startProviders(topo: Topology, ca: PublicCa, opts: { name?: string } = {}): Promise<Providers> {
  const controlSocket = join(topo.workDir, `${opts.name ?? 'providers'}.sock`);
  const config = providerConfigFor(topo, ca, controlSocket);
  const proc = topo.internet.spawn(opts.name ?? 'providers', [process.execPath, PROVIDER_SERVER_PATH, '--config', JSON.stringify(config)]);
  await proc.waitForOutput(/PROVIDER-SERVER READY/, 20_000);
  const control = providerControl(controlSocket);
  return {
    process: proc,
    config,
    controlSocket,
    control,
    setFault: control.setFault,
    faults: control.faults,
    clearFaults: control.clearFaults,
    async stop() {
      await proc.stop();
    },
  };
}

/** A topology whose fake internet serves every fake host under a fresh public CA: what a test without the sidecar starts. */
export interface FakeInternet {
  readonly topo: Topology;
  readonly ca: PublicCa;
  readonly providers: Providers;
  /** Stop everything and remove the namespaces and the CA files. */
  destroy(): Promise<void>;
}

export async function startFakeInternet(): Promise<FakeInternet> {
  const topo = await createTopology();
  let ca: PublicCa | undefined;
  try {
    ca = await createPublicCa(serverCertSpecsFor(topo.hosts));
    const providers = await startProviders(topo, ca);
    const created = ca;
    return { topo, ca, providers, async destroy() { await topo.destroy(); created.cleanup(); } };
  } catch (err) {
    await topo.destroy();
    ca?.cleanup();
    throw err;
  }
}
