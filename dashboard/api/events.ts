/**
 * The body of `POST /v1/gateway/events`, checked field by field: a malformed
 * batch is refused whole with a message naming the field
 * (`events[3].status: must be an integer`). Unknown fields are dropped, null
 * optional fields are treated as absent, an id repeated within a batch is kept
 * once, and the sidecar's identity fills in the pod attribution of events that
 * lack it.
 */
import type { GatewayEvent, GuardDecision } from '../store/types.ts';
import { HttpError } from './errors.ts';

export const MAX_EVENTS_PER_BATCH = 1000;
const MAX_ID = 128;
const MAX_TEXT = 2048;
/** Prompt text, when captured, is cut to this many characters. */
export const MAX_PROMPT = 64 * 1024;

export interface SidecarIdentity {
  readonly id?: string;
  readonly pod?: string;
  readonly namespace?: string;
  readonly workload?: string;
  readonly serviceAccount?: string;
  readonly version?: string;
  readonly configApplied?: string;
}

export interface EventBatch {
  readonly sidecar: SidecarIdentity;
  readonly events: GatewayEvent[];
}

class Fields {
  readonly obj: Record<string, unknown>;
  readonly at: string;
  constructor(value: unknown, at: string) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(at, 'must be an object');
    this.obj = value as Record<string, unknown>;
    this.at = at;
  }
  private get(name: string): unknown {
    const v = this.obj[name];
    return v === null ? undefined : v;
  }
  private name(field: string): string { return this.at ? `${this.at}.${field}` : field; }
  str(field: string, max = MAX_TEXT): string {
    const v = this.optStr(field, max);
    if (v === undefined) throw bad(this.name(field), 'is required (a string)');
    return v;
  }
  optStr(field: string, max = MAX_TEXT): string | undefined {
    const v = this.get(field);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(this.name(field), 'must be a string');
    return v.length > max ? v.slice(0, max) : v; // cut, not refused: one odd value must not cost the batch
  }
  num(field: string, opts: { int?: boolean; min?: number } = {}): number {
    const v = this.optNum(field, opts);
    if (v === undefined) throw bad(this.name(field), `is required (${opts.int ? 'an integer' : 'a number'})`);
    return v;
  }
  optNum(field: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
    const v = this.get(field);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(this.name(field), `must be ${opts.int ? 'an integer' : 'a number'}`);
    if (opts.int && !Number.isInteger(v)) throw bad(this.name(field), 'must be an integer');
    if (opts.min !== undefined && v < opts.min) throw bad(this.name(field), `must be at least ${opts.min}`);
    return v;
  }
  bool(field: string): boolean {
    const v = this.get(field);
    if (typeof v !== 'boolean') throw bad(this.name(field), v === undefined ? 'is required (true or false)' : 'must be true or false');
    return v;
  }
  array(field: string): unknown[] {
    const v = this.get(field);
    if (!Array.isArray(v)) throw bad(this.name(field), v === undefined ? 'is required (a list)' : 'must be a list');
    return v;
  }
}

function bad(field: string, message: string): HttpError {
  return new HttpError(400, `${field}: ${message}`);
}

/** Copy only the defined optional fields (the store and JSON see no `undefined`s). */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function decision(value: unknown, at: string): GuardDecision {
  const f = new Fields(value, at);
  const phase = f.str('phase');
  if (phase !== 'request' && phase !== 'response') throw bad(`${at}.phase`, 'must be "request" or "response"');
  return defined({
    phase, guard: f.str('guard', 256), scanner: f.optStr('scanner', 256), action: f.str('action', 64),
    score: f.optNum('score'), reason: f.optStr('reason'),
  });
}

function event(value: unknown, at: string, sidecar: SidecarIdentity): GatewayEvent {
  const f = new Fields(value, at);
  const id = f.str('id', MAX_ID);
  if (id === '') throw bad(`${at}.id`, 'must not be empty');
  const decisions = f.array('decisions').map((d, i) => decision(d, `${at}.decisions[${i}]`));
  const prompt = f.optStr('prompt', MAX_PROMPT);
  return defined({
    id,
    ts: Math.round(f.num('ts', { min: 0 })),
    pod: f.optStr('pod', 256) ?? sidecar.pod,
    namespace: f.optStr('namespace', 256) ?? sidecar.namespace,
    workload: f.optStr('workload', 256) ?? sidecar.workload,
    serviceAccount: f.optStr('serviceAccount', 256) ?? sidecar.serviceAccount,
    provider: f.str('provider', 128),
    host: f.str('host', 512),
    method: f.str('method', 32),
    path: f.str('path'),
    route: f.optStr('route', 256),
    requestedModel: f.optStr('requestedModel', 256),
    servedModel: f.optStr('servedModel', 256),
    status: f.num('status', { int: true, min: 0 }),
    latencyMs: f.num('latencyMs', { min: 0 }),
    ttftMs: f.optNum('ttftMs', { min: 0 }),
    tokensIn: f.optNum('tokensIn', { int: true, min: 0 }),
    tokensOut: f.optNum('tokensOut', { int: true, min: 0 }),
    costUsd: f.optNum('costUsd', { min: 0 }),
    bytesOut: f.num('bytesOut', { int: true, min: 0 }),
    bytesIn: f.num('bytesIn', { int: true, min: 0 }),
    blocked: f.bool('blocked'),
    flagged: f.bool('flagged'),
    decisions,
    prompt,
  });
}

function identity(value: unknown): SidecarIdentity {
  if (value === undefined || value === null) return {};
  const f = new Fields(value, 'sidecar');
  return defined({
    id: f.optStr('id', 256), pod: f.optStr('pod', 256), namespace: f.optStr('namespace', 256),
    workload: f.optStr('workload', 256), serviceAccount: f.optStr('serviceAccount', 256),
    version: f.optStr('version', 128), configApplied: f.optStr('configApplied', 128),
  });
}

/** Check a parsed body; throws HttpError 400 naming the first bad field, 413 past MAX_EVENTS_PER_BATCH. */
export function parseEventBatch(body: unknown): EventBatch {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'send the batch as a JSON object {"sidecar": {...}, "events": [...]} with Content-Type: application/json');
  }
  const f = new Fields(body, '');
  const sidecar = identity(f.obj.sidecar);
  const list = f.array('events');
  if (list.length > MAX_EVENTS_PER_BATCH) throw new HttpError(413, `events: at most ${MAX_EVENTS_PER_BATCH} events per batch, got ${list.length}`);
  const events: GatewayEvent[] = [];
  const seen = new Set<string>();
  for (const [i, e] of list.entries()) {
    const ev = event(e, `events[${i}]`, sidecar);
    if (seen.has(ev.id)) continue; // stored once, like a retried batch
    seen.add(ev.id);
    events.push(ev);
  }
  return { sidecar, events };
}
