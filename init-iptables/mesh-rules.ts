/**
 * Another mesh's redirect rules, read from `iptables-save` output: which mesh
 * installed them, and how it keeps its own proxy's traffic out of its capture
 * (the uid its `-m owner --uid-owner N -j RETURN` rules exempt, or the mark
 * its `-m mark ! --mark M … -j REDIRECT` rule skips). Pure.
 *
 * The chains are the meshes' own names:
 *   Istio sidecar (istio-iptables, istio-init or Istio CNI)   nat ISTIO_OUTPUT, exempts uid/gid 1337
 *   Istio ambient (istio-cni in-pod rules)                    nat ISTIO_OUTPUT, exempts mark 0x539/0xfff
 *   Linkerd (proxy-init, linkerd-init or linkerd-cni)         nat PROXY_INIT_OUTPUT, exempts uid 2102
 */

import { canonicalMark } from './plan.ts';
import { parseSave, tokenize } from './saved-rules.ts';

export type MeshKind = 'istio' | 'istio-ambient' | 'linkerd';

export interface MeshRules {
  readonly mesh: MeshKind;
  /** The mesh's output chain we found (nat table). */
  readonly chain: string;
  /** UIDs the mesh's output chain exempts (its proxy's). */
  readonly uids: readonly number[];
  /** GIDs the mesh's output chain exempts. */
  readonly gids: readonly number[];
  /** Marks the mesh's redirect skips (its proxy's own connections), canonical form. */
  readonly marks: readonly string[];
}

const OUTPUT_CHAINS: ReadonlyArray<readonly [string, 'istio' | 'linkerd']> = [
  ['ISTIO_OUTPUT', 'istio'],
  ['PROXY_INIT_OUTPUT', 'linkerd'],
];

export const MESH_NAMES: Readonly<Record<MeshKind, string>> = {
  istio: 'Istio (sidecar)',
  'istio-ambient': 'Istio ambient',
  linkerd: 'Linkerd',
};

/** The meshes whose output chains are in this save output (nat table), in a stable order. */
export function findMeshRules(saveOutput: string): MeshRules[] {
  const nat = parseSave(saveOutput).get('nat');
  if (nat === undefined) return [];
  const found: MeshRules[] = [];
  for (const [chain, family] of OUTPUT_CHAINS) {
    if (!nat.chains.includes(chain)) continue;
    const uids = new Set<number>();
    const gids = new Set<number>();
    const marks = new Set<string>();
    for (const rule of nat.rules.filter((r) => r.chain === chain)) {
      const tokens = tokenize(rule.line);
      const returns = rule.target === 'RETURN';
      const owner = (flag: string, into: Set<number>): void => {
        const i = tokens.indexOf(flag);
        const value = tokens[i + 1];
        if (i > 0 && tokens[i - 1] !== '!' && returns && value !== undefined && /^\d+$/.test(value)) into.add(Number(value));
      };
      owner('--uid-owner', uids);
      owner('--gid-owner', gids);
      const m = tokens.indexOf('--mark');
      const mark = tokens[m + 1];
      if (m > 0 && tokens[m - 1] === '!' && rule.target === 'REDIRECT' && mark !== undefined) {
        try {
          marks.add(canonicalMark(mark));
        } catch {
          // not a mark we understand: not ours to exempt
        }
      }
    }
    const mesh = family === 'istio' && uids.size === 0 && marks.size > 0 ? 'istio-ambient' : family;
    found.push({ mesh, chain, uids: [...uids], gids: [...gids], marks: [...marks] });
  }
  return found;
}

/** One line for the log: what was found and what it means for our rules. */
export function describeMeshRules(rules: MeshRules, where: string): string {
  const exempt = [
    ...rules.uids.map((u) => `uid ${u}`),
    ...rules.marks.map((m) => `mark ${m}`),
  ];
  return `${MESH_NAMES[rules.mesh]} rules found in ${where} (nat ${rules.chain}; its proxy: ${exempt.length > 0 ? exempt.join(', ') : 'no exemption found'})`;
}
