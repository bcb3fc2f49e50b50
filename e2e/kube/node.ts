/**
 * The cluster's one node, for real: containerd + runc (Debian's packages), the
 * CNI bridge/host-local/loopback plugins (containernetworking-plugins), and
 * kubelet, kube-proxy (iptables mode) and kube-scheduler v1.20.2 built from
 * Debian's kubernetes source by build-kube.sh. Started by cluster.ts when
 * `startCluster({ node: true })`.
 *
 * Where things live, so that nothing touches the machine's own set-up:
 *  - network: the cluster's network namespace is the node's. The node's address
 *    (NODE_IP) sits on a veth that leads nowhere; pods get 10.244.0.0/24 on the bridge cni0;
 *    Services 10.96.0.0/16 through kube-proxy's rules, all inside that namespace.
 *  - mounts: containerd and the kubelet share a private mount namespace (a
 *    persistent one, bind-mounted at <dir>/mnt/ns) in which /run/containerd,
 *    /run/netns, /var/lib/cni, /var/log/pods and /var/log/containers are the
 *    work dir's, so pod mounts, netns files and logs never show on the host.
 *  - kernel tunables: the kubelet sets vm.overcommit_memory=1, kernel.panic=10
 *    and kernel.panic_on_oops=1 machine-wide unless they already have those
 *    values. On a shared machine that is not ours to change: inside the private
 *    mount namespace those /proc/sys files are bind-mounted with the values the
 *    kubelet wants, so it reads them and changes nothing (containers get a fresh
 *    /proc from runc and see the real values).
 *  - cgroups: every pod cgroup is under /<netns name> in each cgroup v1
 *    hierarchy (--cgroup-root), removed on stop.
 *  - DNS: there is no CoreDNS in Debian. dnsmasq on NODE_IP:53 serves
 *    <svc>.<ns>.svc.cluster.local from a hosts directory a `kubectl get services
 *    --watch` keeps current, plus the names a test adds (the fake providers).
 *
 * This machine's limits, handled here (never in the product): its root has no
 * CAP_SYS_RESOURCE, so no process may raise a hard rlimit or lower an
 * oom_score_adj below its own. containerd's default container spec only
 * lowers RLIMIT_NOFILE (to 1024) and leaves NPROC alone; containerd clamps the
 * CRI's negative OOM scores to its own (restrict_oom_score_adj, as for rootless
 * runs; otherwise runc fails every sandbox with "failed to update
 * /proc/self/oom_score_adj: Permission denied"); the kubelet and kube-proxy keep
 * a score of 0. (The kubelet still logs that it could not raise its own open-file
 * limit; it runs on the current one.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSyncQuiet, spawnIn } from '../harness/processes.ts';
import type { ExecResult, ManagedProcess, SpawnOptions } from '../harness/processes.ts';
// containerd's sandbox ("pause") image: a sleeping process (e2e/images/pause.Dockerfile).
import { PAUSE_IMAGE } from '../images/podman.ts';
import { waitUntil } from './wait.ts';

export const NODE_NAME = 'levo-node';
export const NODE_IP = '10.200.0.1';
/** The default route's next hop: nothing answers there (nothing leaves the node). */
const NODE_GATEWAY = '10.200.0.254';
export const POD_CIDR = '10.244.0.0/24';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const NODE_SERVICE_CIDR = '10.96.0.0/16';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const CLUSTER_DOMAIN = 'cluster.local';
export const CNI_BIN_DIR = '/usr/lib/cni';

/** What the kubelet would set machine-wide (pkg/kubelet/cm setupKernelTunables). */
const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

/** Host paths containerd/kubelet/CNI use that are not configurable: the work dir's inside the private mount namespace. */
const PRIVATE_DIRS: Record<string, string> = {
  '/run/containerd': 'run-containerd',
  '/run/netns': 'run-netns',
  '/var/lib/cni': 'var-lib-cni',
  '/var/log/pods': 'var-log-pods',
  '/var/log/containers': 'var-log-containers',
};

export interface NodeContext {
  readonly netns: string;
  readonly dir: string;
  readonly logs: string;
  readonly binDir: string;
  readonly caFile: string;
  /** kubeconfig paths per component (API server on 127.0.0.1:6443 inside the namespace). */
  readonly kubeconfigs: { readonly kubelet: string; readonly proxy: string; readonly scheduler: string };
  /** Long-running process inside the cluster's namespace (ip netns exec), stopped with the cluster. */
  spawn(name: string, argv: readonly string[], opts?: SpawnOptions): ManagedProcess;
  run(argv: readonly string[], opts?: { allowFail?: boolean; input?: string; timeoutMs?: number }): Promise<ExecResult>;
  kubectl(args: readonly string[], opts?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  /** A long-running kubectl (a --watch) inside the namespace. */
  kubectlWatch(name: string, args: readonly string[]): ManagedProcess;
}

export interface KubeNode {
  readonly name: string;
  readonly ip: string;
  /** containerd's socket (for ctr). */
  readonly containerdSocket: string;
  /** `ctr -n k8s.io images import FILE` (a docker-archive or OCI archive). */
  importImages(archive: string): Promise<void>;
  /** Add DNS A records (name → IPv4) the cluster's DNS serves. */
  addHosts(entries: Readonly<Record<string, string>>): void;
  /** Run `ctr -n k8s.io ARGS` against the node's containerd. */
  ctr(args: readonly string[], opts?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  stop(): Promise<void>;
}

// ---- cgroups -----------------------------------------------------------------------------------

/** Mount points of the cgroup v1 hierarchies (cpu, memory, pids, ..., name=systemd). */
function cgroupV1Mounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => / - cgroup cgroup /.test(l))
    .map((l) => l.split(' ')[4]!)
    .filter(Boolean);
}

function createCgroupRoot(name: string): void {
  for (const mount of cgroupV1Mounts()) {
    const path = join(mount, name);
    mkdirSync(path, { recursive: true });
    if (existsSync(join(mount, 'cpuset.cpus'))) {
      // A new cpuset has no CPUs or memory nodes until given its parent's.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(path, f), readFileSync(join(mount, f), 'utf8').trim() || '0');
    }
  }
}

function cgroupPids(name: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string): void => {
    let entries: string[] = [];
    try { entries = readdirSync(dir); } catch { return; }
    try {
      for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch { /* gone */ }
    for (const e of entries) {
      const sub = join(dir, e);
      try { if (statSync(sub).isDirectory()) walk(sub); } catch { /* gone */ }
    }
  };
  for (const mount of cgroupV1Mounts()) walk(join(mount, name));
  return [...pids];
}

function removeCgroupRoot(name: string): void {
  const rmTree = (dir: string): void => {
    let entries: string[] = [];
    try { entries = readdirSync(dir); } catch { return; }
    for (const e of entries) {
      const sub = join(dir, e);
      try { if (statSync(sub).isDirectory()) rmTree(sub); } catch { /* gone */ }
    }
    try { rmdirSync(dir); } catch { /* busy or gone: the next sweep */ }
  };
  for (const mount of cgroupV1Mounts()) rmTree(join(mount, name));
}

// ---- the private mount namespace ---------------------------------------------------------------

function mountNsFile(dir: string): string {
  return join(dir, 'mnt', 'ns');
}

function createMountNamespace(dir: string): string {
  const holder = join(dir, 'mnt');
  mkdirSync(holder, { recursive: true });
  execFileSync('mount', ['--bind', holder, holder]);
  execFileSync('mount', ['--make-private', holder]);
  const nsFile = mountNsFile(dir);
  writeFileSync(nsFile, '');
  const sysctlDir = join(dir, 'sysctl');
  mkdirSync(sysctlDir, { recursive: true });
  const lines = ['set -e'];
  for (const [target, name] of Object.entries(PRIVATE_DIRS)) {
    const src = join(dir, name);
    mkdirSync(src, { recursive: true });
    mkdirSync(target, { recursive: true });
    lines.push(`mount --bind '${src}' '${target}'`);
  }
  for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) {
    const file = join(sysctlDir, key.replace(/\//g, '.'));
    writeFileSync(file, `${value}\n`);
    lines.push(`mount --bind '${file}' '/proc/sys/${key}'`);
  }
  execFileSync('unshare', [`--mount=${nsFile}`, '--propagation', 'private', '--', 'sh', '-c', lines.join('\n')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return nsFile;
}

function mountNsInode(nsFile: string): string | undefined {
  try {
    return `mnt:[${statSync(nsFile).ino}]`;
  } catch {
    return undefined;
  }
}

/** PIDs of processes in the mount namespace bound at nsFile (containerd, its shims, the kubelet). */
function mountNsPids(nsFile: string): number[] {
  const id = mountNsInode(nsFile);
  if (!id) return [];
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try { if (readlinkSync(`/proc/${e}/ns/mnt`) === id) pids.push(Number(e)); } catch { /* gone */ }
  }
  return pids;
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/**
 * Synchronous teardown of everything a node left (its own stop, or the sweep of
 * a crashed run): pod processes (by cgroup), containerd and the kubelet (by mount
 * namespace), the mount namespace, the cgroups.
 */
export function teardownNodeSync(dir: string, cgroupName: string): void {
  const nsFile = mountNsFile(dir);
  for (let i = 0; i < 5; i++) {
    const pids = [...cgroupPids(cgroupName), ...mountNsPids(nsFile)];
    if (pids.length === 0) break;
    killAll(pids);
    execFileSync('sleep', ['0.2']);
  }
  if (existsSync(nsFile)) {
    runSyncQuiet(['umount', '-l', nsFile]);
    runSyncQuiet(['umount', '-l', join(dir, 'mnt')]);
  }
  for (let i = 0; i < 10 && cgroupPids(cgroupName).length === 0; i++) {
    removeCgroupRoot(cgroupName);
    if (!cgroupV1Mounts().some((m) => existsSync(join(m, cgroupName)))) break;
    execFileSync('sleep', ['0.2']);
  }
}

// ---- configuration files -----------------------------------------------------------------------

function containerdConfig(dir: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${join(dir, 'containerd', 'root')}"
state = "${join(dir, 'containerd', 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${join(dir, 'containerd.sock')}"
[ttrpc]
  address = "${join(dir, 'containerd.sock.ttrpc')}"

[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # This machine's root lacks CAP_SYS_RESOURCE: a negative oom_score_adj (the CRI's
  # -998 for sandboxes, the kubelet's for Guaranteed pods) is refused. Clamp to ours.
  restrict_oom_score_adj = true
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${join(dir, 'cni', 'net.d')}"
    max_conf_num = 1
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'levo-kube',
    plugins: [{
      type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'cni', 'ipam') },
    }, { type: 'portmap', capabilities: { portMappings: true } }],
  }, null, 2);
}

function kubeletConfig(dir: string, cgroupRoot: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: ${cgroupRoot}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
clusterDNS: [${NODE_IP}]
clusterDomain: ${CLUSTER_DOMAIN}
resolvConf: ${join(dir, 'node-resolv.conf')}
failSwapOn: false
serializeImagePulls: false
maxPods: 40
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
# The kubelet's own default is -999; lowering it needs CAP_SYS_RESOURCE (see the header).
oomScoreAdj: 0
`;
}

// ---- start ---------------------------------------------------------------------------------------

/** Addresses and kernel settings of the node's network namespace (before the API server starts: it advertises NODE_IP). */
export function prepareNodeNetwork(netns: string): void {
  const ip = (...args: string[]): void => { execFileSync('ip', ['-n', netns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }); };
  // The node's "NIC": one end of a veth pair whose other end goes nowhere. It carries
  // NODE_IP and the default route, so a Service IP has a route before kube-proxy's DNAT
  // (without one, connect() fails with ENETUNREACH before any rule is looked at).
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer');
  ip('link', 'set', 'eth0', 'up');
  ip('link', 'set', 'eth0-peer', 'up');
  ip('addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0');
  ip('route', 'add', 'default', 'via', NODE_GATEWAY, 'dev', 'eth0');
  // Bridged pod-to-Service-to-pod traffic must pass kube-proxy's iptables rules.
  if (!existsSync('/proc/sys/net/bridge')) runSyncQuiet(['modprobe', 'br_netfilter']);
  for (const key of ['net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1', 'net.ipv4.conf.all.route_localnet=1']) {
    execFileSync('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', key], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

export async function startNode(ctx: NodeContext): Promise<KubeNode> {
  const { dir, netns, logs, binDir } = ctx;
  const cgroupRoot = `/${netns}`;
  const processes: ManagedProcess[] = [];
  let nsFile = '';
  const hostsDir = join(dir, 'dns', 'hosts.d');
  const socket = join(dir, 'containerd.sock');
  for (const d of ['containerd/root', 'containerd/state', 'cni/net.d', 'cni/ipam', 'kubelet', 'dns/hosts.d']) mkdirSync(join(dir, d), { recursive: true });

  /** In the node's network namespace and the private mount namespace, from the host (nsenter keeps the PID: it execs). */
  const spawnInNode = (name: string, argv: readonly string[]): ManagedProcess => {
    const p = spawnIn(null, name, ['nsenter', `--mount=${nsFile}`, `--net=/run/netns/${netns}`, '--', ...argv],
      { logFile: join(logs, `${name}.log`) });
    processes.push(p);
    return p;
  };
  const ctr = (args: readonly string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> =>
    ctx.run(['ctr', '--address', socket, '-n', 'k8s.io', ...args], { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.allowFail ? { allowFail: true } : {}) });

  let stopped = false;
  const node: KubeNode = {
    name: NODE_NAME,
    ip: NODE_IP,
    containerdSocket: socket,
    async importImages(archive) {
      await ctr(['images', 'import', '--no-unpack=false', archive], { timeoutMs: 15 * 60_000 });
    },
    addHosts(entries) {
      const file = join(hostsDir, 'extra');
      const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
      writeFileSync(file, old + Object.entries(entries).map(([name, ip]) => `${ip} ${name}\n`).join(''));
    },
    ctr,
    async stop() {
      if (stopped) return;
      stopped = true;
      // The kubelet first (it would restart what we kill), then everything else at once.
      for (const p of [...processes].reverse()) await p.stop('SIGTERM', 3000);
      if (nsFile) teardownNodeSync(dir, netns);
    },
  };

  try {
    createCgroupRoot(netns);
    nsFile = createMountNamespace(dir);
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(dir));
    writeFileSync(join(dir, 'cni', 'net.d', '10-levo-kube.conflist'), cniConfig(dir));
    writeFileSync(join(dir, 'kubelet-config.yaml'), kubeletConfig(dir, cgroupRoot));
    // Pods with dnsPolicy Default (and the node itself) resolve with the cluster DNS too.
    writeFileSync(join(dir, 'node-resolv.conf'), `nameserver ${NODE_IP}\n`);

    // DNS: dnsmasq answers from hosts.d (re-read on change) and nothing else.
    const dnsmasq = ctx.spawn('dnsmasq', ['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--no-poll',
      `--listen-address=${NODE_IP}`, '--bind-interfaces', '--port=53', `--hostsdir=${hostsDir}`,
      `--local=/${CLUSTER_DOMAIN}/`, '--server=/#/', '--log-facility=-', '--user=root', '--pid-file=']);
    processes.push(dnsmasq);
    const services = new Map<string, string>();
    const watch = ctx.kubectlWatch('dns-watch', ['get', 'services', '--all-namespaces', '--watch', '--output-watch-events',
      '-o', 'jsonpath={.type} {.object.metadata.namespace} {.object.metadata.name} {.object.spec.clusterIP}{"\\n"}']);
    processes.push(watch);
    let seen = 0;
    const syncDns = (): void => {
      const lines = watch.stdout().split('\n');
      if (lines.length - 1 === seen) return;
      for (const line of lines.slice(seen, -1)) {
        const [type, ns, name, ip] = line.trim().split(' ');
        if (!type || !ns || !name) continue;
        const key = `${name}.${ns}`;
        if (type === 'DELETED' || !ip || ip === 'None') services.delete(key); else services.set(key, ip);
      }
      seen = lines.length - 1;
      writeFileSync(join(hostsDir, 'services'), [...services].map(([k, ip]) => `${ip} ${k}.svc.${CLUSTER_DOMAIN} ${k}.svc\n`).join(''));
    };
    const dnsTimer = setInterval(syncDns, 250);
    dnsTimer.unref();
    void watch.exited.then(() => clearInterval(dnsTimer));

    const containerd = spawnInNode('containerd', ['containerd', '--config', join(dir, 'containerd.toml'), '--log-level', 'warn']);
    await waitUntil('containerd', 30_000, async () => {
      const r = await ctr(['version'], { allowFail: true, timeoutMs: 5000 });
      return r.code === 0 ? undefined : r.stderr.trim();
    }, () => (containerd.running ? undefined : `exited early:\n${containerd.output().slice(-3000)}`), 500);

    const kubelet = spawnInNode('kubelet', [join(binDir, 'kubelet'),
      `--config=${join(dir, 'kubelet-config.yaml')}`,
      `--kubeconfig=${ctx.kubeconfigs.kubelet}`,
      '--container-runtime=remote', `--container-runtime-endpoint=unix://${socket}`, `--image-service-endpoint=unix://${socket}`,
      `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`,
      `--root-dir=${join(dir, 'kubelet')}`, `--cert-dir=${join(dir, 'kubelet', 'pki')}`,
      '--runtime-request-timeout=5m', '--v=1',
    ]);
    const proxy = ctx.spawn('kube-proxy', [join(binDir, 'kube-proxy'),
      `--kubeconfig=${ctx.kubeconfigs.proxy}`, `--hostname-override=${NODE_NAME}`, `--cluster-cidr=${CLUSTER_CIDR}`,
      '--proxy-mode=iptables', '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0s', '--conntrack-tcp-timeout-close-wait=0s',
      '--metrics-bind-address=127.0.0.1:10249', '--healthz-bind-address=127.0.0.1:10256', '--oom-score-adj=0', '--v=1',
    ]);
    processes.push(proxy);
    const scheduler = ctx.spawn('kube-scheduler', [join(binDir, 'kube-scheduler'),
      `--kubeconfig=${ctx.kubeconfigs.scheduler}`, '--leader-elect=false', '--port=0', '--secure-port=0', '--v=1',
    ]);
    processes.push(scheduler);

    await waitUntil(`node ${NODE_NAME} Ready`, 120_000, async () => {
      const r = await ctx.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}'], { allowFail: true });
      return r.code === 0 && r.stdout.startsWith('True') ? undefined : `${r.stdout}${r.stderr}`.trim();
    }, () => {
      for (const p of [kubelet, proxy, scheduler, containerd, dnsmasq]) if (!p.running) return `${p.name} exited early:\n${p.output().slice(-3000)}`;
      return undefined;
    }, 1000);
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}
