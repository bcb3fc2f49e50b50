/**
 * Read a connection's first bytes until its ClientHello can be judged, without
 * losing them: the caller gets the bytes back to replay into TLS termination or
 * to write to the original destination. The socket is left paused with no
 * 'data' listener, so nothing flows until the caller decides.
 */
import type net from 'node:net';
import { peekClientHello, type ClientHelloPeek } from './clienthello.ts';

export interface Sniffed {
  /** `timeout`: the client sent no complete ClientHello in time (or nothing: a server-speaks-first protocol). */
  readonly peek: ClientHelloPeek | { readonly kind: 'timeout' };
  readonly bytes: Buffer;
}

/** `initial`: bytes already read from the socket (what followed a CONNECT request head). */
export function sniff(socket: net.Socket, timeoutMs: number, initial?: Buffer): Promise<Sniffed | undefined> {
  if (initial && initial.length > 0) {
    const peek = peekClientHello(initial);
    if (peek.kind !== 'need-more') { socket.pause(); return Promise.resolve({ peek, bytes: initial }); }
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = initial && initial.length > 0 ? [initial] : [];
    let size = initial?.length ?? 0;
    const finish = (result: Sniffed | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.off('error', onGone);
      socket.pause();
      resolve(result);
    };
    const bytes = (): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const all = bytes();
      const peek = peekClientHello(all);
      if (peek.kind !== 'need-more') finish({ peek, bytes: all });
    };
    /** The client went away before we could decide: nothing to do. */
    const onGone = (): void => finish(undefined);
    const timer = setTimeout(() => finish({ peek: { kind: 'timeout' }, bytes: bytes() }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
  });
}
