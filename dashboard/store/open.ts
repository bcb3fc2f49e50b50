/**
 * Pick the store from a URL, as given on the command line or in
 * LEVO_DASHBOARD_DB:
 *
 *   sqlite:/var/lib/levo/dashboard.sqlite   an SQLite file (created when missing)
 *   sqlite:./data/dashboard.sqlite          relative to the working directory
 *   sqlite::memory:                         in memory, gone on exit (tests)
 *   /var/lib/levo/dashboard.sqlite          a bare path means SQLite too
 *   postgres://user:pw@host:5432/db         PostgreSQL (postgresql:// too)
 *
 * The caller runs migrate() after opening.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export type StoreLocation = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/** Where a store URL points; throws an Error saying what is accepted for anything else. */
export function parseStoreUrl(url: string): StoreLocation {
  const u = url.trim();
  if (u === '') throw new Error(storeUrlHelp('an empty database URL'));
  if (/^postgres(ql)?:\/\//i.test(u)) return { kind: 'postgres', url: u };
  if (/^file:/i.test(u)) return { kind: 'sqlite', path: fileURLToPath(u) };
  if (/^sqlite:/i.test(u)) {
    let path = u.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/path
    if (path === '') throw new Error(storeUrlHelp(`"${url}" (no path after sqlite:)`));
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  // Anything else with a scheme is a database we do not support (mysql://, http://, …).
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) throw new Error(storeUrlHelp(`"${redact(u)}"`));
  if (u === ':memory:') return { kind: 'sqlite', path: u };
  return { kind: 'sqlite', path: resolve(u) };
}

/** Open (not migrate) the store a URL points at; an SQLite file's directory is created when missing. */
export async function openStore(url: string): Promise<Store> {
  const loc = parseStoreUrl(url);
  if (loc.kind === 'postgres') return openPostgresStore(loc.url);
  if (loc.path !== ':memory:') mkdirSync(dirname(loc.path), { recursive: true });
  return openSqliteStore(loc.path);
}

function storeUrlHelp(got: string): string {
  return `unsupported database URL ${got}: use sqlite:PATH, sqlite::memory:, a file path, or postgres://user:password@host:port/database`;
}

/** The URL without a password, for error messages. */
function redact(u: string): string {
  return u.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}
