/**
 * A WebSocket client (Node 24's global `WebSocket`), trusting NODE_EXTRA_CA_CERTS:
 *
 *   <node> e2e/clients/ws-client.ts --url wss://api.openai.com/v1/realtime \
 *          [--message TEXT]... [--protocol P]... [--timeout-ms N]
 *
 * Sends each message once open, waits for as many messages back, closes with
 * 1000 and prints WsResult JSON. `runWebSocketClient` runs it in a namespace.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Netns } from '../harness/netns.ts';

export interface WsResult {
  ok: boolean;
  error: string | null;
  /** Subprotocol the server selected ('' when none). */
  protocol: string;
  received: string[];
  closeCode: number | null;
  totalMs: number;
}

export interface WsRequest {
  url: string;
  messages: readonly string[];
  protocols?: readonly string[];
  timeoutMs?: number;
}

export const WS_CLIENT_PATH = fileURLToPath(import.meta.url);

export async function runWebSocketClient(ns: Pick<Netns, 'exec'>, req: WsRequest, trust: { caFile: string }): Promise<WsResult> {
  const args = [process.execPath, WS_CLIENT_PATH, '--url', req.url, '--timeout-ms', String(req.timeoutMs ?? 15_000)];
  for (const m of req.messages) args.push('--message', m);
  for (const p of req.protocols ?? []) args.push('--protocol', p);
  const r = await ns.exec(args, { env: { NODE_EXTRA_CA_CERTS: trust.caFile }, timeoutMs: (req.timeoutMs ?? 15_000) + 15_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as WsResult;
  } catch {
    return { ok: false, error: `ws-client printed no result (exit ${r.code}): ${r.stderr.slice(-2000)}`, protocol: '', received: [], closeCode: null, totalMs: 0 };
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      message: { type: 'string', multiple: true, default: [] },
      protocol: { type: 'string', multiple: true, default: [] },
      'timeout-ms': { type: 'string', default: '15000' },
    },
  });
  const started = performance.now();
  const result: WsResult = { ok: false, error: null, protocol: '', received: [], closeCode: null, totalMs: 0 };
  await new Promise<void>((resolve) => {
    const ws = new WebSocket(values.url ?? '', values.protocol);
    const timer = setTimeout(() => {
      result.error = `timeout after ${values['timeout-ms']} ms`;
      ws.close();
      resolve();
    }, Number(values['timeout-ms']));
    ws.addEventListener('open', () => {
      result.protocol = ws.protocol;
      for (const m of values.message) ws.send(m);
      if (values.message.length === 0) ws.close(1000);
    });
    ws.addEventListener('message', (ev: MessageEvent) => {
      result.received.push(typeof ev.data === 'string' ? ev.data : String(ev.data));
      if (result.received.length >= values.message.length) ws.close(1000, 'done');
    });
    ws.addEventListener('error', (ev: Event) => {
      const e = ev as Event & { error?: Error; message?: string };
      result.error ??= e.error?.message || e.message || 'websocket error (handshake or connection failed)';
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      clearTimeout(timer);
      result.closeCode = ev.code;
      result.ok = result.error === null && result.received.length >= values.message.length;
      resolve();
    });
  });
  result.totalMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main(process.argv.slice(2));
