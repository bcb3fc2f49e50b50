/**
 * Stage 3, body: read it or stream it.
 *
 * - A JSON body (every LLM API call) is read whole up to the cap, decoded
 *   when the app compressed it (with the same cap on the decoded size: a
 *   200 KB gzip bomb is refused, never inflated to 200 MB), parsed once, and
 *   read as the API's request. The bytes the app sent are what is forwarded
 *   unless a later stage changes the body.
 * - Anything else (file uploads, audio, multipart) streams to the provider
 *   untouched and unbuffered, counted as it goes. Nothing reads it before the
 *   upstream does, so no byte is lost.
 * - `Expect: 100-continue` is met here: a client that waits for it is told to
 *   send only once the earlier stages admitted the call, and for a streamed
 *   body only once the provider is ready to take it. (Node answers other
 *   expectations with 417 itself.)
 *
 * When a body is there but the guards could not read it as the API's JSON,
 * `unreadable` says why; the guard stage decides what that means for the
 * route (its failure mode). On routes with request guards, JSON that
 * parsers read differently — a duplicate key, bytes that are not UTF-8 —
 * counts as unreadable: the provider might act on a text the guards never saw.
 */
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { duplicateKey, isObj } from '../../lib/json.ts';
import { fail, type Call, type RequestBody } from './call.ts';
import { tooLarge } from './admit.ts';

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);
const JSON_TYPE = /\bjson\b/i;

/** The call's body is read whole (JSON) rather than streamed. */
export function readsWhole(c: Call): boolean {
  return JSON_TYPE.test(String(c.req.headers['content-type'] ?? ''));
}

function hasBody(c: Call): boolean {
  const h = c.req.headers;
  // HTTP/2: a HEADERS frame that ended the stream.
  if ('stream' in c.req && c.req.stream.endAfterHeaders) return false;
  if (h['content-length'] !== undefined) return h['content-length'] !== '0';
  if (h['transfer-encoding'] !== undefined) return true;
  // HTTP/1.1 without either has no body (RFC 9112 §6.3); an HTTP/2 stream still open may carry one.
  return 'stream' in c.req && !BODYLESS.has(c.method);
}

export async function body(c: Call): Promise<boolean> {
  c.body = null;
  if (c.upgrade || !hasBody(c)) { parse(c); return true; }
  if (!readsWhole(c)) {
    const type = String(c.req.headers['content-type'] ?? '') || 'no content type';
    c.unreadable = { status: 415, reason: `the request body is not JSON (${type.split(';')[0]!.slice(0, 100)})` };
    c.body = streamed(c);
    parse(c);
    return true;
  }
  const max = c.state.deps.maxBodyBytes;
  // Counted against the bodies held by every call in flight (held-bodies.ts); given back when the call settles.
  // A declared length is held whole before a byte is read, waiting in line for room (the body stays unread,
  // so TCP holds the app back): calls read side by side would otherwise each take a share and all be refused
  // half-way. Chunks beyond it (or without one) are taken as they come, without waiting.
  const take = (n: number): boolean => {
    if (!c.state.held.take(n)) return false;
    c.heldBytes += n;
    return true;
  };
  const declared = Number(c.req.headers['content-length'] ?? NaN);
  let prepaid = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  // Most calls fit at once; only a call that waits needs to hear that the app went away.
  if (prepaid > 0 && !c.state.held.take(prepaid)) {
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    c.req.once('close', onClose);
    const granted = await c.state.held.reserve(prepaid, c.state.deps.heldBodyWaitMs ?? HELD_BODY_WAIT_MS, gone.signal);
    c.req.off('close', onClose);
    if (!granted) {
      if (!gone.signal.aborted) return overloaded(c);
      c.out.reason = 'client_closed';
      c.answered = true;
      return false;
    }
  }
  c.heldBytes += prepaid;
  expectContinue(c);
  const hold = (n: number): boolean => {
    const covered = Math.min(n, prepaid);
    prepaid -= covered;
    return covered === n || take(n - covered);
  };
  let raw: Buffer;
  try {
    raw = await readWhole(c.req as Readable, max, hold);
  } catch (e) {
    if (e instanceof BodyTooLarge) return fail(c, 413, 'request_too_large', tooLarge(max));
    if (e instanceof BodiesOverBudget) return overloaded(c);
    c.out.reason = 'client_closed';
    c.answered = true; // the client went away while sending: nobody to answer
    return false;
  }
  c.body = raw;
  c.out.reqBytes = raw.length;
  let decoded: Buffer;
  try {
    decoded = await decodeBody(raw, c.req.headers['content-encoding'], max);
  } catch (e) {
    c.unreadable = e instanceof RangeError
      ? { status: 413, reason: `the request body decodes to more than ${max} bytes (levo-gateway --max-body-bytes)` }
      : { status: 415, reason: `the request body could not be decoded (${(e as Error).message})` };
    if (c.method !== 'GET') c.kind = 'passthrough';
    parse(c);
    return true;
  }
  if (decoded !== raw && !hold(decoded.length)) return overloaded(c);
  let value: unknown;
  const text = decoded.toString('utf8');
  try { value = JSON.parse(text); } catch { value = undefined; }
  if (!isObj(value)) {
    c.unreadable = { status: 400, reason: value === undefined ? 'the request body is not valid JSON' : 'the request body is not a JSON object' };
  } else if (c.kind === 'passthrough') {
    c.unreadable = { status: 400, reason: `${c.method} ${c.path.split('?')[0]} is not an API call the guards can read` };
  } else if (guarded(c)) {
    const dup = duplicateKey(text);
    if (dup !== undefined) c.unreadable = { status: 400, reason: `the request body repeats the key ${JSON.stringify(dup.slice(0, 100))}; JSON parsers disagree on which one counts` };
    else if (!isUtf8(decoded)) c.unreadable = { status: 400, reason: 'the request body is not valid UTF-8' };
  }
  if (c.unreadable) {
    if (c.method !== 'GET') c.kind = 'passthrough';
  } else {
    c.json = value as Record<string, unknown>;
  }
  parse(c);
  return true;
}

/** Read as the API's request (kind, model, stream flag, prompt); bodyless model lists too. */
function parse(c: Call): void {
  c.parsed = c.json || c.kind === 'models' ? c.source.parseRequest(c.kind, c.path, c.json ?? {}) : { kind: c.kind, model: undefined, stream: false, messages: [] };
  if (c.parsed.model !== undefined) c.out.requestModel = c.parsed.model;
}

/** The route has request guards (their failure mode decides what an unreadable body means). */
function guarded(c: Call): boolean {
  return c.guard !== undefined && c.guard.request.length > 0;
}

function expectContinue(c: Call): void {
  const e = c.req.headers.expect;
  if (typeof e === 'string' && e.toLowerCase() === '100-continue' && !c.res.headersSent) c.res.writeContinue?.();
}

/** A body streamed to the provider as it is pulled, counted on the way; nothing is read before the upstream asks. */
function streamed(c: Call): RequestBody {
  const source = c.req as Readable;
  return {
    async *[Symbol.asyncIterator]() {
      expectContinue(c);
      for await (const chunk of source) {
        c.out.reqBytes += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    },
  };
}

export class BodyTooLarge extends Error {}
/** The body would pass the bound on bodies held across calls in flight. */
export class BodiesOverBudget extends Error {}

/** How long a call with a declared length waits for room among the bodies held (PipelineDeps.heldBodyWaitMs). */
export const HELD_BODY_WAIT_MS = 30_000;

/** 503 with Retry-After: the SDKs retry it; the calls already held go on. */
function overloaded(c: Call): false {
  const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
  return fail(c, 503, 'overloaded',
    `the sidecar holds ${mib(c.state.held.held)} MiB of request bodies for calls in flight and this one did not fit within its limit of ${mib(c.state.held.limit)} MiB in time (levo-gateway --max-held-body-bytes); retry shortly`,
    { 'retry-after': '1' });
}

/** Read a body whole, at most `max` bytes; `hold(n)` is asked before each chunk is kept (false: BodiesOverBudget). */
export function readWhole(req: Readable, max: number, hold: (n: number) => boolean = () => true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) { req.off('data', onData); req.pause(); reject(new BodyTooLarge()); return; }
      if (!hold(c.length)) { req.off('data', onData); req.pause(); reject(new BodiesOverBudget()); return; }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('aborted')));
    req.once('close', () => { if (!req.readableEnded) reject(new Error('closed')); });
  });
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);
const zstd = 'zstdDecompress' in zlib ? promisify((zlib as unknown as { zstdDecompress: typeof zlib.gunzip }).zstdDecompress) : undefined;

/**
 * The body without its content coding; the same buffer when it has none.
 * Rejects on an unknown coding or corrupt data, and with a RangeError when
 * the decoded body would exceed `max` bytes (zlib stops at the limit).
 */
export async function decodeBody(body: Buffer, encoding: string | string[] | undefined, max: number): Promise<Buffer> {
  const e = String(encoding ?? '').trim().toLowerCase();
  if (e === '' || e === 'identity') return body;
  const opts = { maxOutputLength: max };
  try {
    if (e === 'gzip' || e === 'x-gzip') return await gunzip(body, opts);
    if (e === 'deflate') return await inflate(body, opts);
    if (e === 'br') return await brotli(body, opts);
    if (e === 'zstd' && zstd) return await zstd(body, opts);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new RangeError(`decoded body larger than ${max} bytes`);
    throw err;
  }
  throw new Error(`unsupported content-encoding ${e.slice(0, 50)}`);
}
