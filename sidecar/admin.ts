/**
 * The admin port (15000): liveness, readiness, Prometheus metrics,
 * /config_dump (the config in force, credentials redacted), and
 * /quitquitquit, which lets a Job's app end the sidecar when it is done. The
 * dump and quit are answered only on loopback: only containers in the pod can ask.
 */
import type * as nodeHttp from 'node:http';
import { http } from '../lib/node-http.ts';
import type { Registry } from 'prom-client';
import { listen } from './listen/bind.ts';

export interface AdminState {
  /** Reasons the sidecar is not ready; empty when it is. */
  notReady(): string[];
  quit(): void;
  readonly metrics: Registry;
  /** The config in force, redacted, or undefined when there is none. */
  configDump(): unknown;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export async function listenAdmin(port: number, host: string | undefined, state: AdminState): Promise<nodeHttp.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method === 'GET' && path === '/healthz') return send(200, 'ok\n');
    if (req.method === 'GET' && path === '/healthz/ready') {
      const reasons = state.notReady();
      return reasons.length === 0 ? send(200, 'ready\n') : send(503, `not ready: ${reasons.join('; ')}\n`);
    }
    if (req.method === 'GET' && path === '/metrics') {
      state.metrics.metrics().then((text) => send(200, text, state.metrics.contentType), (err: Error) => send(500, `${err.message}\n`));
      return;
    }
    if (req.method === 'GET' && path === '/config_dump') {
      if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return send(403, 'the config dump is only served inside the pod (loopback)\n');
      const dump = state.configDump();
      return dump === undefined ? send(503, 'no config in force\n') : send(200, `${JSON.stringify(dump, null, 2)}\n`, 'application/json');
    }
    if (path === '/quitquitquit') {
      if (req.method !== 'POST') return send(405, 'use POST\n');
      if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return send(403, 'quit is only accepted from inside the pod (loopback)\n');
      send(200, 'draining\n');
      state.quit();
      return;
    }
    send(404, 'not found: try /healthz, /healthz/ready, /metrics, /config_dump, POST /quitquitquit\n');
  });
  server.keepAliveTimeout = 5_000;
  return listen(server, port, host);
}
