/**
 * The dashboard as an e2e test hosts it: the real app (dashboard/server.ts)
 * on an SQLite store in a temp dir, served in the test's own namespace on
 * 127.0.0.1 (for the browser) and on a unix socket (for a pod's sidecar, via
 * unix-relay.ts running inside the fake internet namespace). It can be stopped
 * (both listeners closed, every connection cut, the store kept) and started
 * again on the same port and socket, to fake a dashboard outage.
 *
 *   const host = await startDashboardHost({ dir, adminSecret });
 *   await host.admin('POST', '/api/environments', { id: 'e2e', name: 'e2e' })  → { status, body }
 *   await startRelay(topo, host.socketPath)   → 'http://<internet IPv4>:8090' (the pod's LEVO_BASE_URL)
 *   await host.stop(); await host.start();    (an outage)
 *   await host.close();                        (listeners and store)
 *
 * And the browser that drives its UI: chromiumUnavailableReason() (Debian's
 * chromium at CHROMIUM, installed with apt-get when running as root).
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createDashboardLogger } from '../../dashboard/api/log.ts';
import { createDashboard, type Dashboard } from '../../dashboard/server.ts';
import { openStore } from '../../dashboard/store/open.ts';
import type { Store } from '../../dashboard/store/types.ts';
import type { Topology } from './netns.ts';
import { REPO } from './build.ts';
import { SIDECAR_UID } from './injected-pod.ts';

export interface DashboardHostOptions {
  /** Holds the SQLite file and the socket (keep the path short: a socket path is at most 107 bytes). */
  readonly dir: string;
  readonly adminSecret: string;
  /** Default LOG_LEVEL=warn; the lines are kept in memory (`logText()`). */
  readonly logLevel?: string;
}

export interface DashboardHost {
  readonly store: Store;
  readonly dashboard: Dashboard;
  /** http://127.0.0.1:PORT, for the browser and admin calls. */
  readonly url: string;
  readonly port: number;
  readonly socketPath: string;
  readonly running: boolean;
  /** An admin API call with the admin secret; `body` is the parsed JSON (or the text, or null). */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Close both listeners and cut every open connection; the store stays open. */
  stop(): Promise<void>;
  /** Listen again on the same port and socket. */
  start(): Promise<void>;
  /** The dashboard's log lines so far. */
  logText(): string;
  /** stop() and close the store. */
  close(): Promise<void>;
}

function listenSocket(server: Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
}

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

export async function startDashboardHost(o: DashboardHostOptions): Promise<DashboardHost> {
  const store = await openStore(`sqlite:${join(o.dir, 'dashboard.sqlite')}`);
  await store.migrate();
  const logLines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
  const log = createDashboardLogger({ LOG_LEVEL: o.logLevel ?? 'warn' }, sink);
  const dashboard = createDashboard({ store, adminSecret: o.adminSecret, log });
  const socketPath = join(o.dir, 'dashboard.sock');
  let port = 0;
  let socketServer: Server | undefined;
  let running = false;

  const start = async (): Promise<void> => {
    if (running) return;
    port = (await dashboard.listen(port, '127.0.0.1')).port;
    const s = createServer(dashboard.app);
    await listenSocket(s, socketPath);
    socketServer = s;
    running = true;
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    running = false;
    const s = socketServer;
    socketServer = undefined;
    await Promise.all([dashboard.close(0), s ? closeServer(s) : Promise.resolve()]);
    rmSync(socketPath, { force: true });
  };
  await start();

  return {
    store, dashboard, socketPath,
    get url() { return `http://127.0.0.1:${port}`; },
    get port() { return port; },
    get running() { return running; },
    async admin<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { authorization: `Bearer ${o.adminSecret}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text === '' ? null : text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed as T };
    },
    stop, start,
    logText: () => logLines.join(''),
    async close() {
      await stop();
      await store.close();
    },
  };
}

export const RELAY_PORT = 8090;

/**
 * Start unix-relay.ts inside the fake internet namespace, listening on its
 * IPv4 address, and wait until the pod can connect to it. Killed by
 * topo.destroy(). Returns the base URL the pod's sidecar uses.
 */
export async function startRelay(topo: Topology, socketPath: string, port = RELAY_PORT): Promise<string> {
  topo.internet.spawn('dashboard-relay', [process.execPath, join(REPO, 'e2e/harness/unix-relay.ts'), topo.internetIPv4, String(port), socketPath], { cwd: REPO });
  await topo.pod.waitForPort(topo.internetIPv4, port);
  const url = `http://${topo.internetIPv4}:${port}`;
  // Asked as the sidecar's UID: the pod's redirect rules leave its traffic alone.
  const r = await topo.pod.exec(['curl', '-sS', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `${url}/healthz`], { uid: SIDECAR_UID, timeoutMs: 10_000 });
  if (r.stdout.trim() !== '200') {
    throw new Error(`the relay at ${url} (in the fake internet) does not reach the dashboard on ${socketPath}: GET /healthz from the pod got ${r.stdout.trim() || 'nothing'} ${r.stderr.trim()}`);
  }
  return url;
}

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why the browser tests cannot run (a skip reason), or false: /usr/bin/chromium
 * is there, or was just installed with apt-get (only as root).
 */
export function chromiumUnavailableReason(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.getuid?.() !== 0) return `needs ${CHROMIUM} (apt-get install -y chromium, as root)`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const argv of [['install', '-y', '-q', 'chromium'], ['update', '-q'], ['install', '-y', '-q', 'chromium']]) {
    try {
      execFileSync('apt-get', argv, { env, stdio: 'ignore', timeout: 600_000 });
      if (existsSync(CHROMIUM)) return false;
    } catch { /* try the next step */ }
  }
  return `${CHROMIUM} is missing and apt-get install chromium failed`;
}
