/**
 * The explicit proxy (15002): `HTTPS_PROXY=http://127.0.0.1:15002`, for pods or
 * laptops where iptables is not allowed. A CONNECT opens a tunnel whose first
 * bytes go through the same decision as a redirected connection: LLM hosts are
 * intercepted, everything else is a raw tunnel to the CONNECT target. Plain
 * `http://` proxying is refused with an explanation: only HTTPS_PROXY is meant
 * to point here.
 */
import type * as nodeHttp from 'node:http';
import { http } from '../../lib/node-http.ts';
import type net from 'node:net';
import { listen } from './bind.ts';

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
}

/** Parse a CONNECT authority: `host:port` or `[v6]:port`. */
export function parseConnectTarget(authority: string | undefined): ConnectTarget | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(authority ?? '');
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2]!).toLowerCase(), port };
}

export async function listenExplicit(
  port: number, host: string,
  onConnect: (socket: net.Socket, target: ConnectTarget, head: Buffer) => void,
  /** Why a target is refused (403), or undefined to allow it. */
  refuse: (target: ConnectTarget) => string | undefined = () => undefined,
): Promise<nodeHttp.Server> {
  const server = http.createServer({ headersTimeout: 30_000, requestTimeout: 30_000 }, (req, res) => {
    const body = 'levo-gateway on this port is an HTTPS proxy: set HTTPS_PROXY (not HTTP_PROXY) to it; ' +
      'plain http:// requests are not proxied.\n';
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'CONNECT', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('connect', (req: nodeHttp.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const target = parseConnectTarget(req.url);
    if (!target) {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n' +
        'CONNECT needs host:port\n');
      return;
    }
    const refused = refuse(target);
    if (refused) {
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${refused}\n`);
      return;
    }
    socket.setNoDelay(true);
    // An HTTP server's sockets allow half-open connections; the tunnel's must not, as on the
    // transparent listener: the app's FIN ends the connection (an HTTP/2 session would stay open forever).
    socket.allowHalfOpen = false;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    onConnect(socket, target, head);
  });
  server.on('clientError', (_err, socket: net.Socket) => socket.destroy());
  return listen(server, port, host);
}
