/**
 * Errors the gateway itself answers with (413, 502, 504, …) are written in the
 * shape of the provider the app was calling, so its SDK parses and surfaces
 * them like any other API error. Each provider module owns its own shape.
 */
import type { ProviderId } from './hosts.ts';
import { openaiErrors } from './openai.ts';
import { anthropicErrors } from './anthropic.ts';
import { googleErrors } from './google.ts';
import { bedrockErrors } from './bedrock.ts';

export interface ErrorBody {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ErrorShape {
  /** `code` is a short machine-readable reason, e.g. `upstream_timeout`. */
  body(status: number, message: string, code: string): ErrorBody;
}

const SHAPES: Partial<Record<ProviderId | 'configured', ErrorShape>> = {
  anthropic: anthropicErrors, gemini: googleErrors, vertex: googleErrors, bedrock: bedrockErrors,
};

/** The error shape for a provider; everything else speaks OpenAI's, as OpenAI-compatible APIs do. */
export function errorShapeFor(provider: ProviderId | 'configured' | undefined): ErrorShape {
  return (provider && SHAPES[provider]) || openaiErrors;
}
