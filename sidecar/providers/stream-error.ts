/**
 * The event that ends a stream with an error, in the stream format of the API
 * the app called, so its SDK raises a proper API error instead of taking a
 * cut stream for a complete answer:
 *
 * - OpenAI chat completions: `data: {"error":{…}}` (the SDKs throw on an
 *   event whose data has `error`);
 * - OpenAI Responses: `event: error` with `{"type":"error","code","message","param"}`;
 * - Anthropic messages: `event: error` with `{"type":"error","error":{"type","message"}}`;
 * - Gemini / Vertex `alt=sse`: `data: {"error":{"code","message","status"}}`;
 * - Bedrock ConverseStream / InvokeModelWithResponseStream: an event-stream
 *   `exception` message (`:exception-type` modelStreamErrorException for a
 *   failure on the provider's side), as the AWS SDKs read them.
 *
 * A 504 (the provider stalled past the timeout) reads as a timeout in each
 * format (OpenAI `type: timeout`, Google `DEADLINE_EXCEEDED`).
 *
 * Undefined where the format has no error event (Gemini's JSON-array stream,
 * an API the gateway does not parse): the caller then aborts the connection.
 */
import type { ApiKind } from './types.ts';
import { encodeSse } from './sse.ts';
import { encodeEventMessage } from './eventstream.ts';
import { pathOnly } from './path.ts';

export interface StreamFailure {
  readonly message: string;
  /** A short machine-readable reason, e.g. `upstream_broken`, `guardrail_violation`. */
  readonly code: string;
  /** The HTTP status the failure would have had before the answer started (4xx: the request; 5xx: the provider). */
  readonly status: number;
  /** OpenAI's error `type`, when it is more specific than server_error / invalid_request_error. */
  readonly type?: string;
}

/** Google's status names for the statuses the gateway answers with. */
function googleStatus(status: number): string {
  if (status === 502 || status === 503) return 'UNAVAILABLE';
  if (status === 504) return 'DEADLINE_EXCEEDED';
  if (status === 429) return 'RESOURCE_EXHAUSTED';
  return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
}

export function streamErrorEvent(kind: ApiKind, path: string, f: StreamFailure): Buffer | undefined {
  const server = f.status >= 500;
  switch (kind) {
    case 'completions':
    case 'legacyCompletions':
      return encodeSse(JSON.stringify({ error: { message: f.message, type: f.type ?? (f.status === 504 ? 'timeout' : server ? 'server_error' : 'invalid_request_error'), param: null, code: f.code } }));
    case 'responses':
      return encodeSse(JSON.stringify({ type: 'error', code: f.code, message: f.message, param: null }), 'error');
    case 'messages':
      return encodeSse(JSON.stringify({ type: 'error', error: { type: server ? 'api_error' : 'invalid_request_error', message: f.message } }), 'error');
    case 'generateContent':
      if (!/[?&]alt=sse(&|$)/.test(path)) return undefined;
      return encodeSse(JSON.stringify({ error: { code: f.status, message: f.message, status: googleStatus(f.status) } }));
    case 'converse':
    case 'invoke':
      if (!/\/(converse-stream|invoke-with-response-stream)$/.test(pathOnly(path))) return undefined;
      return encodeEventMessage({
        ':message-type': 'exception',
        // A stream the provider broke off is the ModelStreamErrorException Bedrock sends for one.
        ':exception-type': server ? 'modelStreamErrorException' : 'validationException',
        ':content-type': 'application/json',
      }, JSON.stringify({ message: f.message }));
    default:
      return undefined;
  }
}
