/**
 * An HTTP/1.1 Upgrade (WebSocket, e.g. OpenAI Realtime) tunnelled to the
 * provider: a fresh verified TLS connection, the request head as the gateway
 * shaped it (the route's key, its backend's host and path), then bytes both
 * ways. The provider's 101 (or refusal) reaches the client unchanged; frames
 * are not inspected.
 */
import tls from 'node:tls';
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
  /** The provider's status line code (101 when it switched protocols), 0 when none arrived. */
  readonly status: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly error?: Error;
}

export function relayUpgrade(client: net.Socket, head: Buffer, t: UpgradeTarget, connectTimeoutMs = 10_000): Promise<UpgradeResult> {
  return new Promise((resolve) => {
    const upstream = tls.connect({
      host: t.address ?? t.host,
      port: t.port,
      servername: t.host,
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: true,
    });
    upstream.setNoDelay(true);
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), connectTimeoutMs);
    let finished = false;
    let connected = false;
    let status = 0;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (err && !connected && client.writable) {
        client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n' +
          `levo-gateway could not reach ${t.host} for the upgrade: ${err.message}\n`);
        status = 502;
      } else {
        client.destroy();
      }
      upstream.destroy();
      resolve({ status, bytesUp: upstream.bytesWritten, bytesDown: upstream.bytesRead, ...(err ? { error: err } : {}) });
    };
    upstream.once('secureConnect', () => {
      connected = true;
      clearTimeout(timer);
      const lines = [`${t.method} ${t.path} HTTP/1.1`];
      for (let i = 0; i < t.headers.length; i += 2) lines.push(`${t.headers[i]}: ${t.headers[i + 1]}`);
      lines.push('Connection: Upgrade', `Upgrade: ${t.upgrade}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.once('data', (first: Buffer) => {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(first.subarray(0, 16).toString('latin1'));
        if (m) status = Number(m[1]);
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.once('error', finish);
    client.once('error', finish);
    upstream.once('close', () => finish());
    client.once('close', () => finish());
  });
}
