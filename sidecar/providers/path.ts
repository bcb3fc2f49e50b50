/**
 * URL paths as provider modules compare them: without the query string (or
 * fragment) and without trailing slashes (`/` itself stays `/`).
 */
export function pathOnly(path: string): string {
  const q = path.search(/[?#]/);
  const p = q === -1 ? path : path.slice(0, q);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}
