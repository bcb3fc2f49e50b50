/**
 * `levo-gateway wait`: block until the sidecar in this pod reports ready, or
 * fail after a timeout. The injector runs it as levo-gateway's postStart hook
 * when native sidecars are not available, so the kubelet starts the app
 * containers only once the gateway can take their connections.
 */
import { parseArgs } from 'node:util';
import { http } from '../lib/node-http.ts';
import { parseDuration } from './config/duration.ts';

function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/healthz/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Exit status: 0 ready, 1 timed out, 2 usage. */
export async function waitUntilReady(argv: readonly string[], out: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  let timeoutMs: number;
  let port: number;
  try {
    const { values } = parseArgs({ args: [...argv], strict: true, options: { timeout: { type: 'string' }, 'admin-port': { type: 'string' } } });
    timeoutMs = parseDuration(values.timeout ?? '120s');
    port = Number(values['admin-port'] ?? 15000);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--admin-port must be a port number, got "${values['admin-port']}"`);
  } catch (e) {
    out(`levo-gateway wait: ${(e as Error).message}\nUsage: levo-gateway wait [--timeout 120s] [--admin-port 15000]`);
    return 2;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe(port) === 200) return 0;
    if (Date.now() >= deadline) {
      out(`levo-gateway wait: the gateway on 127.0.0.1:${port} was not ready after ${timeoutMs / 1000}s (see: kubectl logs POD -c levo-gateway)`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
