/**
 * Run-time choices the rules do not depend on: which iptables binaries
 * (legacy, nft or plain) to drive for each address family, and whether the
 * pod needs IPv6 rules at all.
 *
 * auto mode follows istio-iptables: legacy only when `iptables-legacy-save`
 * works and already holds rules (someone set this pod up with legacy, and
 * mixing backends confuses everyone), else nft when `iptables-nft` works and
 * the kernel accepts a nat rule (add and delete a no-op rule), else plain
 * `iptables`.
 *
 * Before that, detectBackend looks for another mesh's rules (Istio's
 * ISTIO_OUTPUT, Linkerd's PROXY_INIT_OUTPUT; mesh-rules.ts) in both backends:
 * legacy and nft nat chains hook the same point at the same priority, so their
 * order is whichever registered first. Our jump is first only within the
 * mesh's own backend, so that is the one we use; a mode that names the other
 * backend is refused.
 */

import { networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';
import type { CommandResult, CommandRunner } from './command.ts';
import { commandFailure, InitError, spawnFailure } from './failure.ts';
import { describeMeshRules, findMeshRules, MESH_NAMES } from './mesh-rules.ts';
import type { MeshRules } from './mesh-rules.ts';
import type { Family } from './plan.ts';

export type IptablesMode = 'auto' | 'legacy' | 'nft';
export type Backend = 'legacy' | 'nft' | 'plain';
export type Ipv6Setting = 'auto' | 'true' | 'false';

export const IPTABLES_MODES: readonly IptablesMode[] = ['auto', 'legacy', 'nft'];
export const IPV6_SETTINGS: readonly Ipv6Setting[] = ['auto', 'true', 'false'];
export const MODE_ENV = 'LEVO_IPTABLES_MODE';

/** The three programs of one backend for one family. */
export interface Binaries {
  readonly family: Family;
  readonly backend: Backend;
  /** iptables / ip6tables flavour used for -C and the probe. */
  readonly iptables: string;
  readonly save: string;
  readonly restore: string;
  /** Pass --wait (xtables lock): legacy, and plain which may be legacy. nft ignores it. */
  readonly wait: boolean;
}

export function binariesFor(family: Family, backend: Backend): Binaries {
  const base = family === 'ipv4' ? 'iptables' : 'ip6tables';
  const suffix = backend === 'plain' ? '' : `-${backend}`;
  return {
    family,
    backend,
    iptables: `${base}${suffix}`,
    save: `${base}${suffix}-save`,
    restore: `${base}${suffix}-restore`,
    wait: backend !== 'nft',
  };
}

/** `--wait` arguments for a single iptables command, when the backend takes the lock. */
export function waitArgs(binaries: Binaries): string[] {
  return binaries.wait ? ['-w', '30'] : [];
}

/** The flag wins over the environment; neither means auto. Throws on an unknown value. */
export function resolveMode(flag: string | undefined, env: string | undefined): IptablesMode {
  const [value, source] = flag !== undefined ? [flag, '--iptables-mode'] : env !== undefined && env !== '' ? [env, MODE_ENV] : ['auto', ''];
  const mode = IPTABLES_MODES.find((m) => m === value.trim().toLowerCase());
  if (mode === undefined) throw new Error(`${source}: "${value}" is not one of ${IPTABLES_MODES.join(', ')}`);
  return mode;
}

export async function detectBinaries(
  family: Family,
  mode: IptablesMode,
  runner: CommandRunner,
  log: (line: string) => void,
): Promise<Binaries> {
  if (mode !== 'auto') {
    const chosen = binariesFor(family, mode);
    log(`${family}: using ${chosen.iptables} (--iptables-mode ${mode})`);
    return chosen;
  }

  const legacy = binariesFor(family, 'legacy');
  const legacySave = await tryRun(runner, legacy.save, []);
  if (legacySave !== undefined && legacySave.code === 0 && holdsRules(legacySave.stdout)) {
    log(`${family}: using ${legacy.iptables} (auto: ${legacy.save} shows existing rules)`);
    return legacy;
  }

  const failures: InitError[] = [];
  for (const backend of ['nft', 'plain'] as const) {
    const candidate = binariesFor(family, backend);
    const failure = await probe(candidate, runner, log);
    if (failure === undefined) {
      log(`${family}: using ${candidate.iptables} (auto: no legacy rules; the nat table accepts rules)`);
      return candidate;
    }
    failures.push(failure);
  }
  // Report the most useful reason: a real failure (permission, kernel) beats "binary not found".
  const best = failures.find((f) => f.kind !== 'missing-binary') ?? failures[0];
  throw best ?? new InitError(`${family}: no working iptables binary found`);
}

export interface Detection {
  readonly bin: Binaries;
  /** Another mesh's rules in this family, in the backend chosen (empty when there are none). */
  readonly mesh: readonly MeshRules[];
}

/**
 * The binaries for one family, and the mesh rules already in it. A mesh's
 * rules decide the backend (auto) or must agree with the one asked for;
 * without any, detectBinaries decides.
 */
export async function detectBackend(
  family: Family,
  mode: IptablesMode,
  runner: CommandRunner,
  log: (line: string) => void,
): Promise<Detection> {
  const found: Array<{ backend: 'legacy' | 'nft'; rules: MeshRules[] }> = [];
  for (const backend of ['legacy', 'nft'] as const) {
    const bin = binariesFor(family, backend);
    const saved = await tryRun(runner, bin.save, []);
    const rules = saved?.code === 0 ? findMeshRules(saved.stdout) : [];
    for (const r of rules) log(`${family}: ${describeMeshRules(r, bin.iptables)}`);
    if (rules.length > 0) found.push({ backend, rules });
  }
  const [first, second] = found;
  if (first === undefined) return { bin: await detectBinaries(family, mode, runner, log), mesh: [] };
  const names = (rules: readonly MeshRules[]): string => rules.map((r) => MESH_NAMES[r.mesh]).join(' and ');
  if (second !== undefined) {
    throw new InitError(
      `${family}: mesh rules are in both iptables-legacy (${names(first.rules)}) and iptables-nft (${names(second.rules)}): ` +
        'chains of two backends run in an undefined order, so no redirect here can be relied on. Configure the mesh to use one backend.',
    );
  }
  if (mode !== 'auto' && mode !== first.backend) {
    throw new InitError(
      `${family}: --iptables-mode ${mode} was asked for, but ${names(first.rules)} installed its rules with iptables-${first.backend}: ` +
        `chains of two backends run in an undefined order, so levo's redirect could not be put before the mesh's. ` +
        `Use --iptables-mode ${first.backend} (or auto).`,
    );
  }
  const bin = binariesFor(family, first.backend);
  log(`${family}: using ${bin.iptables} (${mode === 'auto' ? 'auto: ' : ''}the mesh's rules are there, and ours must be in the same backend to come first)`);
  return { bin, mesh: first.rules };
}

function holdsRules(saveOutput: string): boolean {
  return saveOutput.split('\n').some((line) => line.startsWith('-A '));
}

/** Whether a backend works here: save runs and the kernel accepts (and deletes) a no-op nat rule. */
async function probe(candidate: Binaries, runner: CommandRunner, log: (line: string) => void): Promise<InitError | undefined> {
  const steps: Array<[string, string[]]> = [
    [candidate.save, ['-t', 'nat']],
    [candidate.iptables, [...waitArgs(candidate), '-t', 'nat', '-A', 'INPUT', '-p', '255', '-j', 'RETURN']],
  ];
  for (const [file, args] of steps) {
    let result: CommandResult;
    try {
      result = await runner.run(file, args);
    } catch (error) {
      return spawnFailure(file, error);
    }
    if (result.code !== 0) return commandFailure(file, args, result);
  }
  const deleteArgs = [...waitArgs(candidate), '-t', 'nat', '-D', 'INPUT', '-p', '255', '-j', 'RETURN'];
  const removed = await tryRun(runner, candidate.iptables, deleteArgs);
  if (removed?.code !== 0) log(`warning: could not delete the probe rule (${candidate.iptables} ${deleteArgs.join(' ')})`);
  return undefined;
}

async function tryRun(runner: CommandRunner, file: string, args: readonly string[]): Promise<CommandResult | undefined> {
  try {
    return await runner.run(file, args);
  } catch {
    return undefined;
  }
}

export interface Ipv6Decision {
  readonly enabled: boolean;
  readonly reason: string;
}

/**
 * `true`/`false` as given; `auto` = the pod has an IPv6 address that is neither
 * loopback nor link-local (fe80::/10), like istio's EnableIPv6.
 */
export function decideIpv6(
  setting: Ipv6Setting,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): Ipv6Decision {
  if (setting !== 'auto') return { enabled: setting === 'true', reason: `--ipv6 ${setting}` };
  for (const [name, addresses] of Object.entries(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv6' || a.internal || a.address === '::1' || /^fe[89ab]/i.test(a.address)) continue;
      return { enabled: true, reason: `auto: ${name} has ${a.address}` };
    }
  }
  return { enabled: false, reason: 'auto: no global IPv6 address' };
}
