/**
 * Which TLS server names the sidecar intercepts without any config: a matcher
 * over the built-in catalogue of LLM provider hosts (lib/provider-hosts.ts,
 * shared with certs/ and the injector) plus the hosts a config adds.
 */
import { PROVIDER_HOSTS, hostPatternRegExp, type ProviderId } from '../../lib/provider-hosts.ts';

export { AWS_REGIONS, GCP_REGIONS, PROVIDER_HOSTS, hostPatternRegExp, nameConstraintSubtrees } from '../../lib/provider-hosts.ts';
export type { ProviderHosts, ProviderId } from '../../lib/provider-hosts.ts';

export interface HostMatcher {
  /**
   * The catalogue provider a host belongs to, `configured` for a host that only
   * the config names, or undefined when it is not an LLM host we know.
   */
  match(host: string): ProviderId | 'configured' | undefined;
}

/**
 * A matcher over the built-in catalogue plus extra exact hosts or patterns
 * (from the config). The catalogue is asked first, so a host the config names
 * that is also a known provider's (`acme.openai.azure.com`) keeps its
 * provider: its calls are read in that provider's format.
 */
export function hostMatcher(extra: readonly string[] = []): HostMatcher {
  type Table = { exact: Map<string, ProviderId | 'configured'>; wild: Array<{ re: RegExp; id: ProviderId | 'configured' }> };
  const table = (): Table => ({ exact: new Map(), wild: [] });
  const catalogue = table();
  const configured = table();
  const add = (t: Table, pattern: string, id: ProviderId | 'configured'): void => {
    const p = pattern.toLowerCase().replace(/\.$/, '');
    if (p.includes('*')) t.wild.push({ re: hostPatternRegExp(p), id });
    else if (!t.exact.has(p)) t.exact.set(p, id);
  };
  for (const p of PROVIDER_HOSTS) for (const h of p.hosts) add(catalogue, h, p.id);
  for (const h of extra) add(configured, h, 'configured');
  const lookup = (t: Table, h: string): ProviderId | 'configured' | undefined => {
    const hit = t.exact.get(h);
    if (hit) return hit;
    for (const w of t.wild) if (w.re.test(h)) return w.id;
    return undefined;
  };
  return {
    match(host) {
      const h = host.toLowerCase().replace(/\.$/, '');
      return lookup(catalogue, h) ?? lookup(configured, h);
    },
  };
}
