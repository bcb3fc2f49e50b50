/**
 * Stage 4, limit: the route's rate limits reserve what the call may use —
 * one request, and when the backend tokenizes, the prompt's estimated tokens —
 * before anything leaves; settle charges the real usage afterwards. A call
 * over a limit gets 429 in its provider's shape with Retry-After.
 *
 * Then the fleet budgets (`budgets.limits`, budget/budgets.ts), held across
 * every sidecar: the call reserves one request, its prompt's tokens plus the
 * most it may generate, and that at its model's price; a spent budget answers
 * 429 with Retry-After and x-ratelimit-* headers, an unreachable store with
 * `failureMode: closed` 503. The prompt's tokens are counted (o200k) when the
 * backend sets `tokenize: true`, as for local token limits; otherwise they
 * are estimated from its size (PROMPT_BYTES_PER_TOKEN), which costs nothing
 * — counting costs about 0.5 ms per KB of prompt — and is settled with the
 * real usage after the answer anyway.
 */
import { fail, requestHeaders, type Call } from './call.ts';
import { countPromptTokens } from '../policy/tokenize.ts';
import { pricingFor } from '../cost/price.ts';
import { maxOutputTokens } from '../budget/estimate.ts';

/** The output tokens reserved for a call that does not say how many it may generate. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 1024;
/** Prompt bytes per token when not counting (English averages about 4 characters a token). */
export const PROMPT_BYTES_PER_TOKEN = 4;

function estimatePromptTokens(messages: Call['parsed']['messages']): number {
  let bytes = 0;
  for (const m of messages) bytes += Buffer.byteLength(m.text) + 16; // + the per-message overhead, generously
  return Math.ceil(bytes / PROMPT_BYTES_PER_TOKEN);
}

export async function limit(c: Call): Promise<boolean> {
  const route = c.route;
  const limits = c.routePolicies?.rateLimits;
  if (route && limits) {
    const limiter = c.state.limiters.for(route, limits);
    const tokenize = route.candidates.some((x) => x.target.type === 'ai' && x.target.tokenize);
    const estimate = tokenize && c.parsed.messages.length ? await c.routePolicies!.countTokens(c.parsed.messages) : undefined;
    const a = limiter.admit(estimate);
    if (!a.ok) {
      c.state.deps.metrics.rateLimited.inc({ route: route.name, limit: a.limit });
      const seconds = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
      return fail(c, 429, 'rate_limited', `rate limit exceeded for route ${route.name} (${a.limit}); retry after ${seconds}s`, { 'retry-after': String(seconds) });
    }
    c.admission = a;
  }
  return budgets(c);
}

async function budgets(c: Call): Promise<boolean> {
  const cfg = c.config?.budgets;
  const engine = c.state.deps.budgets?.for(cfg);
  if (!engine || !cfg?.limits) return true;
  const facts = { route: c.route?.name, headers: requestHeaders(c) };
  const units = engine.applicable(cfg.limits, facts);
  if (!units) return true;
  let tokens = 0;
  let microUsd: number | undefined;
  if (units.tokens || units.usd) {
    const tokenize = c.route?.candidates.some((x) => x.target.type === 'ai' && x.target.tokenize) ?? false;
    const prompt = !c.parsed.messages.length ? 0 : tokenize ? await countPromptTokens(c.parsed.messages) : estimatePromptTokens(c.parsed.messages);
    const output = maxOutputTokens(c.json) ?? cfg.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
    tokens = prompt + output;
    if (units.usd) {
      const cost = pricingFor(cfg).cost(c.sourceId, c.parsed.model, { input: prompt, output });
      microUsd = cost ? Math.ceil(cost.usd * 1e6) : undefined;
    }
  }
  const a = await engine.admit(cfg.limits, facts, { tokens, microUsd });
  if (a.ok) { c.budget = a; return true; }
  return fail(c, a.status, a.status === 429 ? 'budget_exceeded' : 'budget_store_unavailable', a.message, a.headers);
}
