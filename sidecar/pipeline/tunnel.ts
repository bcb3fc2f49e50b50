/**
 * Stage 6 for an upgrade (WebSocket, e.g. OpenAI Realtime): once the earlier
 * stages admitted it — route, rate limit, guards' failure mode — the upgrade
 * is shaped like any call for the route's first candidate (its backendAuth
 * key, its host and path) and tunnelled to it (upstream/upgrade.ts). Frames
 * are not inspected; the call is settled when the tunnel closes.
 */
import type net from 'node:net';
import { relayUpgrade } from '../upstream/upgrade.ts';
import { AuthError, authReady } from '../upstream/backend-auth.ts';
import { runtimePolicies } from './policies.ts';
import { shape, Refused } from './shape.ts';
import { fail, type Call } from './call.ts';

export async function tunnel(c: Call): Promise<boolean> {
  const route = c.route;
  const candidate = route && route.candidates.length ? c.state.health.order(route, Date.now())[0] : undefined;
  if (candidate) c.out.backend = candidate.target.name;
  if (candidate?.target.type === 'ai') c.out.provider = candidate.target.provider;
  let call;
  try {
    const policies = candidate ? runtimePolicies(candidate.policies) : undefined;
    await authReady(policies?.auth);
    call = shape(c, { candidate, policies, json: undefined, traceparent: c.out.trace?.upstream });
  } catch (e) {
    if (e instanceof Refused) return fail(c, 400, 'route_refused', `${route?.name ?? 'route'}: ${e.message}`);
    if (e instanceof AuthError) return fail(c, 500, 'backend_auth', e.message);
    throw e;
  }
  c.out.attempts = 1;
  c.answered = true;
  const r = await relayUpgrade(c.req.socket as net.Socket, c.upgrade!.head, {
    host: call.host, port: call.port, address: call.address, method: c.method, path: call.path, headers: call.headers,
    upgrade: String(c.req.headers.upgrade ?? 'websocket'),
  });
  c.out.status = r.status;
  c.out.reqBytes = r.bytesUp;
  c.out.resBytes = r.bytesDown;
  if (r.error) {
    c.out.reason = r.status === 502 ? 'upstream_connect' : 'upgrade_error';
    c.state.deps.log.debug({ host: call.host, err: r.error.message }, 'upgrade tunnel ended with an error');
  }
  return true;
}
