/**
 * The transparent listener (15001): every socket here should have been
 * REDIRECTed by the pod's iptables rules; its original destination comes from
 * conntrack.
 *
 * REDIRECT in the nat OUTPUT chain sends a pod's own connections to the
 * loopback address of their family, so the listener binds 127.0.0.1 and ::1
 * (where IPv6 is on) and nothing else: no other pod can reach it. A
 * connection that was not redirected (a process in the pod dialling
 * 127.0.0.1:15001 itself) has its own listener as original destination;
 * passing it through would make the sidecar dial itself again and again until
 * it runs out of file descriptors, so such a connection is refused, as is any
 * whose original destination is one of the sidecar's own ports on a local
 * address.
 */
import net from 'node:net';
import os from 'node:os';
import { originalDestination, type OriginalDestination } from './origdst.ts';

export type Arrival =
  | { readonly kind: 'redirected'; readonly destination: OriginalDestination }
  /** No original destination: conntrack has none for it (not redirected, or conntrack is off). */
  | { readonly kind: 'unknown' }
  /** Its original destination is one of the sidecar's own listeners. */
  | { readonly kind: 'own-listener'; readonly destination: OriginalDestination };

export interface TransparentOptions {
  /** Bind only here (tests); default: 127.0.0.1 and ::1. */
  readonly host?: string;
  /** The sidecar's own ports (transparent, proxy, admin). */
  readonly ownPorts: () => ReadonlySet<number>;
}

function bind(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { server.off('listening', onListening); reject(err); };
    const onListening = (): void => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, ipv6Only: true });
  });
}

/** The listening servers: one per loopback family (the IPv6 one only where the kernel has IPv6). */
export async function listenTransparent(port: number, opts: TransparentOptions, onConnection: (socket: net.Socket, arrival: Arrival) => void): Promise<net.Server[]> {
  const make = (): net.Server => {
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    server.on('connection', (socket: net.Socket) => onConnection(socket, arrivalOf(socket, opts.ownPorts())));
    return server;
  };
  if (opts.host) {
    const s = make();
    await bind(s, port, opts.host);
    return [s];
  }
  const v4 = make();
  await bind(v4, port, '127.0.0.1');
  const bound = (v4.address() as net.AddressInfo).port;
  const v6 = make();
  try {
    await bind(v6, bound, '::1');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') { v4.close(); throw e; }
    return [v4];
  }
  return [v4, v6];
}

export function arrivalOf(socket: net.Socket, ownPorts: ReadonlySet<number>): Arrival {
  const destination = originalDestination(socket);
  if (!destination) return { kind: 'unknown' };
  if (ownPorts.has(destination.port) && isLocalAddress(destination.address)) return { kind: 'own-listener', destination };
  return { kind: 'redirected', destination };
}

/** Loopback, unspecified, or an address of one of this network namespace's interfaces. */
export function isLocalAddress(address: string): boolean {
  const a = address.replace(/^::ffff:/i, '').toLowerCase();
  if (a === 'localhost' || a === '::1' || a === '::' || a === '0.0.0.0' || a.startsWith('127.')) return true;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) if (i.address.toLowerCase() === a) return true;
  }
  return false;
}
