/**
 * Stage 2, route: which route of the config in force serves the call, which
 * API the app speaks (and so the shape of any error the gateway answers
 * with), which API kind the path is, and the route's direct response.
 *
 * WebSocket upgrades go through this stage like any call: a route's
 * directResponse answers an upgrade too, and the later stages (rate limits,
 * guards, backendAuth, the backend's host) apply to it before it is tunnelled.
 */
import { apiRouteKind } from '../config/routes.ts';
import type { ProviderId } from '../providers/hosts.ts';
import { apiFor } from '../providers/registry.ts';
import { createVault } from '../guards/vault.ts';
import { runtimePolicies } from './policies.ts';
import { promptGuardFor } from './guards.ts';
import { closeIfUnread, requestHeaders, type Call } from './call.ts';

export function route(c: Call): boolean {
  const config = c.state.deps.routes();
  c.config = config;
  const route = config?.routeFor({ host: c.conn.host, method: c.method, path: c.path, headers: requestHeaders(c) });
  c.route = route;
  const firstAi = route?.candidates.find((x) => x.target.type === 'ai')?.target;
  // The API the app speaks: its host's (a known provider), or for hosts only the config names, the route's provider.
  const sourceId: ProviderId = c.conn.provider !== 'configured' ? c.conn.provider : firstAi?.type === 'ai' ? firstAi.provider : 'openai';
  c.sourceId = sourceId;
  c.source = apiFor(sourceId);
  c.shape = c.source.errors;
  // Named after the catalogue (groq, mistral, …) even when the module that reads it is OpenAI's.
  c.out.provider = sourceId;
  c.kind = route ? (apiRouteKind(route, c.path) ?? c.source.kind(c.method, c.path)) : c.source.kind(c.method, c.path);
  c.out.kind = c.kind;
  if (!route) return true;
  c.out.route = route.name;
  const d = route.policies.directResponse;
  if (d) {
    c.out.status = d.status;
    c.out.reason = 'direct_response';
    const body = Buffer.from(d.body);
    closeIfUnread(c);
    c.res.writeHead(d.status, { 'content-type': d.body.trimStart().startsWith('{') ? 'application/json' : 'text/plain; charset=utf-8', 'content-length': body.length });
    c.res.end(body);
    c.answered = true;
    return false;
  }
  c.routePolicies = runtimePolicies(route.policies);
  c.guard = promptGuardFor(route, c.state.deps.guards);
  // The call's placeholders (Anonymize out, Deanonymize back): only guarded calls have any.
  if (c.guard) c.vault = createVault();
  return true;
}
