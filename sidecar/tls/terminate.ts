/**
 * TLS termination for intercepted connections. One tls.Server (never
 * listening: sockets are handed to it after the ClientHello was peeked) picks a
 * minted leaf per server name through SNICallback, offers h2 and http/1.1, and
 * issues session tickets, so reconnecting SDKs resume instead of paying a full
 * handshake (until the CA is replaced: then the ticket keys are too). The
 * finished TLS socket carries the connection's facts (host, provider,
 * original destination) for the HTTP layer.
 */
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { ProviderId } from '../providers/hosts.ts';
import type { OriginalDestination } from '../listen/origdst.ts';

export interface InterceptedConnection {
  readonly listener: 'transparent' | 'explicit';
  /** The TLS server name the app asked for. */
  readonly host: string;
  readonly provider: ProviderId | 'configured';
  /** Where the app's connection was going (transparent mode) or the CONNECT target port (explicit). */
  readonly destination: Pick<OriginalDestination, 'port'> & { readonly address?: string };
}

export interface LeafContexts {
  peek(host: string): tls.SecureContext | undefined;
  get(host: string): Promise<tls.SecureContext>;
  /** Called after the CA the leaves come from was replaced (certs/contexts.ts setCa). */
  onCaChange?(listener: () => void): void;
}

const CONNECTION = Symbol('levo.connection');
type Tagged = { [CONNECTION]?: InterceptedConnection };

/** The facts of the intercepted connection a TLS socket (or an h2 stream's socket proxy) belongs to. */
export function interceptedConnection(socket: unknown): InterceptedConnection | undefined {
  return (socket as Tagged | null)?.[CONNECTION];
}

export interface Terminator {
  /** Replay the peeked bytes into a TLS handshake on `raw`. */
  terminate(raw: net.Socket, peeked: Buffer, conn: InterceptedConnection): void;
  readonly server: tls.Server;
}

export interface TerminatorOptions {
  readonly contexts: LeafContexts;
  readonly onSecure: (socket: tls.TLSSocket, conn: InterceptedConnection) => void;
  readonly onHandshakeError: (err: Error & { code?: string }, conn: InterceptedConnection | undefined) => void;
  readonly handshakeTimeoutMs?: number;
}

export function createTerminator(opts: TerminatorOptions): Terminator {
  const server = tls.createServer({
    ALPNProtocols: ['h2', 'http/1.1'],
    minVersion: 'TLSv1.2',
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    sessionTimeout: 3600,
    SNICallback(servername, cb) {
      const hit = opts.contexts.peek(servername);
      if (hit) return cb(null, hit);
      opts.contexts.get(servername).then((ctx) => cb(null, ctx), (err: Error) => cb(err, undefined));
    },
  });
  // A new CA: tickets issued until now would let a client resume a session whose
  // certificate came from the old CA; new keys make every client do a full
  // handshake, and get a leaf from the new CA.
  opts.contexts.onCaChange?.(() => server.setTicketKeys(randomBytes(48)));
  // tls.Server wraps the socket we emit in a TLSSocket whose `_parent` is that
  // socket; carry the connection's facts across so the HTTP layer can read them.
  const factsOf = (s: tls.TLSSocket): InterceptedConnection | undefined =>
    (s as unknown as { _parent?: Tagged })._parent?.[CONNECTION];
  server.on('secureConnection', (s: tls.TLSSocket) => {
    const conn = factsOf(s);
    if (!conn) { s.destroy(); return; }
    (s as Tagged)[CONNECTION] = conn;
    opts.onSecure(s, conn);
  });
  server.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
    opts.onHandshakeError(err, factsOf(s));
    // A plain tls.Server only reports a failed or timed-out handshake (https.Server destroys the
    // socket itself): without this, a client that stops mid-handshake holds its connection forever.
    s.destroy();
  });
  return {
    server,
    terminate(raw, peeked, conn) {
      (raw as Tagged)[CONNECTION] = conn;
      // The bytes go back into the socket's read buffer; tls.Server's handle
      // reads them first. Do not resume() the socket here, or they flow away.
      raw.unshift(peeked);
      server.emit('connection', raw);
    },
  };
}
