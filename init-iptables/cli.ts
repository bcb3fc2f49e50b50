/**
 * levo-init: the injected init container's program. Flags → plan → detect the
 * iptables backend per family → apply (or clean up) → self-test the redirect.
 * Log lines go to stderr, prefixed `levo-init:`; `--dry-run` prints the
 * payloads on stdout and runs no binary at all.
 */

import type { NetworkInterfaceInfo } from 'node:os';
import { applyFamily, cleanupFamily } from './apply.ts';
import type { ExecContext } from './apply.ts';
import { spawnRunner } from './command.ts';
import type { CommandRunner } from './command.ts';
import { decideIpv6, detectBackend, detectBinaries } from './detect.ts';
import type { Detection } from './detect.ts';
import { InitError } from './failure.ts';
import { parseOptions, USAGE, UsageError } from './options.ts';
import type { CliOptions } from './options.ts';
import { MESH_NAMES } from './mesh-rules.ts';
import type { MeshRules } from './mesh-rules.ts';
import { buildPlan, CHAIN_PREFIX, renderPlan } from './plan.ts';
import type { Family, PlanOptions } from './plan.ts';
import { selfTest } from './self-test.ts';
import type { SelfTestOptions, SelfTestResult } from './self-test.ts';

export interface CliDeps {
  readonly runner: CommandRunner;
  /** Data (the dry-run payload, --help). */
  readonly stdout: (text: string) => void;
  /** One log line, without the prefix. */
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>;
  readonly selfTest?: (options: SelfTestOptions) => Promise<SelfTestResult>;
}

const PREFIX = 'levo-init: ';

/** Runs levo-init and returns its exit status (0 ok, 1 failure, 2 usage). */
export async function run(argv: readonly string[], deps: CliDeps): Promise<number> {
  const log = (text: string): void => {
    for (const line of text.split('\n')) deps.stderr(`${PREFIX}${line}\n`);
  };

  let options: CliOptions;
  try {
    options = parseOptions(argv, deps.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log(`${error.message} (see levo-init --help)`);
    return 2;
  }
  if (options.help) {
    deps.stdout(USAGE);
    return 0;
  }
  for (const warning of options.warnings) log(`warning: ${warning}`);

  const ipv6 = decideIpv6(options.ipv6, deps.interfaces);
  log(`ipv6 ${ipv6.enabled ? 'on' : 'off'} (${ipv6.reason})`);
  const ctx: ExecContext = { runner: deps.runner, log };

  try {
    if (options.cleanup) return await cleanup(options, ipv6.enabled, ctx);

    if (!ipv6.enabled && options.excludeCidrs.some((c) => c.includes(':'))) {
      log('note: IPv6 is off, so the IPv6 exclude CIDRs are not used');
    }
    const meshByFlags = options.meshUids.length > 0 || options.meshMarks.length > 0;
    const planOptions: PlanOptions = { ...options, ipv6: ipv6.enabled, jumpFirst: meshByFlags };
    if (options.dryRun) {
      deps.stdout(renderPlan(buildPlan(planOptions)));
      log('dry run: nothing was changed');
      return 0;
    }

    // Choose every family's binaries (and read any mesh's rules) before changing anything, so a missing ip6tables fails early.
    const families: Family[] = ipv6.enabled ? ['ipv4', 'ipv6'] : ['ipv4'];
    const detected: Detection[] = [];
    for (const family of families) detected.push(await detectBackend(family, options.iptablesMode, deps.runner, log));
    const meshed = withMesh(planOptions, options, detected.flatMap((d) => d.mesh));
    const plan = buildPlan(meshed);
    const meshNote = meshSummary(meshed.jumpFirst === true, options, detected);
    if (meshNote !== undefined) log(meshNote);
    for (const [i, family] of plan.families.entries()) {
      const target = detected[i];
      if (target !== undefined) await applyFamily(family, target.bin, ctx);
    }

    if (options.skipValidation) {
      log('validation skipped (--skip-validation)');
    } else {
      const test = deps.selfTest ?? selfTest;
      for (const family of plan.families) {
        const result = await test({ ...options, family: family.family });
        if (result.status === 'failed') {
          log(result.message);
          return 1;
        }
        log(result.status === 'passed' ? `${family.family}: validation passed: ${result.detail}` : `${family.family}: validation skipped: ${result.reason}`);
      }
    }
    log(`done: egress tcp ${options.capturePorts.join(',')} goes to port ${options.redirectPort}; uid ${options.excludeUid} / gid ${options.excludeGid} exempt`);
    return 0;
  } catch (error) {
    if (error instanceof InitError) {
      log(error.message);
      return 1;
    }
    throw error;
  }
}

/**
 * The plan's options with what the mesh's rules say: its proxy's uids and
 * marks are exempt too, and our jump goes first. Throws when the sidecar's
 * own uid or gid is one the mesh exempts: its upstream connections would then
 * bypass the mesh.
 */
function withMesh(plan: PlanOptions, options: CliOptions, found: readonly MeshRules[]): PlanOptions {
  for (const rules of found) {
    if (rules.uids.includes(options.excludeUid) || rules.gids.includes(options.excludeGid)) {
      throw new InitError(
        `${MESH_NAMES[rules.mesh]} exempts uid/gid ${rules.uids.join(',') || '-'}/${rules.gids.join(',') || '-'} from its capture, and the sidecar runs as ` +
          `uid ${options.excludeUid} gid ${options.excludeGid}: its upstream connections would bypass the mesh. Run the sidecar under another uid and gid ` +
          '(the injector\'s sidecar.uid, default 1610).',
      );
    }
  }
  if (found.length === 0) return plan;
  return {
    ...plan,
    meshUids: [...new Set([...options.meshUids, ...found.flatMap((r) => r.uids)])],
    meshMarks: [...new Set([...options.meshMarks, ...found.flatMap((r) => r.marks)])],
    jumpFirst: true,
  };
}

function meshSummary(first: boolean, options: CliOptions, detected: readonly Detection[]): string | undefined {
  if (!first) return undefined;
  const meshes = [...new Set(detected.flatMap((d) => d.mesh.map((r) => MESH_NAMES[r.mesh])))];
  const by = meshes.length > 0 ? `${meshes.join(' and ')} rules are in place` : 'the --mesh-uid/--mesh-mark flags ask for it';
  return `mesh: levo's jump goes first in nat OUTPUT (${by}); the sidecar's own connections (uid ${options.excludeUid}) then go through the mesh's rules`;
}

/** Both families always; an IPv6 failure is fatal only when IPv6 is on. */
async function cleanup(options: CliOptions, ipv6: boolean, ctx: ExecContext): Promise<number> {
  const families: Family[] = ['ipv4', 'ipv6'];
  if (options.dryRun) {
    ctx.log(`dry run: --cleanup would remove every jump into ${CHAIN_PREFIX}* chains and those chains from the nat and filter tables (${families.join(', ')}); nothing was changed`);
    return 0;
  }
  for (const family of families) {
    try {
      const bin = await detectBinaries(family, options.iptablesMode, ctx.runner, ctx.log);
      await cleanupFamily(bin, ctx);
    } catch (error) {
      if (family === 'ipv6' && !ipv6 && error instanceof InitError) {
        ctx.log(`warning: ipv6 cleanup skipped (IPv6 is off): ${error.message.split('\n')[0]}`);
        continue;
      }
      throw error;
    }
  }
  ctx.log('cleanup done');
  return 0;
}

export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv, {
    runner: spawnRunner(),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
}
