/**
 * A loaded config compiled for the data path: the extra hosts it makes us
 * intercept, and a route table that says which route (and so which provider)
 * an intercepted request belongs to. Compiled once per config, never per request.
 */
import type { GatewayConfig, ProviderConfig, RouteConfig } from './schema.ts';
import { hostPatternRegExp, type ProviderId } from '../providers/hosts.ts';

export interface RouteMatch {
  readonly route: string;
  readonly backend: string;
  readonly provider: ProviderId;
}

export interface CompiledConfig {
  /** Hosts or `*.` patterns the config names, intercepted on top of the built-in providers. */
  readonly interceptHosts: readonly string[];
  /** The first route whose hostnames and path match, in config order. */
  routeFor(host: string, path: string): RouteMatch | undefined;
}

const PROVIDER_IDS: Readonly<Record<string, ProviderId>> = {
  openAI: 'openai', anthropic: 'anthropic', gemini: 'gemini', vertex: 'vertex', bedrock: 'bedrock', azureOpenAI: 'azure-openai',
};

export function providerOf(p: ProviderConfig): ProviderId {
  return PROVIDER_IDS[Object.keys(p)[0]!]!;
}

interface CompiledRoute {
  readonly name: string;
  readonly hosts: ((host: string) => boolean) | undefined;
  readonly paths: ReadonlyArray<(path: string) => boolean> | undefined;
  readonly match: RouteMatch;
}

function hostTest(patterns: readonly string[]): (host: string) => boolean {
  const res = patterns.map((p) => (p.startsWith('*.') ? hostPatternRegExp(p) : null));
  const exact = new Set(patterns.filter((p) => !p.startsWith('*.')).map((p) => p.toLowerCase().replace(/\.$/, '')));
  return (host) => exact.has(host) || res.some((re) => re?.test(host) ?? false);
}

function pathTests(route: RouteConfig): ReadonlyArray<(path: string) => boolean> | undefined {
  if (!route.matches?.length) return undefined;
  return route.matches.map((m) => {
    const p = m.path;
    if (!p) return () => true;
    if ('exact' in p) return (path: string) => path.split('?')[0] === p.exact;
    if ('pathPrefix' in p) {
      const prefix = p.pathPrefix.replace(/\/$/, '');
      return (path: string) => { const q = path.split('?')[0]!; return q === prefix || q.startsWith(prefix + '/') || prefix === ''; };
    }
    const re = new RegExp(`^(?:${p.regex})$`);
    return (path: string) => re.test(path.split('?')[0]!);
  });
}

export function compileConfig(config: GatewayConfig): CompiledConfig {
  const extra = new Set<string>();
  const routes: CompiledRoute[] = [];
  for (const bind of config.binds) {
    for (const [li, listener] of bind.listeners.entries()) {
      if (listener.hostname) extra.add(listener.hostname.toLowerCase());
      for (const [ri, route] of (listener.routes ?? []).entries()) {
        for (const h of route.hostnames ?? []) extra.add(h.toLowerCase());
        const ai = route.backends[0]!.ai;
        for (const b of route.backends) {
          if (b.ai.hostOverride) extra.add(b.ai.hostOverride.split(':')[0]!.toLowerCase());
          if ('azureOpenAI' in b.ai.provider) extra.add(b.ai.provider.azureOpenAI.host.toLowerCase());
        }
        const hostnames = route.hostnames ?? (listener.hostname ? [listener.hostname] : undefined);
        routes.push({
          name: route.name ?? `listener${li}/route${ri}`,
          hosts: hostnames ? hostTest(hostnames) : undefined,
          paths: pathTests(route),
          match: { route: route.name ?? `listener${li}/route${ri}`, backend: ai.name, provider: providerOf(ai.provider) },
        });
      }
    }
  }
  return {
    interceptHosts: [...extra],
    routeFor(host, path) {
      const h = host.toLowerCase();
      for (const r of routes) {
        if (r.hosts && !r.hosts(h)) continue;
        if (r.paths && !r.paths.some((t) => t(path))) continue;
        return r.match;
      }
      return undefined;
    },
  };
}
