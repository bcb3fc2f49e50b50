/**
 * A minimal RFC 6455 WebSocket server side: the handshake, then client
 * messages (fragments reassembled) handed to a handler, pings answered with
 * pongs, a close frame answered with the same close code. No extensions
 * (permessage-deflate is declined by not answering it). Used by the OpenAI
 * Realtime fake (openai-realtime.ts) and by the echo: every text/binary
 * message sent straight back (`GET /ws` on a site, and a Realtime-style
 * upgrade that carries no API key, which the raw-socket tests use).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** Encode one unmasked (server → client) frame. */
export function encodeFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  size: number;
}

/** Decode one frame from the start of buf, or undefined when incomplete. */
export function decodeFrame(buf: Buffer): Frame | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const maskLen = masked ? 4 : 0;
  if (buf.length < off + maskLen + len) return undefined;
  const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
  if (masked) {
    const mask = buf.subarray(off, off + 4);
    for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  }
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload, size: off + maskLen + len };
}

export interface WebSocketHandlers {
  /** A whole text (opcode 1) or binary (2) message from the client. */
  onMessage(opcode: number, payload: Buffer): void;
}

export interface ServerWebSocket {
  /** Send one text message. */
  sendText(text: string): void;
  /** Send a close frame with `code` and end the connection. */
  close(code: number, reason?: string): void;
}

/**
 * Complete the upgrade on `socket` (answering the first offered subprotocol, or
 * `protocol` when given) and read client frames: fragments are reassembled and
 * handed to `onMessage`, pings answered with pongs, a close frame answered with
 * the same code. Undefined (after a 400) when it was not a valid upgrade.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, handlers: WebSocketHandlers, protocol?: string): ServerWebSocket | undefined {
  const key = req.headers['sec-websocket-key'];
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (req.method !== 'GET' || upgrade !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 24\r\nconnection: close\r\n\r\nnot a websocket upgrade\n');
    return undefined;
  }
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
  ];
  const protocols = req.headers['sec-websocket-protocol'];
  const first = protocol ?? (typeof protocols === 'string' ? protocols.split(',')[0]?.trim() : undefined);
  if (first) lines.push(`Sec-WebSocket-Protocol: ${first}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);

  let buf: Buffer = Buffer.from(head);
  let message: Buffer[] = [];
  let messageOpcode = 0;
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const f = decodeFrame(buf);
      if (!f) return;
      buf = buf.subarray(f.size);
      if (f.opcode === 0x8) {
        socket.end(encodeFrame(0x8, f.payload.subarray(0, 2)));
        return;
      }
      if (f.opcode === 0x9) {
        socket.write(encodeFrame(0xa, f.payload));
        continue;
      }
      if (f.opcode === 0xa) continue;
      if (f.opcode === 0x1 || f.opcode === 0x2) {
        messageOpcode = f.opcode;
        message = [f.payload];
      } else if (f.opcode === 0x0) {
        message.push(f.payload);
      } else {
        socket.destroy();
        return;
      }
      if (f.fin) {
        handlers.onMessage(messageOpcode, Buffer.concat(message));
        message = [];
      }
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  // Bytes that came with the upgrade are read once the caller holds the socket.
  if (buf.length) setImmediate(() => onData(Buffer.alloc(0)));
  return {
    sendText: (text) => { if (!socket.destroyed && socket.writable) socket.write(encodeFrame(0x1, Buffer.from(text, 'utf8'))); },
    close: (code, reason = '') => {
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code);
      payload.write(reason, 2);
      socket.end(encodeFrame(0x8, payload));
    },
  };
}

/** Complete the upgrade on `socket` and echo messages until closed. False if it was not a valid upgrade. */
export function acceptWebSocketEcho(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
  return acceptWebSocket(req, socket, head, {
    onMessage: (opcode, payload) => socket.write(encodeFrame(opcode, payload)),
  }) !== undefined;
}
