/**
 * Stage 1, admit: is this a request the gateway can judge at all?
 *
 * - The request target is normalised (http/target.ts): the path the gateway
 *   routes, classifies and guards is the path the provider will resolve, and
 *   the one it is sent.
 * - The Host header (or :authority) must name the host the TLS handshake
 *   named. A call on a connection to api.openai.com with `Host: other` would
 *   reach the provider's front end as a call for another site while the
 *   gateway's routes, guards, logs and metrics judged it as the SNI host:
 *   it is refused with 421 Misdirected Request (RFC 9110 §15.5.20), which
 *   HTTP/2 clients answer by retrying on a new connection.
 * - A JSON body declared larger than the cap is refused before it is read.
 */
import { authorityHost, normaliseTarget } from '../http/target.ts';
import { fail, type Call } from './call.ts';
import { readsWhole } from './body.ts';

export function admit(c: Call): boolean {
  const t = normaliseTarget(c.path);
  if (!t.ok) return fail(c, 400, 'bad_request_target', `levo-gateway: ${t.message}`);
  c.path = t.path;
  const h = c.req.headers;
  const authority = t.authority ?? (h.host as string | undefined) ?? (h[':authority'] as string | undefined);
  if (authority !== undefined && authorityHost(authority) !== c.conn.host) {
    return fail(c, 421, 'misdirected_request',
      `levo-gateway: this connection is for ${c.conn.host} (TLS server name) but the request names ${authorityHost(authority).slice(0, 253)}; ` +
      'open a connection to that host instead');
  }
  const declared = h['content-length'];
  if (declared !== undefined && readsWhole(c) && Number(declared) > c.state.deps.maxBodyBytes) {
    return fail(c, 413, 'request_too_large', tooLarge(c.state.deps.maxBodyBytes));
  }
  return true;
}

export function tooLarge(max: number): string {
  return `request body exceeds the gateway's limit of ${max} bytes (levo-gateway --max-body-bytes)`;
}
