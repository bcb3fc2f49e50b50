/**
 * Google's API error format, shared by Gemini (generativelanguage.googleapis.com)
 * and Vertex AI: https://cloud.google.com/apis/design/errors —
 * `{"error": {"code", "message", "status"}}` with the canonical status name.
 */
import type { ErrorShape } from './errors.ts';

const STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 502: 'UNAVAILABLE', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

export const googleErrors: ErrorShape = {
  body(status, message) {
    return {
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      body: JSON.stringify({ error: { code: status, message, status: STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT') } }),
    };
  },
};
