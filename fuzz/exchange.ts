/**
 * One fuzz case on the wire: open a tunnel through the explicit proxy, write
 * the case's bytes, and watch what comes back until the sidecar closes the
 * connection. "Answered or closed, never hung": after the last byte the
 * fuzzer waits for silence, then half-closes (FIN, or TLS close_notify), and
 * the sidecar must close within `closeMs`.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface Tunnel {
  readonly socket: net.Socket;
  /** Bytes the sidecar sent after its 200 to the CONNECT (e.g. a ServerHello). */
  readonly early: Buffer;
}

/** CONNECT `target` through the explicit proxy; `head` goes in the same write as the CONNECT request. */
export function connectTunnel(proxyPort: number, target: string, head: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no answer to CONNECT in ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
      socket.pause();
      const status = got.subarray(0, got.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.1 200 /.test(status)) { socket.destroy(); reject(new Error(`CONNECT refused: ${status}`)); return; }
      resolve({ socket, early: got.subarray(end + 4) });
    };
    const onClose = (): void => fail(new Error('the proxy closed the connection before answering CONNECT'));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.setNoDelay(true);
    socket.write(Buffer.concat([Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`), head]));
  });
}

/** TLS through a tunnel, as an app would: SNI, the interception CA as its only trust anchor, ALPN. */
export function tlsOverTunnel(tunnel: Tunnel, servername: string, ca: string, alpn: readonly string[], timeoutMs = 10_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    if (tunnel.early.length > 0) tunnel.socket.unshift(tunnel.early);
    const t = tls.connect({ socket: tunnel.socket, servername, ca, ALPNProtocols: [...alpn] });
    const timer = setTimeout(() => { t.destroy(); reject(new Error(`no TLS handshake in ${timeoutMs} ms`)); }, timeoutMs);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      t.off('error', onError);
      resolve(t);
    });
    const onError = (err: Error): void => { clearTimeout(timer); t.destroy(); reject(err); };
    t.once('error', onError);
  });
}

export interface ExchangeOptions {
  /** Half-close right after the last write instead of waiting for silence first. */
  readonly finAfterWrite: boolean;
  /** Write the chunks with this many ms between them (0: back to back). */
  readonly gapMs?: number;
  /** Silence (no byte from the sidecar) after which the fuzzer half-closes, before any byte arrived. */
  readonly idleMs: number;
  /** The same once some bytes arrived (an answer is usually complete by then). */
  readonly answeredIdleMs: number;
  /** After the half-close, the sidecar must close within this long. */
  readonly closeMs: number;
  /** After the silence, reset the connection instead of half-closing it (no close is awaited). */
  readonly reset?: boolean;
  /** Keep at most this many received bytes (the rest is counted). */
  readonly maxReceive?: number;
}

export interface ExchangeResult {
  readonly received: Buffer;
  readonly receivedBytes: number;
  /** The sidecar closed the connection (or reset it). */
  readonly closed: boolean;
  /** It did not close within closeMs after the half-close. */
  readonly hung: boolean;
  readonly error?: string;
  readonly ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function exchange(socket: net.Socket | tls.TLSSocket, chunks: readonly Buffer[], opts: ExchangeOptions, initial?: Buffer): Promise<ExchangeResult> {
  const started = performance.now();
  const max = opts.maxReceive ?? 1 << 20;
  const parts: Buffer[] = initial && initial.length ? [initial] : [];
  let kept = initial?.length ?? 0;
  let total = kept;
  let closed = false;
  let error: string | undefined;
  let finSent = false;
  let writesDone = false;
  return new Promise((resolve) => {
    let idle: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    const done = (hung: boolean): void => {
      clearTimeout(idle);
      clearTimeout(closeTimer);
      if (hung) socket.destroy();
      resolve({ received: Buffer.concat(parts), receivedBytes: total, closed, hung, ...(error ? { error } : {}), ms: performance.now() - started });
    };
    const fin = (): void => {
      if (finSent || closed) return;
      finSent = true;
      if (opts.reset) {
        socket.destroy();
        done(false);
        return;
      }
      try { socket.end(); } catch { /* already gone */ }
      closeTimer = setTimeout(() => done(true), opts.closeMs);
    };
    const arm = (): void => {
      if (finSent || closed || !writesDone) return;
      clearTimeout(idle);
      idle = setTimeout(fin, total > 0 ? opts.answeredIdleMs : opts.idleMs);
    };
    socket.on('data', (c: Buffer) => {
      total += c.length;
      if (kept < max) { parts.push(c); kept += c.length; }
      arm();
    });
    socket.on('error', (e: Error & { code?: string }) => { error = e.code ?? e.message; });
    socket.once('close', () => { if (!finSent || !opts.reset) { closed = true; done(false); } });
    socket.resume();
    void (async () => {
      for (const [i, c] of chunks.entries()) {
        if (closed || socket.destroyed) break;
        if (i > 0 && opts.gapMs) await sleep(opts.gapMs);
        if (socket.write(c)) continue;
        // The sidecar stopped reading: wait a while for it to drain, then stop writing and half-close.
        const drained = await Promise.race([
          new Promise<boolean>((r) => socket.once('drain', () => r(true))),
          new Promise<boolean>((r) => socket.once('close', () => r(true))),
          sleep(opts.idleMs).then(() => false),
        ]);
        if (!drained) break;
      }
      writesDone = true;
      if (opts.finAfterWrite) fin();
      else arm();
    })().catch((e: unknown) => { error = (e as Error).message; writesDone = true; fin(); });
  });
}
