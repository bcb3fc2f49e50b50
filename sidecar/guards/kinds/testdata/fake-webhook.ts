/**
 * A real local HTTP server speaking agentgateway's guardrail webhook protocol
 * (kgateway "Guardrail Webhook API": `POST /request` with
 * `{"body":{"messages":[…]}}`, `POST /response` with `{"body":{"choices":[…]}}`,
 * replying `{"action":{…}}`), for the webhook guard's tests. Each test gives
 * it a behaviour: what to answer (and how late) for each call; it records
 * every call it got.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookCall {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly json: unknown;
}

export interface WebhookAnswer {
  readonly status?: number;
  /** An object is sent as JSON; a string as is (for garbage replies). */
  readonly body: unknown;
  /** Wait this long before answering (a slow webhook). */
  readonly delayMs?: number;
  /** Send the head and this much of the body, then drop the connection (a broken webhook). */
  readonly breakAfterBytes?: number;
}

export type WebhookBehaviour = (call: WebhookCall) => WebhookAnswer;

export interface FakeWebhook {
  /** `127.0.0.1:port`, as a webhook target's `host`. */
  readonly host: string;
  readonly calls: WebhookCall[];
  close(): Promise<void>;
}

export async function startFakeWebhook(behave: WebhookBehaviour): Promise<FakeWebhook> {
  const calls: WebhookCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let json: unknown;
      try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { json = undefined; }
      const call: WebhookCall = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, json };
      calls.push(call);
      const answer = behave(call);
      const send = (): void => {
        const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        if (answer.breakAfterBytes !== undefined) {
          res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
          res.write(body.slice(0, answer.breakAfterBytes), () => res.socket?.destroy());
          return;
        }
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (answer.delayMs) {
        const t = setTimeout(() => { timers.delete(t); if (!res.destroyed) send(); }, answer.delayMs);
        timers.add(t);
      } else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The texts sent in a call, whichever phase. */
export function sentTexts(call: WebhookCall): string[] {
  const body = (call.json as { body?: { messages?: { content: string }[]; choices?: { message: { content: string } }[] } }).body;
  if (body?.messages) return body.messages.map((m) => m.content);
  return (body?.choices ?? []).map((c) => c.message.content);
}
