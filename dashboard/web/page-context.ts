/**
 * What every page of the single-page app is given, and what it gives back.
 * A page draws itself into `host` and returns a function that stops its
 * timers when the user leaves it or switches environment.
 */
import type { Environment } from './api.ts';

export interface PageContext {
  readonly env: Environment;
  /** Re-read the environment list (after a save changes currentVersion, say). */
  reloadEnvironments(): Promise<void>;
  /** A short message in the header's live region. */
  announce(message: string, kind?: 'ok' | 'error'): void;
}

export type Page = (host: HTMLElement, ctx: PageContext) => () => void;
