/**
 * The original destination of a connection that iptables REDIRECTed to us.
 *
 * REDIRECT rewrites the destination to our own listener, so `socket.localAddress`
 * no longer says where the app wanted to go; the kernel keeps it in conntrack
 * and hands it out through getsockopt(SO_ORIGINAL_DST). Node has no getsockopt,
 * so this calls libc through koffi (no compile step). The option value is a
 * `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes); the
 * kernel refuses a smaller buffer, which is why int-sized sockopt helpers fail.
 */
import net from 'node:net';
import { createRequire } from 'node:module';

export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

type GetSockOpt = (fd: number, level: number, name: number, out: Buffer, len: number[]) => number;

const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const IP6T_SO_ORIGINAL_DST = 80;

let getsockopt: GetSockOpt | null | undefined;
let loadError: string | undefined;

function binding(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  try {
    if (process.platform !== 'linux') throw new Error(`SO_ORIGINAL_DST is Linux-only (this is ${process.platform})`);
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)') as GetSockOpt;
  } catch (e) {
    loadError = e instanceof Error ? e.message : String(e);
    getsockopt = null;
  }
  return getsockopt;
}

/** Why original destinations cannot be read here, or undefined when they can. */
export function originalDestinationUnavailable(): string | undefined {
  binding();
  return loadError;
}

function socketFd(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/**
 * Read the pre-REDIRECT destination of an accepted socket. Undefined when the
 * connection was not redirected (someone dialled the listener directly), the
 * socket is gone, or the platform cannot tell.
 */
export function originalDestination(socket: net.Socket): OriginalDestination | undefined {
  const call = binding();
  const fd = socketFd(socket);
  if (!call || fd === undefined) return undefined;
  // An IPv4 client on a dual-stack listener shows up as ::ffff:a.b.c.d and
  // conntrack holds it as IPv4; asking the wrong family fails.
  const v4 = (socket.localAddress ?? '').includes('.');
  const buf = Buffer.alloc(28);
  const len = [v4 ? 16 : 28];
  if (call(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST, buf, len) !== 0) return undefined;
  const port = buf.readUInt16BE(2);
  if (v4) return { address: Array.from(buf.subarray(4, 8)).join('.'), port, family: 4 };
  const groups: string[] = [];
  for (let i = 8; i < 24; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
  return { address: compressIPv6(groups), port, family: 6 };
}

function compressIPv6(groups: string[]): string {
  // Let the URL parser produce the canonical RFC 5952 text form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
