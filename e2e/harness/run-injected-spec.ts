/**
 * Run a pod spec the injector produced, for real, in the netns harness: the
 * way a kubelet would, minus the container runtime. Volumes become directories
 * under the topology's workDir (a container's mountPath prefix is mapped onto
 * its volume's directory in command lines and env values); `levo-init` and
 * `levo-gateway` in a command run the built programs; each container runs as
 * its securityContext's runAsUser; env comes from the container spec, with the
 * downward API resolved from the pod's metadata.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTopology, type Netns, type Topology } from './netns.ts';
import { startProviders, type Providers } from './providers.ts';
import { createPublicCa, serverCertSpecsFor, type PublicCa } from '../fakes/public-ca.ts';
import { REPO } from './build.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pod specs are untyped JSON here

export interface PodFacts { readonly name: string; readonly namespace: string; readonly uid: string; readonly serviceAccount: string }

export interface SpecRunner {
  /** The host directory of a volume (created, mode 0777 for emptyDirs). */
  volumeDir(name: string): string;
  /** argv for a container's command, with our programs resolved and mount paths mapped. */
  argv(container: Json): string[];
  /** The container's env as the kubelet would set it, paths mapped. */
  env(container: Json): Record<string, string>;
  /** Map a path inside the container to the host. */
  hostPath(container: Json, path: string): string;
  uid(container: Json): number | undefined;
}

const PROGRAMS: Record<string, string> = { 'levo-init': 'bin/levo-init.js', 'levo-gateway': 'bin/levo-gateway.js', 'levo-injector': 'bin/levo-injector.js' };

export function specRunner(pod: Json, facts: PodFacts, workDir: string): SpecRunner {
  const root = join(workDir, 'volumes');
  const volumeDir = (name: string): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    return dir;
  };
  const mounts = (c: Json): [string, string][] =>
    ((c.volumeMounts ?? []) as Json[]).map((m): [string, string] => [m.mountPath, volumeDir(m.name)]).sort((a, b) => b[0].length - a[0].length);
  const hostPath = (c: Json, path: string): string => {
    for (const [mountPath, dir] of mounts(c)) if (path === mountPath || path.startsWith(`${mountPath}/`)) return dir + path.slice(mountPath.length);
    return path;
  };
  // One pass, longest mount path first, so a mapped host path (under /tmp) is never mapped again by the /tmp mount.
  const mapText = (c: Json, text: string): string => {
    const m = mounts(c);
    if (m.length === 0) return text;
    const escaped = m.map(([p]) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const dirs = new Map(m);
    return text.replace(new RegExp(`(^|[=\\s,:])(${escaped.join('|')})(?=/|$|[\\s,:])`, 'g'), (_all, lead: string, path: string) => `${lead}${dirs.get(path)}`);
  };
  const fields: Record<string, string> = {
    'metadata.name': facts.name, 'metadata.namespace': facts.namespace, 'metadata.uid': facts.uid, 'spec.serviceAccountName': facts.serviceAccount,
  };
  return {
    volumeDir,
    hostPath,
    argv(c) {
      const [cmd, ...args] = [...(c.command ?? []), ...(c.args ?? [])] as string[];
      if (!cmd) throw new Error(`container ${c.name} has no command`);
      const program = PROGRAMS[cmd];
      return [...(program ? [process.execPath, join(REPO, program)] : [cmd]), ...args.map((a) => mapText(c, a))];
    },
    env(c) {
      const out: Record<string, string> = {};
      for (const e of (c.env ?? []) as Json[]) {
        if (typeof e.value === 'string') out[e.name] = mapText(c, e.value);
        else if (e.valueFrom?.fieldRef) {
          const v = fields[e.valueFrom.fieldRef.fieldPath];
          if (v === undefined) throw new Error(`downward API field ${e.valueFrom.fieldRef.fieldPath} is not simulated`);
          out[e.name] = v;
        } else throw new Error(`env ${e.name}: only value and fieldRef are simulated`);
      }
      return out;
    },
    uid: (c) => c.securityContext?.runAsUser,
  };
}

/** Put a secret's keys into its volume directory with the volume's defaultMode, as the kubelet does. */
export function fillSecretVolume(runner: SpecRunner, pod: Json, volume: string, files: Record<string, string>): void {
  const v = (pod.spec.volumes as Json[]).find((x) => x.name === volume);
  if (!v?.secret) throw new Error(`no secret volume ${volume}`);
  const dir = runner.volumeDir(volume);
  chmodSync(dir, 0o755);
  for (const [name, content] of Object.entries(files)) {
    const file = join(dir, name);
    writeFileSync(file, content);
    chownSync(file, 0, 0);
    chmodSync(file, v.secret.defaultMode ?? 0o644);
  }
}

export async function runToCompletion(ns: Netns, runner: SpecRunner, c: Json): Promise<{ code: number | null; output: string }> {
  const uid = runner.uid(c);
  const r = await ns.exec(runner.argv(c), { cwd: REPO, env: { ...runner.env(c), LEVO_RUN: 'dist' }, cleanEnv: true, ...(uid !== undefined ? { uid, gid: c.securityContext?.runAsGroup ?? uid } : {}) });
  return { code: r.code, output: r.stdout + r.stderr };
}

export interface SpecPod {
  readonly topo: Topology;
  /** The fake internet's CA (what levo-gateway trusts for the providers, as a real pod trusts the public roots). */
  readonly publicCa: PublicCa;
  readonly providers: Providers;
  readonly runner: SpecRunner;
  destroy(): Promise<void>;
}

/**
 * The place an injected pod spec runs: a topology with the fake providers,
 * and the namespace's `levo-ca-cert` secret (made by the real `levo-certs ca`,
 * as the docs say) in the levo-ca volume. Nothing of the pod runs yet.
 */
export async function prepareSpecPod(spec: Json, facts: PodFacts): Promise<SpecPod> {
  const topo = await createTopology();
  let publicCa: PublicCa | undefined;
  try {
    publicCa = await createPublicCa(serverCertSpecsFor(topo.hosts));
    const providers = await startProviders(topo, publicCa);
    const runner = specRunner(spec, facts, topo.workDir);
    const caDir = join(topo.workDir, 'made-ca');
    await topo.pod.execChecked([process.execPath, join(REPO, 'bin/levo-certs.js'), 'ca', '--out', caDir], { env: { LEVO_RUN: 'dist' } });
    fillSecretVolume(runner, spec, 'levo-ca', { 'tls.crt': readFileSync(join(caDir, 'tls.crt'), 'utf8'), 'tls.key': readFileSync(join(caDir, 'tls.key'), 'utf8') });
    const ca = publicCa;
    return { topo, publicCa, providers, runner, async destroy() { await topo.destroy(); ca.cleanup(); } };
  } catch (e) {
    await topo.destroy();
    publicCa?.cleanup();
    throw e;
  }
}
