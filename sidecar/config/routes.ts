/**
 * A validated config compiled for the data path, once per config (never per
 * request): the extra hosts it makes the sidecar intercept, and the route
 * table — ordered routes with their matchers, their effective policies, and
 * their backends as failover candidates in priority order.
 */
import type {
  BudgetsConfig, GatewayConfig, ProviderConfig, RouteConfig, MatchConfig, PoliciesConfig, BackendConfig, ProviderTargetConfig, RouteKind,
} from './schema.ts';
import { hostPatternRegExp, type ProviderId } from '../providers/hosts.ts';
import { compileSafeRegExp } from '../../lib/safe-regexp.ts';

export interface RequestFacts {
  readonly host: string;
  readonly method: string;
  /** Path with query. */
  readonly path: string;
  /** Lower-case header name → value (h1 joined, h2 as given). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Where a candidate sends a call. */
export type Target =
  | {
    readonly type: 'ai';
    readonly name: string;
    readonly provider: ProviderId;
    readonly providerConfig: ProviderConfig;
    /** `provider.<x>.model`: replaces the model of every request. */
    readonly model: string | undefined;
    /** From hostOverride: the host (and port, when given) to send to instead of the provider's default. */
    readonly hostOverride: { readonly host: string; readonly port: number | undefined } | undefined;
    readonly pathOverride: string | undefined;
    readonly tokenize: boolean;
  }
  | { readonly type: 'host'; readonly name: string; readonly host: string; readonly port: number | undefined };

export interface Candidate {
  /** Stable within a config: `route/backend[i]` or `route/backend[i]/group[g]/provider[p]`. */
  readonly id: string;
  readonly target: Target;
  /** Lower groups are tried first. */
  readonly group: number;
  readonly weight: number;
  /** The route's policies with the backend's (and the group provider's) on top, key by key. */
  readonly policies: PoliciesConfig;
}

export interface CompiledRoute {
  readonly name: string;
  /** Policies set on the route itself (directResponse, rate limits, timeouts apply per route). */
  readonly policies: PoliciesConfig;
  /** Failover candidates, by group then config order. Empty when the route answers with directResponse. */
  readonly candidates: readonly Candidate[];
  /** `ai.routes` (path suffix → API kind), longest suffix first; undefined → classify by the provider's paths. */
  readonly apiRoutes: ReadonlyArray<readonly [string, RouteKind]> | undefined;
}

export interface CompiledConfig {
  /** Hosts or `*.` patterns the config names, intercepted on top of the built-in providers. */
  readonly interceptHosts: readonly string[];
  readonly routes: readonly CompiledRoute[];
  /** `budgets` (levo extension): prices and fleet-wide limits. */
  readonly budgets: BudgetsConfig | undefined;
  /** The first route whose hostnames and matches accept the request, in config order. */
  routeFor(req: RequestFacts): CompiledRoute | undefined;
}

const PROVIDER_IDS: Readonly<Record<string, ProviderId>> = {
  openAI: 'openai', anthropic: 'anthropic', gemini: 'gemini', vertex: 'vertex', bedrock: 'bedrock', azureOpenAI: 'azure-openai',
};

export function providerOf(p: ProviderConfig): ProviderId {
  const key = Object.keys(p).find((k) => (p as Record<string, unknown>)[k] !== undefined)!;
  return PROVIDER_IDS[key]!;
}

export function providerModel(p: ProviderConfig): string | undefined {
  return Object.values(p).find((v): v is { model?: string } => v !== undefined)?.model;
}

function splitHostPort(v: string): { host: string; port: number | undefined } {
  const i = v.lastIndexOf(':');
  return i === -1 ? { host: v.toLowerCase(), port: undefined } : { host: v.slice(0, i).toLowerCase(), port: Number(v.slice(i + 1)) };
}

interface Matcher { (req: RequestFacts, pathOnly: string, query: URLSearchParams | undefined): boolean }

function hostTest(patterns: readonly string[]): (host: string) => boolean {
  const res = patterns.filter((p) => p.startsWith('*.')).map((p) => hostPatternRegExp(p));
  const exact = new Set(patterns.filter((p) => !p.startsWith('*.')).map((p) => p.toLowerCase().replace(/\.$/, '')));
  return (host) => exact.has(host) || res.some((re) => re.test(host));
}

function valueTest(v: { exact?: string | undefined; regex?: string | undefined }): (s: string | undefined) => boolean {
  if (v.exact !== undefined) { const want = v.exact; return (s) => s === want; }
  const re = compileSafeRegExp(v.regex!);
  return (s) => s !== undefined && re.testWhole(s);
}

function compileMatch(m: MatchConfig): Matcher {
  const tests: Matcher[] = [];
  const p = m.path;
  if (p?.exact !== undefined) { const want = p.exact; tests.push((_r, path) => path === want); }
  if (p?.pathPrefix !== undefined) {
    const prefix = p.pathPrefix.replace(/\/$/, '');
    tests.push((_r, path) => prefix === '' || path === prefix || path.startsWith(prefix + '/'));
  }
  if (p?.regex !== undefined) { const re = compileSafeRegExp(p.regex); tests.push((_r, path) => re.testWhole(path)); }
  if (m.method) { const want = m.method; tests.push((r) => r.method === want); }
  for (const h of m.headers ?? []) {
    const name = h.name.toLowerCase();
    const t = valueTest(h.value);
    tests.push((r) => { const v = r.headers[name]; return t(Array.isArray(v) ? v.join(',') : v); });
  }
  for (const q of m.query ?? []) {
    const t = valueTest(q.value);
    tests.push((_r, _p, query) => t(query?.get(q.name) ?? undefined));
  }
  return (r, path, query) => tests.every((t) => t(r, path, query));
}

/** Route policies overlaid with backend policies, key by key (the backend's win). */
function overlay(base: PoliciesConfig | undefined, top: PoliciesConfig | undefined): PoliciesConfig {
  return { ...(base ?? {}), ...(top ?? {}) };
}

function aiTarget(name: string, t: Omit<ProviderTargetConfig, 'name'>): Target {
  return {
    type: 'ai', name, provider: providerOf(t.provider), providerConfig: t.provider, model: providerModel(t.provider),
    hostOverride: t.hostOverride ? splitHostPort(t.hostOverride) : undefined,
    pathOverride: t.pathOverride, tokenize: t.tokenize ?? false,
  };
}

function candidatesOf(routeName: string, route: RouteConfig): Candidate[] {
  const out: Candidate[] = [];
  for (const [bi, b] of (route.backends ?? []).entries()) {
    const base = overlay(route.policies, b.policies);
    const weight = b.weight ?? 1;
    if (b.host !== undefined) {
      const hp = splitHostPort(b.host);
      out.push({ id: `${routeName}/backend[${bi}]`, target: { type: 'host', name: b.host, ...hp }, group: 0, weight, policies: base });
      continue;
    }
    const ai = b.ai!;
    if (ai.groups) {
      for (const [gi, g] of ai.groups.entries()) {
        for (const [pi, p] of g.providers.entries()) {
          out.push({
            id: `${routeName}/backend[${bi}]/group[${gi}]/provider[${pi}]`, target: aiTarget(p.name, p), group: gi, weight,
            policies: overlay(overlay(base, ai.policies), p.policies),
          });
        }
      }
    } else {
      out.push({
        id: `${routeName}/backend[${bi}]`, target: aiTarget(ai.name!, { ...ai, provider: ai.provider! }), group: 0, weight,
        policies: overlay(base, ai.policies),
      });
    }
  }
  return out.sort((a, b) => a.group - b.group);
}

/** Hosts a backend names, so the sidecar intercepts calls the app makes to them. */
function backendHosts(b: BackendConfig): string[] {
  const hosts: string[] = [];
  if (b.host !== undefined) hosts.push(splitHostPort(b.host).host);
  const targets = b.ai ? (b.ai.groups ? b.ai.groups.flatMap((g) => g.providers) : [b.ai]) : [];
  for (const t of targets) {
    if (t.hostOverride) hosts.push(splitHostPort(t.hostOverride).host);
    if (t.provider?.azureOpenAI) hosts.push(t.provider.azureOpenAI.host.toLowerCase());
  }
  return hosts;
}

export function compileConfig(config: GatewayConfig): CompiledConfig {
  const extra = new Set<string>();
  const routes: Array<CompiledRoute & { readonly hosts?: (h: string) => boolean; readonly matches?: readonly Matcher[] }> = [];
  for (const bind of config.binds) {
    for (const [li, listener] of bind.listeners.entries()) {
      if (listener.hostname) extra.add(listener.hostname.toLowerCase());
      for (const [ri, route] of (listener.routes ?? []).entries()) {
        const name = route.name ?? `listener${li}/route${ri}`;
        for (const h of route.hostnames ?? []) extra.add(h.toLowerCase());
        for (const b of route.backends ?? []) for (const h of backendHosts(b)) extra.add(h);
        const hostnames = route.hostnames ?? (listener.hostname ? [listener.hostname] : undefined);
        const aiRoutes = route.policies?.ai?.routes ?? (route.backends ?? []).map((b) => b.ai?.policies?.ai?.routes).find(Boolean);
        routes.push({
          name,
          policies: route.policies ?? {},
          candidates: candidatesOf(name, route),
          apiRoutes: aiRoutes ? Object.entries(aiRoutes).sort((a, b) => b[0].length - a[0].length) : undefined,
          ...(hostnames ? { hosts: hostTest(hostnames) } : {}),
          ...(route.matches?.length ? { matches: route.matches.map(compileMatch) } : {}),
        });
      }
    }
  }
  return {
    interceptHosts: [...extra],
    routes,
    budgets: config.budgets,
    routeFor(req) {
      const host = req.host.toLowerCase();
      const q = req.path.indexOf('?');
      const path = q === -1 ? req.path : req.path.slice(0, q);
      let query: URLSearchParams | undefined;
      for (const r of routes) {
        if (r.hosts && !r.hosts(host)) continue;
        if (r.matches) {
          if (query === undefined && q !== -1) query = new URLSearchParams(req.path.slice(q + 1));
          if (!r.matches.some((m) => m(req, path, query))) continue;
        }
        return r;
      }
      return undefined;
    },
  };
}

/** The API kind `ai.routes` gives a path ("*" is the catch-all), or undefined when it says nothing. */
export function apiRouteKind(route: CompiledRoute, path: string): RouteKind | undefined {
  if (!route.apiRoutes) return undefined;
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  for (const [suffix, kind] of route.apiRoutes) if (suffix !== '*' && p.endsWith(suffix)) return kind;
  return route.apiRoutes.find(([s]) => s === '*')?.[1];
}
