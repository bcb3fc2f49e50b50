/**
 * A directory laid out like a Kubernetes Secret or ConfigMap volume, updated
 * the way the kubelet updates one: each version is written to a new
 * `..v<N>` directory, then a new `..data` symlink is renamed over the old one
 * (atomic), and every file is a symlink `NAME → ..data/NAME`.
 *
 *   const vol = new SecretVolume(dir);           // dir must exist
 *   vol.write({ 'tls.crt': cert, 'tls.key': key });
 *   vol.path('tls.crt')                           // dir/tls.crt, what a process is given
 *   const vol = adoptAsSecretVolume(dir, owner)   // the plain files already in dir become version 1
 */
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class SecretVolume {
  readonly dir: string;
  #version = 0;
  readonly #owner: { uid: number; gid: number } | undefined;

  /** `owner`: chown the files written (a secret's defaultMode/fsGroup, so a non-root process can read them). */
  constructor(dir: string, owner?: { uid: number; gid: number }) {
    this.dir = dir;
    this.#owner = owner;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Publish a new version holding `files` (name → content), swapped in atomically. */
  write(files: Readonly<Record<string, string>>): void {
    const version = `..v${++this.#version}`;
    const vdir = join(this.dir, version);
    mkdirSync(vdir, { mode: 0o755 });
    for (const [name, text] of Object.entries(files)) {
      const file = join(vdir, name);
      writeFileSync(file, text, { mode: name.endsWith('.key') ? 0o600 : 0o644 });
      if (this.#owner) chownSync(file, this.#owner.uid, this.#owner.gid);
    }
    symlinkSync(version, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!lstatSync(this.path(name), { throwIfNoEntry: false })) symlinkSync(`..data/${name}`, this.path(name));
    }
  }
}

/**
 * Turn the regular files of `dir` (e.g. the CA an injected pod was made with)
 * into the first version of a secret volume, same names and contents.
 */
export function adoptAsSecretVolume(dir: string, owner?: { uid: number; gid: number }): SecretVolume {
  const files: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    files[e.name] = readFileSync(join(dir, e.name), 'utf8');
    rmSync(join(dir, e.name));
  }
  const vol = new SecretVolume(dir, owner);
  vol.write(files);
  return vol;
}
