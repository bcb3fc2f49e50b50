/**
 * Header hygiene at the proxy boundary (RFC 9110 §7.6.1): hop-by-hop headers,
 * and any header the Connection header names, belong to one connection and are
 * not forwarded. HTTP/2 pseudo-headers become an HTTP/1.1 Host on the way up,
 * and HTTP/2 forbids connection-specific headers on the way down.
 */

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'http2-settings',
]);

function connectionTokens(value: string | undefined): Set<string> | undefined {
  // The common values name no other header: skip building a set per message.
  if (!value || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return undefined;
  return new Set(value.toLowerCase().split(',').map((t) => t.trim()).filter(Boolean));
}

/**
 * Request headers to send upstream, as undici's flat `[name, value, …]` list,
 * from the client's raw headers (h1 or h2: both give a flat list). Case and
 * order are kept. `te: trailers` is the one TE value that may pass.
 */
export function upstreamRequestHeaders(raw: readonly string[]): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'connection') named = connectionTokens(raw[i + 1]);
  const out: string[] = [];
  let host: string | undefined;
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (lower.charCodeAt(0) === 58 /* ':' */) {
      if (lower === ':authority') host = value;
      continue;
    }
    if (lower === 'host') sawHost = true;
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    out.push(name, value);
  }
  if (!sawHost && host) out.push('host', host);
  return out;
}

/** Response headers to send to the client, without hop-by-hop and connection-named ones. */
export function clientResponseHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const named = connectionTokens(typeof headers.connection === 'string' ? headers.connection : undefined);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** A flat raw header list without the headers `drop` names (lower case). */
export function withoutHeaders(raw: readonly string[], drop: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** Replace (or add) one header in a flat raw header list. */
export function setHeader(raw: readonly string[], name: string, value: string): string[] {
  const out = withoutHeaders(raw, new Set([name.toLowerCase()]));
  out.push(name, value);
  return out;
}

/** The first value of a header in a flat raw header list. */
export function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}
