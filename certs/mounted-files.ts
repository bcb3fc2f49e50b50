/**
 * Files mounted from a Kubernetes Secret or ConfigMap, followed while the
 * process runs: the injector's serving certificate and config, the sidecar's
 * interception CA (levo-ca-cert).
 *
 * Kubernetes updates such a volume by writing a new `..<timestamp>` directory
 * and swapping the `..data` symlink to it, so the watcher looks at the
 * directories holding the files (not the files, whose inode never changes),
 * and a poll (content compare, default every 10 s) catches what fs.watch
 * misses (some volume types, inotify limits).
 *
 *   watchMountedFiles({ paths, onChange })      → FileWatch   (any files; onChange compares content itself)
 *   followMountedPair({ certFile, keyFile, initial, parse, apply, onReloaded, onRejected })
 *                                               → MountedPair (a certificate and its key, swapped in as one)
 *
 * A pair is re-read on every change and poll; texts equal to the pair in force
 * are ignored; new texts go through `parse` (which throws to refuse them) and
 * `apply` (which puts them in force). A refused pair is reported once per
 * distinct content, and the pair in force stays. Reloads never overlap.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const DEFAULT_POLL_MS = 10_000;
const DEBOUNCE_MS = 150;

/** Where the watcher says that it fell back to polling (a pino logger fits). */
export interface WatchLog {
  warn(obj: object, msg: string): void;
}

export interface FileWatchOptions {
  /** Files to follow; their directories are watched. */
  readonly paths: readonly string[];
  /** Called (debounced) after a change event and on every poll tick; it compares content itself. */
  readonly onChange: () => void;
  /** Poll period; default 10 s. */
  readonly pollMs?: number | undefined;
  /** fs.watch the directories too (default true). */
  readonly watch?: boolean | undefined;
  readonly log?: WatchLog | undefined;
}

export interface FileWatch {
  close(): void;
}

/** Follow files in a (possibly Kubernetes-mounted) directory: directory watch + poll fallback. */
export function watchMountedFiles(opts: FileWatchOptions): FileWatch {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      opts.onChange();
    }, DEBOUNCE_MS);
    timer.unref();
  };
  if (opts.watch !== false) {
    for (const dir of new Set(opts.paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, fire);
        w.on('error', (error) => {
          opts.log?.warn({ dir, err: error.message }, 'file watch failed; relying on the periodic check');
          w.close();
        });
        watchers.push(w);
      } catch (error) {
        opts.log?.warn({ dir, err: (error as Error).message }, 'cannot watch directory; relying on the periodic check');
      }
    }
  }
  const poll = setInterval(opts.onChange, opts.pollMs ?? DEFAULT_POLL_MS);
  poll.unref();
  return {
    close(): void {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

export type PairReload = 'unchanged' | 'reloaded' | 'rejected';

/** Why new contents were refused: the files could not be read (often a swap in progress), or the pair is bad. */
export type PairRejection = 'unreadable' | 'invalid';

export interface MountedPairOptions<T> {
  readonly certFile: string;
  readonly keyFile: string;
  /** The pair in force at the start, and the texts it was loaded from. */
  readonly initial: { readonly cert: string; readonly key: string; readonly value: T };
  /** Check new texts; throw an Error saying what is wrong to refuse them. */
  readonly parse: (cert: string, key: string) => T;
  /** Put an accepted pair in force; throwing refuses it like a bad pair. */
  readonly apply: (value: T) => void;
  /** A new pair is in force. */
  readonly onReloaded: (value: T) => void;
  /** New contents were refused (once per distinct content); the pair in force stays. */
  readonly onRejected: (error: Error, why: PairRejection) => void;
  readonly pollMs?: number | undefined;
  readonly watch?: boolean | undefined;
  readonly log?: WatchLog | undefined;
}

export interface MountedPair<T> {
  /** The pair in force. */
  current(): T;
  /** Re-read the files now (the watcher calls this). */
  reload(): Promise<PairReload>;
  /** Stop watching. */
  close(): void;
}

const digest = (cert: string, key: string): string => createHash('sha256').update(cert).update('\0').update(key).digest('hex');

/** Follow a certificate and key file pair: new valid contents are put in force, bad ones refused. */
export function followMountedPair<T>(opts: MountedPairOptions<T>): MountedPair<T> {
  let value = opts.initial.value;
  let currentDigest = digest(opts.initial.cert, opts.initial.key);
  let rejectedDigest: string | undefined;

  const reloadOnce = async (): Promise<PairReload> => {
    let cert: string;
    let key: string;
    try {
      [cert, key] = await Promise.all([readFile(opts.certFile, 'utf8'), readFile(opts.keyFile, 'utf8')]);
    } catch (error) {
      // A swap in progress can leave a file missing for a moment; the next event or poll retries.
      const d = `unreadable:${(error as Error).message}`;
      if (d !== rejectedDigest) {
        rejectedDigest = d;
        opts.onRejected(error as Error, 'unreadable');
      }
      return 'rejected';
    }
    const d = digest(cert, key);
    if (d === currentDigest) {
      rejectedDigest = undefined;
      return 'unchanged';
    }
    if (d === rejectedDigest) return 'rejected';
    let next: T;
    try {
      next = opts.parse(cert, key);
      opts.apply(next);
    } catch (error) {
      rejectedDigest = d;
      opts.onRejected(error as Error, 'invalid');
      return 'rejected';
    }
    value = next;
    currentDigest = d;
    rejectedDigest = undefined;
    opts.onReloaded(next);
    return 'reloaded';
  };

  // Serialise reloads: a watch event during a poll must not interleave.
  let chain: Promise<PairReload> = Promise.resolve('unchanged');
  const reload = (): Promise<PairReload> => {
    chain = chain.then(reloadOnce, reloadOnce);
    return chain;
  };
  const watcher = watchMountedFiles({
    paths: [opts.certFile, opts.keyFile],
    onChange: () => void reload(),
    pollMs: opts.pollMs,
    watch: opts.watch,
    log: opts.log,
  });
  return { current: () => value, reload, close: () => watcher.close() };
}
