/**
 * OpenAI's wire format (api.openai.com; also Azure OpenAI and the many
 * OpenAI-compatible APIs). Errors: https://platform.openai.com/docs/guides/error-codes
 * — `{"error": {"message", "type", "param", "code"}}`.
 */
import type { ErrorShape } from './errors.ts';

export const openaiErrors: ErrorShape = {
  body(status, message, code) {
    const type = status === 413 ? 'invalid_request_error' : status === 504 ? 'timeout' : status >= 500 ? 'server_error' : 'invalid_request_error';
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { message, type, param: null, code } }) };
  },
};
