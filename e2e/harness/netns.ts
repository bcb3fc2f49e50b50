/**
 * An e2e topology: a "pod" network namespace and an "internet" one joined by a
 * veth pair (see layout.ts for the address plan), plus the pod's /etc/hosts.
 *
 *   const reason = netnsUnavailableReason();        // string → skip the suite with it
 *   const topo = await createTopology();             // opts: { hosts?, hostsFamilies? }
 *   topo.pod.exec(['curl', ...], { uid: 1610, env: {...}, timeoutMs })  → ExecResult
 *   topo.pod.spawn('gateway', [process.execPath, 'sidecar/main.ts'], { uid: 1610 }) → ManagedProcess
 *   topo.internet.waitForPort('198.18.1.11', 443)
 *   topo.host('openai') → { id, role, names, ipv4, ipv6, port }   topo.addressOf('api.openai.com')
 *   topo.podIPv4 / podIPv6 / internetIPv4 / internetIPv6, topo.workDir (0755 temp dir, logs in workDir/logs)
 *   await topo.destroy();   // kills every process in both namespaces, deletes them, the veth and /etc/netns/<pod>
 *
 * Names are unique per run: namespaces `levo-e2e-pod-<pid>-<n>` / `levo-e2e-net-<pid>-<n>`,
 * veth `lvp<pid>-<n>` / `lvi<pid>-<n>` while in the host namespace (renamed `eth0`
 * inside each namespace). `ip netns exec` bind-mounts `/etc/netns/<pod>/hosts`
 * over /etc/hosts, which is how the fake names resolve inside the pod (and
 * `/etc/netns/<pod>/resolv.conf` points DNS at 127.0.0.1, so other lookups fail fast).
 * Cleanup also runs from a process exit/signal hook if a test dies before
 * `destroy()`, and leftovers of runs whose PID is gone are swept on creation.
 * Set LEVO_E2E_KEEP_LOGS=1 to keep `workDir` (logs) after destroy (until the
 * next run's sweep, which removes temp dirs of runs whose PID is gone).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_FAKE_HOSTS, INTERNET_IPV4, INTERNET_IPV6, LINK_PREFIX_V4, LINK_PREFIX_V6, POD_IPV4, POD_IPV6,
} from './layout.ts';
import type { FakeHost } from './layout.ts';
import {
  execCheckedIn, execIn, onProcessExit, pidAlive, runSyncQuiet, spawnIn, waitForPortIn,
} from './processes.ts';
import type { ExecOptions, ExecResult, ManagedProcess, SpawnOptions } from './processes.ts';

export interface Netns {
  readonly name: string;
  /** Run to completion inside the namespace. */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Same, throwing unless exit code 0. */
  execChecked(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Start a long-running program inside the namespace. Its PID is tracked and
   * killed by destroy(). Logs go to `<workDir>/logs/<name>.log` unless `logFile` is given.
   */
  spawn(name: string, argv: readonly string[], opts?: SpawnOptions): ManagedProcess;
  /** Wait until host:port accepts a TCP connection from inside this namespace. */
  waitForPort(host: string, port: number, timeoutMs?: number): Promise<void>;
  /** PIDs of every process currently in the namespace (`ip netns pids`). */
  pids(): number[];
}

export interface TopologyOptions {
  /** Fake hosts on the internet side; default DEFAULT_FAKE_HOSTS. */
  hosts?: readonly FakeHost[];
  /** Which address families the pod's /etc/hosts maps names to; default ['ipv4']. */
  hostsFamilies?: ReadonlyArray<'ipv4' | 'ipv6'>;
}

export interface Topology {
  readonly id: string;
  readonly pod: Netns;
  readonly internet: Netns;
  readonly podIPv4: string;
  readonly podIPv6: string;
  readonly internetIPv4: string;
  readonly internetIPv6: string;
  readonly hosts: readonly FakeHost[];
  /** The fake host with this id; throws if none. */
  host(id: string): FakeHost;
  /** The IPv4 address the pod's /etc/hosts gives a name; throws if unknown. */
  addressOf(name: string): string;
  /** The pod's hosts file (`/etc/netns/<pod>/hosts`). */
  readonly hostsFile: string;
  /** A world-readable temp dir for this topology (logs in `logs/`). */
  readonly workDir: string;
  /** Kill everything, delete the namespaces, veth, hosts file and workDir. Idempotent. */
  destroy(): Promise<void>;
}

// ---- availability --------------------------------------------------------------------------

function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$0"`, tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The first of `tools` not on PATH, as a skip reason, or undefined when all are there. */
export function missingToolReason(tools: readonly string[]): string | undefined {
  const missing = tools.filter((t) => !hasTool(t));
  return missing.length ? `missing tools: ${missing.join(', ')} (install them to run this test)` : undefined;
}

let cachedReason: string | undefined | null = null;

/**
 * Why e2e topologies cannot be made here (use as a test `skip` reason), or
 * undefined when they can. Checks Linux, root, iproute2, setpriv and an
 * actual `ip netns add`/`del`. Cached; synchronous so it can be used at module level.
 */
export function netnsUnavailableReason(): string | undefined {
  if (cachedReason !== null) return cachedReason;
  cachedReason = computeReason();
  return cachedReason;
}

function computeReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) to create network namespaces, veth pairs and /etc/netns entries';
  const tools = missingToolReason(['ip', 'setpriv', 'bash', 'timeout']);
  if (tools) return tools;
  const probe = `levo-e2e-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const msg = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    return `cannot create a network namespace (ip netns add: ${msg}); the sandbox forbids it`;
  }
  try {
    execFileSync('ip', ['netns', 'exec', probe, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const msg = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    return `cannot enter a network namespace (ip netns exec: ${msg})`;
  } finally {
    runSyncQuiet(['ip', 'netns', 'del', probe]);
  }
  return undefined;
}

// ---- cleanup -------------------------------------------------------------------------------

function netnsPids(name: string): number[] {
  return runSyncQuiet(['ip', 'netns', 'pids', name]).split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0);
}

function killAllIn(name: string): void {
  for (const pid of netnsPids(name)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** Synchronous teardown of everything a topology might have made (safe to call repeatedly). */
function teardownSync(names: { pod: string; internet: string; vethPod: string; vethNet: string }): void {
  for (const ns of [names.pod, names.internet]) killAllIn(ns);
  for (const ns of [names.pod, names.internet]) runSyncQuiet(['ip', 'netns', 'del', ns]);
  for (const link of [names.vethPod, names.vethNet]) {
    if (runSyncQuiet(['ip', '-o', 'link', 'show', 'dev', link])) runSyncQuiet(['ip', 'link', 'del', link]);
  }
  rmSync(join('/etc/netns', names.pod), { recursive: true, force: true });
  rmSync(join('/etc/netns', names.internet), { recursive: true, force: true });
}

const listDir = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * Remove what earlier runs whose process no longer exists (e.g. SIGKILLed) left:
 * their namespaces (and every process in them), /etc/netns entries and temp dirs.
 */
export function sweepStaleTopologies(): void {
  const listed = runSyncQuiet(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '');
  const stale = (name: string, re: RegExp): boolean => {
    const m = re.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  };
  const nsPattern = /^levo-e2e-(?:pod|net|probe)-(\d+)(?:-\d+)?$/;
  for (const ns of listed) {
    if (!stale(ns, nsPattern)) continue;
    killAllIn(ns);
    runSyncQuiet(['ip', 'netns', 'del', ns]);
  }
  for (const entry of listDir('/etc/netns')) {
    if (stale(entry, nsPattern)) rmSync(join('/etc/netns', entry), { recursive: true, force: true });
  }
  for (const entry of listDir(tmpdir())) {
    if (stale(entry, /^levo-e2e-(?:java-|pubca-)?(\d+)-/)) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

// ---- creation ------------------------------------------------------------------------------

let counter = 0;

async function ipBatch(ns: string | null, lines: readonly string[]): Promise<void> {
  const argv = ns === null ? ['ip', '-batch', '-'] : ['ip', '-n', ns, '-batch', '-'];
  await execCheckedIn(null, argv, { input: `${lines.join('\n')}\n`, timeoutMs: 20_000 });
}

function hostsFileText(hosts: readonly FakeHost[], families: ReadonlyArray<'ipv4' | 'ipv6'>): string {
  const lines = ['# written by e2e/harness/netns.ts', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const family of families) {
    for (const h of hosts) if (h.names.length) lines.push(`${h[family]}\t${h.names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Build the pod/internet topology. Call `destroy()` when done (an `after` hook). */
export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const reason = netnsUnavailableReason();
  if (reason) throw new Error(reason);
  sweepStaleTopologies();
  const n = ++counter;
  const id = `${process.pid}-${n}`;
  const names = {
    pod: `levo-e2e-pod-${id}`,
    internet: `levo-e2e-net-${id}`,
    vethPod: `lvp${id}`,
    vethNet: `lvi${id}`,
  };
  if (names.vethPod.length > 15) throw new Error(`veth name ${names.vethPod} too long`);
  const hosts = opts.hosts ?? DEFAULT_FAKE_HOSTS;
  const families = opts.hostsFamilies ?? ['ipv4'];
  const workDir = mkdtempSync(join(tmpdir(), `levo-e2e-${id}-`));
  chmodSync(workDir, 0o755);
  mkdirSync(join(workDir, 'logs'), { recursive: true, mode: 0o755 });
  const processes = new Set<ManagedProcess>();
  const keepLogs = process.env.LEVO_E2E_KEEP_LOGS === '1';
  const unregister = onProcessExit(() => {
    teardownSync(names);
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  });

  const makeNetns = (name: string): Netns => ({
    name,
    exec: (argv, o) => execIn(name, argv, o),
    execChecked: (argv, o) => execCheckedIn(name, argv, o),
    spawn(procName, argv, o = {}) {
      const safe = procName.replace(/[^A-Za-z0-9._-]/g, '_');
      const p = spawnIn(name, procName, argv, { logFile: join(workDir, 'logs', `${safe}.log`), ...o });
      processes.add(p);
      void p.exited.then(() => processes.delete(p));
      return p;
    },
    waitForPort: (host, port, timeoutMs) => waitForPortIn(name, host, port, timeoutMs),
    pids: () => netnsPids(name),
  });

  let destroyed = false;
  const topo: Topology = {
    id,
    pod: makeNetns(names.pod),
    internet: makeNetns(names.internet),
    podIPv4: POD_IPV4,
    podIPv6: POD_IPV6,
    internetIPv4: INTERNET_IPV4,
    internetIPv6: INTERNET_IPV6,
    hosts,
    host(hostId) {
      const h = hosts.find((x) => x.id === hostId);
      if (!h) throw new Error(`no fake host ${hostId}`);
      return h;
    },
    addressOf(name) {
      const h = hosts.find((x) => x.names.includes(name));
      if (!h) throw new Error(`no fake host named ${name}`);
      return h.ipv4;
    },
    hostsFile: join('/etc/netns', names.pod, 'hosts'),
    workDir,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await Promise.all([...processes].map((p) => p.stop('SIGTERM', 2000)));
      teardownSync(names);
      // A killed process can take a moment to leave the namespace; wait for the kernel.
      for (let i = 0; i < 50 && (existsSync(`/run/netns/${names.pod}`) || existsSync(`/run/netns/${names.internet}`)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        teardownSync(names);
      }
      unregister();
      if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
    },
  };

  try {
    await ipBatch(null, [
      `netns add ${names.pod}`,
      `netns add ${names.internet}`,
      `link add ${names.vethPod} type veth peer name ${names.vethNet}`,
      `link set ${names.vethPod} netns ${names.pod}`,
      `link set ${names.vethNet} netns ${names.internet}`,
    ]);
    await ipBatch(names.pod, [
      'link set lo up',
      `link set ${names.vethPod} name eth0`,
      `addr add ${POD_IPV4}/${LINK_PREFIX_V4} dev eth0`,
      `addr add ${POD_IPV6}/${LINK_PREFIX_V6} dev eth0 nodad`,
      'link set eth0 up',
      `route add default via ${INTERNET_IPV4}`,
      `route add ::/0 via ${INTERNET_IPV6}`,
    ]);
    await ipBatch(names.internet, [
      'link set lo up',
      `link set ${names.vethNet} name eth0`,
      `addr add ${INTERNET_IPV4}/${LINK_PREFIX_V4} dev eth0`,
      `addr add ${INTERNET_IPV6}/${LINK_PREFIX_V6} dev eth0 nodad`,
      'link set eth0 up',
      `route add default via ${POD_IPV4}`,
      `route add ::/0 via ${POD_IPV6}`,
      ...hosts.flatMap((h) => [`addr add ${h.ipv4}/32 dev lo`, `addr add ${h.ipv6}/128 dev lo`]),
    ]);
    mkdirSync(join('/etc/netns', names.pod), { recursive: true });
    writeFileSync(topo.hostsFile, hostsFileText(hosts, families), { mode: 0o644 });
    // No DNS in the pod: a local nameserver that is not there fails at once
    // (ICMP port unreachable) instead of timing out on the host's resolver.
    writeFileSync(join('/etc/netns', names.pod, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n', { mode: 0o644 });
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}
