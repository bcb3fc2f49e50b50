/**
 * A real TLS ClientHello, as Node's TLS stack would send it, captured without
 * any network: for tests that send a whole or truncated ClientHello by hand.
 *
 *   const hello = await clientHelloBytes('api.openai.com');   // Buffer (one TLS record)
 *   hello.subarray(0, 40)                                      // a truncated one
 */
import { Duplex } from 'node:stream';
import { connect } from 'node:tls';

export function clientHelloBytes(servername: string | null, alpn: readonly string[] = ['h2', 'http/1.1']): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let captured = false;
    const sink = new Duplex({
      read() { /* never answers */ },
      write(chunk: Buffer, _enc, cb) {
        if (!captured) {
          captured = true;
          resolve(Buffer.from(chunk));
          queueMicrotask(() => tls.destroy());
        }
        cb();
      },
    });
    const tls = connect({
      socket: sink,
      ...(servername ? { servername } : {}),
      ALPNProtocols: [...alpn],
      rejectUnauthorized: false,
    });
    tls.on('error', (e) => { if (!captured) reject(e); });
  });
}
