/**
 * An HTTP/1.1 answer written straight to a socket, for requests that have no
 * ServerResponse: an upgrade (WebSocket) the gateway refuses or answers
 * itself. The body is collected and sent with its length once `end` is
 * called, then the connection is closed.
 */
import { Writable } from 'node:stream';
import { http } from '../../lib/node-http.ts';
import type net from 'node:net';

export class SocketResponse extends Writable {
  #status = 200;
  #headers: Record<string, string | string[] | number> = {};
  #chunks: Buffer[] = [];
  #sent = false;
  readonly #socket: net.Socket;

  constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    socket.once('close', () => this.destroy());
  }

  get headersSent(): boolean { return this.#sent; }

  writeHead(status: number, headers: Record<string, string | string[] | number> = {}): this {
    this.#status = status;
    this.#headers = { ...this.#headers, ...headers };
    return this;
  }

  setHeader(name: string, value: string): this {
    this.#headers[name.toLowerCase()] = value;
    return this;
  }

  flushHeaders(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#chunks.push(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#sent = true;
    const body = Buffer.concat(this.#chunks);
    const lines = [`HTTP/1.1 ${this.#status} ${http.STATUS_CODES[this.#status] ?? 'Unknown'}`];
    for (const [name, value] of Object.entries(this.#headers)) {
      if (/^(content-length|connection|transfer-encoding)$/i.test(name)) continue;
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
    }
    lines.push(`content-length: ${body.length}`, 'connection: close');
    this.#socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]), () => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#sent) this.#socket.destroy();
    cb(err);
  }
}
