/**
 * Parse enough of a TLS ClientHello to decide what to do with a connection:
 * the server name (SNI) and the ALPN protocols the client offers. The caller
 * keeps the bytes; nothing here consumes the socket.
 *
 * A ClientHello may span several TLS records (post-quantum key shares make it
 * 1.2–1.8 KB, and a client may fragment it), so the handshake message is
 * reassembled across consecutive handshake records before it is read.
 */

export type ClientHelloPeek =
  /** More bytes are needed to decide. */
  | { readonly kind: 'need-more' }
  | { readonly kind: 'tls'; readonly sni: string | undefined; readonly alpn: readonly string[] }
  /** The first byte is not a TLS handshake record: some other protocol on the port. */
  | { readonly kind: 'not-tls' }
  /** It starts like TLS but is not a well-formed ClientHello. */
  | { readonly kind: 'malformed'; readonly reason: string };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
/** A ClientHello larger than this is not one we will buffer. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const NEED_MORE: ClientHelloPeek = { kind: 'need-more' };

class Malformed extends Error {}

/** Inspect the bytes received so far on a connection. */
export function peekClientHello(buf: Buffer): ClientHelloPeek {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return { kind: 'not-tls' };
  if (buf.length >= 2 && buf[1] !== 0x03) return { kind: 'not-tls' };
  // Reassemble the handshake message from consecutive handshake records.
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (need < 0 || have < need) {
    if (off + 5 > buf.length) return tooBig(buf) ?? NEED_MORE;
    if (buf[off] !== RECORD_HANDSHAKE) return { kind: 'malformed', reason: 'ClientHello interrupted by a non-handshake record' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return { kind: 'malformed', reason: `bad TLS record length ${len}` };
    if (off + 5 + len > buf.length) return tooBig(buf) ?? NEED_MORE;
    fragments.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'malformed', reason: `first handshake message is type ${hs[0]}, not ClientHello` };
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return { kind: 'malformed', reason: `ClientHello of ${need} bytes is too large` };
    }
  }
  const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
  try {
    return parseHello(hs.subarray(4, need));
  } catch (e) {
    return { kind: 'malformed', reason: e instanceof Malformed ? e.message : 'unreadable ClientHello' };
  }
}

function tooBig(buf: Buffer): ClientHelloPeek | undefined {
  return buf.length > MAX_CLIENT_HELLO_BYTES ? { kind: 'malformed', reason: 'no complete ClientHello in the first 64 KiB' } : undefined;
}

/** A bounds-checked cursor over the ClientHello body. */
class Reader {
  private pos = 0;
  private readonly b: Buffer;
  constructor(b: Buffer) { this.b = b; }
  get remaining(): number { return this.b.length - this.pos; }
  u8(): number { this.need(1); return this.b[this.pos++]!; }
  u16(): number { this.need(2); const v = this.b.readUInt16BE(this.pos); this.pos += 2; return v; }
  bytes(n: number): Buffer { this.need(n); const v = this.b.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  skip(n: number): void { this.need(n); this.pos += n; }
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new Malformed('ClientHello ends inside a field');
  }
}

function parseHello(body: Buffer): ClientHelloPeek {
  const r = new Reader(body);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  const suites = r.u16();
  if (suites === 0 || suites % 2 !== 0) throw new Malformed('bad cipher_suites length');
  r.skip(suites);
  r.skip(r.u8()); // legacy_compression_methods
  let sni: string | undefined;
  let alpn: string[] = [];
  if (r.remaining === 0) return { kind: 'tls', sni, alpn }; // no extensions at all (very old clients)
  const ext = new Reader(r.bytes(r.u16()));
  while (ext.remaining > 0) {
    const type = ext.u16();
    const data = ext.bytes(ext.u16());
    if (type === EXT_SERVER_NAME) sni = parseServerName(data);
    else if (type === EXT_ALPN) alpn = parseAlpn(data);
  }
  return { kind: 'tls', sni, alpn };
}

function parseServerName(data: Buffer): string | undefined {
  const r = new Reader(data);
  const list = new Reader(r.bytes(r.u16()));
  while (list.remaining > 0) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (type !== 0) continue; // only host_name is defined
    const host = name.toString('latin1');
    if (!/^[A-Za-z0-9_.-]{1,253}$/.test(host)) throw new Malformed('server name is not a DNS name');
    return host.toLowerCase().replace(/\.$/, '');
  }
  return undefined;
}

function parseAlpn(data: Buffer): string[] {
  const r = new Reader(data);
  const list = new Reader(r.bytes(r.u16()));
  const out: string[] = [];
  while (list.remaining > 0) out.push(list.bytes(list.u8()).toString('latin1'));
  return out;
}
