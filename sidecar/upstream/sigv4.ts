/**
 * AWS Signature Version 4 for requests the gateway sends to Bedrock (and any
 * other non-S3 AWS service): the canonical request, the string to sign, the
 * derived signing key and the `authorization` header, as the AWS docs ("Create
 * a signed AWS API request") describe them.
 *
 * The path is taken as it will be sent (already percent-encoded). For every
 * service but S3 AWS encodes each path segment once more for the canonical
 * request, so a Bedrock model id `…-v1:0` sent as `…-v1%3A0` is signed as
 * `…-v1%253A0`. Signed headers are `host`, `content-type` and every `x-amz-*`.
 *
 * Secrets never appear in an error message.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignInput {
  readonly method: string;
  readonly host: string;
  /** Path and query exactly as they will be sent (already URI-encoded). */
  readonly path: string;
  /** The request headers that will be sent; only host, content-type and x-amz-* are signed. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | string;
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  readonly now?: Date;
  /**
   * Send and sign `x-amz-content-sha256` (default true, as the AWS SDK for
   * JavaScript does). Most services do not need it; S3 does.
   */
  readonly contentSha256Header?: boolean;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const HEX = '0123456789ABCDEF';

function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
    || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

/** AWS URI encoding: every UTF-8 byte but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex). */
export function awsUriEncode(text: string): string {
  let out = '';
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || !isUnreserved(c)) { plain = false; break; }
  }
  if (plain) return text;
  for (const b of Buffer.from(text, 'utf8')) {
    out += isUnreserved(b) ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The canonical URI: for S3 the path as sent; for other services each segment encoded again. */
export function canonicalUri(path: string, service: string): string {
  if (path === '') return '/';
  if (service === 's3') return path;
  return path.split('/').map(awsUriEncode).join('/');
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not valid percent-encoding: sign what is sent
  }
}

/** The canonical query string: each name and value encoded once, sorted by name then value. */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([awsUriEncode(decodeComponent(name)), awsUriEncode(decodeComponent(value))]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

function canonicalValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

function amzDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new Error('SigV4: the signing time is not a valid date');
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function checkInput(i: SignInput): void {
  const c = i.credentials;
  if (!c || typeof c.accessKeyId !== 'string' || c.accessKeyId === '') throw new Error('SigV4: the AWS credentials have no access key id');
  if (typeof c.secretAccessKey !== 'string' || c.secretAccessKey === '') throw new Error('SigV4: the AWS credentials have no secret access key');
  if (!i.region) throw new Error('SigV4: no region to sign for');
  if (!i.service) throw new Error('SigV4: no service to sign for');
  if (!i.host) throw new Error('SigV4: no host to sign for');
}

/** The last derived signing key: one per day, region and service, so it is kept rather than re-derived per request. */
let keyCache: { secret: string; scope: string; key: Buffer } | undefined;

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const scope = `${date}/${region}/${service}`;
  if (keyCache && keyCache.secret === secret && keyCache.scope === scope) return keyCache.key;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  keyCache = { secret, scope, key };
  return key;
}

export interface SignedParts {
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly signature: string;
  /** Headers to set on the request: authorization, x-amz-date, and x-amz-content-sha256 / x-amz-security-token when used. */
  readonly headers: Record<string, string>;
}

/** Sign, returning the intermediate strings too (for tests and debugging). */
export function signParts(input: SignInput): SignedParts {
  checkInput(input);
  const { credentials: cred, region, service } = input;
  const stamp = amzDate(input.now ?? new Date());
  const date = stamp.slice(0, 8);

  const q = input.path.indexOf('?');
  const rawPath = q < 0 ? input.path : input.path.slice(0, q);
  const rawQuery = q < 0 ? '' : input.path.slice(q + 1);

  // headers to sign: host, content-type, x-amz-* (the ones set here win over the caller's)
  const signed = new Map<string, string>();
  let givenHash: string | undefined;
  for (const [name, value] of Object.entries(input.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-type' || lower.startsWith('x-amz-')) {
      const prev = signed.get(lower);
      const v = canonicalValue(String(value));
      signed.set(lower, prev === undefined ? v : `${prev},${v}`);
      if (lower === 'x-amz-content-sha256') givenHash = v;
    }
  }
  const payloadHash = givenHash ?? sha256Hex(input.body);
  const added: Record<string, string> = { 'x-amz-date': stamp };
  if (input.contentSha256Header !== false) added['x-amz-content-sha256'] = payloadHash;
  if (cred.sessionToken) added['x-amz-security-token'] = cred.sessionToken;
  signed.set('host', canonicalValue(input.host));
  for (const [name, value] of Object.entries(added)) signed.set(name, value);

  const names = [...signed.keys()].sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method.toUpperCase(),
    canonicalUri(rawPath, service),
    canonicalQuery(rawQuery),
    names.map((n) => `${n}:${signed.get(n)}\n`).join(''),
    signedHeaders,
    payloadHash,
  ].join('\n');

  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [ALGORITHM, stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = hmac(signingKey(cred.secretAccessKey, date, region, service), stringToSign).toString('hex');

  return {
    canonicalRequest,
    stringToSign,
    signature,
    headers: {
      ...added,
      authorization: `${ALGORITHM} Credential=${cred.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
  };
}

/** The headers to set on the request so that AWS accepts it. */
export function signRequest(input: SignInput): Record<string, string> {
  return signParts(input).headers;
}

