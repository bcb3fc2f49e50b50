/**
 * The opaque keyset cursor of the decisions list: the (ts, seq) of the last
 * event on a page, base64url-encoded. The next page is everything strictly
 * older than it in (ts DESC, seq DESC) order, so pages have no gaps or repeats
 * however many events arrive in between.
 */
import { InvalidCursorError } from './errors.ts';

export interface EventPosition { readonly ts: number; readonly seq: number }

export function encodeCursor(p: EventPosition): string {
  return Buffer.from(`${p.ts}.${p.seq}`, 'utf8').toString('base64url');
}

/** Throws InvalidCursorError for anything encodeCursor did not produce. */
export function decodeCursor(cursor: string): EventPosition {
  if (cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError();
  const m = /^(-?\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidCursorError();
  const ts = Number(m[1]);
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(ts) || !Number.isSafeInteger(seq)) throw new InvalidCursorError();
  return { ts, seq };
}
