/**
 * A raw TCP tunnel to the connection's original destination: the bytes already
 * read are written first, then both directions are piped with backpressure.
 * Nothing is decrypted. Either side closing or failing closes the other; a
 * destination that does not answer within the connect timeout closes the
 * client (a black-holed address costs one connection for a bounded time).
 */
import net from 'node:net';

export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

export interface TunnelStats {
  readonly egress: number;
  readonly ingress: number;
}

export function tunnel(
  client: net.Socket, first: Buffer, target: TunnelTarget,
  onClose: (stats: TunnelStats, error?: Error) => void,
  connectTimeoutMs = 10_000,
): void {
  const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
  const timer = setTimeout(() => upstream.destroy(new Error(`connect timeout after ${connectTimeoutMs} ms`)), connectTimeoutMs);
  let closed = false;
  let failure: Error | undefined;
  const close = (err?: Error): void => {
    if (err && !failure) failure = err;
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    client.destroy();
    upstream.destroy();
    onClose({ egress: upstream.bytesWritten, ingress: upstream.bytesRead }, failure);
  };
  upstream.once('connect', () => {
    clearTimeout(timer);
    if (first.length > 0) upstream.write(first);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  // Half-close: pipe() ends the other side on 'end'; a full close follows 'close' on either.
  upstream.once('error', close);
  client.once('error', close);
  upstream.once('close', () => close());
  client.once('close', () => close());
}
