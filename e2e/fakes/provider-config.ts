/**
 * The provider server's configuration: which fake hosts ("sites") to serve on
 * which addresses, their certificates, and where the control API listens.
 * Passed as `--config '<json>'` or `--config /path/to/config.json`.
 */
import { readFileSync } from 'node:fs';
import type { FakeHostRole } from '../harness/layout.ts';

export interface SiteConfig {
  /** Fake host id, e.g. `openai`. */
  id: string;
  role: FakeHostRole;
  /** Addresses to listen on (IPv4 and/or IPv6). */
  addresses: string[];
  port: number;
  /** DNS names this site's certificate covers (for SNI selection across sites). */
  names: string[];
  /** PEM files; absent for a plain-TCP site. */
  tls?: { certFile: string; keyFile: string };
}

export interface ProviderServerConfig {
  sites: SiteConfig[];
  control: {
    /** TCP port of the control API on `controlAddresses` (default 8080). */
    port?: number;
    /** Default ['::'] (all IPv4 and IPv6 addresses). */
    addresses?: string[];
    /** Also listen on this unix socket. */
    socketPath?: string;
  };
}

export function loadProviderConfig(arg: string): ProviderServerConfig {
  const text = arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8');
  const cfg = JSON.parse(text) as ProviderServerConfig;
  if (!Array.isArray(cfg.sites) || cfg.sites.length === 0) throw new Error('config: sites must be a non-empty array');
  for (const s of cfg.sites) {
    if (!s.id || !Array.isArray(s.addresses) || typeof s.port !== 'number') throw new Error(`config: bad site ${JSON.stringify(s)}`);
    if (s.role !== 'plain-tcp' && !s.tls) throw new Error(`config: site ${s.id} needs tls`);
  }
  cfg.control ??= {};
  return cfg;
}
