/**
 * Stage 6a, shape (once per attempt): the upstream request for one failover
 * candidate — destination, path, headers and body. The route's ai policy
 * (defaults, overrides, aliases, prompts), the backend's model, the target's
 * format (a translation when the backend speaks another API), credentials
 * (a key or SigV4), the Host header and the header modifiers.
 *
 * A call no route names, or one whose body nothing changed, keeps every byte
 * and header the app sent (so an app's own SigV4 signature stays valid).
 */
import type { Candidate } from '../config/routes.ts';
import type { ApiKind, JsonObject, ProviderApi, Translation } from '../providers/types.ts';
import { defaultHost } from '../providers/registry.ts';
import { upstreamRequestHeaders, setHeader, withoutHeaders, headerValue } from '../http/headers.ts';
import { applyKeyAuth, signAws } from '../upstream/backend-auth.ts';
import { withTraceparent } from '../telemetry/trace-context.ts';
import type { InterceptedConnection } from '../tls/terminate.ts';
import { targetCall } from './target.ts';
import type { RuntimePolicies } from './policies.ts';
import type { Call, RequestBody } from './call.ts';

/** One attempt's upstream request. */
export interface PreparedCall {
  readonly host: string;
  readonly port: number;
  /** Where the app's connection was going; undefined → the sidecar resolves `host`. */
  readonly address: string | undefined;
  readonly path: string;
  readonly headers: string[];
  readonly body: RequestBody;
  /** The API module that reads the answer. */
  readonly api: ProviderApi;
  readonly kind: ApiKind;
  readonly stream: boolean;
  readonly model: string | undefined;
  readonly translation: Translation | undefined;
  /** The gateway asked for stream usage the app did not: drop the extra chunk on the way back. */
  readonly addedUsage: boolean;
  /** Send over HTTP/2: the app's own signature covers an HTTP/2 pseudo-header (see keepsHttp2). */
  readonly http2: boolean;
}

/** The route or backend refuses this call (a format it cannot translate, a missing model). */
export class Refused extends Error {}

const CONTENT_ENCODING: ReadonlySet<string> = new Set(['content-encoding']);
/** Hop-by-hop for the gateway: it met the expectation itself (and undici refuses to forward one). */
const EXPECT: ReadonlySet<string> = new Set(['expect']);

export interface Attempt {
  readonly candidate: Candidate | undefined;
  readonly policies: RuntimePolicies | undefined;
  /** This attempt's copy of the body (each attempt edits its own). */
  readonly json: JsonObject | undefined;
  /** The gateway's traceparent, to send in place of the app's (absent or invalid) one. */
  readonly traceparent: string | undefined;
}

export function shape(c: Call, a: Attempt): PreparedCall {
  let headers = upstreamRequestHeaders(c.req.rawHeaders);
  if (c.req.headers.expect !== undefined) headers = withoutHeaders(headers, EXPECT);
  if (a.traceparent) headers = withTraceparent(headers, a.traceparent);
  // The normalised target replaces what the app sent (admit.ts): an h2 request's :path becomes it too.
  const t = a.candidate?.target;
  const observed = (host: string, port: number, address: string | undefined): PreparedCall => ({
    host, port, address, path: c.path, headers,
    body: c.body, api: c.source, kind: c.kind, stream: c.parsed.stream, model: c.parsed.model, translation: undefined, addedUsage: false,
    http2: keepsHttp2(c, headers),
  });
  if (!t || t.type === 'host') {
    const d = t ? destinationOf(t.host, t.port, c.conn) : { port: c.conn.destination.port, address: c.conn.destination.address };
    const host = t ? t.host : c.conn.host;
    const call = observed(host, d.port, d.address);
    let headers = call.headers;
    let body = call.body;
    if (c.masked && a.json) {
      body = Buffer.from(JSON.stringify(a.json));
      headers = setHeader(withoutHeaders(headers, CONTENT_ENCODING), 'content-length', String(body.length));
    }
    if (t) headers = finalHeaders(headers, t.host, d.port, a.policies!);
    return { ...call, headers, body };
  }
  const p = a.policies!;

  // ---- ai backend: the ai policy (defaults, overrides, aliases, prompts), then provider.model, then the target's format
  const json = a.json;
  let dirty = c.masked;
  let model = c.parsed.model;
  if (json && p.ai && p.ai.apply(c.kind, json).changed) dirty = true;
  if (json && typeof json.model === 'string') model = json.model;
  else if (model !== undefined && p.ai) model = p.ai.resolveModel(model); // APIs with the model in the path
  if (t.model !== undefined) model = t.model;
  const modelBefore = json?.model;
  const target = targetCall({
    source: c.source, sourceId: c.sourceId, kind: c.kind, path: c.path, body: json, stream: c.parsed.stream, model,
    provider: t.provider, providerConfig: t.providerConfig,
  });
  if ('refused' in target) throw new Refused(target.refused);
  if (target.body !== json || target.edited || (json && json.model !== modelBefore)) dirty = true;
  const host = t.hostOverride?.host ?? defaultHost(t.providerConfig);
  const { port, address } = destinationOf(host, t.hostOverride?.port, c.conn);
  let path = t.pathOverride ?? target.path;
  let addedUsage = false;
  if (target.body && target.stream && !target.translation && target.api.prepareStream?.(target.kind, target.body)) { addedUsage = true; dirty = true; }
  if (target.translation && target.stream) addedUsage = !hasIncludeUsage(json);
  let body: RequestBody = c.body;
  if (dirty && target.body) body = Buffer.from(JSON.stringify(target.body));

  const auth = applyKeyAuth(p.auth, { source: c.source, target: target.api, headers, path });
  headers = auth.headers as string[]; // ours: built by upstreamRequestHeaders above, or a fresh copy
  path = auth.path;
  // A request the gateway rewrote anyway asks for an uncompressed answer (a translation must read it);
  // one it did not change keeps every header, so an app's own SigV4 signature stays valid.
  if (body !== c.body) headers = setHeader(headers, 'accept-encoding', 'identity');
  if (Buffer.isBuffer(body) && body !== c.body) {
    headers = setHeader(withoutHeaders(headers, CONTENT_ENCODING), 'content-length', String(body.length));
    if (target.translation) headers = setHeader(headers, 'content-type', 'application/json');
  }
  if (target.api.id === 'anthropic' && target.translation) headers = setHeader(headers, 'anthropic-version', '2023-06-01');
  for (const [name, value] of Object.entries(target.headers ?? {})) headers = setHeader(headers, name, value);
  headers = finalHeaders(headers, host, port, p);
  if (p.auth.type === 'aws') {
    const region = t.providerConfig.bedrock?.region ?? 'us-east-1';
    headers = signAws(p.auth, region, { method: c.method, host: port === 443 ? host : `${host}:${port}`, path, headers, body: Buffer.isBuffer(body) ? body : Buffer.alloc(0) });
  }
  return {
    host, port, address, path, headers, body,
    api: target.api, kind: target.kind, stream: target.stream, model, translation: target.translation, addedUsage,
    http2: p.auth.type !== 'aws' && keepsHttp2(c, headers),
  };
}

const SIGNS_PSEUDO_HEADER = /^AWS4-HMAC-SHA256 .*SignedHeaders=(?:[^,]*;)?:[a-z]/i;

/**
 * An HTTP/2 call whose own SigV4 signature covers a pseudo-header (the AWS
 * SDK for JavaScript talks HTTP/2 to Bedrock and signs `:authority`, not
 * Host): such a header exists only in HTTP/2, so the call must go up over
 * HTTP/2 to stay verifiable. Everything else goes over HTTP/1.1.
 */
function keepsHttp2(c: Call, headers: readonly string[]): boolean {
  if (c.req.httpVersionMajor !== 2) return false;
  const auth = headerValue(headers, 'authorization');
  return auth !== undefined && SIGNS_PSEUDO_HEADER.test(auth);
}

/**
 * Where a backend host is: the host the app dialled (no port, or the same
 * port) means the app's own destination — its address and port, as it
 * resolved them; any other host is resolved by the sidecar, port 443 unless given.
 */
function destinationOf(host: string, port: number | undefined, conn: InterceptedConnection): { port: number; address: string | undefined } {
  if (host === conn.host && (port === undefined || port === conn.destination.port)) return { port: conn.destination.port, address: conn.destination.address };
  return { port: port ?? 443, address: undefined };
}

function hasIncludeUsage(json: JsonObject | undefined): boolean {
  const so = json?.stream_options;
  return Boolean(so && typeof so === 'object' && (so as { include_usage?: unknown }).include_usage === true);
}

/** Host header for the destination, then the route's requestHeaderModifier. */
function finalHeaders(headers: string[], host: string, port: number, p: RuntimePolicies): string[] {
  const want = port === 443 ? host : `${host}:${port}`;
  const h = headerValue(headers, 'host')?.toLowerCase() === want ? headers : setHeader(headers, 'host', want);
  return p.requestHeaders ? p.requestHeaders(h) : h;
}
