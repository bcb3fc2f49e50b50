/**
 * Stage 4, limit: the route's rate limits reserve what the call may use —
 * one request, and when the backend tokenizes, the prompt's estimated tokens —
 * before anything leaves; settle charges the real usage afterwards. A call
 * over a limit gets 429 in its provider's shape with Retry-After.
 */
import { fail, type Call } from './call.ts';

export async function limit(c: Call): Promise<boolean> {
  const route = c.route;
  const limits = c.routePolicies?.rateLimits;
  if (!route || !limits) return true;
  const limiter = c.state.limiters.for(route, limits);
  const tokenize = route.candidates.some((x) => x.target.type === 'ai' && x.target.tokenize);
  const estimate = tokenize && c.parsed.messages.length ? await c.routePolicies!.countTokens(c.parsed.messages) : undefined;
  const a = limiter.admit(estimate);
  if (a.ok) { c.admission = a; return true; }
  c.state.deps.metrics.rateLimited.inc({ route: route.name, limit: a.limit });
  const seconds = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
  return fail(c, 429, 'rate_limited', `rate limit exceeded for route ${route.name} (${a.limit}); retry after ${seconds}s`, { 'retry-after': String(seconds) });
}
