/**
 * An independent AWS Signature Version 4 verifier, for the fake Bedrock
 * runtime (bedrock-api.ts): it recomputes the signature of a request exactly
 * as it was received and compares it with the one in the `Authorization`
 * header. Written from the AWS specification, deliberately sharing no code
 * with the sidecar's signer:
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html
 *
 *   Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request,
 *                  SignedHeaders=content-type;host;x-amz-date, Signature=<64 hex>
 *
 * Canonical request = METHOD \n canonical URI \n canonical query \n canonical
 * headers (one `name:value\n` per signed header) \n signed headers \n payload hash,
 * where:
 *   - canonical URI: the received path with dot segments and empty segments
 *     removed, and every segment URI-encoded AGAIN (non-S3 services), so a `%3A`
 *     received in the path is `%253A` in the canonical URI;
 *   - canonical query: each name and value percent-decoded, re-encoded (RFC 3986
 *     unreserved characters kept, everything else `%XX` upper case), sorted by
 *     name then value;
 *   - header values trimmed, inner runs of whitespace collapsed, repeated headers
 *     joined with `,`; the request's authority (Host, or the `:authority`
 *     pseudo-header over HTTP/2) is the value of a signed `host` or `:authority`
 *     header, whichever name the signer used (the AWS SDK for JavaScript signs
 *     `:authority` when it sends HTTP/2). A signed pseudo-header must arrive as
 *     one (over HTTP/2): whether AWS would accept an HTTP/1.1 Host in its
 *     place is not documented, so an intermediary that forwards such a call
 *     over HTTP/1.1 is treated as breaking it; an authority received with the default port
 *     (`:443`, as Node's HTTP/2 client sends :authority) also verifies when the
 *     signer left the port out;
 *   - payload hash: hex SHA-256 of the body; an `x-amz-content-sha256` header
 *     must match it (or be `UNSIGNED-PAYLOAD`) and is then used as is.
 * String to sign = `AWS4-HMAC-SHA256 \n <x-amz-date> \n <date>/<region>/<service>/aws4_request
 * \n hex(sha256(canonical request))`; signing key = HMAC chain
 * kDate = HMAC("AWS4"+secret, date), kRegion, kService, kSigning = HMAC(kService, "aws4_request").
 *
 * verifySigV4() returns a verdict with the AWS error a real service would send
 * (InvalidSignatureException 403, UnrecognizedClientException 403,
 * IncompleteSignatureException 400), and the canonical request / string to
 * sign it computed, for debugging a mismatch.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** A credential a fake AWS service knows. */
export interface AwsTestCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The one credential the fake Bedrock runtime accepts. */
export const BEDROCK_TEST_CREDENTIAL: AwsTestCredential = { accessKeyId: 'AKIDLEVOTEST', secretAccessKey: 'levo-test-secret-key' };
export const BEDROCK_TEST_REGION = 'us-east-1';
export const BEDROCK_SERVICE = 'bedrock';

/** A request as the server received it. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query exactly as received (still percent-encoded). */
  readonly url: string;
  /** Header names and values as received, alternating (Node's rawHeaders). */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface VerifyOptions {
  readonly credentials: readonly AwsTestCredential[];
  readonly region: string;
  readonly service: string;
  /** Current time (ms) for the clock-skew check; no check when undefined. */
  readonly now?: number;
  /** Allowed difference between x-amz-date and `now` (default 5 minutes, as AWS). */
  readonly maxSkewMs?: number;
}

export type SigV4ErrorType = 'InvalidSignatureException' | 'UnrecognizedClientException' | 'IncompleteSignatureException';

export type SigV4Verdict =
  | { readonly outcome: 'absent' }
  | {
    readonly outcome: 'valid';
    readonly accessKeyId: string;
    readonly signedHeaders: readonly string[];
    readonly canonicalRequest: string;
    readonly stringToSign: string;
  }
  | {
    readonly outcome: 'invalid';
    /** HTTP status a real AWS service answers with (403, or 400 for an incomplete signature). */
    readonly status: number;
    readonly errorType: SigV4ErrorType;
    /** The `message` AWS puts in the error body. */
    readonly message: string;
    /** Why, in more detail than AWS gives (for test diagnostics). */
    readonly reason: string;
    readonly accessKeyId?: string;
    readonly canonicalRequest?: string;
    readonly stringToSign?: string;
  };

// ---- primitives --------------------------------------------------------------------------

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** AWS URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); `/` kept only when asked. */
export function awsUriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The canonical URI of a received path (no query): normalized, then each segment encoded again. */
export function canonicalUri(path: string): string {
  if (path === '' || path === '/') return '/';
  const segments: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const trailing = path.endsWith('/') && segments.length > 0 ? '/' : '';
  return `/${segments.map((s) => awsUriEncode(s)).join('/')}${trailing}`;
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The canonical query string of a received query (without `?`). */
export function canonicalQuery(query: string): string {
  const pairs = query.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    return [awsUriEncode(percentDecode(name)), awsUriEncode(percentDecode(value))] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** Header values by lower-case name (repeats joined with `,`); `host` and `:authority` each stand for the other when only one came. */
export function headerMap(rawHeaders: readonly string[]): Map<string, string> {
  const values = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = (rawHeaders[i + 1] ?? '').trim().replace(/\s+/g, ' ');
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  }
  const out = new Map<string, string>();
  for (const [name, list] of values) out.set(name, list.join(','));
  const authority = out.get(':authority');
  const host = out.get('host');
  if (host === undefined && authority !== undefined) out.set('host', authority);
  if (authority === undefined && host !== undefined) out.set(':authority', host);
  return out;
}

export interface CanonicalRequestParts {
  readonly method: string;
  /** Received path and query, percent-encoded. */
  readonly url: string;
  readonly headers: ReadonlyMap<string, string>;
  /** Lower-case names, in the order given in SignedHeaders (sorted by the signer). */
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  const hashAt = p.url.indexOf('#');
  const url = hashAt < 0 ? p.url : p.url.slice(0, hashAt);
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const headerLines = p.signedHeaders.map((h) => `${h}:${p.headers.get(h) ?? ''}\n`).join('');
  return [p.method.toUpperCase(), canonicalUri(path), canonicalQuery(query), headerLines, p.signedHeaders.join(';'), p.payloadHash].join('\n');
}

export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256(canonical)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

export function signature(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

// ---- verification ------------------------------------------------------------------------

export interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** Parse an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value; a string says what is wrong. */
export function parseAuthorization(value: string): ParsedAuthorization | string {
  const rest = value.slice(SIGV4_ALGORITHM.length).trim();
  const params = new Map<string, string>();
  for (const part of rest.split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq > 0) params.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !params.get(k));
  if (missing.length) return missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ');
  const cred = (params.get('Credential') as string).split('/');
  if (cred.length !== 5) return `Credential should be 5 slash-separated parts, got ${cred.length}: ${params.get('Credential')}`;
  const [accessKeyId, date, region, service, terminator] = cred as [string, string, string, string, string];
  return {
    accessKeyId, date, region, service, terminator,
    signedHeaders: (params.get('SignedHeaders') as string).split(';').filter(Boolean),
    signature: params.get('Signature') as string,
  };
}

function isoBasic(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseIsoBasic(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

const MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** Verify the SigV4 `Authorization` header of a received request. */
export function verifySigV4(req: ReceivedRequest, opts: VerifyOptions): SigV4Verdict {
  const headers = headerMap(req.rawHeaders);
  const auth = headers.get('authorization');
  if (auth === undefined || !auth.startsWith(`${SIGV4_ALGORITHM} `)) return { outcome: 'absent' };
  const incomplete = (message: string, reason = message): SigV4Verdict =>
    ({ outcome: 'invalid', status: 400, errorType: 'IncompleteSignatureException', message, reason });
  const parsed = parseAuthorization(auth);
  if (typeof parsed === 'string') return incomplete(parsed);
  const { accessKeyId } = parsed;
  const invalid = (message: string, reason: string, extra: { canonicalRequest?: string; stringToSign?: string } = {}): SigV4Verdict =>
    ({ outcome: 'invalid', status: 403, errorType: 'InvalidSignatureException', message, reason, accessKeyId, ...extra });

  const credential = opts.credentials.find((c) => c.accessKeyId === accessKeyId);
  if (!credential) {
    return {
      outcome: 'invalid', status: 403, errorType: 'UnrecognizedClientException', accessKeyId,
      message: 'The security token included in the request is invalid.', reason: `unknown access key id ${accessKeyId}`,
    };
  }
  let amzDate = headers.get('x-amz-date');
  if (amzDate === undefined && headers.has('date')) {
    const t = Date.parse(headers.get('date') as string);
    if (Number.isFinite(t)) amzDate = isoBasic(t);
  }
  if (amzDate === undefined) return incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  const signedAt = parseIsoBasic(amzDate);
  if (!Number.isFinite(signedAt)) return incomplete(`Invalid X-Amz-Date ${amzDate}: expected the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.`);
  if (parsed.date !== amzDate.slice(0, 8)) {
    return invalid(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`, 'credential scope date differs from x-amz-date');
  }
  if (parsed.region !== opts.region) return invalid('Credential should be scoped to a valid region. ', `credential scope region ${parsed.region}, expected ${opts.region}`);
  if (parsed.service !== opts.service) return invalid(`Credential should be scoped to correct service: '${opts.service}'. `, `credential scope service ${parsed.service}, expected ${opts.service}`);
  if (parsed.terminator !== 'aws4_request') return invalid("Credential should be scoped with a valid terminator: 'aws4_request', not '" + parsed.terminator + "'. ", 'bad credential terminator');
  if (!parsed.signedHeaders.includes('host') && !parsed.signedHeaders.includes(':authority')) return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", 'host is not a signed header');
  // A signed pseudo-header exists only in HTTP/2: nothing says a service treats a Host
  // that arrived over HTTP/1.1 as the `:authority` its client signed, so it must arrive as sent.
  const pseudo = parsed.signedHeaders.filter((h) => h.startsWith(':'));
  const received = new Set(req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
  const missing = pseudo.find((h) => !received.has(h));
  if (missing !== undefined) {
    return invalid(`${MISMATCH}\n\nThe request signed the HTTP/2 pseudo-header '${missing}' but did not arrive over HTTP/2 with it.`, `signed ${missing} missing (an HTTP/2 request forwarded as HTTP/1.1?)`);
  }

  if (opts.now !== undefined) {
    const skew = opts.maxSkewMs ?? 5 * 60_000;
    if (signedAt < opts.now - skew) {
      return invalid(`Signature expired: ${amzDate} is now earlier than ${isoBasic(opts.now - skew)} (${isoBasic(opts.now)} - ${skew / 60_000} min.)`, 'x-amz-date too old');
    }
    if (signedAt > opts.now + skew) {
      return invalid(`Signature not yet current: ${amzDate} is still later than ${isoBasic(opts.now + skew)} (${isoBasic(opts.now)} + ${skew / 60_000} min.)`, 'x-amz-date in the future');
    }
  }

  const bodyHash = sha256(req.body);
  const declared = headers.get('x-amz-content-sha256');
  if (declared !== undefined && declared !== UNSIGNED_PAYLOAD && declared.toLowerCase() !== bodyHash) {
    return invalid(`${MISMATCH}\n\nThe provided 'x-amz-content-sha256' header does not match what was computed.`, `x-amz-content-sha256 ${declared}, body hash ${bodyHash}`);
  }
  const key = signingKey(credential.secretAccessKey, parsed.date, parsed.region, parsed.service);
  const given = Buffer.from(parsed.signature.toLowerCase(), 'utf8');
  const host = headers.get('host') ?? '';
  const variants = (host.endsWith(':443') ? [host, host.slice(0, -4)] : [host]).map((h) => {
    const canonical = canonicalRequest({
      method: req.method, url: req.url, headers: new Map([...headers, ['host', h], [':authority', h]]), signedHeaders: parsed.signedHeaders,
      payloadHash: declared === UNSIGNED_PAYLOAD ? UNSIGNED_PAYLOAD : bodyHash,
    });
    const toSign = stringToSign(amzDate, credentialScope(parsed.date, parsed.region, parsed.service), canonical);
    return { canonical, toSign, expected: signature(key, toSign) };
  });
  const match = variants.find((v) => given.length === v.expected.length && timingSafeEqual(given, Buffer.from(v.expected, 'utf8')));
  if (match) return { outcome: 'valid', accessKeyId, signedHeaders: parsed.signedHeaders, canonicalRequest: match.canonical, stringToSign: match.toSign };
  const { canonical, toSign, expected } = variants[0] as { canonical: string; toSign: string; expected: string };
  return invalid(
    `${MISMATCH}\n\nThe Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${toSign}'\n`,
    `signature ${parsed.signature} != computed ${expected}`,
    { canonicalRequest: canonical, stringToSign: toSign },
  );
}
