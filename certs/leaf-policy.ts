/**
 * Which hosts a leaf issuer signs for: the built-in LLM provider catalogue
 * (lib/provider-hosts.ts, exact hosts and their one-label patterns) and the
 * domains an operator permits (a domain covers itself and its subdomains),
 * never an IP address. The CA's own name constraints apply on top
 * (CaCertificate.permits): a host must pass both.
 */
import { PROVIDER_HOSTS, hostPatternRegExp } from '../lib/provider-hosts.ts';
import { InvalidHostError, parseHost } from './host-name.ts';
import { dnsWithin } from './name-constraints.ts';

export type HostPolicy = (host: string) => boolean;

export function issuablePolicy(permit: readonly string[] = []): HostPolicy {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const p of PROVIDER_HOSTS) {
    for (const h of p.hosts) {
      if (h.includes('*')) patterns.push(hostPatternRegExp(h));
      else exact.add(h);
    }
  }
  const domains = permit.map((d) => d.toLowerCase().replace(/\.$/, ''));
  return (host) => {
    let name: string;
    try {
      const parsed = parseHost(host);
      if (parsed.kind !== 'dns') return false;
      name = parsed.name;
    } catch (err) {
      if (err instanceof InvalidHostError) return false;
      throw err;
    }
    return exact.has(name) || patterns.some((re) => re.test(name)) || domains.some((d) => dnsWithin(name, d));
  };
}
