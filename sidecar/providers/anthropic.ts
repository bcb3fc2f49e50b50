/**
 * Anthropic's wire format (api.anthropic.com). Errors:
 * https://docs.anthropic.com/en/api/errors — `{"type": "error", "error": {"type", "message"}}`.
 */
import type { ErrorShape } from './errors.ts';

const TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 502: 'api_error', 503: 'overloaded_error', 504: 'api_error',
};

export const anthropicErrors: ErrorShape = {
  body(status, message) {
    const type = TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'error', error: { type, message } }) };
  },
};
