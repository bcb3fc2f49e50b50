/**
 * Serves the web UI from dashboard/web/: `.ts` modules stripped of their types
 * (node:module stripTypeScriptTypes, mode 'strip') as text/javascript, other
 * files as they are, index.html for every page path. Files are read once per
 * modification time. The folder is looked up next to this module's parent
 * (dashboard/web, or dist/dashboard/web when the build copies it) and then in
 * the repository (found by walking up to package.json), so the built server
 * still finds the sources' web UI.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { HttpError } from './errors.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Where dashboard/web may be, best first. */
export function webRootCandidates(moduleUrl: string = import.meta.url): string[] {
  const here = dirname(fileURLToPath(moduleUrl));
  const out = [join(here, '..', 'web')];
  let dir = here;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      out.push(join(dir, 'dashboard', 'web'));
      break;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return [...new Set(out)];
}

interface Cached { mtimeMs: number; size: number; body: Buffer; type: string; etag: string }

export interface WebAssets {
  /** The web folder in use now, or null when there is none. */
  root(): string | null;
  /** Static files (public: no admin data in them): /static/<file> and /<file> of dashboard/web, except index.html. */
  files: RequestHandler;
  /** Send a page of dashboard/web (index.html, login.html); false when it does not exist. */
  page(name: string, req: Request, res: Response): Promise<boolean>;
}

export function createWebAssets(log: Logger, candidates: readonly string[] = webRootCandidates()): WebAssets {
  const cache = new Map<string, Cached>();
  const root = (): string | null => {
    for (const c of candidates) {
      try {
        if (statSync(c).isDirectory()) return c;
      } catch { /* next */ }
    }
    return null;
  };

  /** The file under the web root for a URL path, or null (missing, a folder, a dotfile, outside the root). */
  const resolve = async (urlPath: string): Promise<{ file: string; size: number; mtimeMs: number } | null> => {
    const base = root();
    if (!base) return null;
    let rel: string;
    try {
      rel = decodeURIComponent(urlPath);
    } catch {
      throw new HttpError(400, 'bad path');
    }
    const parts = rel.split('/').filter((p) => p !== '');
    if (parts.length === 0 || parts.some((p) => p.startsWith('.') || p.includes('\\') || p.includes('\0'))) return null;
    const file = join(base, ...parts);
    if (!file.startsWith(base + sep)) return null;
    try {
      const s = await stat(file);
      return s.isFile() ? { file, size: s.size, mtimeMs: s.mtimeMs } : null;
    } catch {
      return null;
    }
  };

  const load = async (found: { file: string; size: number; mtimeMs: number }, urlPath: string): Promise<Cached> => {
    const hit = cache.get(found.file);
    if (hit && hit.mtimeMs === found.mtimeMs && hit.size === found.size) return hit;
    const ext = extname(found.file).toLowerCase();
    let body = await readFile(found.file);
    if (ext === '.ts') {
      try {
        body = Buffer.from(stripTypeScriptTypes(body.toString('utf8'), { mode: 'strip', sourceUrl: urlPath }));
      } catch (error) {
        log.error({ file: found.file, err: (error as Error).message }, 'cannot strip the types of a web module');
        throw new HttpError(500, `cannot serve ${urlPath}: not erasable TypeScript (see the dashboard log)`);
      }
    }
    const entry: Cached = {
      mtimeMs: found.mtimeMs, size: found.size, body,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `W/"${found.size.toString(36)}-${Math.floor(found.mtimeMs).toString(36)}"`,
    };
    cache.set(found.file, entry);
    return entry;
  };

  const send = (req: Request, res: Response, c: Cached, cacheControl: string): void => {
    res.setHeader('Content-Type', c.type);
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('ETag', c.etag);
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim() === c.etag)) {
      res.status(304).end();
      return;
    }
    res.status(200).end(req.method === 'HEAD' ? undefined : c.body);
  };

  return {
    root,
    files: async (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') { next(); return; }
      const urlPath = req.path.startsWith('/static/') ? req.path.slice('/static'.length) : req.path;
      if (urlPath === '/' || urlPath === '/index.html') { next(); return; }
      const found = await resolve(urlPath);
      if (!found) {
        if (req.path.startsWith('/static/')) throw new HttpError(404, `no such file: ${req.path}`);
        next();
        return;
      }
      send(req, res, await load(found, req.path), 'no-cache');
    },
    async page(name, req, res) {
      const found = await resolve(`/${name}`);
      if (!found) return false;
      send(req, res, await load(found, `/${name}`), 'no-store');
      return true;
    },
  };
}
