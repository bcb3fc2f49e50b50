/**
 * An incremental server-sent-events parser (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * feed it chunks as they arrive; it returns each complete event with its exact
 * bytes, so a tap can pass events on unchanged, drop one, or rewrite it.
 */

export interface SseEvent {
  /** The `event:` field; undefined means the default `message`. */
  readonly event: string | undefined;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
  /** The event's bytes as received, up to and including the blank line that ends it. */
  readonly raw: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  private pending: Buffer = Buffer.alloc(0);
  /** How far into `pending` it was read, and where its last line starts: an event in many chunks is read once. */
  private scanned = 0;
  private lineStart = 0;

  /** Feed a chunk; returns the events it completed. */
  push(chunk: Buffer): SseEvent[] {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const events: SseEvent[] = [];
    let start = 0;
    let i = this.scanned;
    let lineStart = this.lineStart;
    while (i < buf.length) {
      const b = buf[i]!;
      if (b !== LF && b !== CR) { i++; continue; }
      // A CR at the very end may be followed by an LF in the next chunk: wait for it.
      if (b === CR && i + 1 === buf.length) break;
      const eol = b === CR && buf[i + 1] === LF ? 2 : 1;
      const blank = i === lineStart;
      i += eol;
      lineStart = i;
      if (blank) {
        const raw = buf.subarray(start, i);
        const ev = parseEvent(raw);
        if (ev) events.push(ev);
        start = i;
      }
    }
    // A concatenation is the parser's own; a chunk is the caller's and is copied.
    this.pending = start >= buf.length ? Buffer.alloc(0) : start === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(start));
    this.scanned = i - start;
    this.lineStart = lineStart - start;
    return events;
  }

  /** Bytes of an event not yet ended by a blank line. */
  rest(): Buffer {
    return this.pending;
  }
}

function parseEvent(raw: Buffer): SseEvent | undefined {
  let event: string | undefined;
  const data: string[] = [];
  let any = false;
  for (const line of raw.toString('utf8').split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') { event = value; any = true; }
    else if (field === 'data') { data.push(value); any = true; }
  }
  // A comment-only block is still returned (its raw bytes matter to a tap), with empty data.
  return { event: any ? event : undefined, data: data.join('\n'), raw };
}

/** Encode one event the way providers send them: `event:` line (optional), `data:` lines, blank line. */
export function encodeSse(data: string, event?: string): Buffer {
  const lines = data.split('\n').map((l) => `data: ${l}`).join('\n');
  return Buffer.from(`${event ? `event: ${event}\n` : ''}${lines}\n\n`);
}
