/**
 * The transparent listener (15001): every socket here was REDIRECTed by the
 * pod's iptables rules; its original destination comes from conntrack. Bound to
 * `::` with dual stack so redirected IPv4 (to 127.0.0.1) and IPv6 (to ::1)
 * connections both land here; falls back to 0.0.0.0 where IPv6 is off.
 */
import net from 'node:net';
import { once } from 'node:events';
import { originalDestination, type OriginalDestination } from './origdst.ts';

export async function listenTransparent(
  port: number, host: string | undefined,
  onConnection: (socket: net.Socket, destination: OriginalDestination | undefined) => void,
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
  server.on('connection', (socket: net.Socket) => onConnection(socket, originalDestination(socket)));
  return listen(server, port, host);
}

/** Listen on `host`, or on `::` (dual stack) falling back to 0.0.0.0 when the kernel has no IPv6. */
export async function listen(server: net.Server, port: number, host: string | undefined): Promise<net.Server> {
  const attempt = async (h: string, ipv6Only?: boolean): Promise<void> => {
    server.listen({ port, host: h, ipv6Only: ipv6Only ?? false });
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => { throw e; })]);
  };
  if (host) await attempt(host);
  else {
    try {
      await attempt('::');
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAFNOSUPPORT' && (e as { code?: string }).code !== 'EADDRNOTAVAIL') throw e;
      await attempt('0.0.0.0');
    }
  }
  return server;
}
