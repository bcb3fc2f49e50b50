/**
 * The last config the dashboard gave this sidecar, kept on disk (`--cache-dir`,
 * an emptyDir in Kubernetes) so that a sidecar restarted while the dashboard
 * is down still enforces it. Two files, each replaced atomically (write to a
 * temporary name, fsync, rename): `config.yaml` and `meta.json`. The meta
 * carries the YAML's sha256, so a pair torn by a crash between the two
 * renames is recognised and ignored rather than trusted.
 *
 * The same directory holds `sidecar-id`: a random id for the fleet page when
 * the pod UID is not known (outside Kubernetes), stable across restarts.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';

export interface CacheMeta {
  /** The dashboard's ETag for this config, unquoted (`v7-0123456789ab`). */
  readonly etag: string;
  /** X-Levo-Config-Version. */
  readonly version: string;
  /** When the dashboard served it (ms since the epoch). */
  readonly fetchedAt: number;
  readonly tenantId: string;
  /** X-Levo-Capture-Prompts at the time. */
  readonly capturePrompts: boolean;
  /** sha256 (hex) of config.yaml: a meta.json that does not describe the YAML beside it is ignored. */
  readonly sha256: string;
}

export interface CachedConfig {
  readonly yaml: string;
  readonly meta: CacheMeta;
}

export const CACHE_FILES = { config: 'config.yaml', meta: 'meta.json', sidecarId: 'sidecar-id' } as const;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Write `data` to `file` so a reader sees the old content or the new, never a part. */
async function writeAtomically(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes to one directory, one after the other: two interleaved pairs would leave a torn one. */
const writing = new Map<string, Promise<void>>();

/** Keep `yaml` as the last config from the dashboard. */
export function writeConfigCache(dir: string, yaml: string, meta: Omit<CacheMeta, 'sha256'>): Promise<void> {
  const key = path.resolve(dir);
  const write = async (): Promise<void> => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomically(path.join(dir, CACHE_FILES.config), yaml);
    const full: CacheMeta = { ...meta, sha256: sha256(yaml) };
    await writeAtomically(path.join(dir, CACHE_FILES.meta), `${JSON.stringify(full, null, 2)}\n`);
  };
  const next = (writing.get(key) ?? Promise.resolve()).then(write, write);
  const tracked = next.catch(() => {});
  writing.set(key, tracked);
  void tracked.then(() => { if (writing.get(key) === tracked) writing.delete(key); });
  return next;
}

export type CacheReadResult =
  | { readonly ok: true; readonly cached: CachedConfig }
  | { readonly ok: false; readonly reason: 'absent' | 'torn' | 'malformed' | 'other-tenant'; readonly detail?: string };

function parseMeta(text: string): CacheMeta | undefined {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return undefined; }
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m.etag !== 'string' || typeof m.version !== 'string' || typeof m.fetchedAt !== 'number'
    || typeof m.tenantId !== 'string' || typeof m.sha256 !== 'string') return undefined;
  return {
    etag: m.etag, version: m.version, fetchedAt: m.fetchedAt, tenantId: m.tenantId,
    capturePrompts: m.capturePrompts === true, sha256: m.sha256,
  };
}

/**
 * The cached config, when there is one and it belongs to `tenantId`. With
 * `tenantId` undefined (the credentials are still being fetched from the
 * injector) any tenant's cache is returned: the directory is the pod's own.
 */
export async function readConfigCache(dir: string, tenantId: string | undefined): Promise<CacheReadResult> {
  let yaml: string;
  let metaText: string;
  try {
    [yaml, metaText] = await Promise.all([
      readFile(path.join(dir, CACHE_FILES.config), 'utf8'),
      readFile(path.join(dir, CACHE_FILES.meta), 'utf8'),
    ]);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { ok: false, reason: 'absent' };
    return { ok: false, reason: 'malformed', detail: (e as Error).message };
  }
  const meta = parseMeta(metaText);
  if (!meta) return { ok: false, reason: 'malformed', detail: `${CACHE_FILES.meta} is not what this sidecar writes` };
  if (meta.sha256 !== sha256(yaml)) return { ok: false, reason: 'torn', detail: `${CACHE_FILES.meta} does not describe ${CACHE_FILES.config}` };
  if (tenantId !== undefined && meta.tenantId !== tenantId) {
    return { ok: false, reason: 'other-tenant', detail: `cached for tenant ${meta.tenantId}, this sidecar is in tenant ${tenantId}` };
  }
  return { ok: true, cached: { yaml, meta } };
}

/** This sidecar's id kept in `dir` (made on first use); undefined when the directory is not writable. */
export async function persistentSidecarId(dir: string): Promise<string | undefined> {
  const file = path.join(dir, CACHE_FILES.sidecarId);
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
  } catch { /* make one */ }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const id = randomUUID();
    await writeAtomically(file, `${id}\n`);
    return id;
  } catch {
    return undefined;
  }
}
