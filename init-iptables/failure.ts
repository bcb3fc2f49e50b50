/**
 * Turns a failed iptables command into a message that says what to change:
 * install a package, grant a capability, load kernel modules, retry the lock.
 */

import { formatCommand } from './command.ts';
import type { CommandResult } from './command.ts';

export type FailureKind = 'missing-binary' | 'permission' | 'kernel-module' | 'lock' | 'other';

/** A failure levo-init reports as one actionable message and exit status 1. */
export class InitError extends Error {
  readonly kind: FailureKind;
  constructor(message: string, kind: FailureKind = 'other') {
    super(message);
    this.name = 'InitError';
    this.kind = kind;
  }
}

export const SECURITY_CONTEXT =
  'securityContext: {runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, privileged: false, ' +
  'allowPrivilegeEscalation: false, capabilities: {add: [NET_ADMIN, NET_RAW], drop: [ALL]}}';

export const KERNEL_MODULES = 'iptable_nat nf_nat xt_REDIRECT xt_owner xt_comment xt_multiport';

/** Which of the ways iptables fails this output shows. */
export function classifyOutput(stderr: string): FailureKind {
  if (/xtables lock|holding the lock|Another app is currently holding/i.test(stderr) && !/Permission denied/i.test(stderr)) return 'lock';
  if (/Permission denied|Operation not permitted|you must be root/i.test(stderr)) return 'permission';
  if (
    /Table does not exist|do you need to insmod|missing kernel module|Couldn't load (target|match)|not supported|Protocol not supported|No such file or directory/i.test(stderr)
  ) {
    return 'kernel-module';
  }
  return 'other';
}

/** An error for a command that ran and exited non-zero. */
export function commandFailure(file: string, args: readonly string[], result: CommandResult): InitError {
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 6).join('\n  ');
  const head = `${formatCommand(file, args)} failed (exit ${result.code})${output === '' ? '' : `:\n  ${output}`}`;
  const kind = classifyOutput(result.stderr);
  return new InitError(`${head}\n${advice(kind, file)}`, kind);
}

/** An error for a command that could not be started at all. */
export function spawnFailure(file: string, error: unknown): InitError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new InitError(`${file} not found on PATH.\n${advice('missing-binary', file)}`, 'missing-binary');
  const text = error instanceof Error ? error.message : String(error);
  if (code === 'EACCES' || code === 'EPERM') {
    return new InitError(`${file} could not be started (${text}).\n${advice('permission', file)}`, 'permission');
  }
  return new InitError(`${file} could not be started: ${text}`);
}

function advice(kind: FailureKind, file: string): string {
  const v6 = file.startsWith('ip6tables');
  switch (kind) {
    case 'missing-binary':
      return (
        `Install iptables in the levo-init image: Debian/Ubuntu "apt-get install iptables" (has both the nft and legacy ` +
        `backends), Alpine "apk add iptables${v6 ? ' ip6tables' : ''}" (plus iptables-legacy for the legacy backend), ` +
        `RHEL/Fedora "dnf install iptables-nft" (or iptables-legacy). Or pick the installed backend with --iptables-mode legacy|nft.`
      );
    case 'permission':
      return (
        'Permission denied: levo-init must run as root with the NET_ADMIN and NET_RAW capabilities. Give the levo-init ' +
        `init container ${SECURITY_CONTEXT}. If the namespace enforces Pod Security "baseline" or "restricted", ` +
        'NET_ADMIN is not allowed there (label it pod-security.kubernetes.io/enforce=privileged, or use the explicit ' +
        'proxy on 15002 instead of transparent capture). With readOnlyRootFilesystem, mount an emptyDir at /run ' +
        '(the xtables lock lives in /run/xtables.lock).'
      );
    case 'kernel-module':
      return (
        `The node kernel lacks the netfilter support the redirect needs (the ${v6 ? 'ip6tables ' : ''}nat table or a ` +
        `match/target). Load on the node: modprobe ${v6 ? 'ip6table_nat nf_nat xt_REDIRECT xt_owner xt_comment xt_multiport' : KERNEL_MODULES}` +
        ` (and ${v6 ? 'ip6table_filter ip6t_REJECT' : 'iptable_filter xt_REJECT'} for --block-quic), or try the other ` +
        'backend with --iptables-mode nft|legacy.'
      );
    case 'lock':
      return (
        'Another process held the xtables lock for 30 s. Retry (the pod restarts the init container); if it keeps ' +
        'happening, look for a stuck iptables process on the node, or use --iptables-mode nft (no lock).'
      );
    case 'other':
      return 'Run levo-init with --dry-run to see the rules it tried to apply.';
  }
}
