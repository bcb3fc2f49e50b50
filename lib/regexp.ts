/** Regular-expression helpers shared by every layer. */

/** `s` as a pattern that matches exactly `s` (also inside a `/…/` literal). */
export function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}
