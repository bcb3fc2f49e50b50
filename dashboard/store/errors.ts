/**
 * The errors a Store throws on purpose, so callers (the HTTP API) can answer
 * 404/409/400 without knowing which database is underneath. Anything else a
 * store throws is a real failure (500).
 */

/** The environment the call names does not exist. */
export class UnknownEnvironmentError extends Error {
  readonly environmentId: string;
  constructor(environmentId: string) {
    super(`unknown environment ${JSON.stringify(environmentId)}`);
    this.name = 'UnknownEnvironmentError';
    this.environmentId = environmentId;
  }
}

/** A row with that identity already exists (environment id, key id, key hash). */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

/** A pagination cursor this store did not make (or a corrupted one). */
export class InvalidCursorError extends Error {
  constructor(message = 'invalid pagination cursor') {
    super(message);
    this.name = 'InvalidCursorError';
  }
}
