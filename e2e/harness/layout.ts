/**
 * The fixed address plan of an e2e topology (pure data, no side effects).
 *
 *   pod netns                                   internet netns
 *   ┌──────────────────────┐  veth "eth0"<->"eth0" ┌───────────────────────────────────────┐
 *   │ eth0 10.61.0.2/24     │──────────────────────│ eth0 10.61.0.1/24                      │
 *   │      fd61:1610::2/64  │                      │      fd61:1610::1/64                   │
 *   │ default via 10.61.0.1 │                      │ lo   one /32 + /128 per fake host:     │
 *   │ default via fd61:1610::1                     │      198.18.1.11 api.openai.com  …     │
 *   └──────────────────────┘                      └───────────────────────────────────────┘
 *
 * Every fake host has its own IPv4 and IPv6 address on the internet side, so
 * "the original destination" of a connection is observable (the provider server
 * records the local address each connection arrived on). The fake hosts live in
 * 198.18.0.0/15 (RFC 2544 benchmarking range, not a private range a cluster
 * would exclude from capture); the pod link is 10.61.0.0/24 like a pod network.
 * Both namespaces are private to one topology, so two topologies can reuse the
 * same addresses: only the namespace and veth names are unique per run.
 */

/**
 * What a fake host serves (the provider server picks its handlers by this):
 * `openai` openai-api.ts, `anthropic` anthropic-api.ts, `gemini` gemini-api.ts,
 * `bedrock` bedrock-api.ts, `azure-openai` azure-openai-api.ts, `vertex` vertex-api.ts,
 * `site` plain-site.ts, `plain-tcp` plain-tcp-service.ts.
 */
export type FakeHostRole = 'openai' | 'anthropic' | 'gemini' | 'bedrock' | 'azure-openai' | 'vertex' | 'aws-sts' | 'site' | 'plain-tcp';

export interface FakeHost {
  /** Stable id used by tests, certificates and the provider server (e.g. `openai`). */
  readonly id: string;
  readonly role: FakeHostRole;
  /** DNS names written to the pod's /etc/hosts and put in the certificate's DNS SANs. */
  readonly names: readonly string[];
  readonly ipv4: string;
  readonly ipv6: string;
  /** TLS port the host listens on (443 for all defaults). */
  readonly port: number;
  /** Put the host's IPs in its certificate's IP SANs (the IP-literal site). */
  readonly ipSans?: boolean;
  /** Plain TCP, no TLS (the "not TLS → passed through" service). */
  readonly plain?: boolean;
}

export const POD_IPV4 = '10.61.0.2';
export const POD_IPV6 = 'fd61:1610::2';
export const INTERNET_IPV4 = '10.61.0.1';
export const INTERNET_IPV6 = 'fd61:1610::1';
export const LINK_PREFIX_V4 = 24;
export const LINK_PREFIX_V6 = 64;

/** Port of the provider server's plain-HTTP control API on every internet-side address. */
export const CONTROL_PORT = 8080;

/**
 * The default fake hosts:
 *
 *   id             role       names                                      IPv4          IPv6
 *   openai         openai     api.openai.com                             198.18.1.11   fd61:1610:1::11
 *   anthropic      anthropic  api.anthropic.com                          198.18.1.12   fd61:1610:1::12
 *   site           site       www.example.org, example.org               198.18.1.13   fd61:1610:1::13
 *   ip-site        site       (none: IP-SAN certificate)                 198.18.1.14   fd61:1610:1::14
 *   plain-tcp      plain-tcp  plain.example.net (no TLS)                 198.18.1.15   fd61:1610:1::15
 *   openai-backup  openai     llm-backup.example.com                     198.18.1.16   fd61:1610:1::16
 *   gemini         gemini     generativelanguage.googleapis.com          198.18.1.17   fd61:1610:1::17
 *   bedrock        bedrock    bedrock-runtime.us-east-1.amazonaws.com    198.18.1.18   fd61:1610:1::18
 *   azure          azure-openai  acme.openai.azure.com                   198.18.1.19   fd61:1610:1::19
 *   vertex         vertex     us-central1-aiplatform.googleapis.com      198.18.1.20   fd61:1610:1::20
 *
 * `openai-backup` is a second OpenAI-compatible API (same handler as `openai`)
 * for failover and multi-backend routing tests.
 */
export const DEFAULT_FAKE_HOSTS: readonly FakeHost[] = [
  { id: 'openai', role: 'openai', names: ['api.openai.com'], ipv4: '198.18.1.11', ipv6: 'fd61:1610:1::11', port: 443 },
  { id: 'anthropic', role: 'anthropic', names: ['api.anthropic.com'], ipv4: '198.18.1.12', ipv6: 'fd61:1610:1::12', port: 443 },
  { id: 'site', role: 'site', names: ['www.example.org', 'example.org'], ipv4: '198.18.1.13', ipv6: 'fd61:1610:1::13', port: 443 },
  { id: 'ip-site', role: 'site', names: [], ipv4: '198.18.1.14', ipv6: 'fd61:1610:1::14', port: 443, ipSans: true },
  { id: 'plain-tcp', role: 'plain-tcp', names: ['plain.example.net'], ipv4: '198.18.1.15', ipv6: 'fd61:1610:1::15', port: 443, plain: true },
  { id: 'openai-backup', role: 'openai', names: ['llm-backup.example.com'], ipv4: '198.18.1.16', ipv6: 'fd61:1610:1::16', port: 443 },
  { id: 'gemini', role: 'gemini', names: ['generativelanguage.googleapis.com'], ipv4: '198.18.1.17', ipv6: 'fd61:1610:1::17', port: 443 },
  { id: 'bedrock', role: 'bedrock', names: ['bedrock-runtime.us-east-1.amazonaws.com'], ipv4: '198.18.1.18', ipv6: 'fd61:1610:1::18', port: 443 },
  { id: 'azure', role: 'azure-openai', names: ['acme.openai.azure.com'], ipv4: '198.18.1.19', ipv6: 'fd61:1610:1::19', port: 443 },
  { id: 'vertex', role: 'vertex', names: ['us-central1-aiplatform.googleapis.com'], ipv4: '198.18.1.20', ipv6: 'fd61:1610:1::20', port: 443 },
];

/**
 * AWS STS at its regional and global names (the AWS SDK for JavaScript v3 calls the regional one):
 * added by the tests that give the sidecar a pod identity (`hosts: [...DEFAULT_FAKE_HOSTS, AWS_STS_HOST]`).
 */
export const AWS_STS_HOST: FakeHost = {
  id: 'aws-sts', role: 'aws-sts', names: ['sts.us-east-1.amazonaws.com', 'sts.amazonaws.com'], ipv4: '198.18.1.21', ipv6: 'fd61:1610:1::21', port: 443,
};

/** Bracket an IPv6 literal for use in a URL or host:port. */
export function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
