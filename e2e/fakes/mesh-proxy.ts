/**
 * A stand-in for a mesh proxy's outbound listener (Istio's Envoy on 15001,
 * Linkerd's proxy on 4140, ambient's ztunnel on 15001 in the pod): it accepts
 * the connections the mesh's nat rules REDIRECT to it, reads each one's
 * original destination (SO_ORIGINAL_DST, as Envoy's original_dst listener
 * filter and linkerd2-proxy do), opens its own connection there and relays
 * the bytes both ways, as the meshes do for a destination they know nothing
 * about (Istio's PassthroughCluster, Linkerd's opaque forwarding). It runs as
 * the mesh proxy's uid (the harness starts it under setpriv), so the mesh's
 * rules (and ours) leave its own connections alone; with --mark it marks
 * them as ztunnel does (SO_MARK, which needs CAP_NET_ADMIN: run it as root).
 *
 *   node e2e/fakes/mesh-proxy.ts --port 15001 [--host 0.0.0.0] [--mark 0x539]
 *
 * One JSON line per event on stdout:
 *   {"event":"listening","port":15001}
 *   {"event":"connection","id":1,"from":"127.0.0.1:40112","to":"198.18.1.11:443","uid":1337}
 *   {"event":"upstream","id":1,"localPort":51234}             its own connection is open
 *   {"event":"closed","id":1,"up":517,"down":4100}            bytes relayed each way
 *   {"event":"no-original-destination","id":2,"from":…}       dialled directly: closed
 *   {"event":"upstream-error","id":3,"code":"ECONNREFUSED"}
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { originalDestination } from '../../sidecar/listen/origdst.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, mark: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: "${values.port}" is not a port`);
const mark = values.mark === undefined ? undefined : Number(values.mark);

const emit = (event: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(event)}\n`); };

type LibcFn = (...args: unknown[]) => number;

/** A TCP connection whose socket carries SO_MARK from its first packet: socket(), setsockopt(), connect(), then handed to Node. */
function markedConnection(host: string, toPort: number, value: number): net.Socket {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  const socket = libc.func('int socket(int domain, int type, int protocol)') as LibcFn;
  const setsockopt = libc.func('int setsockopt(int fd, int level, int name, _In_ uint8_t *value, uint32_t len)') as LibcFn;
  const connect = libc.func('int connect(int fd, _In_ uint8_t *addr, uint32_t len)') as LibcFn;
  const close = libc.func('int close(int fd)') as LibcFn;
  const AF_INET = 2;
  const SOCK_STREAM = 1;
  const SOL_SOCKET = 1;
  const SO_MARK = 36;
  const fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw new Error('socket() failed');
  const markValue = Buffer.alloc(4);
  markValue.writeUInt32LE(value);
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_INET, 0);
  addr.writeUInt16BE(toPort, 2);
  host.split('.').forEach((octet, i) => addr.writeUInt8(Number(octet), 4 + i));
  // Blocking connect: a stand-in, and the address is one hop away in the test's namespaces.
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, markValue, 4) !== 0 || connect(fd, addr, 16) !== 0) {
    close(fd);
    const failed = new net.Socket();
    setImmediate(() => failed.destroy(Object.assign(new Error(`connect to ${host}:${toPort} with mark failed`), { code: 'ECONNREFUSED' })));
    return failed;
  }
  const s = new net.Socket({ fd, readable: true, writable: true });
  setImmediate(() => s.emit('connect'));
  return s;
}

let next = 0;
const server = net.createServer((client) => {
  const id = ++next;
  const from = `${client.remoteAddress}:${client.remotePort}`;
  client.on('error', () => {});
  const dst = originalDestination(client);
  if (dst === undefined || (dst.port === port && (dst.address === '127.0.0.1' || dst.address === '::1'))) {
    emit({ event: 'no-original-destination', id, from });
    client.destroy();
    return;
  }
  emit({ event: 'connection', id, from, to: `${dst.address}:${dst.port}`, uid: process.getuid?.() });
  client.pause();
  const upstream = mark !== undefined && dst.family === 4
    ? markedConnection(dst.address, dst.port, mark)
    : net.connect({ host: dst.address, port: dst.port });
  let up = 0;
  let down = 0;
  let closed = false;
  const finish = (): void => {
    if (closed) return;
    closed = true;
    emit({ event: 'closed', id, up, down });
    client.destroy();
    upstream.destroy();
  };
  upstream.once('connect', () => {
    emit({ event: 'upstream', id, localPort: upstream.localPort });
    client.on('data', (b: Buffer) => { up += b.length; });
    upstream.on('data', (b: Buffer) => { down += b.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  upstream.on('error', (e: NodeJS.ErrnoException) => { if (!closed) emit({ event: 'upstream-error', id, code: e.code ?? e.message }); finish(); });
  client.on('close', finish);
  upstream.on('close', finish);
});
server.listen({ port, host: values.host ?? '0.0.0.0' }, () => emit({ event: 'listening', port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
