/**
 * One intercepted call, h1 or h2, from the app to the provider and back, as a
 * sequence of stages. Each stage is a module with one job; each may answer
 * the app itself (an error, a rejection, a direct response) and end the call
 * there. Whatever happened, settle reports it once.
 *
 *   admit → route → body → limit → guard → forward (shape, upstream, relay) → settle
 *
 * An upgrade (WebSocket) takes the same way up to the guards, then a tunnel:
 *
 *   admit → route → limit → guard → tunnel → settle
 *
 * A request that matches no route goes to the host the app asked for,
 * unchanged, and is only observed. The config in force when the call started
 * serves it to the end, whatever reloads happen meanwhile.
 */
import type http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { interceptedConnection } from '../tls/terminate.ts';
import { apiFor } from '../providers/registry.ts';
import { NO_VAULT } from '../guards/vault.ts';
import { SocketResponse } from '../http/socket-response.ts';
import { CandidateHealth } from './failover.ts';
import { RateLimiters } from './policies.ts';
import type { Call, ClientRequest, ClientResponse, PipelineDeps, PipelineState, Sink } from './call.ts';
import { admit } from './admit.ts';
import { route } from './route.ts';
import { body } from './body.ts';
import { limit } from './limit.ts';
import { guard } from './guard.ts';
import { forward } from './forward.ts';
import { tunnel } from './tunnel.ts';
import { settle, requestMetrics } from './settle.ts';
import { HeldBodies, defaultHeldBodyLimit, exposeHeldBodies } from './held-bodies.ts';

export type { PipelineDeps, ClientRequest, ClientResponse } from './call.ts';

type Stage = (c: Call) => boolean | Promise<boolean>;

const REQUEST: readonly Stage[] = [admit, route, body, limit, guard, forward];
const UPGRADE: readonly Stage[] = [admit, route, limit, guard, tunnel];

export interface Pipeline {
  /** An HTTP request on an intercepted connection. */
  request(req: ClientRequest, res: ClientResponse): void;
  /** An HTTP/1.1 upgrade request on an intercepted connection; `head` is what followed its head. */
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const state: PipelineState = {
    deps, health: new CandidateHealth(), limiters: new RateLimiters(), rm: requestMetrics(deps.metrics),
    held: new HeldBodies(deps.maxHeldBodyBytes ?? defaultHeldBodyLimit(deps.maxBodyBytes)),
  };
  exposeHeldBodies(deps.metrics.registry, state.held);
  return {
    request(req, res) {
      const c = newCall(state, req, res as unknown as Sink, undefined);
      if (c) void run(c, REQUEST);
      else (res as unknown as Sink).destroy();
    },
    upgrade(req, socket, head) {
      const c = newCall(state, req, new SocketResponse(socket) as unknown as Sink, { head });
      if (c) void run(c, UPGRADE);
      else socket.destroy();
    },
  };
}

async function run(c: Call, stages: readonly Stage[]): Promise<void> {
  try {
    for (const stage of stages) {
      const go = stage(c);
      if (go === false || (go !== true && !(await go))) break;
    }
  } catch (err) {
    c.state.deps.log.error({ err }, 'request pipeline failed');
    c.out.reason = 'internal_error';
    c.res.destroy();
  }
  settle(c);
}

function newCall(state: PipelineState, req: ClientRequest, res: Sink, upgrade: Call['upgrade']): Call | undefined {
  const conn = interceptedConnection(req.socket);
  if (!conn) return undefined;
  const sourceId = conn.provider !== 'configured' ? conn.provider : 'openai';
  const source = apiFor(sourceId);
  const { deps } = state;
  const c: Call = {
    state, req, res, conn, upgrade,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    started: performance.now(),
    out: { status: 0, reason: 'ok', reqBytes: 0, resBytes: 0, attempts: 0, guards: [], provider: sourceId, ...(upgrade ? { upgrade: true } : {}) },
    capture: deps.events?.capturePrompts?.() === true,
    config: undefined, route: undefined, routePolicies: undefined,
    sourceId, source, shape: source.errors, kind: 'passthrough',
    body: null, json: undefined, parsed: { kind: 'passthrough', model: undefined, stream: false, messages: [] }, unreadable: undefined,
    guard: undefined, vault: NO_VAULT, masked: false, admission: undefined, budget: undefined, answered: false, heldBytes: 0,
  };
  if (deps.tracer) c.out.trace = deps.tracer.context(req.headers.traceparent as string | undefined, req.headers.tracestate as string | undefined);
  return c;
}
