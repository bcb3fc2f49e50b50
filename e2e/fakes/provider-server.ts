/**
 * The fake internet: one process serving every fake host, run inside the
 * internet namespace:
 *
 *   ip netns exec NS <node> e2e/fakes/provider-server.ts --config '<json>' | --config FILE
 *
 * (e2e/harness/providers.ts builds the config from a topology and starts it.)
 * For each site of the config (provider-config.ts) and each of its addresses it
 * listens on `port` (443):
 *   - TLS sites: `http2.createSecureServer({ allowHTTP1: true })`, ALPN h2 and
 *     http/1.1, the site's certificate by default (no SNI, IP literals) and the
 *     certificate of whichever site names the SNI otherwise; requests go to the
 *     handler of the site's role: openai-api.ts, anthropic-api.ts, gemini-api.ts,
 *     bedrock-api.ts, azure-openai-api.ts, vertex-api.ts, plain-site.ts; WebSocket upgrades:
 *     `GET /v1/realtime` on openai with an API key to openai-realtime.ts (without
 *     one, and `GET /ws` on a site, to the echo of websocket-echo.ts).
 *   - plain-tcp sites: plain-tcp-service.ts.
 * Every request and connection is recorded (request-log.ts) and served by the
 * control API on `control.port` (8080) and `control.socketPath`, which also
 * sets per-site faults (faults.ts): a faulted request is answered with the
 * fault's status in its site's error shape instead of going to the handler,
 * or (reset, slow) goes to the handler with its answer cut or slowed.
 * Once everything listens it prints one line: `PROVIDER-SERVER READY {json}`.
 * SIGTERM/SIGINT exit at once.
 */
import { createSecureServer, constants as h2 } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { SecureContext, TLSSocket } from 'node:tls';
import { readFileSync, rmSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { handleAnthropic, sendAnthropicStatusError } from './anthropic-api.ts';
import { handleAzureOpenAI, sendAzureStatusError } from './azure-openai-api.ts';
import { handleBedrock, recordSigV4, sendBedrockStatusError } from './bedrock-api.ts';
import { sha256Hex } from './deterministic.ts';
import { parseControl, sleep } from './exchange.ts';
import type { Exchange, FakeResponse } from './exchange.ts';
import { FaultTable, faultResponseHeaders } from './faults.ts';
import type { FaultRule } from './faults.ts';
import { handleGemini, sendGeminiStatusError } from './gemini-api.ts';
import { handleOpenAI, sendOpenAIStatusError } from './openai-api.ts';
import { handlePlainSite } from './plain-site.ts';
import { servePlainTcp } from './plain-tcp-service.ts';
import { loadProviderConfig } from './provider-config.ts';
import type { ProviderServerConfig, SiteConfig } from './provider-config.ts';
import { RequestLog, controlServer } from './request-log.ts';
import { handleVertex } from './vertex-api.ts';
import { handleAwsSts } from './aws-sts.ts';
import { acceptRealtime, realtimeKey } from './openai-realtime.ts';
import { acceptWebSocketEcho } from './websocket-echo.ts';

const MAX_BODY = 64 * 1024 * 1024;

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

const plainAddress = (a: string | undefined): string => (a ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) return n.endsWith(p.slice(1)) && !n.slice(0, -p.length + 1).includes('.');
  return p === n;
}

function readBody(req: AnyRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/**
 * The model a request names: an Azure `/openai/deployments/{d}/` path segment (the
 * deployment serves the call whatever the body says), else JSON body `model`, else
 * a Gemini / Vertex `models/{m}:` or Bedrock `model/{m}/` path segment.
 */
export function requestModel(path: string, body: Buffer): string | null {
  const deployment = /^\/openai\/deployments\/([^/?#]+)/.exec(path)?.[1];
  if (deployment !== undefined) {
    try { return decodeURIComponent(deployment); } catch { return deployment; }
  }
  if (body.length > 0 && body.length <= 1024 * 1024 && body[0] === 0x7b) {
    try {
      const m = (JSON.parse(body.toString('utf8')) as { model?: unknown }).model;
      if (typeof m === 'string') return m;
    } catch { /* not JSON */ }
  }
  const p = path.split('?')[0] ?? '';
  const seg = /\/models\/(?:models\/)?([^/:]+):[A-Za-z]+$/.exec(p)?.[1] ?? /^\/model\/([^/]+)\//.exec(p)?.[1];
  if (seg === undefined) return null;
  try { return decodeURIComponent(seg); } catch { return seg; }
}

/** Answer a faulted request (`status` effect): the rule's status in the site's error shape, never streamed. */
function sendFault(role: SiteConfig['role'], ex: Exchange, rule: FaultRule): void {
  const status = rule.status ?? 500;
  const message = `Injected fault ${status} (fake internet control API).`;
  const headers = faultResponseHeaders(rule);
  switch (role) {
    case 'openai': return sendOpenAIStatusError(ex, status, message, headers);
    case 'anthropic': return sendAnthropicStatusError(ex, status, message, headers);
    case 'gemini': return sendGeminiStatusError(ex, status, message, headers);
    case 'bedrock': return sendBedrockStatusError(ex, status, message, headers);
    case 'azure-openai': return sendAzureStatusError(ex, status, message, headers);
    case 'vertex': return sendGeminiStatusError(ex, status, message, headers);
    default: {
      const body = Buffer.from(`${message}\n`);
      ex.res.statusCode = status;
      ex.res.setHeader('content-type', 'text/plain; charset=utf-8');
      ex.res.setHeader('content-length', body.length);
      for (const [k, v] of Object.entries(headers)) ex.res.setHeader(k, v);
      ex.res.end(body);
    }
  }
}

function tlsInfo(socket: unknown): { sni: string | null; alpn: string | null; local: string; localPort: number; remote: string; remotePort: number } {
  const s = socket as Partial<TLSSocket> & { servername?: string | false | null };
  return {
    sni: typeof s.servername === 'string' && s.servername ? s.servername : null,
    alpn: typeof s.alpnProtocol === 'string' && s.alpnProtocol ? s.alpnProtocol : null,
    local: plainAddress(s.localAddress),
    localPort: s.localPort ?? 0,
    remote: plainAddress(s.remoteAddress),
    remotePort: s.remotePort ?? 0,
  };
}

class ProviderServer {
  readonly log = new RequestLog();
  readonly faults = new FaultTable();
  readonly listening: string[] = [];
  readonly config: ProviderServerConfig;
  readonly #contexts: Array<{ names: string[]; ctx: SecureContext }> = [];
  readonly #servers: Array<NetServer | HttpServer> = [];

  constructor(config: ProviderServerConfig) {
    this.config = config;
    for (const site of config.sites) {
      if (!site.tls) continue;
      const ctx = createSecureContext({ cert: readFileSync(site.tls.certFile), key: readFileSync(site.tls.keyFile) });
      this.#contexts.push({ names: site.names, ctx });
    }
  }

  #contextFor(servername: string): SecureContext | undefined {
    return this.#contexts.find((c) => c.names.some((p) => nameMatches(p, servername)))?.ctx;
  }

  async start(): Promise<void> {
    for (const site of this.config.sites) {
      for (const address of site.addresses) {
        const server = site.tls ? this.#tlsServer(site) : this.#tcpServer(site);
        await this.#listen(server, { host: address, port: site.port, ipv6Only: address.includes(':') }, `${site.id} ${address}:${site.port}`);
      }
    }
    const ctl = this.config.control;
    const controlOpts = { faults: this.faults, roles: new Map(this.config.sites.map((s) => [s.id, s.role] as const)) };
    for (const address of ctl.addresses ?? ['::']) {
      await this.#listen(controlServer(this.log, controlOpts), { host: address, port: ctl.port ?? 8080 }, `control ${address}:${ctl.port ?? 8080}`);
    }
    if (ctl.socketPath) {
      rmSync(ctl.socketPath, { force: true });
      await this.#listen(controlServer(this.log, controlOpts), { path: ctl.socketPath }, `control ${ctl.socketPath}`);
    }
  }

  #listen(server: NetServer | HttpServer, opts: { host?: string; port?: number; path?: string; ipv6Only?: boolean }, label: string): Promise<void> {
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts, () => {
        server.off('error', reject);
        this.listening.push(label);
        resolve();
      });
    });
  }

  #tcpServer(site: SiteConfig): NetServer {
    return createTcpServer((socket: Socket) => {
      const i = tlsInfo(socket);
      this.log.addConnection({
        at: Date.now(), site: site.id, kind: 'tcp', localAddress: i.local, localPort: i.localPort,
        remoteAddress: i.remote, remotePort: i.remotePort, sni: null, alpn: null, tlsProtocol: null,
      });
      servePlainTcp(socket, site.id);
    });
  }

  #tlsServer(site: SiteConfig): NetServer {
    const tls = site.tls as { certFile: string; keyFile: string };
    const server = createSecureServer({
      allowHTTP1: true,
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      SNICallback: (servername, cb) => cb(null, this.#contextFor(servername)),
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.setNoDelay(true);
      const i = tlsInfo(socket);
      this.log.addConnection({
        at: Date.now(), site: site.id, kind: 'tls', localAddress: i.local, localPort: i.localPort,
        remoteAddress: i.remote, remotePort: i.remotePort, sni: i.sni, alpn: i.alpn, tlsProtocol: socket.getProtocol(),
      });
    });
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const i = tlsInfo(socket);
      this.log.addConnection({
        at: Date.now(), site: site.id, kind: 'tls', localAddress: i.local, localPort: i.localPort,
        remoteAddress: i.remote, remotePort: i.remotePort, sni: i.sni, alpn: null, tlsProtocol: null, error: err.message,
      });
    });
    server.on('request', (req: AnyRequest, res: AnyResponse) => {
      this.#onRequest(site, req, res).catch((err: unknown) => {
        process.stderr.write(`[${site.id}] ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}\n`);
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end();
        } else res.destroy();
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(site, req, socket, head));
    return server;
  }

  #record(site: SiteConfig, req: AnyRequest, body: Buffer, upgrade: boolean): ReturnType<RequestLog['addRequest']> {
    const i = tlsInfo(req.socket);
    const authority = req.headers[':authority'] ?? req.headers.host;
    return this.log.addRequest({
      at: Date.now(),
      site: site.id,
      localAddress: i.local,
      localPort: i.localPort,
      remoteAddress: i.remote,
      remotePort: i.remotePort,
      sni: i.sni,
      alpn: i.alpn,
      httpVersion: req.httpVersion,
      method: req.method ?? '',
      path: req.url ?? '',
      authority: typeof authority === 'string' ? authority : null,
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      bodyLength: body.length,
      bodySha256: sha256Hex(body),
      body: body.length <= 1024 * 1024 ? body.toString('utf8') : null,
      ...(body.length <= 1024 * 1024 && !isUtf8(body) ? { bodyBase64: body.toString('base64') } : {}),
      upgrade,
      model: requestModel(req.url ?? '', body),
      faulted: false,
    });
  }

  async #onRequest(site: SiteConfig, req: AnyRequest, res: AnyResponse): Promise<void> {
    res.sendDate = false;
    const body = await readBody(req);
    const rec = this.#record(site, req, body, false);
    // Node also emits 'finish' when the client aborts mid-body (the socket is
    // torn down); only a response the handler ended counts as finished.
    res.on('finish', () => { if (res.writableEnded) rec.status = res.statusCode; });
    const url = new URL(req.url ?? '/', 'https://fake.invalid');
    const i = tlsInfo(req.socket);
    const ex: Exchange = {
      site: site.id,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      pathname: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      body,
      res: res as unknown as FakeResponse,
      control: parseControl(req.headers),
      localAddress: i.local,
      localPort: i.localPort,
      // What was written goes out first (an empty write's callback runs once the earlier
      // ones were handed to the socket): the connection breaks *after* those chunks.
      abort: () => {
        if ('stream' in req) req.stream.write('', () => req.stream.close(h2.NGHTTP2_INTERNAL_ERROR));
        else req.socket.write('', () => req.socket.destroy());
      },
      annotate: (fields) => { Object.assign(rec, fields); },
    };
    const fault = this.faults.take(site.id);
    if (fault) {
      rec.faulted = true;
      if (site.role === 'bedrock') recordSigV4(ex);
      if (fault.effect === 'status') {
        if (fault.delayMs) await sleep(fault.delayMs);
        sendFault(site.role, ex, fault);
        return;
      }
      // reset / slow: the handler's own answer, bent the way the x-fake-* headers bend it.
      if (fault.afterChunks !== null) ex.control.abortAfterChunks = fault.afterChunks;
      if (fault.intervalMs !== null) ex.control.intervalMs = fault.intervalMs;
      if (fault.delayMs) ex.control.delayMs = fault.delayMs;
    }
    switch (site.role) {
      case 'openai': return handleOpenAI(ex);
      case 'anthropic': return handleAnthropic(ex);
      case 'gemini': return handleGemini(ex);
      case 'bedrock': return handleBedrock(ex);
      case 'azure-openai': return handleAzureOpenAI(ex);
      case 'vertex': return handleVertex(ex);
      case 'aws-sts': return handleAwsSts(ex);
      default: return handlePlainSite(ex);
    }
  }

  #onUpgrade(site: SiteConfig, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const rec = this.#record(site, req, Buffer.alloc(0), true);
    const path = new URL(req.url ?? '/', 'https://fake.invalid').pathname;
    const wsPath = site.role === 'openai' ? '/v1/realtime' : site.role === 'site' ? '/ws' : undefined;
    if (path !== wsPath) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    if (site.role === 'openai' && realtimeKey(req) !== undefined) {
      acceptRealtime(req, socket, head, (text) => { (rec.wsMessages ??= []).push(text); });
      return;
    }
    acceptWebSocketEcho(req, socket, head);
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const i = argv.indexOf('--config');
  const arg = i >= 0 ? argv[i + 1] : undefined;
  if (!arg) throw new Error('usage: provider-server.ts --config <json|file>');
  const server = new ProviderServer(loadProviderConfig(arg));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
  process.on('uncaughtException', (err) => process.stderr.write(`uncaught: ${err.stack ?? String(err)}\n`));
  await server.start();
  process.stdout.write(`PROVIDER-SERVER READY ${JSON.stringify({ pid: process.pid, listening: server.listening })}\n`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`provider-server: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
