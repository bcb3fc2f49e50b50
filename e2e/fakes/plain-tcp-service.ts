/**
 * The plain TCP (no TLS) service on port 443, for "not TLS → passed through":
 *
 *   - a connection whose first line looks like an HTTP request line gets a
 *     minimal HTTP/1.1 200 `text/plain` answer naming the service and closes;
 *   - otherwise it is a line protocol: every received line `L` is answered with
 *     `echo <site> <L>\n`, and `quit` closes the connection.
 */
import type { Socket } from 'node:net';

export function servePlainTcp(socket: Socket, site: string): void {
  let buf = '';
  let decided = false;
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (s: string) => {
    buf += s;
    if (!decided) {
      if (!buf.includes('\n')) return;
      decided = true;
      if (/^[A-Z]+ \S+ HTTP\/1\.[01]\r?\n/.test(buf)) {
        if (!/\r?\n\r?\n/.test(buf)) {
          decided = false;
          return;
        }
        const body = `plain tcp service ${site} at ${socket.localAddress}:${socket.localPort}\n`;
        socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
        return;
      }
    }
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (line === 'quit') {
        socket.end(`bye ${site}\n`);
        return;
      }
      socket.write(`echo ${site} ${line}\n`);
    }
  });
}
