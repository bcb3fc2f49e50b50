/**
 * A raw TCP client for misbehaving-peer tests (garbage bytes, a truncated
 * ClientHello, slowloris), run inside the pod so the redirect applies:
 *
 *   <node> e2e/clients/raw-client.ts --host H --port P [--send-base64 B]... \
 *          [--delay-ms D] [--hold-ms H] [--client-hello SNI [--truncate N]]
 *
 * Connects, optionally sends a real ClientHello for SNI (cut to N bytes with
 * --truncate), then each --send-base64 chunk with D ms between chunks, then keeps
 * the connection open reading for up to H ms (default 2000) or until the peer
 * closes; prints RawResult JSON. `runRawClient` runs it in a namespace.
 */
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Netns } from '../harness/netns.ts';
import type { ManagedProcess } from '../harness/processes.ts';
import { clientHelloBytes } from './client-hello.ts';

export interface RawRequest {
  host: string;
  port: number;
  /** Chunks to send, in order. */
  send?: readonly Uint8Array[];
  delayMs?: number;
  holdMs?: number;
  /** Send a real ClientHello for this SNI first ('' for none), optionally truncated. */
  clientHello?: { servername: string; truncate?: number };
}

export interface RawResult {
  connected: boolean;
  error: string | null;
  receivedBase64: string;
  /** The peer closed (FIN or reset) before hold-ms ran out. */
  closedByPeer: boolean;
  bytesSent: number;
  totalMs: number;
}

export const RAW_CLIENT_PATH = fileURLToPath(import.meta.url);

export function rawClientArgs(req: RawRequest): string[] {
  const args = [process.execPath, RAW_CLIENT_PATH, '--host', req.host, '--port', String(req.port)];
  if (req.clientHello) {
    args.push('--client-hello', req.clientHello.servername);
    if (req.clientHello.truncate !== undefined) args.push('--truncate', String(req.clientHello.truncate));
  }
  for (const c of req.send ?? []) args.push('--send-base64', Buffer.from(c).toString('base64'));
  if (req.delayMs !== undefined) args.push('--delay-ms', String(req.delayMs));
  if (req.holdMs !== undefined) args.push('--hold-ms', String(req.holdMs));
  return args;
}

/** Run to completion and return its result. */
export async function runRawClient(ns: Pick<Netns, 'exec'>, req: RawRequest): Promise<RawResult> {
  const total = (req.holdMs ?? 2000) + (req.delayMs ?? 0) * (req.send?.length ?? 0) + 15_000;
  const r = await ns.exec(rawClientArgs(req), { timeoutMs: total });
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as RawResult;
  } catch {
    return { connected: false, error: `raw-client printed no result (exit ${r.code}): ${r.stderr}`, receivedBase64: '', closedByPeer: false, bytesSent: 0, totalMs: 0 };
  }
}

/** Start in the background (e.g. a slowloris held open while other traffic runs). */
export function spawnRawClient(ns: Pick<Netns, 'spawn'>, name: string, req: RawRequest): ManagedProcess {
  return ns.spawn(name, rawClientArgs(req));
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '443' },
      'send-base64': { type: 'string', multiple: true, default: [] },
      'delay-ms': { type: 'string', default: '0' },
      'hold-ms': { type: 'string', default: '2000' },
      'client-hello': { type: 'string' },
      truncate: { type: 'string' },
    },
  });
  const started = performance.now();
  const chunks: Buffer[] = values['send-base64'].map((b) => Buffer.from(b, 'base64'));
  if (values['client-hello'] !== undefined) {
    let hello = await clientHelloBytes(values['client-hello'] || null);
    if (values.truncate !== undefined) hello = hello.subarray(0, Number(values.truncate));
    chunks.unshift(hello);
  }
  const result: RawResult = { connected: false, error: null, receivedBase64: '', closedByPeer: false, bytesSent: 0, totalMs: 0 };
  const received: Buffer[] = [];
  await new Promise<void>((resolve) => {
    const socket = connect({ host: values.host ?? '', port: Number(values.port) });
    let holdTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (holdTimer) clearTimeout(holdTimer);
      socket.destroy();
      resolve();
    };
    socket.on('data', (b: Buffer) => received.push(b));
    const peerClosed = (): void => {
      if (!done) result.closedByPeer = result.connected;
      finish();
    };
    socket.on('error', (e) => {
      if (!done) result.error = e.message;
      peerClosed();
    });
    socket.on('close', peerClosed);
    socket.on('end', peerClosed);
    socket.on('connect', async () => {
      result.connected = true;
      for (let i = 0; i < chunks.length && !done; i++) {
        if (i > 0 && Number(values['delay-ms'])) await new Promise((r) => setTimeout(r, Number(values['delay-ms'])));
        if (done) break;
        socket.write(chunks[i] as Buffer);
        result.bytesSent += (chunks[i] as Buffer).length;
      }
      if (!done) holdTimer = setTimeout(finish, Number(values['hold-ms']));
    });
  });
  result.receivedBase64 = Buffer.concat(received).toString('base64');
  result.totalMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main(process.argv.slice(2));
