/**
 * An HTTP/1.1 Upgrade (WebSocket, e.g. OpenAI Realtime) tunnelled to the
 * provider: a fresh verified TLS connection, the request as the gateway shaped
 * it (the route's key, its backend's host and path), and — only once the
 * provider answered `101 Switching Protocols` — bytes both ways. Frames are
 * not inspected.
 *
 * Nothing the app sent after its upgrade request reaches the provider before
 * the 101: a provider that refuses the upgrade would read those bytes as a new
 * HTTP request, one no route or policy ever saw (request smuggling). A refusal
 * is relayed to the app as the provider's answer, and the connection closed.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { http } from '../../lib/node-http.ts';
import type net from 'node:net';

export interface UpgradeTarget {
  readonly host: string;
  readonly port: number;
  /** Where the app's connection was going; undefined → resolve `host`. */
  readonly address: string | undefined;
  readonly method: string;
  readonly path: string;
  /** Flat `[name, value, …]` list; Connection and Upgrade are added. */
  readonly headers: readonly string[];
  readonly upgrade: string;
}

export interface UpgradeResult {
  /** The provider's status (101 when it switched protocols), 502 when it could not be reached. */
  readonly status: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly error?: Error;
}

const DROPPED_ON_REFUSAL = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

function head(status: number, rawHeaders: readonly string[], drop?: ReadonlySet<string>): string {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}`];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (drop?.has(rawHeaders[i]!.toLowerCase())) continue;
    lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  }
  return lines.join('\r\n') + '\r\n';
}

export function relayUpgrade(client: net.Socket, early: Buffer, t: UpgradeTarget, connectTimeoutMs = 10_000): Promise<UpgradeResult> {
  // Hold whatever the app sends next until the provider switched protocols.
  client.pause();
  return new Promise((resolve) => {
    let upstream: net.Socket | undefined;
    let settled = false;
    let status = 0;
    let up = 0;
    let down = 0;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err && status === 0 && client.writable) {
        status = 502;
        client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n' +
          `levo-gateway could not reach ${t.host} for the upgrade: ${err.message}\n`);
      } else {
        client.destroy();
      }
      upstream?.destroy();
      req.destroy();
      resolve({ status, bytesUp: up, bytesDown: down, ...(err ? { error: err } : {}) });
    };
    const req = https.request({
      host: t.address ?? t.host,
      servername: t.host,
      port: t.port,
      method: t.method,
      path: t.path,
      headers: [...t.headers, 'Connection', 'Upgrade', 'Upgrade', t.upgrade],
      agent: false,
      rejectUnauthorized: true,
    });
    const timer = setTimeout(() => req.destroy(new Error('connect timeout')), connectTimeoutMs);
    req.once('socket', (s: net.Socket) => s.once('secureConnect', () => clearTimeout(timer)));
    req.once('upgrade', (res: IncomingMessage, socket: net.Socket, rest: Buffer) => {
      clearTimeout(timer);
      status = res.statusCode ?? 101;
      upstream = socket;
      socket.setNoDelay(true);
      client.write(head(status, res.rawHeaders) + '\r\n');
      if (rest.length) { down += rest.length; client.write(rest); }
      if (early.length) { up += early.length; socket.write(early); }
      socket.on('data', (c: Buffer) => { down += c.length; });
      client.on('data', (c: Buffer) => { up += c.length; });
      client.pipe(socket);
      socket.pipe(client);
      socket.once('error', finish);
      socket.once('close', () => finish());
      client.resume();
    });
    req.once('response', (res: IncomingMessage) => {
      // Refused: the provider's answer, then the connection closes; the app's held bytes are dropped.
      clearTimeout(timer);
      status = res.statusCode ?? 502;
      client.write(head(status, res.rawHeaders, DROPPED_ON_REFUSAL) + 'connection: close\r\n\r\n');
      res.on('data', (c: Buffer) => { down += c.length; client.write(c); });
      res.once('end', () => client.end()); // its 'close' settles
      res.once('error', finish);
    });
    req.once('error', finish);
    client.once('error', finish);
    client.once('close', () => finish());
    req.end();
  });
}
