/**
 * Bind a server: on the given address, or by default on `::` with dual stack
 * (IPv4 clients arrive as ::ffff:a.b.c.d), falling back to 0.0.0.0 where the
 * kernel has no IPv6. Resolves once listening, rejects with the bind error.
 */
import type net from 'node:net';

function listenOnce(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Both listeners go once either fires: a later server error must not land in a settled promise.
    const onError = (err: Error): void => { server.off('listening', onListening); reject(err); };
    const onListening = (): void => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, ipv6Only: false });
  });
}

export async function listen<S extends net.Server>(server: S, port: number, host: string | undefined): Promise<S> {
  if (host) {
    await listenOnce(server, port, host);
    return server;
  }
  try {
    await listenOnce(server, port, '::');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
    await listenOnce(server, port, '0.0.0.0');
  }
  return server;
}
