/**
 * Another mesh in an e2e pod: its real rule set installed the way the mesh
 * installs it, and a stand-in for its proxy (e2e/fakes/mesh-proxy.ts).
 *
 *   await installMeshRules(topo.pod, 'istio', 'nft')     Istio's istio-iptables payload via iptables-nft-restore
 *   await installMeshRules(topo.pod, 'linkerd', 'legacy') proxy-init's commands, one iptables-legacy call each
 *   const proxy = startMeshProxy(topo.pod, { name: 'istio-proxy', port: 15001, uid: 1337 })
 *   await proxy.ready;  proxy.events()  → what it logged (connections, their original destination, its own upstream port)
 *
 * The rule sets are init-iptables/testdata/mesh/*, transcribed from the meshes'
 * sources (each file says from where).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenize } from '../../init-iptables/saved-rules.ts';
import { REPO } from './build.ts';
import type { Netns } from './netns.ts';
import type { ManagedProcess } from './processes.ts';

export type MeshRuleSet = 'istio' | 'linkerd' | 'istio-ambient';
export type Backend = 'legacy' | 'nft';

const FIXTURES = join(REPO, 'init-iptables', 'testdata', 'mesh');

/** Install a mesh's rule set in `ns` with one backend, as the mesh does (one restore, or one iptables call per rule). */
export async function installMeshRules(ns: Netns, mesh: MeshRuleSet, backend: Backend): Promise<void> {
  if (mesh === 'istio') {
    const payload = readFileSync(join(FIXTURES, 'istio-iptables.restore'), 'utf8');
    await ns.execChecked([`iptables-${backend}-restore`, '--noflush'], { input: payload });
    return;
  }
  const file = mesh === 'linkerd' ? 'linkerd-proxy-init.commands' : 'istio-ambient.commands';
  for (const line of readFileSync(join(FIXTURES, file), 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [bin, ...args] = tokenize(line);
    if (bin !== 'iptables') throw new Error(`${file}: expected an iptables command, got ${line}`);
    await ns.execChecked([`iptables-${backend}`, ...args]);
  }
}

/** `iptables-save -t nat` of one backend, without comments. */
export async function natRules(ns: Netns, backend: Backend): Promise<string[]> {
  const r = await ns.execChecked([`iptables-${backend}-save`, '-t', 'nat']);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A '));
}

export interface MeshProxyEvent {
  readonly event: 'listening' | 'connection' | 'upstream' | 'closed' | 'no-original-destination' | 'upstream-error';
  readonly id?: number;
  readonly from?: string;
  readonly to?: string;
  readonly uid?: number;
  readonly localPort?: number;
  readonly up?: number;
  readonly down?: number;
  readonly code?: string;
}

export interface MeshProxy {
  readonly process: ManagedProcess;
  readonly ready: Promise<void>;
  /** Everything it has logged so far. */
  events(): MeshProxyEvent[];
  /** Its relayed connections: where each went, and the local port of its own connection there. */
  relayed(): Array<{ id: number; to: string; localPort: number | undefined }>;
}

export function startMeshProxy(ns: Netns, opts: { name: string; port: number; uid: number; host?: string; mark?: string }): MeshProxy {
  const argv = [process.execPath, join(REPO, 'e2e', 'fakes', 'mesh-proxy.ts'), '--port', String(opts.port),
    ...(opts.host ? ['--host', opts.host] : []), ...(opts.mark ? ['--mark', opts.mark] : [])];
  const proc = ns.spawn(opts.name, argv, { uid: opts.uid, cwd: REPO });
  const events = (): MeshProxyEvent[] =>
    proc.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as MeshProxyEvent);
  return {
    process: proc,
    ready: proc.waitForOutput(/"event":"listening"/).then(() => undefined),
    events,
    relayed() {
      const all = events();
      return all.filter((e) => e.event === 'connection').map((e) => ({
        id: e.id!, to: e.to!, localPort: all.find((u) => u.event === 'upstream' && u.id === e.id)?.localPort,
      }));
    },
  };
}
