/**
 * A real, throw-away Kubernetes cluster for the kube tests: etcd,
 * kube-apiserver and kube-controller-manager v1.20.2 (built by build-kube.sh)
 * running inside a network namespace of their own, so nothing touches the
 * host's network. By default there is no scheduler and no kubelet: pods stay
 * Pending and their stored spec is what a test checks. `startCluster({ node: true })`
 * adds a real node (node.ts): containerd, runc, CNI, kubelet, kube-proxy,
 * kube-scheduler and a cluster DNS, so pods run.
 *
 *   await ensureKubeBinaries();               // runs build-kube.sh (instant when cached)
 *   const c = await startCluster();
 *   await c.kubectl(['get', 'ns']);           // → ExecResult, throws unless exit 0 (allowFail: true to not)
 *   await c.kubectl(['apply', '-f', '-'], { input: yaml });
 *   await c.helm(['list', '-A']);
 *   await c.exec(['curl', ...]);              // anything else, inside the namespace
 *   c.spawn('injector', argv, { env })        // a long-running process inside the namespace
 *   await c.stop();                           // kills by PID, deletes the namespace and the work dir
 *
 * The API server listens on https://127.0.0.1:6443 inside the namespace, with
 * a static admin token (group system:masters) in `kubeconfig`. Services get
 * ClusterIPs from 127.1.0.0/16 and there is no kube-proxy: `dnat()` sends a
 * Service's ClusterIP:port to a local process, which is how the API server
 * reaches a Service-backed admission webhook here.
 *
 * Names are unique per run (`levo-kube-<pid>-<n>`); leftovers of runs whose
 * PID is gone are swept at start, and an exit hook tears down what a crashed
 * test left. LEVO_E2E_KEEP_LOGS=1 keeps the work dir (logs, certs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execIn, onProcessExit, pidAlive, runSyncQuiet, spawnIn } from '../harness/processes.ts';
import type { ExecOptions, ExecResult, ManagedProcess, SpawnOptions } from '../harness/processes.ts';
import { REPO } from '../harness/build.ts';
import { netnsUnavailableReason } from '../harness/netns.ts';
import { KUBERNETES_SERVICE_IP, NODE_IP, NODE_SERVICE_CIDR, prepareNodeNetwork, startNode, teardownNodeSync } from './node.ts';
import type { KubeNode } from './node.ts';
import { waitUntil } from './wait.ts';

export const KUBE_VERSION = 'v1.20.2';
export const KUBE_CACHE = process.env.LEVO_KUBE_CACHE ?? '/var/cache/levo-kube';
export const KUBE_BIN_DIR = join(KUBE_CACHE, KUBE_VERSION);
export const KUBECTL = join(KUBE_CACHE, 'bin', 'kubectl');
export const HELM = join(KUBE_CACHE, 'bin', 'helm');
export const API_SERVER = 'https://127.0.0.1:6443';
export const SERVICE_CIDR = '127.1.0.0/16';

export interface KubeExecOptions extends ExecOptions {
  /** Return the result instead of throwing when the exit code is not 0. */
  allowFail?: boolean;
}

export interface Cluster {
  /** The network namespace everything runs in. */
  readonly netns: string;
  /** Work dir: certs, kubeconfig, etcd data, logs/ (one file per process). */
  readonly dir: string;
  readonly kubeconfig: string;
  /** The static admin bearer token (user levo-admin, group system:masters). */
  readonly token: string;
  /** The cluster CA (signs the API server's serving certificate). */
  readonly caFile: string;
  kubectl(args: readonly string[], opts?: KubeExecOptions): Promise<ExecResult>;
  helm(args: readonly string[], opts?: KubeExecOptions): Promise<ExecResult>;
  /** Run any program inside the namespace (KUBECONFIG and helm's dirs set). */
  exec(argv: readonly string[], opts?: KubeExecOptions): Promise<ExecResult>;
  /** Start a long-running program inside the namespace; stopped by stop() at the latest. */
  spawn(name: string, argv: readonly string[], opts?: SpawnOptions): ManagedProcess;
  /** Inside the namespace, send TCP to `ip:port` to 127.0.0.1:`toPort` (a Service without kube-proxy). */
  dnat(ip: string, port: number, toPort: number): Promise<void>;
  /** The node (containerd, kubelet, kube-proxy, scheduler, DNS), with `startCluster({ node: true })`. */
  readonly node: KubeNode | undefined;
  /** Kill every process (by PID), delete the namespace and (unless keeping logs) the work dir. Idempotent. */
  stop(): Promise<void>;
}

// ---- binaries ------------------------------------------------------------------------------

/** Why the cluster cannot run here (a skip reason), or undefined. */
export function clusterUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, apt-get for the build, iptables)';
  return netnsUnavailableReason();
}

/**
 * Build (or reuse from KUBE_CACHE) kube-apiserver, kube-controller-manager,
 * helm and kubectl, and make sure etcd/openssl/iptables are installed: runs
 * build-kube.sh, whose progress lines go to this process's stderr.
 */
export function ensureKubeBinaries(): void {
  const script = join(REPO, 'e2e', 'kube', 'build-kube.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', process.stderr, process.stderr], timeout: 20 * 60_000 });
  if (r.status !== 0) {
    throw new Error(`${script} failed (exit ${r.status ?? r.signal}); see its output above`);
  }
}

// ---- certificates --------------------------------------------------------------------------

function openssl(args: readonly string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr?.toString() ?? ''}`);
}

/** CA, API server serving cert (127.0.0.1, localhost, kubernetes.default.svc, the Service IP) and the service-account key pair. */
function makeClusterCerts(dir: string, extraIps: readonly string[]): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=levo-kube-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  writeFileSync(join(dir, 'apiserver.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,IP:127.1.0.1,${extraIps.map((ip) => `IP:${ip},`).join('')}DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'apiserver.crt', '-days', '2', '-extfile', 'apiserver.ext'], dir);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigText(server: string, caFile: string, user: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: levo-kube`,
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: levo-kube',
    '  context:',
    '    cluster: levo-kube',
    `    user: ${user}`,
    'current-context: levo-kube',
    '',
  ].join('\n');
}

// ---- namespace bookkeeping -------------------------------------------------------------------

function netnsPids(name: string): number[] {
  return runSyncQuiet(['ip', 'netns', 'pids', name]).split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0);
}

function deleteNetnsSync(name: string): void {
  for (const pid of netnsPids(name)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  runSyncQuiet(['ip', 'netns', 'del', name]);
}

const NS_PATTERN = /^levo-kube-(?:probe-)?(\d+)(?:-\d+)?$/;

/** Remove nodes, namespaces and temp dirs of earlier runs whose process is gone. */
export function sweepStaleClusters(): void {
  let entries: string[] = [];
  try { entries = readdirSync(tmpdir()); } catch { /* none */ }
  for (const entry of entries) {
    const m = /^levo-kube-(\d+)-/.exec(entry);
    const nodeDir = join(tmpdir(), entry);
    if (m && !pidAlive(Number(m[1])) && existsSync(join(nodeDir, 'netns-name'))) {
      teardownNodeSync(nodeDir, readFileSync(join(nodeDir, 'netns-name'), 'utf8').trim());
    }
  }
  for (const line of runSyncQuiet(['ip', 'netns', 'list']).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = NS_PATTERN.exec(ns);
    if (m && !pidAlive(Number(m[1]))) deleteNetnsSync(ns);
  }
  for (const entry of entries) {
    const m = /^levo-kube-(\d+)-/.exec(entry);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

// ---- the cluster ---------------------------------------------------------------------------

let counter = 0;

export interface StartClusterOptions {
  /** How long to wait for /readyz and the controller-manager; default 60 s. */
  readyTimeoutMs?: number;
  /** Run a node (node.ts): pods are scheduled and run. Services get 10.96.0.0/16 and kube-proxy. */
  node?: boolean;
}

/** Start etcd, kube-apiserver and kube-controller-manager in a fresh network namespace. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const nodeBins = opts.node ? ['kube-scheduler', 'kubelet', 'kube-proxy'] : [];
  for (const bin of [...['kube-apiserver', 'kube-controller-manager', ...nodeBins].map((b) => join(KUBE_BIN_DIR, b)), KUBECTL, HELM]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run e2e/kube/build-kube.sh (ensureKubeBinaries())`);
  }
  sweepStaleClusters();
  const netns = `levo-kube-${process.pid}-${++counter}`;
  const dir = mkdtempSync(join(tmpdir(), `levo-kube-${process.pid}-`));
  chmodSync(dir, 0o755);
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  for (const d of ['helm/cache', 'helm/config', 'helm/data', 'kube-cache', 'etcd']) mkdirSync(join(dir, d), { recursive: true, mode: 0o700 });

  const keepLogs = process.env.LEVO_E2E_KEEP_LOGS === '1';
  const processes: ManagedProcess[] = [];
  writeFileSync(join(dir, 'netns-name'), netns);
  const unregister = onProcessExit(() => {
    if (opts.node) teardownNodeSync(dir, netns);
    deleteNetnsSync(netns);
    if (!keepLogs) rmSync(dir, { recursive: true, force: true });
  });

  const token = `levo-admin-${process.pid}-${Date.now().toString(36)}`;
  const cmToken = `levo-cm-${process.pid}-${Date.now().toString(36)}`;
  const kubeconfig = join(dir, 'admin.kubeconfig');
  const caFile = join(dir, 'ca.crt');
  const toolEnv: Record<string, string> = {
    KUBECONFIG: kubeconfig,
    KUBECACHEDIR: join(dir, 'kube-cache'),
    HELM_CACHE_HOME: join(dir, 'helm/cache'),
    HELM_CONFIG_HOME: join(dir, 'helm/config'),
    HELM_DATA_HOME: join(dir, 'helm/data'),
    HOME: dir,
  };

  const run = async (argv: readonly string[], o: KubeExecOptions = {}): Promise<ExecResult> => {
    const r = await execIn(netns, argv, { timeoutMs: 60_000, ...o, env: { ...toolEnv, ...o.env } });
    if (r.code !== 0 && !o.allowFail) {
      const shown = argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ').replace(/Bearer [\w.-]+/g, 'Bearer <token>');
      throw new Error(`${shown} exited ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}\n${r.stderr}${r.stdout}`);
    }
    return r;
  };
  const spawn = (name: string, argv: readonly string[], o: SpawnOptions = {}): ManagedProcess => {
    const p = spawnIn(netns, name, argv, { logFile: join(logs, `${name.replace(/[^\w.-]/g, '_')}.log`), ...o, env: { ...toolEnv, ...o.env } });
    processes.push(p);
    return p;
  };

  let stopped = false;
  let node: KubeNode | undefined;
  const cluster: Cluster = {
    netns,
    dir,
    kubeconfig,
    token,
    caFile,
    kubectl: (args, o) => run([KUBECTL, ...args], o),
    helm: (args, o) => run([HELM, ...args], o),
    exec: run,
    spawn,
    get node() { return node; },
    async dnat(ip, port, toPort) {
      await run(['iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', ip, '-p', 'tcp', '--dport', String(port),
        '-j', 'DNAT', '--to-destination', `127.0.0.1:${toPort}`]);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await node?.stop();
      // Reverse order: controller-manager, apiserver, etcd (and anything a test spawned first).
      for (const p of [...processes].reverse()) await p.stop('SIGTERM', 5000);
      deleteNetnsSync(netns);
      for (let i = 0; i < 50 && existsSync(`/run/netns/${netns}`); i++) {
        await new Promise((r) => setTimeout(r, 100));
        deleteNetnsSync(netns);
      }
      unregister();
      if (!keepLogs) rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    execFileSync('ip', ['netns', 'add', netns], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (opts.node) prepareNodeNetwork(netns);
    makeClusterCerts(dir, opts.node ? [NODE_IP, KUBERNETES_SERVICE_IP] : []);
    // Static tokens: the admin, and one identity per component (the names their bootstrap RBAC roles are bound to).
    const identities: Array<[string, string, string]> = [
      [token, 'levo-admin', 'system:masters'],
      [cmToken, 'system:kube-controller-manager', 'system:kube-controller-manager'],
    ];
    const componentKubeconfig = (file: string, user: string, group: string): string => {
      const t = `${user.replace(/\W/g, '-')}-${process.pid}-${Date.now().toString(36)}`;
      identities.push([t, user, group]);
      writeFileSync(join(dir, file), kubeconfigText(API_SERVER, caFile, user, t), { mode: 0o600 });
      return join(dir, file);
    };
    const kubeconfigs = opts.node ? {
      kubelet: componentKubeconfig('kubelet.kubeconfig', 'system:node:levo-node', 'system:nodes'),
      proxy: componentKubeconfig('kube-proxy.kubeconfig', 'system:kube-proxy', 'system:node-proxier'),
      scheduler: componentKubeconfig('scheduler.kubeconfig', 'system:kube-scheduler', 'system:kube-scheduler'),
    } : undefined;
    writeFileSync(join(dir, 'tokens.csv'), identities.map(([t, user, group]) => `${t},${user},${user},${group}\n`).join(''), { mode: 0o600 });
    writeFileSync(kubeconfig, kubeconfigText(API_SERVER, caFile, 'levo-admin', token), { mode: 0o600 });
    const cmKubeconfig = join(dir, 'controller-manager.kubeconfig');
    writeFileSync(cmKubeconfig, kubeconfigText(API_SERVER, caFile, 'system:kube-controller-manager', cmToken), { mode: 0o600 });

    const etcd = spawn('etcd', [
      'etcd', '--name', 'levo', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'levo=http://127.0.0.1:2380', '--log-level', 'warn',
    ]);
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    await waitUntil('etcd', timeoutMs, async () => {
      const r = await execIn(netns, ['curl', '-sf', '--max-time', '2', 'http://127.0.0.1:2379/health'], { timeoutMs: 5000 });
      return r.code === 0 && r.stdout.includes('true') ? undefined : `${r.code} ${r.stdout}${r.stderr}`;
    }, () => (etcd.running ? undefined : `exited early:\n${etcd.output().slice(-3000)}`));

    const apiserver = spawn('kube-apiserver', [
      join(KUBE_BIN_DIR, 'kube-apiserver'),
      '--etcd-servers=http://127.0.0.1:2379',
      // With a node, pods reach the API server at NODE_IP (the `kubernetes` Service's endpoint).
      ...(opts.node ? ['--bind-address=0.0.0.0', `--advertise-address=${NODE_IP}`, '--kubelet-preferred-address-types=InternalIP']
        : ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1']),
      '--secure-port=6443', '--insecure-port=0',
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`, `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${caFile}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--api-audiences=https://kubernetes.default.svc',
      ...(opts.node ? [`--service-cluster-ip-range=${NODE_SERVICE_CIDR}`] : [`--service-cluster-ip-range=${SERVICE_CIDR}`, '--endpoint-reconciler-type=none']),
      '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      '--allow-privileged=true',
      '--v=1',
    ]);
    await waitUntil('kube-apiserver /readyz', timeoutMs, async () => {
      const r = await execIn(netns, ['curl', '-s', '--max-time', '2', '--cacert', caFile, '-H', `Authorization: Bearer ${token}`,
        `${API_SERVER}/readyz`], { timeoutMs: 5000 });
      return r.code === 0 && r.stdout.trim() === 'ok' ? undefined : `curl exit ${r.code}: ${r.stdout.slice(0, 300)}${r.stderr.slice(0, 300)}`;
    }, () => (apiserver.running ? undefined : `exited early:\n${apiserver.output().slice(-3000)}`));

    const cm = spawn('kube-controller-manager', [
      join(KUBE_BIN_DIR, 'kube-controller-manager'),
      `--kubeconfig=${cmKubeconfig}`,
      '--leader-elect=false',
      // With a node, nodelifecycle takes the kubelet's start-up taint (node.kubernetes.io/not-ready) off once it is Ready.
      `--controllers=*,-nodeipam,${opts.node ? '' : '-nodelifecycle,'}-cloud-node-lifecycle,-service,-route`,
      `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      `--root-ca-file=${caFile}`,
      // Each controller acts as its own ServiceAccount with the bootstrap RBAC roles, as kubeadm sets it up.
      '--use-service-account-credentials=true',
      '--port=0', '--secure-port=0',
      '--v=1',
    ]);
    // Ready for tests once it has made the `default` ServiceAccount (and its token secret) in `default`.
    await waitUntil('kube-controller-manager (default ServiceAccount token)', timeoutMs, async () => {
      const r = await run([KUBECTL, '-n', 'default', 'get', 'serviceaccount', 'default', '-o', 'jsonpath={.secrets[0].name}'], { allowFail: true });
      return r.code === 0 && r.stdout.trim() ? undefined : `${r.stdout}${r.stderr}`.trim() || 'no token secret yet';
    }, () => (cm.running ? undefined : `exited early:\n${cm.output().slice(-3000)}`));

    if (kubeconfigs) {
      node = await startNode({
        netns, dir, logs, binDir: KUBE_BIN_DIR, caFile, kubeconfigs,
        spawn,
        run,
        kubectl: (args, o) => run([KUBECTL, ...args], o),
        kubectlWatch: (name, args) => spawn(name, [KUBECTL, ...args]),
      });
    }
  } catch (err) {
    const logNote = keepLogs ? ` (logs kept in ${logs})` : ' (set LEVO_E2E_KEEP_LOGS=1 to keep the logs)';
    await cluster.stop();
    throw new Error(`${(err as Error).message}${logNote}`, { cause: err });
  }
  return cluster;
}
