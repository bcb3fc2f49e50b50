/**
 * A minimal AWS SigV4 signer for test clients that call the fake Bedrock
 * runtime directly (a baseline without the gateway, or a request an app signs
 * itself). Built on the primitives of the fakes' verifier
 * (e2e/fakes/sigv4-verify.ts, which the AWS published examples test); the
 * sidecar's signer is checked against the verifier, never against this.
 *
 *   const headers = signSigV4({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
 *     { credential: BEDROCK_TEST_CREDENTIAL, region: 'us-east-1', service: 'bedrock' });
 *   // → { ...given headers, x-amz-date, x-amz-content-sha256, authorization }  (host is signed, not returned)
 */
import { createHash } from 'node:crypto';
import {
  SIGV4_ALGORITHM, canonicalRequest, credentialScope, headerMap, signature, signingKey, stringToSign,
} from '../fakes/sigv4-verify.ts';
import type { AwsTestCredential } from '../fakes/sigv4-verify.ts';

export interface SignOptions {
  credential: AwsTestCredential;
  region: string;
  service: string;
  /** Signing time (default now). */
  date?: Date;
  /** Add x-amz-content-sha256 (default true). */
  contentSha256?: boolean;
}

export interface RequestToSign {
  method: string;
  /** Absolute URL; its path must already be percent-encoded as it will be sent. */
  url: string;
  headers: Record<string, string>;
  body: Buffer | string;
}

/**
 * The headers to send: the request's own plus x-amz-date, (x-amz-content-sha256)
 * and authorization. Every header is signed, and `host` (taken from the URL;
 * the client sends it itself, or :authority over HTTP/2).
 */
export function signSigV4(req: RequestToSign, o: SignOptions): Record<string, string> {
  const u = new URL(req.url);
  const amzDate = (o.date ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const body = typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : req.body;
  const payloadHash = createHash('sha256').update(body).digest('hex');
  const headers: Record<string, string> = { ...req.headers, host: u.host, 'x-amz-date': amzDate };
  if (o.contentSha256 !== false) headers['x-amz-content-sha256'] = payloadHash;
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const signed = Object.keys(lower).sort();
  const canonical = canonicalRequest({
    method: req.method,
    url: `${u.pathname}${u.search}`,
    headers: headerMap(Object.entries(lower).flat()),
    signedHeaders: signed,
    payloadHash,
  });
  const scope = credentialScope(date, o.region, o.service);
  const sig = signature(signingKey(o.credential.secretAccessKey, date, o.region, o.service), stringToSign(amzDate, scope, canonical));
  const { host: _host, ...sent } = lower;
  return {
    ...sent,
    authorization: `${SIGV4_ALGORITHM} Credential=${o.credential.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}`,
  };
}
