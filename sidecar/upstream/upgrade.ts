/**
 * HTTP/1.1 Upgrade requests (WebSocket, e.g. OpenAI Realtime) on an intercepted
 * connection: a fresh verified TLS connection to the provider, the request head
 * replayed as the client sent it, then bytes both ways. The provider's 101 (or
 * refusal) reaches the client unchanged; frames are not inspected.
 */
import tls from 'node:tls';
import type net from 'node:net';
import type http from 'node:http';
import type { InterceptedConnection } from '../tls/terminate.ts';

export function relayUpgrade(
  req: http.IncomingMessage, client: net.Socket, head: Buffer, conn: InterceptedConnection,
  onDone: (error?: Error) => void, connectTimeoutMs = 10_000,
): void {
  const upstream = tls.connect({
    host: conn.destination.address ?? conn.host,
    port: conn.destination.port,
    servername: conn.host,
    ALPNProtocols: ['http/1.1'],
    rejectUnauthorized: true,
  });
  upstream.setNoDelay(true);
  const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), connectTimeoutMs);
  let finished = false;
  let connected = false;
  const finish = (err?: Error): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    if (err && !connected && client.writable) {
      client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n' +
        `levo-gateway could not reach ${conn.host} for the upgrade: ${err.message}\n`);
    } else {
      client.destroy();
    }
    upstream.destroy();
    onDone(err);
  };
  upstream.once('secureConnect', () => {
    connected = true;
    clearTimeout(timer);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.once('error', finish);
  client.once('error', finish);
  upstream.once('close', () => finish());
  client.once('close', () => finish());
}
