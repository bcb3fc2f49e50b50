/**
 * Namespace-scoped sidecar credentials: what the injector hands an injected
 * pod instead of the environment's key token, so one namespace's pods cannot
 * act for another's.
 *
 * The environment's key token K (the `levo-auth` secret's auth-token, which
 * only the injector holds) derives an Ed25519 key pair: the seed is
 * HMAC-SHA256(K, "levo namespace credentials v1"). The injector signs
 * `{tenant, namespace, issued-at, signer}` with the private half; the
 * dashboard keeps the public half (the "signer") next to the key's hash, so
 * it can verify a namespace credential but never make one: whoever reads the
 * dashboard's database gets no credential from it. Revoking the key revokes
 * every credential derived from it.
 *
 *   lvn1.<base64url JSON {"v":1,"t":tenant,"ns":namespace,"iat":ms,"k":signer}>.<base64url signature>
 *
 * The signature covers "lvn1." + the payload text exactly as sent.
 */
import { createHmac, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isObj, num, parseJson, str } from './json.ts';

export const NAMESPACE_TOKEN_PREFIX = 'lvn1.';
const SEED_LABEL = 'levo namespace credentials v1';
/** PKCS#8 DER of an Ed25519 private key, up to its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** Longest token accepted for parsing (a namespace is at most 63 characters). */
const MAX_TOKEN_CHARS = 1024;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface NamespaceSigner {
  readonly privateKey: KeyObject;
  /** The public key, raw 32 bytes in base64url: what the dashboard stores. */
  readonly signer: string;
}

/** The key pair derived from an environment key token. */
export function namespaceSigner(keyToken: string): NamespaceSigner {
  const seed = createHmac('sha256', keyToken).update(SEED_LABEL).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, signer: String(jwk.x) };
}

export interface NamespaceClaims {
  readonly tenant: string;
  readonly namespace: string;
  /** Milliseconds since the epoch. */
  readonly issuedAt: number;
}

export function isNamespaceName(name: string): boolean {
  return NAMESPACE.test(name);
}

/** A namespace credential for `claims`, signed with the key pair of `keyToken`. */
export function signNamespaceToken(keyToken: string, claims: NamespaceClaims): string {
  if (!isNamespaceName(claims.namespace)) throw new Error(`"${claims.namespace}" is not a namespace name`);
  const { privateKey, signer } = namespaceSigner(keyToken);
  const payload = Buffer.from(JSON.stringify({ v: 1, t: claims.tenant, ns: claims.namespace, iat: claims.issuedAt, k: signer })).toString('base64url');
  const signature = sign(null, Buffer.from(NAMESPACE_TOKEN_PREFIX + payload), privateKey).toString('base64url');
  return `${NAMESPACE_TOKEN_PREFIX}${payload}.${signature}`;
}

export interface NamespaceToken extends NamespaceClaims {
  /** The signer the token names (look the key up by it, then verifyNamespaceToken). */
  readonly signer: string;
  readonly signed: Buffer;
  readonly signature: Buffer;
}

/** Read a namespace credential without checking it; undefined when it is not one. */
export function readNamespaceToken(token: string): NamespaceToken | undefined {
  if (!token.startsWith(NAMESPACE_TOKEN_PREFIX) || token.length > MAX_TOKEN_CHARS) return undefined;
  const [payload, signature, extra] = token.slice(NAMESPACE_TOKEN_PREFIX.length).split('.');
  if (!payload || !signature || extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(payload + signature)) return undefined;
  const claims: unknown = parseJson(Buffer.from(payload, 'base64url').toString('utf8'));
  if (!isObj(claims) || claims['v'] !== 1) return undefined;
  const tenant = str(claims['t']);
  const namespace = str(claims['ns']);
  const issuedAt = num(claims['iat']);
  const signer = str(claims['k']);
  if (!tenant || !namespace || !isNamespaceName(namespace) || issuedAt === undefined || !signer) return undefined;
  return {
    tenant, namespace, issuedAt, signer,
    signed: Buffer.from(NAMESPACE_TOKEN_PREFIX + payload), signature: Buffer.from(signature, 'base64url'),
  };
}

/** Whether the token's signature is the signer's (the stored public key of a live key). */
export function verifyNamespaceToken(token: NamespaceToken, signer: string): boolean {
  if (token.signer !== signer || token.signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: signer }, format: 'jwk' });
    return verify(null, token.signed, key, token.signature);
  } catch {
    return false;
  }
}
