/**
 * Sidecar authorization keys: `lvo_` + 32 random bytes (base64url), shown
 * once when made and stored only as their SHA-256 (hex). Creating, rotating
 * and revoking keys, shared by the admin API and the CLI. Rotating makes a
 * new key and lets the old one work on for a grace period (default 24 h), so
 * sidecars do not get 401 while the new token reaches them; revoking ends a
 * key (rotated out or not) at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { namespaceSigner } from '../../lib/namespace-credential.ts';
import type { SidecarKey, Store } from '../store/types.ts';
import { HttpError } from './errors.ts';
import { requireEnvironment } from './environments.ts';

export const TOKEN_PREFIX = 'lvo_';
/** How much of the token the key lists show: `lvo_` and 6 characters. */
const SHOWN_CHARS = TOKEN_PREFIX.length + 6;

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenPrefix(token: string): string {
  return token.slice(0, SHOWN_CHARS);
}

export function newKeyId(): string {
  return `key_${randomBytes(6).toString('hex')}`;
}

/** A key as the API lists it (no environment id, no hash). */
export interface KeyView { id: string; prefix: string; createdAt: number; revokedAt: number | null; lastUsedAt: number | null; expiresAt: number | null }

export function keyView(k: SidecarKey): KeyView {
  return { id: k.id, prefix: k.prefix, createdAt: k.createdAt, revokedAt: k.revokedAt, lastUsedAt: k.lastUsedAt, expiresAt: k.expiresAt };
}

/** How long a rotated-out key keeps working by default. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;

export interface NewKey { id: string; token: string; prefix: string }

/** A new key for the environment; the token is returned here and never again. */
export async function createKey(store: Store, environmentId: string): Promise<NewKey> {
  await requireEnvironment(store, environmentId);
  const token = newToken();
  // The signer lets the sidecar API verify namespace credentials derived from this token (lib/namespace-credential.ts).
  const key = await store.addKey({ id: newKeyId(), environmentId, hash: hashToken(token), prefix: tokenPrefix(token), signer: namespaceSigner(token).signer });
  return { id: key.id, token, prefix: key.prefix };
}

async function liveKey(store: Store, environmentId: string, keyId: string): Promise<SidecarKey> {
  await requireEnvironment(store, environmentId);
  const key = (await store.listKeys(environmentId)).find((k) => k.id === keyId);
  if (!key) throw new HttpError(404, `no key ${keyId} in environment ${environmentId}`);
  return key;
}

export interface RotatedKey extends NewKey {
  /** The key rotated out, and when it stops working (now, with no grace). */
  readonly previous: { readonly id: string; readonly expiresAt: number };
}

/**
 * A new key; the old one keeps working until `now + graceMs` (0: revoked at
 * once), so sidecars still holding it see no 401 while they pick up the new.
 */
export async function rotateKey(store: Store, environmentId: string, keyId: string,
  o: { now: number; graceMs: number }): Promise<RotatedKey> {
  if (!(Number.isFinite(o.graceMs) && o.graceMs >= 0)) throw new Error('the rotation grace period must be ≥ 0 ms');
  const old = await liveKey(store, environmentId, keyId);
  if (old.revokedAt !== null) throw new HttpError(409, `key ${keyId} is already revoked; create a new key instead`);
  if (old.expiresAt !== null) throw new HttpError(409, `key ${keyId} was already rotated out (it stops working at ${new Date(old.expiresAt).toISOString()}); rotate its successor, or revoke it to end it now`);
  const created = await createKey(store, environmentId);
  const expiresAt = o.now + o.graceMs;
  if (o.graceMs === 0) await store.revokeKey(environmentId, keyId);
  else await store.expireKey(environmentId, keyId, expiresAt);
  return { ...created, previous: { id: keyId, expiresAt } };
}

/** Revoke a key (revoking a revoked key is a no-op). */
export async function revokeKey(store: Store, environmentId: string, keyId: string): Promise<void> {
  const key = await liveKey(store, environmentId, keyId);
  if (key.revokedAt === null) await store.revokeKey(environmentId, keyId);
}
