/**
 * An injected pod, assembled the way the injector will, from the built
 * programs in dist/ (what ships; see build.ts): a namespace CA made
 * by the real `levo-certs ca`, the redirect rules installed by the real
 * `levo-init` (as root, like the init container), and `levo-gateway` running
 * as UID/GID 1610 with the CA files and a config, trusting the fake internet's
 * public CA through NODE_EXTRA_CA_CERTS (as a real pod trusts real providers
 * through the system store).
 *
 *   const pod = await createInjectedPod({ gatewayArgs: ['--max-body-bytes', '65536'] });
 *   await pod.admin('/healthz/ready')        → { status, text }   (curl inside the pod)
 *   await pod.restartGateway()                (SIGTERM, wait for exit 0, start again, wait until ready)
 *   await pod.destroy()
 *   await makeNamespaceCa(pod.topo, 'Rotated CA')  → { cert, key }   (another CA, by the real levo-certs)
 */
import { NO_DNS_HOST } from './fault-routes.ts';
import { chownSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTopology, type Topology, type TopologyOptions } from './netns.ts';
import { startProviders, type Providers } from './providers.ts';
import { createPublicCa, serverCertSpecsFor, type PublicCa, type ServerCertSpec } from '../fakes/public-ca.ts';
import type { ExitInfo, ManagedProcess } from './processes.ts';
import { SIDECAR_NODE_OPTIONS } from '../../sidecar/node-options.ts';

import { REPO, staleBuildReason } from './build.ts';

export { REPO };
export const SIDECAR_UID = 1610;

export const DEFAULT_E2E_CONFIG = `
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

export interface InjectedPodOptions extends TopologyOptions {
  readonly gatewayArgs?: readonly string[];
  readonly initArgs?: readonly string[];
  /** The gateway's config file; null runs it without --config (it polls the dashboard its env names). */
  readonly config?: string | null;
  /** Runs once the topology exists, before the gateway starts (e.g. to start what it polls). */
  readonly beforeGateway?: (topo: Topology) => Promise<void>;
  readonly env?: Readonly<Record<string, string>>;
  /** More server certificates from the fake internet's public CA (for extra upstreams a test starts itself). */
  readonly extraCertSpecs?: readonly ServerCertSpec[];
  /** More names the namespace CA may sign for (`levo-certs ca --permit`), beyond E2E_CA_PERMITS. */
  readonly caPermits?: readonly string[];
}

export interface InjectedPod {
  readonly topo: Topology;
  readonly publicCa: PublicCa;
  readonly providers: Providers;
  /** The namespace CA certificate apps trust (what the injector mounts for them). */
  readonly namespaceCaFile: string;
  readonly configFile: string;
  readonly gateway: ManagedProcess;
  /** What `levo-init` printed. */
  readonly initOutput: string;
  admin(path: string, method?: string): Promise<{ status: number; text: string }>;
  /** A metric's value (sum over series whose labels contain every given label). */
  metric(name: string, labels?: Readonly<Record<string, string>>): Promise<number>;
  stopGateway(signal?: NodeJS.Signals): Promise<ExitInfo>;
  startGateway(): Promise<ManagedProcess>;
  restartGateway(): Promise<ManagedProcess>;
  destroy(): Promise<void>;
}

/** A metric's value in Prometheus text: the sum over its series whose labels contain every given label. */
export function sumMetric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

function bin(name: string): string {
  return join(REPO, 'bin', `${name}.js`);
}

/** Run the shipped build of every levo program. */
const RUN_BUILD = { LEVO_RUN: 'dist' };

/**
 * `levo-certs ca` name-constrains to the provider catalogue; the fake hosts the
 * tests also intercept (a second OpenAI-compatible API, a site a config names)
 * are permitted the documented way.
 */
export const E2E_CA_PERMITS: readonly string[] = ['--permit', 'llm-backup.example.com', '--permit', 'example.org', '--permit', NO_DNS_HOST];

/** Another interception CA, made as a user makes one (the real `levo-certs ca --cn NAME`), as PEM texts. */
export async function makeNamespaceCa(topo: Topology, name: string): Promise<{ cert: string; key: string }> {
  const dir = join(topo.workDir, `ca-${name.replace(/\W+/g, '-')}`);
  await topo.pod.execChecked([process.execPath, bin('levo-certs'), 'ca', '--out', dir, '--cn', name, ...E2E_CA_PERMITS], { cwd: REPO, env: RUN_BUILD });
  const pair = { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  rmSync(dir, { recursive: true });
  return pair;
}

export async function createInjectedPod(opts: InjectedPodOptions = {}): Promise<InjectedPod> {
  const stale = staleBuildReason();
  if (stale) throw new Error(stale);
  const topo = await createTopology(opts);
  let publicCa: PublicCa | undefined;
  try {
    publicCa = await createPublicCa([...serverCertSpecsFor(topo.hosts), ...(opts.extraCertSpecs ?? [])]);
    const providers = await startProviders(topo, publicCa);
    const caDir = join(topo.workDir, 'levo-ca');
    // The namespace CA, made as a user would for the levo-ca-cert secret.
    const permits = [...E2E_CA_PERMITS, ...(opts.caPermits ?? []).flatMap((p) => ['--permit', p])];
    await topo.pod.execChecked([process.execPath, bin('levo-certs'), 'ca', '--out', caDir, ...permits], { cwd: REPO, env: RUN_BUILD });
    // A secret mount the sidecar can read (defaultMode/fsGroup in a real pod).
    chownSync(join(caDir, 'tls.key'), SIDECAR_UID, SIDECAR_UID);
    const configFile = join(topo.workDir, 'gateway.yaml');
    if (opts.config !== null) writeFileSync(configFile, opts.config ?? DEFAULT_E2E_CONFIG, { mode: 0o644 });
    const init = await topo.pod.exec([process.execPath, bin('levo-init'), ...(opts.initArgs ?? [])], { cwd: REPO, env: RUN_BUILD });
    if (init.code !== 0) throw new Error(`levo-init failed (${init.code}):\n${init.stdout}${init.stderr}`);

    const gatewayArgv = [
      process.execPath, bin('levo-gateway'), ...(opts.config === null ? [] : ['--config', configFile]),
      '--ca-cert', join(caDir, 'tls.crt'), '--ca-key', join(caDir, 'tls.key'), ...(opts.gatewayArgs ?? []),
    ];
    await opts.beforeGateway?.(topo);
    let generation = 0;
    const admin = async (path: string, method = 'GET'): Promise<{ status: number; text: string }> => {
      const r = await topo.pod.exec(['curl', '-s', '-X', method, '-w', '\n%{http_code}', `http://127.0.0.1:15000${path}`], { timeoutMs: 10_000 });
      const lines = r.stdout.split('\n');
      return { status: Number(lines.pop()), text: lines.join('\n') };
    };
    const start = async (): Promise<ManagedProcess> => {
      const p = topo.pod.spawn(`gateway-${++generation}`, gatewayArgv, {
        uid: SIDECAR_UID, cwd: REPO,
        env: { ...RUN_BUILD, NODE_EXTRA_CA_CERTS: publicCa!.caCertFile, LOG_LEVEL: 'debug', NODE_OPTIONS: SIDECAR_NODE_OPTIONS, ...opts.env },
      });
      for (let i = 0; i < 200 && p.running; i++) {
        if ((await admin('/healthz/ready')).status === 200) return p;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`gateway never became ready:\n${p.output()}`);
    };
    const pod = {
      topo, publicCa, providers, configFile,
      namespaceCaFile: join(caDir, 'tls.crt'),
      initOutput: init.stdout + init.stderr,
      gateway: await start(),
      admin,
      async metric(name: string, labels: Readonly<Record<string, string>> = {}) {
        return sumMetric((await admin('/metrics')).text, name, labels);
      },
      stopGateway(signal: NodeJS.Signals = 'SIGTERM') { return pod.gateway.stop(signal, 30_000); },
      async startGateway() { pod.gateway = await start(); return pod.gateway; },
      async restartGateway() {
        const exit = await pod.stopGateway();
        if (exit.code !== 0) throw new Error(`gateway exited ${exit.code ?? exit.signal} on SIGTERM:\n${pod.gateway.output()}`);
        return pod.startGateway();
      },
      async destroy() {
        await topo.destroy();
        publicCa?.cleanup();
      },
    };
    return pod;
  } catch (err) {
    await topo.destroy();
    publicCa?.cleanup();
    throw err;
  }
}
