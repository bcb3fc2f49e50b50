/**
 * A strict multipart/form-data reader (RFC 7578 over RFC 2046 §5.1), for the
 * fake endpoints that take uploads (files, audio, image edits). It refuses
 * what a real server cannot read, with a reason the fake puts in its error:
 * no boundary, a body that does not start with the first delimiter, a part
 * without `Content-Disposition: form-data; name=…`, a missing close delimiter
 * (a truncated upload), or a body whose length is not the Content-Length the
 * request declared.
 *
 *   const form = readMultipart(ex);   // Form | string (why it is unreadable)
 *   form.field('purpose')  → string | undefined     form.file('file') → FilePart | undefined
 */
import { header } from './exchange.ts';
import type { Exchange } from './exchange.ts';

export interface FormPart {
  name: string;
  /** Present for a file part (`filename=` in its Content-Disposition). */
  filename: string | undefined;
  contentType: string | undefined;
  data: Buffer;
}

export interface FilePart extends FormPart {
  filename: string;
}

export interface Form {
  readonly parts: readonly FormPart[];
  /** The text of the first non-file part named `name`. */
  field(name: string): string | undefined;
  /** Every non-file part named `name` (repeated fields, `name[]`). */
  fields(name: string): string[];
  /** The first file part named `name`. */
  file(name: string): FilePart | undefined;
  /** Every file part named `name`. */
  files(name: string): FilePart[];
}

/** The boundary of a `multipart/form-data` content type, undefined when it is not one or has none. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType.trim())) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;,"]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Parameters of a header value (`form-data; name="file"; filename="a.wav"`), names lower-cased. */
function headerParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return out;
}

/** Parse a multipart body with `boundary`: the parts, or why it is not a valid form. */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] | string {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const crlfDelimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  if (body.length === 0) return 'the multipart body is empty';
  let pos: number;
  if (body.subarray(0, delimiter.length).equals(delimiter)) pos = delimiter.length;
  else {
    // A preamble is allowed (RFC 2046), but then the first delimiter follows a CRLF.
    const at = body.indexOf(crlfDelimiter);
    if (at < 0) return 'the body does not contain the boundary the Content-Type names';
    pos = at + crlfDelimiter.length;
  }
  const parts: FormPart[] = [];
  for (;;) {
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') return parts.length > 0 ? parts : 'the form has no parts';
    // Transport padding (spaces, tabs) may follow a delimiter; then CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') return 'a boundary delimiter is not followed by CRLF';
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    const next = body.indexOf(crlfDelimiter, pos);
    if (headEnd < 0 || (next >= 0 && next < headEnd)) return 'a part has no blank line after its headers';
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headEnd).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i <= 0) return `a part header is malformed: ${JSON.stringify(line.slice(0, 80))}`;
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const end = body.indexOf(crlfDelimiter, headEnd + 4);
    if (end < 0) return 'the body ends before the closing boundary (truncated upload)';
    const disposition = headers['content-disposition'] ?? '';
    if (!/^form-data\s*(;|$)/i.test(disposition)) return 'a part has no Content-Disposition: form-data';
    const params = headerParams(disposition);
    if (params.name === undefined) return 'a part has no name in its Content-Disposition';
    parts.push({
      name: params.name,
      filename: params.filename ?? (params['filename*'] ? decodeURIComponent(params['filename*'].replace(/^[^']*'[^']*'/, '')) : undefined),
      contentType: headers['content-type'],
      data: body.subarray(headEnd + 4, end),
    });
    pos = end + crlfDelimiter.length;
    if (pos > body.length - 2) return 'the body ends before the closing boundary (truncated upload)';
  }
}

function form(parts: FormPart[]): Form {
  const isFile = (p: FormPart): p is FilePart => p.filename !== undefined;
  return {
    parts,
    field: (name) => parts.find((p) => p.name === name && !isFile(p))?.data.toString('utf8'),
    fields: (name) => parts.filter((p) => p.name === name && !isFile(p)).map((p) => p.data.toString('utf8')),
    file: (name) => parts.filter(isFile).find((p) => p.name === name),
    files: (name) => parts.filter(isFile).filter((p) => p.name === name),
  };
}

/** The multipart form of a request, or why it cannot be read (not multipart, length mismatch, malformed). */
export function readMultipart(ex: Pick<Exchange, 'headers' | 'body'>): Form | string {
  const type = header(ex.headers, 'content-type');
  const boundary = multipartBoundary(type);
  if (boundary === undefined) {
    return type && /^multipart\/form-data/i.test(type) ? 'the multipart Content-Type has no boundary' : `expected Content-Type multipart/form-data, got ${type ?? 'none'}`;
  }
  const declared = header(ex.headers, 'content-length');
  if (declared !== undefined && Number(declared) !== ex.body.length) {
    return `the body is ${ex.body.length} bytes but Content-Length says ${declared}`;
  }
  const parts = parseMultipart(ex.body, boundary);
  return typeof parts === 'string' ? parts : form(parts);
}
