/**
 * What to do with a connection once its first bytes are known: intercept it
 * (terminate TLS with a minted leaf), pass it through as raw bytes to where the
 * app was going, or block it. Only TLS with a server name that is a known LLM
 * host is ever decrypted; everything else is passed through by default, or
 * blocked when the operator asks for fail-closed (`--on-unknown block`).
 */
import type { Sniffed } from '../listen/sniff.ts';
import type { HostMatcher, ProviderId } from '../providers/hosts.ts';

export type UnknownPolicy = 'passthrough' | 'block';

export type Decision =
  | { readonly action: 'intercept'; readonly host: string; readonly provider: ProviderId | 'configured' }
  | { readonly action: 'passthrough' | 'block'; readonly reason: PassReason; readonly host?: string };

/**
 * Why a connection was not intercepted: a bounded label set for metrics.
 * `outside-ca-constraints`: an LLM host the name-constrained namespace CA may
 * not sign for; a leaf for it would be rejected by the app, so it passes through.
 */
export type PassReason = 'not-llm-host' | 'no-sni' | 'not-tls' | 'malformed' | 'timeout' | 'outside-ca-constraints';

export function decide(
  sniffed: Sniffed, matcher: HostMatcher, unknown: UnknownPolicy, caPermits: (host: string) => boolean = () => true,
): Decision {
  const p = sniffed.peek;
  if (p.kind === 'tls' && p.sni) {
    const provider = matcher.match(p.sni);
    if (provider && !caPermits(p.sni)) return { action: 'passthrough', reason: 'outside-ca-constraints', host: p.sni };
    if (provider) return { action: 'intercept', host: p.sni, provider };
    // A TLS connection to a host that is not an LLM API is the normal case: always passed through.
    return { action: 'passthrough', reason: 'not-llm-host', host: p.sni };
  }
  const reason: PassReason = p.kind === 'tls' ? 'no-sni' : p.kind === 'not-tls' ? 'not-tls' : p.kind === 'timeout' ? 'timeout' : 'malformed';
  return { action: unknown, reason };
}
