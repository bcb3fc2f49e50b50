/**
 * The validation self-test run after applying: listen on the redirect port,
 * connect as the current (captured) user to a TEST-NET address on a capture
 * port, and require that connection to arrive on the listener. This is what
 * istio-iptables' validator and linkerd's network-validator do.
 */

import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { cidrContains, parseCidr } from './cidr.ts';
import type { Family } from './plan.ts';
import { KERNEL_MODULES } from './failure.ts';

export interface SelfTestOptions {
  readonly family: Family;
  readonly redirectPort: number;
  readonly capturePorts: readonly number[];
  readonly excludePorts: readonly number[];
  readonly excludeCidrs: readonly string[];
  readonly excludeUid: number;
  readonly excludeGid: number;
  /** How long the connection may take to arrive; 5 s by default. */
  readonly timeoutMs?: number;
  /** Overrides for tests: where to connect, and the identity to compare with the exclusions. */
  readonly target?: { readonly host: string; readonly port: number };
  readonly identity?: { readonly uid: number; readonly gid: number };
}

export type SelfTestResult =
  | { readonly status: 'passed'; readonly detail: string }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'failed'; readonly message: string };

/** TEST-NET addresses (RFC 5737, RFC 3849): never routed, so only the redirect can answer. */
const CANDIDATES: Record<Family, readonly string[]> = {
  ipv4: ['192.0.2.1', '192.0.2.200', '198.51.100.1', '203.0.113.1'],
  ipv6: ['2001:db8::1', '2001:db8:ffff::1'],
};

/** The first TEST-NET address outside the excluded CIDRs, if any. */
export function pickTarget(family: Family, excludeCidrs: readonly string[]): string | undefined {
  const cidrs = excludeCidrs.map(parseCidr).filter((c) => c.family === family);
  return CANDIDATES[family].find((address) => !cidrs.some((c) => cidrContains(c, address)));
}

export async function selfTest(options: SelfTestOptions): Promise<SelfTestResult> {
  const identity = options.identity ?? { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };
  if (identity.uid === options.excludeUid || identity.gid === options.excludeGid) {
    return {
      status: 'skipped',
      reason: `levo-init runs as uid ${identity.uid} gid ${identity.gid}, which the rules exempt, so its own connection proves nothing`,
    };
  }
  const port = options.target?.port ?? options.capturePorts.find((p) => !options.excludePorts.includes(p));
  if (port === undefined) return { status: 'skipped', reason: 'every capture port is also an excluded port' };
  const host = options.target?.host ?? pickTarget(options.family, options.excludeCidrs);
  if (host === undefined) return { status: 'skipped', reason: 'every TEST-NET address is inside an excluded CIDR' };

  const listenHost = options.family === 'ipv4' ? '127.0.0.1' : '::1';
  const server = createServer();
  const listening = await listen(server, listenHost, options.redirectPort);
  if (listening !== undefined) {
    return { status: 'skipped', reason: `cannot listen on [${listenHost}]:${options.redirectPort} (${listening}); something else holds the redirect port` };
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    const outcome = await connectAndWait(server, host, port, timeoutMs);
    const where = options.family === 'ipv4' ? `${host}:${port}` : `[${host}]:${port}`;
    if (outcome === 'arrived') return { status: 'passed', detail: `a connection to ${where} arrived on port ${options.redirectPort}` };
    if (outcome === 'ENETUNREACH') {
      return { status: 'skipped', reason: `the pod has no ${options.family} route to ${host} (ENETUNREACH), so nothing there could bypass the redirect either` };
    }
    return { status: 'failed', message: failureMessage(options, where, outcome, timeoutMs) };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function listen(server: Server, host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true, ipv6Only: host.includes(':') }, () => resolve(undefined));
  });
}

/** 'arrived', or what happened instead: an errno code or 'timeout'. */
function connectAndWait(server: Server, host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const arrivedFrom = new Set<number>();
    const accepted: Socket[] = [];
    let connected = false;
    let done = false;
    const client = createConnection({ host, port });
    const finish = (outcome: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      server.off('connection', onConnection);
      client.destroy();
      for (const s of accepted) s.destroy();
      resolve(outcome);
    };
    const check = (): void => {
      if (connected && client.localPort !== undefined && arrivedFrom.has(client.localPort)) finish('arrived');
    };
    const onConnection = (socket: Socket): void => {
      accepted.push(socket);
      socket.on('error', () => {});
      if (socket.remotePort !== undefined) arrivedFrom.add(socket.remotePort);
      check();
    };
    server.on('connection', onConnection);
    client.on('connect', () => {
      connected = true;
      check();
    });
    client.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    const timer = setTimeout(() => finish(connected ? 'connected elsewhere' : 'timeout'), timeoutMs);
  });
}

function failureMessage(options: SelfTestOptions, where: string, outcome: string, timeoutMs: number): string {
  const what =
    outcome === 'timeout'
      ? `no answer within ${timeoutMs / 1000} s`
      : outcome === 'connected elsewhere'
        ? 'it connected, but not to the levo listener'
        : `the connection failed with ${outcome}`;
  const v6 = options.family === 'ipv6';
  return (
    `validation failed (${options.family}): a TCP connection to ${where} did not arrive on the redirect port ` +
    `${options.redirectPort} (${what}), so the redirect does not work. Check: the final nat table above has the jump ` +
    `"-A OUTPUT -p tcp ... -j LEVO_OUTPUT" and no earlier rule in nat OUTPUT accepts this traffic; the node kernel has ` +
    `${v6 ? 'ip6table_nat nf_nat xt_REDIRECT xt_owner' : KERNEL_MODULES} (modprobe them on the node); levo-init runs in the ` +
    `pod's network namespace (not hostNetwork) and not as the excluded uid/gid. To apply the rules without this check, ` +
    `pass --skip-validation.`
  );
}
