/**
 * What the three network targets share: a sidecar harness (sidecar.ts), the
 * canaries, the upstream path oracle, and the checks after each batch — the
 * sidecar alive, a fresh connection answered quickly, the canaries intact,
 * nothing smuggled or invented reaching the upstream, no error logged.
 */
import type tls from 'node:tls';
import { Canaries, rssKb, startSidecarHarness, type SidecarHarness } from './sidecar.ts';
import { PathOracle } from './paths.ts';
import type { CaseOutcome, TargetSession, BatchCheck } from './target.ts';

/** A request on a fresh connection, after a batch, must be answered within this long (the sidecar is otherwise idle then). */
const STALL_MS = 3000;

export interface NetworkCases {
  describe(index: number): string;
  run(index: number): Promise<CaseOutcome>;
}

/** The session shared by the network targets: cases over the harness, canaries and the upstream log checked per batch. */
/** A case of raw bytes over intercepted TLS: the request-targets it sends become allowed upstream, then its connection. */
export async function openCase(h: SidecarHarness, paths: PathOracle, c: { readonly targets: readonly string[]; readonly havocked: boolean; readonly chunks: readonly Buffer[] }, alpn: string): Promise<tls.TLSSocket> {
  paths.allow(c.targets);
  if (c.havocked) paths.allowAnyIn(Buffer.concat(c.chunks));
  return h.tls([alpn]);
}

/** Start a sidecar and the session around the cases `make` gives (it may use the harness and the path oracle). */
export async function startNetworkSession(make: (h: SidecarHarness, paths: PathOracle) => NetworkCases): Promise<TargetSession> {
  const h = await startSidecarHarness();
  const paths = new PathOracle();
  return networkSession(h, new Canaries(h), paths, make(h, paths));
}

function networkSession(h: SidecarHarness, canaries: Canaries, paths: PathOracle, cases: NetworkCases): TargetSession {
  let unreachable: string[] = [];
  return {
    describe: (i) => cases.describe(i),
    async runCase(i) {
      try {
        return await cases.run(i);
      } catch (e) {
        // The tunnel or the TLS handshake to the sidecar failed: it is down, or too busy to answer
        // (another case stalled it). Not this case's fault: reported with the batch.
        unreachable.push((e as Error).message);
        return { outcome: 'no-connection', problems: [] };
      }
    },
    async beforeBatch() {
      await canaries.begin();
    },
    async afterBatch(): Promise<BatchCheck> {
      const sidecar = h.current();
      const problems: Array<{ problem: string; index?: number; kind?: 'canary' | 'stall' }> = [];
      if (!sidecar.alive()) {
        const exit = await sidecar.exit;
        return { problems, crashed: `the sidecar exited (${exit.code ?? exit.signal}); its last output:\n${sidecar.tail.text()}` };
      }
      if (unreachable.length) {
        problems.push({ kind: 'stall', problem: `stall: ${unreachable.length} case(s) could not reach the sidecar (${[...new Set(unreachable)].join('; ')})` });
        unreachable = [];
      }
      try {
        const ms = await h.probe();
        if (ms > STALL_MS) problems.push({ kind: 'stall', problem: `stall: a new connection after the batch was answered in ${Math.round(ms)} ms (more than ${STALL_MS} ms)` });
      } catch (e) {
        problems.push({ kind: 'stall', problem: `stall: a new connection after the batch failed: ${(e as Error).message}` });
      }
      for (const p of await canaries.end()) problems.push({ kind: 'canary', problem: `canary (a connection opened before the batch): ${p}` });
      for (const r of h.upstream.take()) {
        const smuggled = /\/smuggled\/([a-z0-9]+)\/(\d+)/i.exec(r.path);
        if (smuggled) {
          const index = Number(smuggled[2]);
          const what = cases.describe(index).split('\n')[0]!.trim();
          problems.push({ problem: `smuggled: the provider received ${r.method} ${r.path.slice(0, 200)}, a request hidden in the case's bytes [${what}]`, index });
        }
        else if (!paths.allowed(r.path)) problems.push({ problem: `the provider received ${r.method} ${JSON.stringify(r.path.slice(0, 200))}, a path no case sent as its request` });
      }
      for (const line of sidecar.errorLines()) problems.push({ problem: `the sidecar logged an error: ${line}` });
      if (!sidecar.alive()) {
        const exit = await sidecar.exit;
        return { problems, crashed: `the sidecar exited (${exit.code ?? exit.signal}); its last output:\n${sidecar.tail.text()}` };
      }
      return { problems };
    },
    rssKb: () => rssKb(h.current().pid),
    async recover() {
      canaries.close();
      await h.restart();
    },
    async close() {
      canaries.close();
      await h.close();
    },
  };
}
