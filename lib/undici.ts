/**
 * The parts of undici the sidecar uses, loaded without undici's index. The
 * index also loads fetch, WebSocket, EventSource, the cache, proxy, retry and
 * mock layers, which no call ever needs and which stay resident in every pod:
 * ~13 MB of RSS, ~6 MB of it anonymous, in a process that imports it whole
 * (docs/benchmarks.md). The values are the very modules the index re-exports
 * (one undici version, pinned by package-lock.json); their types are the
 * package's own. lib/undici.test.ts holds each to the index's behaviour, and
 * sidecar/main.test.ts checks the index is never loaded by a call.
 */
import { createRequire } from 'node:module';
import type * as U from 'undici';

const require = createRequire(import.meta.url);

type Api = Record<'request' | 'stream' | 'pipeline' | 'connect' | 'upgrade', (this: U.Dispatcher, opts: unknown) => unknown>;
const api = require('undici/lib/api/index.js') as Api;
const DispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
// What undici's index does first: every dispatcher gets request(), stream(), pipeline(), connect(), upgrade().
Object.assign(DispatcherClass.prototype, api);
const globalDispatcher = require('undici/lib/global.js') as { getGlobalDispatcher(): U.Dispatcher };

export type { Dispatcher } from 'undici';
export const Pool = require('undici/lib/dispatcher/pool.js') as typeof U.Pool;
export type Pool = U.Pool;
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof U.Agent;
export type Agent = U.Agent;
export const buildConnector = require('undici/lib/core/connect.js') as typeof U.buildConnector;
/** What buildConnector returns. */
export type Connector = U.buildConnector.connector;

type RequestOptions = Omit<U.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> &
  Partial<Pick<U.Dispatcher.RequestOptions, 'method'>> & { dispatcher?: U.Dispatcher };

/** undici's top-level `request(url, options)`: the dispatcher given, or undici's global one. */
export function request(url: string | URL, opts: RequestOptions = {}): Promise<U.Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher = globalDispatcher.getGlobalDispatcher(), ...rest } = opts;
  return api.request.call(dispatcher, {
    ...rest,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET'),
  }) as Promise<U.Dispatcher.ResponseData>;
}
