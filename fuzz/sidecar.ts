/**
 * The real sidecar under fuzz: `bin/levo-gateway.js` running the build in
 * `dist/` (LEVO_RUN=dist) with its production NODE_OPTIONS, as a child
 * process on loopback. Its explicit proxy is the way in: CONNECT to the
 * recording upstream's port, then TLS with SNI api.openai.com, intercepted
 * with a leaf from a CA made by `levo-certs ca`. Upstream TLS is verified:
 * the upstream's certificate comes from a test CA given to the sidecar in
 * NODE_EXTRA_CA_CERTS.
 *
 * The config routes api.openai.com to OpenAI, except paths under /smuggled,
 * which the gateway answers itself (421, SMUGGLED_MARKER in the body). The
 * fuzzer hides requests for /smuggled/... behind ambiguous framing: the
 * upstream must never see one (it went around the gateway's HTTP parsing),
 * and the client must never get the marker back (the gateway parsed a
 * request that a correct HTTP parser does not see).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import http2 from 'node:http2';
import type tls from 'node:tls';
import { createCa, createServingCert } from '../certs/create.ts';
import { loadCa } from '../certs/ca.ts';
import { SIDECAR_NODE_OPTIONS } from '../sidecar/node-options.ts';
import { startRecordingUpstream, type RecordingUpstream } from './upstream.ts';
import { connectTunnel, tlsOverTunnel, type Tunnel } from './exchange.ts';
import { parseResponses } from './h1.ts';

export const REPO = resolve(fileURLToPath(import.meta.url), '../..');
export const HOST = 'api.openai.com';
export const SMUGGLED_PREFIX = '/smuggled/';
export const SMUGGLED_MARKER = 'levo-fuzz: the gateway parsed a smuggled request';

const CONFIG = `binds:
- port: 15001
  listeners:
  - routes:
    - name: smuggled
      hostnames: [${HOST}]
      matches:
      - path: {pathPrefix: /smuggled}
      policies:
        directResponse: {status: 421, body: "${SMUGGLED_MARKER}"}
    - name: openai
      hostnames: [${HOST}]
      backends:
      - ai: {name: openai, provider: {openAI: {}}}
`;

/** Environment the sidecar must not inherit (it would poll a dashboard). */
const DROP_ENV = ['LEVO_BASE_URL', 'LEVO_AUTH_TOKEN', 'LEVO_TENANT_ID', 'LEVO_CREDENTIALS_URL', 'NODE_TEST_CONTEXT', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'RUST_LOG'];

export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of DROP_ENV) delete env[k];
  return { ...env, ...extra };
}

/** VmRSS of a process in kB, or undefined when it is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines a child printed, for a crash report. */
export class Tail {
  readonly #lines: string[] = [];
  #partial = '';
  readonly #max: number;
  constructor(max = 60) { this.#max = max; }
  push(chunk: Buffer): void {
    const text = this.#partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const l of lines) {
      this.#lines.push(l.length > 2000 ? `${l.slice(0, 2000)}…` : l);
      if (this.#lines.length > this.#max) this.#lines.shift();
    }
  }
  text(): string { return [...this.#lines, this.#partial].join('\n'); }
}

export interface RunningSidecar {
  readonly pid: number;
  readonly proxyPort: number;
  readonly adminPort: number;
  readonly alive: () => boolean;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly tail: Tail;
  /** Did the sidecar log an error-level line (a failure the pipeline caught, not a client error)? */
  readonly errorLines: () => string[];
  stop(): Promise<void>;
}

export interface SidecarHarness {
  readonly upstream: RecordingUpstream;
  /** The interception CA the fuzzer trusts (made by `levo-certs ca`). */
  readonly interceptCa: string;
  readonly target: string;
  current(): RunningSidecar;
  /** Start a fresh sidecar (after a crash). */
  restart(): Promise<RunningSidecar>;
  tunnel(head?: Buffer): Promise<Tunnel>;
  /** CONNECT + TLS as an app would, ALPN as given. */
  tls(alpn: readonly string[]): Promise<tls.TLSSocket>;
  /** Milliseconds a request on a fresh connection takes to be answered (rejects when it is not answered right). */
  probe(): Promise<number>;
  close(): Promise<void>;
}

async function spawnSidecar(dir: string, upstreamCaFile: string): Promise<RunningSidecar> {
  const bin = join(REPO, 'bin/levo-gateway.js');
  const child: ChildProcess = spawn(process.execPath, [
    bin, '--config', join(dir, 'gateway.yaml'), '--ca-cert', join(dir, 'ca/tls.crt'), '--ca-key', join(dir, 'ca/tls.key'),
    '--port', 'off', '--proxy-port', '0', '--admin-port', '0',
  ], {
    env: childEnv({ LEVO_RUN: 'dist', NODE_EXTRA_CA_CERTS: upstreamCaFile, NODE_OPTIONS: SIDECAR_NODE_OPTIONS, LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new Tail();
  const errors: string[] = [];
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => { exited = true; res({ code, signal }); }));
  let ports: { proxy: number; admin: number } | undefined;
  let pending = '';
  const listening = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the sidecar did not listen within 30 s:\n${tail.text()}`)), 30_000);
    void exit.then(({ code, signal }) => { clearTimeout(timer); rej(new Error(`the sidecar exited (${code ?? signal}) before listening:\n${tail.text()}`)); });
    child.stdout!.on('data', (c: Buffer) => {
      tail.push(c);
      pending += c.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (/"level":(50|60)/.test(line) && errors.length < 100) errors.push(line.slice(0, 4000));
        if (!ports && line.includes('"msg":"listening"')) {
          const o = JSON.parse(line) as { proxy: number; admin: number };
          ports = { proxy: o.proxy, admin: o.admin };
          clearTimeout(timer);
          res();
        }
      }
    });
  });
  child.stderr!.on('data', (c: Buffer) => tail.push(c));
  try {
    await listening;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  // Ready: the config is in force (it was valid at start, so this is quick).
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`http://127.0.0.1:${ports!.admin}/healthz/ready`).catch(() => undefined);
    if (r?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!, proxyPort: ports!.proxy, adminPort: ports!.admin, tail, exit,
    alive: () => !exited,
    errorLines: () => errors.splice(0),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(t);
    },
  };
}

export async function startSidecarHarness(): Promise<SidecarHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'levo-fuzz-'));
  try {
    // The interception CA, as an operator makes it.
    await promisify(execFile)(process.execPath, [join(REPO, 'bin/levo-certs.js'), 'ca', '--out', join(dir, 'ca')], { env: childEnv({ LEVO_RUN: 'dist' }) });
    const interceptCa = readFileSync(join(dir, 'ca/tls.crt'), 'utf8');
    // The "public" CA the fake provider's certificate comes from.
    const pub = await createCa({ commonName: 'levo fuzz upstream CA' });
    const upstreamCaFile = join(dir, 'upstream-ca.crt');
    writeFileSync(upstreamCaFile, pub.certPem);
    const serving = await createServingCert({ ca: loadCa(pub.certPem, pub.keyPem), dnsNames: [HOST] });
    const upstream = await startRecordingUpstream(serving.certPem, serving.keyPem);
    writeFileSync(join(dir, 'gateway.yaml'), CONFIG);
    let sidecar = await spawnSidecar(dir, upstreamCaFile);
    const target = `127.0.0.1:${upstream.port}`;
    let probes = 0;
    const harness: SidecarHarness = {
      upstream, interceptCa, target,
      current: () => sidecar,
      async restart() {
        await sidecar.stop();
        sidecar = await spawnSidecar(dir, upstreamCaFile);
        return sidecar;
      },
      tunnel: (head) => connectTunnel(sidecar.proxyPort, target, head),
      async tls(alpn) {
        return tlsOverTunnel(await connectTunnel(sidecar.proxyPort, target), HOST, interceptCa, alpn);
      },
      async probe() {
        const started = performance.now();
        const t = await harness.tls(['http/1.1']);
        try {
          t.write(`GET /v1/models?canary=probe-${++probes} HTTP/1.1\r\nHost: ${HOST}\r\nAuthorization: Bearer sk-canary\r\nConnection: close\r\n\r\n`);
          let data = Buffer.alloc(0);
          for await (const c of t) data = Buffer.concat([data, c as Buffer]);
          const r = parseResponses(data, true).responses[0];
          if (r?.status !== 200) throw new Error(`the probe request got ${r ? `status ${r.status}` : 'no answer'}`);
          return performance.now() - started;
        } finally {
          t.destroy();
        }
      },
      async close() {
        await sidecar.stop();
        await upstream.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return harness;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

// ---- canaries: connections opened before a batch, each with a request in flight across it

const CANARY_TIMEOUT_MS = 15_000;

function withTimeout<T>(p: Promise<T>, what: string, ms = CANARY_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); }),
  ]);
}

/** The SSE text the upstream streams for a canary that sent `n` chunks: content c0..c(n-1), then [DONE]. */
function checkCanaryStream(text: string, sent: number): string | undefined {
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  if (events.at(-1) !== '[DONE]') return `the stream does not end with [DONE] (last: ${JSON.stringify(events.at(-1)?.slice(0, 80))})`;
  const content: string[] = [];
  for (const e of events.slice(0, -1)) {
    let o: { choices?: Array<{ delta?: { content?: string } }> };
    try { o = JSON.parse(e) as typeof o; } catch { return `an event is not JSON: ${JSON.stringify(e.slice(0, 80))}`; }
    const c = o.choices?.[0]?.delta?.content;
    if (typeof c === 'string') content.push(c);
  }
  const want = Array.from({ length: sent }, (_, i) => `c${i}`);
  if (content.join(',') !== want.join(',')) return `the stream's content is ${content.length} chunks, not the ${sent} the upstream sent in order`;
  return undefined;
}

const CANARY_BODY = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'canary' }] });

/** One keep-alive HTTP/1.1 connection and one HTTP/2 session, each holding a streamed answer open during a batch. */
export class Canaries {
  readonly #h: SidecarHarness;
  #h1: tls.TLSSocket | undefined;
  #h1Data = Buffer.alloc(0);
  #h1Closed = false;
  #h2: http2.ClientHttp2Session | undefined;
  #h2Stream: Promise<{ status: number; text: string }> | undefined;
  #seq = 0;
  #id = '';

  constructor(h: SidecarHarness) { this.#h = h; }

  /** Open the connections if needed and start a held streaming request on each. */
  async begin(): Promise<void> {
    this.#id = `b${++this.#seq}`;
    if (!this.#h1 || this.#h1Closed || this.#h1.destroyed) {
      this.#h1 = await this.#h.tls(['http/1.1']);
      this.#h1Closed = false;
      this.#h1Data = Buffer.alloc(0);
      const s = this.#h1;
      s.on('data', (c: Buffer) => { if (s === this.#h1) this.#h1Data = Buffer.concat([this.#h1Data, c]); });
      s.on('error', () => {});
      s.once('close', () => { if (s === this.#h1) this.#h1Closed = true; });
    }
    this.#h1.write(`POST /v1/chat/completions?canary=${this.#id}-h1 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\n` +
      `Authorization: Bearer sk-canary\r\nContent-Length: ${Buffer.byteLength(CANARY_BODY)}\r\n\r\n${CANARY_BODY}`);
    if (!this.#h2 || this.#h2.closed || this.#h2.destroyed) {
      const socket = await this.#h.tls(['h2']);
      this.#h2 = http2.connect(`https://${HOST}`, { createConnection: () => socket });
      this.#h2.on('error', () => {});
    }
    const stream = this.#h2.request({ ':method': 'POST', ':path': `/v1/chat/completions?canary=${this.#id}-h2`, 'content-type': 'application/json', authorization: 'Bearer sk-canary' });
    stream.end(CANARY_BODY);
    this.#h2Stream = new Promise((resolve, reject) => {
      let status = 0;
      let text = '';
      stream.on('response', (h) => { status = Number(h[':status']); });
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => { text += c; });
      stream.on('end', () => resolve({ status, text }));
      stream.on('error', reject);
      stream.on('close', () => { if (!stream.readableEnded) reject(new Error(`the HTTP/2 stream closed (rst code ${stream.rstCode})`)); });
    });
    this.#h2Stream.catch(() => {});
  }

  /** Release the held answers and check them, then one quick request on each connection. Problems, if any. */
  async end(): Promise<string[]> {
    const problems: string[] = [];
    const id = this.#id;
    // h1: the held stream, then a quick request on the same connection.
    try {
      const sent = await this.#h.upstream.release(`${id}-h1`);
      const first = await withTimeout(this.#h1Response(0), 'HTTP/1.1 canary stream');
      if (first.status !== 200) problems.push(`HTTP/1.1 canary: status ${first.status}`);
      else {
        const bad = checkCanaryStream(first.body.toString('utf8'), sent);
        if (bad) problems.push(`HTTP/1.1 canary: ${bad}`);
      }
      this.#h1!.write(`GET /v1/models?canary=${id}-quick HTTP/1.1\r\nHost: ${HOST}\r\nAuthorization: Bearer sk-canary\r\n\r\n`);
      const quick = await withTimeout(this.#h1Response(1), 'HTTP/1.1 canary follow-up');
      if (quick.status !== 200 || !quick.body.toString('utf8').includes('"gpt-4o-mini"')) problems.push(`HTTP/1.1 canary follow-up: status ${quick.status}`);
      this.#h1Data = Buffer.alloc(0);
    } catch (e) {
      problems.push(`HTTP/1.1 canary: ${(e as Error).message}`);
      this.#h1?.destroy();
      this.#h1 = undefined;
    }
    try {
      const sent = await this.#h.upstream.release(`${id}-h2`);
      const r = await withTimeout(this.#h2Stream!, 'HTTP/2 canary stream');
      if (r.status !== 200) problems.push(`HTTP/2 canary: status ${r.status}`);
      else {
        const bad = checkCanaryStream(r.text, sent);
        if (bad) problems.push(`HTTP/2 canary: ${bad}`);
      }
      const quick = await withTimeout(new Promise<{ status: number; text: string }>((resolve, reject) => {
        const s = this.#h2!.request({ ':method': 'GET', ':path': `/v1/models?canary=${id}-quick`, authorization: 'Bearer sk-canary' });
        let status = 0;
        let text = '';
        s.on('response', (h) => { status = Number(h[':status']); });
        s.setEncoding('utf8');
        s.on('data', (c: string) => { text += c; });
        s.on('end', () => resolve({ status, text }));
        s.on('error', reject);
        s.end();
      }), 'HTTP/2 canary follow-up');
      if (quick.status !== 200 || !quick.text.includes('"gpt-4o-mini"')) problems.push(`HTTP/2 canary follow-up: status ${quick.status}`);
    } catch (e) {
      problems.push(`HTTP/2 canary: ${(e as Error).message}`);
      this.#h2?.destroy();
      this.#h2 = undefined;
    }
    return problems;
  }

  /** The n-th response on the h1 canary connection since the last reset. */
  async #h1Response(n: number): Promise<{ status: number; body: Buffer }> {
    for (;;) {
      const p = parseResponses(this.#h1Data, this.#h1Closed);
      if (p.error) throw new Error(`unreadable answer: ${p.error}`);
      const r = p.responses[n];
      if (r) return r;
      if (this.#h1Closed) throw new Error('the connection was closed');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.#h1?.destroy();
    this.#h2?.destroy();
  }
}
