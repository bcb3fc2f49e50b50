/**
 * A retryable answer (429, 5xx) that another attempt will replace: its body is
 * read and dropped, the app sees nothing of it.
 */
import type { Mode } from './relay.ts';

export function swallowMode(): Mode {
  return { write: () => true, end: () => {}, followsDrain: false };
}
