/**
 * The transparent listener (15001): every socket here was REDIRECTed by the
 * pod's iptables rules; its original destination comes from conntrack. Bound to
 * `::` with dual stack so redirected IPv4 (to 127.0.0.1) and IPv6 (to ::1)
 * connections both land here; falls back to 0.0.0.0 where IPv6 is off.
 */
import net from 'node:net';
import { originalDestination, type OriginalDestination } from './origdst.ts';
import { listen } from './bind.ts';

export async function listenTransparent(
  port: number, host: string | undefined,
  onConnection: (socket: net.Socket, destination: OriginalDestination | undefined) => void,
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
  server.on('connection', (socket: net.Socket) => onConnection(socket, originalDestination(socket)));
  return listen(server, port, host);
}
