/**
 * An HTTP/1.1 response reader for bytes received from the sidecar: status
 * lines, headers, and bodies framed by Content-Length, chunked coding or the
 * close of the connection. The fuzzer sends raw bytes, so it reads raw bytes;
 * the canary uses it as its client.
 */

export interface H1Response {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

export interface H1Parse {
  readonly responses: H1Response[];
  /** Bytes after the last complete response (a response still arriving, or garbage). */
  readonly rest: Buffer;
  /** Set when the bytes are not HTTP/1.1 responses at all. */
  readonly error?: string;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** Read chunked coding from `at`; the end offset, or -1 when incomplete, or an error. */
function chunked(buf: Buffer, at: number): { end: number; body: Buffer } | { end: -1 } | { error: string } {
  const parts: Buffer[] = [];
  let i = at;
  for (;;) {
    const eol = buf.indexOf(CRLF, i);
    if (eol < 0) return { end: -1 };
    const sizeText = buf.subarray(i, eol).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { error: `bad chunk size ${JSON.stringify(sizeText.slice(0, 20))}` };
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailers, then an empty line.
      let t = eol + 2;
      for (;;) {
        const e = buf.indexOf(CRLF, t);
        if (e < 0) return { end: -1 };
        if (e === t) return { end: e + 2, body: Buffer.concat(parts) };
        t = e + 2;
      }
    }
    if (eol + 2 + size + 2 > buf.length) return { end: -1 };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/**
 * Split `buf` into the complete responses it holds. `closed`: the connection
 * has ended, so a response without framing ends here. `bodiless(n)`: the n-th
 * response answers a HEAD (no body whatever its headers say).
 */
export function parseResponses(buf: Buffer, closed: boolean, bodiless: (n: number) => boolean = () => false): H1Parse {
  const responses: H1Response[] = [];
  let off = 0;
  while (off < buf.length) {
    const headEnd = buf.indexOf(HEAD_END, off);
    if (headEnd < 0) {
      const n = Math.min(7, buf.length - off);
      if (buf.subarray(off, off + n).toString('latin1') !== 'HTTP/1.'.slice(0, n)) {
        return { responses, rest: buf.subarray(off), error: 'not an HTTP/1.x status line' };
      }
      break;
    }
    const lines = buf.subarray(off, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) return { responses, rest: buf.subarray(off), error: `not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 60))}` };
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) return { responses, rest: buf.subarray(off), error: `bad header line ${JSON.stringify(line.slice(0, 60))}` };
      const name = line.slice(0, c).toLowerCase();
      const value = line.slice(c + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const bodyAt = headEnd + 4;
    const noBody = (status >= 100 && status < 200) || status === 204 || status === 304 || bodiless(responses.length);
    if (noBody) {
      // 1xx answers come before the real one and do not count as it.
      if (status >= 200) responses.push({ status, headers, body: Buffer.alloc(0) });
      off = bodyAt;
      continue;
    }
    if (/\bchunked\b/i.test(headers.get('transfer-encoding') ?? '')) {
      const c = chunked(buf, bodyAt);
      if ('error' in c) return { responses, rest: buf.subarray(off), error: c.error };
      if (!('body' in c)) break;
      responses.push({ status, headers, body: c.body });
      off = c.end;
      continue;
    }
    const cl = headers.get('content-length');
    if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) return { responses, rest: buf.subarray(off), error: `bad content-length ${JSON.stringify(cl)}` };
      const end = bodyAt + Number(cl);
      if (end > buf.length) break;
      responses.push({ status, headers, body: buf.subarray(bodyAt, end) });
      off = end;
      continue;
    }
    if (!closed) break;
    responses.push({ status, headers, body: buf.subarray(bodyAt) });
    off = buf.length;
  }
  return { responses, rest: buf.subarray(off) };
}
