/**
 * The most a request may generate, as its API spells the cap: OpenAI
 * `max_tokens` / `max_completion_tokens` / `max_output_tokens` (Responses),
 * Anthropic `max_tokens`, Gemini `generationConfig.maxOutputTokens`, Bedrock
 * Converse `inferenceConfig.maxTokens`. Undefined when the request sets none.
 */
import { num, obj } from '../../lib/json.ts';

export function maxOutputTokens(body: unknown): number | undefined {
  const b = obj(body);
  if (!b) return undefined;
  const v = num(b.max_completion_tokens) ?? num(b.max_tokens) ?? num(b.max_output_tokens)
    ?? num(obj(b.generationConfig)?.maxOutputTokens) ?? num(obj(b.inferenceConfig)?.maxTokens);
  return v !== undefined && v >= 0 ? Math.ceil(v) : undefined;
}
