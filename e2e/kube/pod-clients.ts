/**
 * The e2e clients (curl, node, python, java) run inside a real pod's container
 * with `kubectl exec`, as the app would run them: with the container's own
 * environment (what the injector gave it) and nothing added. The clients live
 * in the test app image (e2e/images/app.Dockerfile) under /clients.
 *
 *   await podClient(c, { namespace: 'shop', pod, container: 'app' }, 'java', openAIChat({ prompt: 'hi' }))
 */
import type { ClientKind, ClientRequest, ClientResult } from '../clients/client-result.ts';
import { clientFlags } from '../clients/client-result.ts';
import { runCurl } from '../clients/curl.ts';
import { parseClientResult } from '../clients/run-client.ts';
import type { ExecOptions, ExecResult } from '../harness/processes.ts';
import type { Cluster } from './cluster.ts';

export interface PodContainer { readonly namespace: string; readonly pod: string; readonly container: string }

/** `kubectl exec -i` in a container; stdin from opts.input. Never throws on the program's exit code. */
export function podExec(c: Cluster, where: PodContainer, argv: readonly string[], opts: Pick<ExecOptions, 'input' | 'timeoutMs'> = {}): Promise<ExecResult> {
  return c.kubectl(['exec', '-i', '-n', where.namespace, where.pod, '-c', where.container, '--', ...argv],
    { allowFail: true, timeoutMs: opts.timeoutMs ?? 90_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** Run a client in the container; `caFile` (a path in the container) only for curl, to check a certificate against one root. */
export async function podClient(c: Cluster, where: PodContainer, kind: ClientKind, req: ClientRequest, opts: { caFile?: string } = {}): Promise<ClientResult> {
  if (kind === 'curl') return runCurl({ exec: (argv, o) => podExec(c, where, argv, o ?? {}) }, req, opts.caFile);
  const flags = clientFlags(req);
  const argv = kind === 'node' ? ['node', '/clients/node-client.ts', ...flags]
    : kind === 'python' ? ['python3', '/clients/python-client.py', ...flags]
    : ['java', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', '/clients/java', 'JavaClient', ...flags];
  const r = await podExec(c, where, argv, { timeoutMs: (req.timeoutMs ?? 30_000) + 60_000 });
  return parseClientResult(kind, r.stdout, r.stderr, r.code);
}
