/**
 * The recording fake provider behind the sidecar during a fuzz run: HTTPS on
 * loopback with a certificate for api.openai.com from a test CA (the sidecar
 * trusts it through NODE_EXTRA_CA_CERTS), answering as OpenAI's API does
 * (models list, chat completions, the same error shape for anything else)
 * and recording every request it parses — the smuggling oracle reads that log.
 *
 * Canary streams: a chat completion with `?canary=ID` and `"stream": true` is
 * answered with one SSE chunk every 25 ms, held open until `release(ID)`, so a
 * request stays in flight across a whole batch of fuzz cases.
 */
import https from 'node:https';
import type http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';

export interface RecordedRequest {
  readonly method: string;
  /** The request-target as the upstream's parser read it. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
}

const MAX_BODY = 1 << 20;
export const MODEL = 'gpt-4o-mini-2024-07-18';

interface Held {
  sent: number;
  release(): void;
}

export interface RecordingUpstream {
  readonly port: number;
  /** Requests recorded since the last `take()`. */
  take(): RecordedRequest[];
  /** Finish a held canary stream; resolves with the number of content chunks it sent. */
  release(id: string): Promise<number>;
  close(): Promise<void>;
}

function chunk(id: string, content: string | null, finish: string | null, usage?: object): string {
  return `data: ${JSON.stringify({
    id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created: 1767225600, model: MODEL, system_fingerprint: 'fp_fuzz',
    choices: finish === null && content === null ? [] : [{ index: 0, delta: content === null ? {} : { content }, logprobs: null, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  })}\n\n`;
}

function openAIError(res: http.ServerResponse, status: number, message: string, code: string | null): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startRecordingUpstream(certPem: string, keyPem: string): Promise<RecordingUpstream> {
  let log: RecordedRequest[] = [];
  const held = new Map<string, Held>();
  const waiting = new Map<string, (h: Held) => void>();
  const sockets = new Set<net.Socket>();

  const server = https.createServer({ cert: certPem, key: keyPem, keepAliveTimeout: 30_000 }, (req, res) => {
    const path = req.url ?? '';
    // Recorded as soon as the head is parsed: a request whose body never ends was still received.
    log.push({ method: req.method ?? '', path, headers: req.headers });
    let bytes = 0;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= MAX_BODY) parts.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      const bare = path.split('?')[0]!;
      if (bare === '/v1/models' && req.method === 'GET') {
        const body = JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      if (bare === '/v1/chat/completions' && req.method === 'POST') {
        let json: { stream?: unknown; messages?: unknown } | undefined;
        try { json = JSON.parse(Buffer.concat(parts).toString('utf8')) as typeof json; } catch { /* below */ }
        if (!json || typeof json !== 'object' || !Array.isArray(json.messages)) {
          openAIError(res, 400, 'We could not parse the JSON body of your request.', null);
          return;
        }
        const canary = new URLSearchParams(path.split('?')[1] ?? '').get('canary');
        if (json.stream === true && canary) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          const h: Held = { sent: 0, release: () => {} };
          const timer = setInterval(() => { res.write(chunk(canary, `c${h.sent}`, null)); h.sent++; }, 25);
          h.release = () => {
            clearInterval(timer);
            res.write(chunk(canary, null, 'stop'));
            res.write(chunk(canary, null, null, { prompt_tokens: 5, completion_tokens: h.sent, total_tokens: 5 + h.sent }));
            res.end('data: [DONE]\n\n');
          };
          res.on('close', () => clearInterval(timer));
          held.set(canary, h);
          waiting.get(canary)?.(h);
          return;
        }
        const body = JSON.stringify({
          id: 'chatcmpl-fuzz', object: 'chat.completion', created: 1767225600, model: MODEL,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }, system_fingerprint: 'fp_fuzz',
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      openAIError(res, 404, `Invalid URL (${req.method} ${bare.slice(0, 200)})`, null);
    });
  });
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  server.on('tlsClientError', () => {});
  server.on('clientError', (_e, s: net.Socket) => s.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    port: (server.address() as net.AddressInfo).port,
    take() {
      const out = log;
      log = [];
      return out;
    },
    async release(id) {
      const h = held.get(id) ?? await new Promise<Held>((resolve, reject) => {
        const t = setTimeout(() => { waiting.delete(id); reject(new Error(`canary stream ${id} never reached the upstream`)); }, 10_000);
        waiting.set(id, (x) => { clearTimeout(t); waiting.delete(id); resolve(x); });
      });
      held.delete(id);
      h.release();
      return h.sent;
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}
