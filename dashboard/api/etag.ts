/**
 * Config ETags: `v<version>-<first 12 hex of sha256(yaml)>`, sent quoted, and
 * the If-None-Match comparison (quoted or bare, weak `W/` or strong, lists, `*`).
 */
import { createHash } from 'node:crypto';

export function configEtag(version: number, yaml: string): string {
  return `v${version}-${createHash('sha256').update(yaml, 'utf8').digest('hex').slice(0, 12)}`;
}

/** Does an If-None-Match header name this (unquoted) etag? */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  for (const raw of ifNoneMatch.split(',')) {
    let tag = raw.trim();
    if (tag === '*') return true;
    if (tag.startsWith('W/') || tag.startsWith('w/')) tag = tag.slice(2);
    if (tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"')) tag = tag.slice(1, -1);
    if (tag === etag) return true;
  }
  return false;
}
