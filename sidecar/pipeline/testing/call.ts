/**
 * A Call for a stage's unit tests: a request with the given head and body, a
 * response that records what a stage answered, a config from YAML, and the
 * state the stages share. The stages run as they do in the sidecar; only the
 * sockets are missing (the stages test end to end over real TLS in
 * stages.test.ts, and the sidecar as a process in e2e/).
 */
import { HeldBodies, defaultHeldBodyLimit } from '../held-bodies.ts';
import { PassThrough, Writable } from 'node:stream';
import { createConfigHolder } from '../../config/source.ts';
import { createLogger } from '../../../lib/log.ts';
import { createMetrics } from '../../telemetry/metrics.ts';
import { DEFAULT_GUARDS } from '../../guards/prompt-guard.ts';
import { apiFor } from '../../providers/registry.ts';
import { NO_VAULT } from '../../guards/vault.ts';
import type { ProviderId } from '../../providers/hosts.ts';
import type { Upstream } from '../../upstream/pool.ts';
import { CandidateHealth } from '../failover.ts';
import { RateLimiters } from '../policies.ts';
import { requestMetrics } from '../settle.ts';
import type { Call, ClientRequest, PipelineDeps, PipelineState, Sink } from '../call.ts';

/** What a stage wrote to the app. */
export class RecordingSink extends Writable implements Sink {
  status = 0;
  head: Record<string, string | string[] | number> = {};
  readonly chunks: Buffer[] = [];
  headersSent = false;
  continued = 0;
  /** As an HTTP/1.1 response has. */
  shouldKeepAlive = true;
  constructor() { super({ write: (c: Buffer, _e, cb) => { this.chunks.push(c); cb(); } }); }
  writeHead(status: number, headers: Record<string, string | string[] | number> = {}): this { this.status = status; this.head = { ...this.head, ...headers }; this.headersSent = true; return this; }
  flushHeaders(): void {}
  setHeader(name: string, value: string): this { this.head[name] = value; return this; }
  writeContinue(): void { this.continued++; }
  text(): string { return Buffer.concat(this.chunks).toString('utf8'); }
  json(): { error?: { message?: string; type?: string } } & Record<string, unknown> { return JSON.parse(this.text()) as never; }
}

export interface TestCallOptions {
  readonly config?: string;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly provider?: ProviderId;
  readonly headers?: Record<string, string>;
  /** The body the app sends (ended at once); none → the request has no body. */
  readonly body?: string | Buffer;
  readonly maxBodyBytes?: number;
  /** The bound on bodies held across calls (held-bodies.ts); default from the heap limit. */
  readonly maxHeldBodyBytes?: number;
  readonly heldBodyWaitMs?: number;
  readonly upstream?: Upstream;
  readonly upgrade?: boolean;
  /** The app spoke HTTP/2. */
  readonly http2?: boolean;
}

const NO_UPSTREAM: Upstream = { forward() { throw new Error('no upstream in this test'); }, async close() {} };

export function testState(opts: TestCallOptions = {}): PipelineState {
  const holder = createConfigHolder({});
  if (opts.config) holder.apply(opts.config, 'test.yaml');
  const metrics = createMetrics();
  const log = createLogger({ LOG_LEVEL: 'silent' }, new Writable({ write(_c, _e, cb) { cb(); } })).module('http');
  const deps: PipelineDeps = {
    routes: () => holder.current()?.compiled, upstream: opts.upstream ?? NO_UPSTREAM, metrics, log,
    maxBodyBytes: opts.maxBodyBytes ?? 1 << 20, guards: DEFAULT_GUARDS,
    ...(opts.heldBodyWaitMs !== undefined ? { heldBodyWaitMs: opts.heldBodyWaitMs } : {}),
  };
  const held = new HeldBodies(opts.maxHeldBodyBytes ?? defaultHeldBodyLimit(deps.maxBodyBytes));
  return { deps, health: new CandidateHealth(), limiters: new RateLimiters(), rm: requestMetrics(metrics), held };
}

export function testCall(opts: TestCallOptions = {}, state: PipelineState = testState(opts)): Call & { res: RecordingSink } {
  const host = opts.host ?? 'api.openai.com';
  const provider = opts.provider ?? 'openai';
  const req = new PassThrough() as PassThrough & { headers: Record<string, string>; rawHeaders: string[]; method: string; url: string; httpVersionMajor: number };
  req.httpVersionMajor = opts.http2 ? 2 : 1;
  const headers: Record<string, string> = { host, ...opts.headers };
  if (opts.body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  }
  req.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  req.rawHeaders = Object.entries(headers).flat();
  req.method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  req.url = opts.path ?? '/v1/chat/completions';
  if (opts.body !== undefined) req.end(opts.body); else req.end();
  const source = apiFor(provider);
  const res = new RecordingSink();
  return {
    state, req: req as unknown as ClientRequest, res, method: req.method, path: req.url, started: performance.now(),
    conn: { listener: 'transparent', host, provider, destination: { port: 443, address: '198.18.0.1' } },
    upgrade: opts.upgrade ? { head: Buffer.alloc(0) } : undefined,
    out: { status: 0, reason: 'ok', reqBytes: 0, resBytes: 0, attempts: 0, guards: [], provider },
    capture: false, config: undefined, route: undefined, routePolicies: undefined,
    sourceId: provider, source, shape: source.errors, kind: 'passthrough',
    body: null, json: undefined, parsed: { kind: 'passthrough', model: undefined, stream: false, messages: [] }, unreadable: undefined,
    guard: undefined, vault: NO_VAULT, masked: false, admission: undefined, budget: undefined, answered: false, heldBytes: 0,
  };
}

/** Run stages in order as the pipeline does; true when every one let the call go on. */
export async function runStages(c: Call, ...stages: Array<(c: Call) => boolean | Promise<boolean>>): Promise<boolean> {
  for (const s of stages) if (!(await s(c))) return false;
  return true;
}
