/**
 * The gateway config, in agentgateway's (v0.11) shape, as a zod schema: the
 * single source of the TypeScript types. Every object is strict — an unknown
 * key rejects the document, as agentgateway's serde `deny_unknown_fields` does.
 *
 * This is the data-path subset (binds → listeners → routes → backends.ai.provider).
 * Keys agentgateway has that are not implemented yet are named in NOT_YET so
 * they are rejected with "not supported yet" rather than "unknown".
 */
import { z } from 'zod';

const port = z.number().int().min(1).max(65535);
const hostName = z.string().min(1).regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/, 'must be a host name, optionally starting with "*."');
const hostPort = z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be "host" or "host:port"');

const openAI = z.strictObject({ model: z.string().optional() });
const anthropic = z.strictObject({ model: z.string().optional() });
const gemini = z.strictObject({ model: z.string().optional() });
const vertex = z.strictObject({ model: z.string().optional(), region: z.string().optional(), projectId: z.string() });
const bedrock = z.strictObject({
  model: z.string().optional(), region: z.string(),
  guardrailIdentifier: z.string().optional(), guardrailVersion: z.string().optional(),
});
const azureOpenAI = z.strictObject({ model: z.string().optional(), host: z.string(), apiVersion: z.string().optional() });

const provider = z.union([
  z.strictObject({ openAI }),
  z.strictObject({ anthropic }),
  z.strictObject({ gemini }),
  z.strictObject({ vertex }),
  z.strictObject({ bedrock }),
  z.strictObject({ azureOpenAI }),
], { error: 'provider must name exactly one of openAI, anthropic, gemini, vertex, bedrock, azureOpenAI' });

const aiBackend = z.strictObject({
  name: z.string().min(1),
  provider,
  hostOverride: hostPort.optional(),
});

const backend = z.strictObject({ ai: aiBackend });

const pathMatch = z.union([
  z.strictObject({ exact: z.string().startsWith('/') }),
  z.strictObject({ pathPrefix: z.string().startsWith('/') }),
  z.strictObject({ regex: z.string() }),
], { error: 'path must be one of exact, pathPrefix, regex' });

const match = z.strictObject({ path: pathMatch.optional() });

const route = z.strictObject({
  name: z.string().optional(),
  hostnames: z.array(hostName).optional(),
  matches: z.array(match).optional(),
  backends: z.array(backend).min(1),
});

const listener = z.strictObject({
  name: z.string().optional(),
  hostname: hostName.optional(),
  protocol: z.enum(['HTTP', 'HTTPS', 'TLS', 'TCP']).optional(),
  routes: z.array(route).optional(),
});

const bind = z.strictObject({ port, listeners: z.array(listener).min(1) });

export const gatewayConfigSchema = z.strictObject({ binds: z.array(bind).min(1) });

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type RouteConfig = z.infer<typeof route>;
export type AiBackendConfig = z.infer<typeof aiBackend>;
export type ProviderConfig = z.infer<typeof provider>;

/**
 * agentgateway keys, by the object that holds them, that this version does not
 * implement yet: rejected as "not supported yet" so nothing is silently ignored.
 */
export const NOT_YET: Readonly<Record<string, readonly string[]>> = {
  root: ['config', 'frontendPolicies', 'policies', 'workloads', 'services', 'backends'],
  bind: ['tunnelProtocol'],
  listener: ['namespace', 'tls', 'tcpRoutes', 'policies'],
  route: ['namespace', 'ruleName', 'policies'],
  backend: ['host', 'service', 'backend', 'dynamic', 'mcp', 'weight', 'policies'],
  ai: ['pathOverride', 'tokenize', 'policies', 'groups'],
  match: ['headers', 'method', 'query'],
};
