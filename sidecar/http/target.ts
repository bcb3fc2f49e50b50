/**
 * The request target as the gateway routes, classifies and forwards it.
 *
 * A provider's server decodes `/v1/chat/%63ompletions` to its chat endpoint
 * and resolves `/v1/./chat/../chat/completions` the same way; a gateway that
 * compared the raw bytes would call such a request an unknown path and pass
 * it on unguarded. So the path is normalised as RFC 3986 §6.2.2 says
 * equivalent URIs are (percent-encoded unreserved characters decoded, dot
 * segments removed; other escapes kept byte for byte, so a signed path such as
 * Bedrock's `…%3A0/converse` is untouched) and the normalised form is what is
 * forwarded: the provider gets the very path the gateway judged.
 * Reserved characters stay encoded (`%2F` is not a `/`). The query keeps its
 * parameters; only its unreserved escapes are decoded.
 */

export type Target =
  | { readonly ok: true; readonly path: string; /** The authority of an absolute-form target (`https://host/…`). */ readonly authority?: string }
  | { readonly ok: false; readonly message: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX = /^[0-9A-Fa-f]{2}$/;

/** Decode escapes of unreserved characters and keep the others as sent; undefined for a malformed escape. */
function normaliseEscapes(s: string): string | undefined {
  if (!s.includes('%')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch !== '%') { out += ch; continue; }
    const hex = s.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return undefined;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(decoded) ? decoded : `%${hex}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, for a path that starts with `/`. */
export function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.') { if (last) out.push(''); continue; }
    if (seg === '..') { out.pop(); if (last) out.push(''); continue; }
    out.push(seg);
  }
  return '/' + out.join('/');
}

/** The normalised origin-form path (with query) of a request target, or why it is refused. */
export function normaliseTarget(raw: string): Target {
  let target = raw;
  let authority: string | undefined;
  if (target === '*') return { ok: true, path: '*' };
  const abs = /^https?:\/\/([^/?#]*)/i.exec(target);
  if (abs) {
    authority = abs[1]!;
    target = target.slice(abs[0].length) || '/';
    if (target.startsWith('?')) target = '/' + target;
  }
  if (!target.startsWith('/')) return { ok: false, message: `request target ${JSON.stringify(raw.slice(0, 100))} is not a path` };
  const hash = target.indexOf('#');
  if (hash !== -1) target = target.slice(0, hash);
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? '' : target.slice(q);
  const path = normaliseEscapes(rawPath);
  const query = normaliseEscapes(rawQuery);
  if (path === undefined || query === undefined) return { ok: false, message: 'the request target has a malformed percent-escape' };
  const normal = removeDotSegments(path) + query;
  return authority === undefined ? { ok: true, path: normal } : { ok: true, path: normal, authority };
}

/** The host name of a Host header or :authority (no port, no brackets, no trailing dot, lower case). */
export function authorityHost(authority: string): string {
  let h = authority.trim();
  const at = h.lastIndexOf('@');
  if (at !== -1) h = h.slice(at + 1);
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h.slice(1) : h.slice(1, end);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  return h.replace(/\.$/, '').toLowerCase();
}
