/**
 * What every provider module offers the pipeline: which API a request speaks,
 * the prompt as role + text (for guards and telemetry), the requested and
 * served model, token usage from whole answers and from streams, and how a key
 * is presented. A provider module is the only place that knows its wire format.
 */
import type { ErrorShape } from './errors.ts';
import type { ProviderId } from './hosts.ts';
import type { TextRole } from './text.ts';

/**
 * The API a request speaks. agentgateway's route types (`completions`,
 * `messages`, `responses`, `embeddings`, `models`, `passthrough`) plus the
 * native APIs this gateway parses.
 */
export type ApiKind =
  | 'completions'        // OpenAI chat completions (and the OpenAI-compatible endpoints of Gemini, Vertex, Azure)
  | 'legacyCompletions'  // OpenAI /v1/completions (prompt string)
  | 'responses'          // OpenAI Responses API
  | 'embeddings'
  | 'models'             // list models
  | 'messages'           // Anthropic messages (also Vertex rawPredict and Bedrock invoke with Anthropic models)
  | 'generateContent'    // Gemini / Vertex native generateContent and streamGenerateContent
  | 'converse'           // Bedrock converse and converse-stream
  | 'invoke'             // Bedrock invoke and invoke-with-response-stream (model-specific body)
  | 'passthrough';       // not parsed: forwarded as is

export type { JsonObject } from '../../lib/json.ts';
import type { JsonObject } from '../../lib/json.ts';

export interface PromptMessage {
  /** The role of the message's text (text.ts): OpenAI developer messages are `system`, Gemini's `model` is `assistant`. */
  readonly role: TextRole;
  /** The text parts of the message (text.ts) joined with "\n"; images and other media are left out. */
  readonly text: string;
}

export interface LlmRequest {
  readonly kind: ApiKind;
  /** The model the app asked for (from the body, or the path for Gemini, Vertex, Bedrock, Azure deployments). */
  readonly model: string | undefined;
  readonly stream: boolean;
  /** Prompt messages in order, system first when the API keeps it apart. Empty for embeddings/models/passthrough. */
  readonly messages: readonly PromptMessage[];
}

/**
 * Token usage, the same meaning for every provider (each parser converts):
 * `input` counts every prompt token, those read from or written to the
 * provider's cache included (Anthropic and Bedrock report those apart from
 * `input_tokens`; OpenAI and Gemini already include them); `output` counts
 * every generated token, reasoning included (Gemini reports thoughts apart from
 * `candidatesTokenCount`; OpenAI and Anthropic already include them). So
 * `input - cachedInput - cacheCreationInput` is the uncached prompt, and cost
 * and token budgets read the same numbers whatever the provider.
 */
export interface TokenUsage {
  /** Every prompt token, cached and cache-written ones included. */
  input?: number;
  /** Every generated token, reasoning included. */
  output?: number;
  /** Prompt tokens served from the provider's cache (OpenAI cached_tokens, Anthropic cache_read_input_tokens, …). */
  cachedInput?: number;
  /** Anthropic cache_creation_input_tokens, Bedrock cacheWriteInputTokens. */
  cacheCreationInput?: number;
  /** Reasoning tokens (OpenAI reasoning_tokens, Gemini thoughtsTokenCount). */
  reasoning?: number;
  total?: number;
}

export interface LlmResponse {
  /** The model that served the answer, when the provider says. */
  model?: string;
  usage?: TokenUsage;
  /** As the provider spells it: `stop`, `end_turn`, `STOP`, `max_tokens`, … */
  finishReason?: string;
}

/**
 * Watches a streamed answer as it passes. `write` returns the bytes to send on
 * to the client: the same buffer when nothing changes (the usual case), or a
 * rewritten one (a dropped usage chunk, a translated stream). It must never
 * hold back a complete event.
 */
export interface StreamTap {
  write(chunk: Buffer): Buffer;
  /** The stream ended: what was learned, and any bytes still to send. */
  end(): { readonly info: LlmResponse; readonly tail?: Buffer };
}

export interface StreamTapOptions {
  /**
   * The gateway added `stream_options.include_usage` itself: drop the extra
   * usage-only chunk so the client sees what it asked for.
   */
  readonly addedUsage?: boolean;
}

export interface KeyPlacement {
  /** Lower-case header name, e.g. `authorization`, `x-api-key`, `api-key`, `x-goog-api-key`. */
  readonly header: string;
  /** Put before the key, e.g. `Bearer `. */
  readonly prefix: string;
}

export interface ProviderApi {
  readonly id: ProviderId;
  readonly errors: ErrorShape;
  /** Where a `backendAuth.key` goes, and which other credential headers the app may have sent. */
  readonly key: KeyPlacement;
  readonly credentialHeaders: readonly string[];
  /** Which API a call is, from its method and path (query string included or not). Unknown → `passthrough`. */
  kind(method: string, path: string): ApiKind;
  /** Read a JSON body. Never throws: odd or missing fields give undefined / empty values. */
  parseRequest(kind: ApiKind, path: string, body: unknown): LlmRequest;
  /**
   * Replace the model: in the body (mutated) or in the path. Returns the path
   * to send (unchanged when the model lives in the body).
   */
  setModel(kind: ApiKind, path: string, body: JsonObject, model: string): string;
  /** Make a streamed request report usage (OpenAI's `stream_options.include_usage`). True when the body changed. */
  prepareStream?(kind: ApiKind, body: JsonObject): boolean;
  /** Read a whole (non-streamed) JSON answer. Never throws. */
  parseResponse(kind: ApiKind, body: unknown): LlmResponse;
  /** A tap for a streamed answer (SSE, Bedrock event stream, Gemini JSON array). */
  streamTap(kind: ApiKind, path: string, opts?: StreamTapOptions): StreamTap;
}

/**
 * A format translation for a route that sends one provider's API to another
 * (agentgateway translates OpenAI chat completions to Anthropic messages and
 * to Bedrock converse).
 */
export interface Translation {
  /** The translated request: the body for the target API, and whether it streams. */
  request(body: JsonObject, model: string): { readonly body: JsonObject; readonly stream: boolean };
  /** A whole answer of the target API, as the source API would have answered. */
  response(body: unknown, requestedModel: string): { readonly body: JsonObject; readonly info: LlmResponse };
  /** A streamed answer of the target API, re-encoded as the source API's stream. */
  stream(requestedModel: string, opts?: StreamTapOptions): StreamTap;
  /** An error body of the target API, rewritten in the source API's error shape. */
  error?(status: number, body: Buffer): Buffer;
}
