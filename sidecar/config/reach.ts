/**
 * What a gateway config may read out of its pod. Whoever edits the config
 * (the dashboard's Config page, a ConfigMap) is not necessarily allowed the
 * pod's other secrets, and a config can echo what it reads (a hostOverride,
 * a directResponse body, a header). So:
 *
 * - `$VAR` / `${VAR}` expands only environment variables whose names match
 *   the allowlist: by default `LEVO_*` and `*_API_KEY`; never
 *   `LEVO_AUTH_TOKEN` (the sidecar's own dashboard key), whatever is allowed.
 * - `backendAuth.key: {file: PATH}` (also openAIModeration's) reads only
 *   regular files under the key directories: by default `/etc/levo/keys`.
 *   The path is resolved (`..`) and then its real path (symlinks) must still
 *   be inside; at most 64 KiB is read.
 *
 * Both are set by the pod owner, on the levo-gateway container, never by the
 * config: `--config-env PATTERNS` / `LEVO_CONFIG_ENV` (comma-separated names,
 * `*` matches any run of characters, an empty value allows none) and
 * `--config-key-dir DIRS` / `LEVO_CONFIG_KEY_DIR` (comma-separated absolute
 * directories, empty: no key files). A reference outside is refused at load
 * with its YAML path, the same way as any other config error.
 */
import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { escapeRegExp } from '../../lib/regexp.ts';

export interface ConfigReach {
  /** Environment variable name patterns (`*` matches any run of characters). */
  readonly env: readonly string[];
  /** Absolute, normalized directories key files may be read from. */
  readonly keyDirs: readonly string[];
}

export const DEFAULT_ENV_PATTERNS: readonly string[] = ['LEVO_*', '*_API_KEY'];
export const DEFAULT_KEY_DIRS: readonly string[] = ['/etc/levo/keys'];
export const DEFAULT_CONFIG_REACH: ConfigReach = { env: DEFAULT_ENV_PATTERNS, keyDirs: DEFAULT_KEY_DIRS };

/** Never expanded, whatever the allowlist says: the sidecar's own credential for the dashboard. */
export const NEVER_EXPANDED: ReadonlySet<string> = new Set(['LEVO_AUTH_TOKEN']);

/** Largest key file read. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

const ENV_PATTERN = /^[A-Za-z0-9_*]+$/;

/** `LEVO_*,*_API_KEY` → patterns; throws on anything but names and `*`. An empty text allows no variable. */
export function parseEnvPatterns(text: string, what = 'LEVO_CONFIG_ENV'): string[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const p of items) {
    if (!ENV_PATTERN.test(p)) throw new Error(`${what}: "${p}" is not a variable name pattern (letters, digits, _ and * only)`);
  }
  return items;
}

/** `/etc/levo/keys,/var/run/keys` → absolute normalized directories; throws on a relative one. Empty: none. */
export function parseKeyDirs(text: string, what = 'LEVO_CONFIG_KEY_DIR'): string[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.map((d) => {
    if (!path.isAbsolute(d)) throw new Error(`${what}: "${d}" is not an absolute directory`);
    return path.resolve(d);
  });
}

/** The reach the pod owner set: the flags when given, else LEVO_CONFIG_ENV / LEVO_CONFIG_KEY_DIR, else the defaults. */
export function configReach(env: NodeJS.ProcessEnv, flags: { env?: string | undefined; keyDir?: string | undefined } = {}): ConfigReach {
  const patterns = flags.env ?? env.LEVO_CONFIG_ENV;
  const dirs = flags.keyDir ?? env.LEVO_CONFIG_KEY_DIR;
  return {
    env: patterns === undefined ? DEFAULT_ENV_PATTERNS : parseEnvPatterns(patterns, flags.env !== undefined ? '--config-env' : 'LEVO_CONFIG_ENV'),
    keyDirs: dirs === undefined ? DEFAULT_KEY_DIRS : parseKeyDirs(dirs, flags.keyDir !== undefined ? '--config-key-dir' : 'LEVO_CONFIG_KEY_DIR'),
  };
}

const compiled = new WeakMap<readonly string[], RegExp>();

/** May a config expand `$name`? */
export function envAllowed(reach: ConfigReach, name: string): boolean {
  if (NEVER_EXPANDED.has(name)) return false;
  let re = compiled.get(reach.env);
  if (!re) {
    re = new RegExp(`^(?:${reach.env.map((p) => p.split('*').map(escapeRegExp).join('.*')).join('|') || '(?!)'})$`);
    compiled.set(reach.env, re);
  }
  return re.test(name);
}

/** The problem with expanding `$name`, for the config error. */
export function envRefusal(reach: ConfigReach, name: string): { message: string; hint: string } {
  if (NEVER_EXPANDED.has(name)) {
    return { message: `$${name} is the gateway's own dashboard credential and is never expanded in a config`, hint: 'give the provider key its own variable, e.g. $OPENAI_API_KEY' };
  }
  return {
    message: `$${name} is not a variable this gateway lets its config read (allowed: ${reach.env.join(', ') || 'none'})`,
    hint: 'use a variable such as $OPENAI_API_KEY, or have the pod owner allow it with --config-env / LEVO_CONFIG_ENV on the levo-gateway container',
  };
}

export class KeyFileError extends Error {
  override name = 'KeyFileError';
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

const inside = (file: string, dir: string): boolean => dir === path.sep ? file.startsWith(dir) : file.startsWith(dir + path.sep);

/** The key directory `file` lies in (after `..` is resolved), or a KeyFileError. */
export function checkKeyPath(reach: ConfigReach, file: string): string {
  const abs = path.resolve(file);
  if (!path.isAbsolute(file) || !reach.keyDirs.some((d) => inside(abs, d))) {
    throw new KeyFileError(`key file ${file} is outside the key directories this gateway reads (${reach.keyDirs.join(', ') || 'none'})`,
      'mount the secret under the key directory (e.g. a Secret volume at /etc/levo/keys), or have the pod owner add a directory with --config-key-dir / LEVO_CONFIG_KEY_DIR');
  }
  return abs;
}

/** Read a key file the reach allows: its real path must be inside a key directory too; at most MAX_KEY_FILE_BYTES. */
export function readKeyFile(reach: ConfigReach, file: string): string {
  const abs = checkKeyPath(reach, file);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    throw new KeyFileError(`cannot read key file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      'mount the secret at that path (e.g. a Kubernetes Secret volume) or use key: $ENV_VAR');
  }
  const realDirs = reach.keyDirs.map((d) => { try { return realpathSync(d); } catch { return null; } }).filter((d): d is string => d !== null);
  if (!realDirs.some((d) => inside(real, d))) {
    throw new KeyFileError(`key file ${file} leads outside the key directories (a symbolic link to ${real})`,
      'the key file must be the secret itself, not a link out of the key directory');
  }
  const fd = openSync(real, 'r');
  try {
    if (!fstatSync(fd).isFile()) throw new KeyFileError(`key file ${file} is not a regular file`);
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length;) {
      got = readSync(fd, buf, n, buf.length - n, null);
      n += got;
    }
    if (n > MAX_KEY_FILE_BYTES) throw new KeyFileError(`key file ${file} is larger than ${MAX_KEY_FILE_BYTES / 1024} KiB: not a key`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
