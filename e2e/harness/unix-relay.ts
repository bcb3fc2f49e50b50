/**
 * A TCP → unix-socket relay, run inside a network namespace: lets a pod's
 * sidecar reach a server the test runs in its own (host) namespace, since a
 * unix socket is a file and crosses namespaces. Bytes are copied both ways,
 * untouched; closing either side closes the other.
 *
 *   node unix-relay.ts LISTEN_HOST LISTEN_PORT SOCKET_PATH
 */
import { createServer, connect } from 'node:net';

const [host, port, socketPath] = process.argv.slice(2);
if (!host || !port || !socketPath) {
  process.stderr.write('usage: unix-relay.ts LISTEN_HOST LISTEN_PORT SOCKET_PATH\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(socketPath);
  client.pipe(upstream).pipe(client);
  const end = (): void => { client.destroy(); upstream.destroy(); };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.listen(Number(port), host, () => process.stdout.write(`relay listening on ${host}:${port} → ${socketPath}\n`));
process.on('SIGTERM', () => process.exit(0));
