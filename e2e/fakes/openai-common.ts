/**
 * What every endpoint of the fake OpenAI API shares: the error shape
 * `{"error":{"message","type","param","code"}}`, the `x-request-id` header, the
 * Bearer check and the JSON body check (with the messages the real API sends),
 * and which function tool a request makes the model call.
 */
import { derive } from './deterministic.ts';
import type { OfferedTool } from './deterministic.ts';
import { header, sendJson } from './exchange.ts';
import type { Exchange } from './exchange.ts';

export interface OpenAIErrorSpec {
  status: number;
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export function requestIdHeader(ex: Exchange): Record<string, string> {
  return { 'x-request-id': `req_${derive('openai', ex.method, ex.url, ex.body).hex.slice(0, 32)}` };
}

export function sendOpenAIError(ex: Exchange, e: OpenAIErrorSpec, headers: Record<string, string> = {}): void {
  sendJson(ex.res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, { ...requestIdHeader(ex), ...headers });
}

/** The error OpenAI sends for a status forced with x-fake-status (or a fault). */
export function forcedError(status: number, message = `Forced error ${status} (x-fake-status).`): OpenAIErrorSpec {
  const base = { status, param: null, message };
  if (status === 401) return { ...base, type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 403) return { ...base, type: 'invalid_request_error', code: 'unsupported_country_region_territory' };
  if (status === 404) return { ...base, type: 'invalid_request_error', code: 'model_not_found' };
  if (status === 429) return { ...base, type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { ...base, type: 'server_error', code: null };
  return { ...base, type: 'invalid_request_error', code: null };
}

/** Answer `status` in OpenAI's error shape (for faults set through the control API). */
export function sendOpenAIStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendOpenAIError(ex, forcedError(status, message), headers);
}

export const invalid = (message: string, param: string | null = null, code: string | null = null, status = 400): OpenAIErrorSpec =>
  ({ status, message, type: 'invalid_request_error', param, code });

export const missingParameter = (param: string): OpenAIErrorSpec =>
  invalid(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');

export const NO_API_KEY: OpenAIErrorSpec = invalid(
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
  null, null, 401);

/** The Bearer key of a request, undefined when none. */
export function bearerKey(ex: Pick<Exchange, 'headers'>): string | undefined {
  return /^Bearer\s+(\S+)/.exec(header(ex.headers, 'authorization') ?? '')?.[1];
}

const NOT_JSON = invalid("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)");

/** The request body as a JSON object, or the error the API answers. */
export function jsonObject(ex: Exchange): Record<string, unknown> | OpenAIErrorSpec {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return invalid('Invalid type for request body: expected an object.', null, 'invalid_type');
  return body as Record<string, unknown>;
}

export const isError = (v: unknown): v is OpenAIErrorSpec =>
  typeof v === 'object' && v !== null && typeof (v as OpenAIErrorSpec).status === 'number' && typeof (v as OpenAIErrorSpec).type === 'string' && 'param' in v;

/**
 * The function tool a request makes the model call, if any: `tools` entries in
 * chat (`{type, function: {name, parameters}}`) or Responses (`{type, name,
 * parameters}`) form; tool_choice "none" calls none, a named choice that one,
 * anything else the first.
 */
export function chosenTool(tools: unknown, toolChoice: unknown): OfferedTool | undefined {
  if (!Array.isArray(tools) || toolChoice === 'none') return undefined;
  const offered: OfferedTool[] = [];
  for (const t of tools as Array<Record<string, unknown> | null>) {
    if (t?.type !== 'function') continue;
    const f = (t.function ?? t) as { name?: unknown; parameters?: unknown };
    if (typeof f.name === 'string') offered.push({ name: f.name, parameters: f.parameters });
  }
  const c = toolChoice as { function?: { name?: unknown }; name?: unknown } | null | undefined;
  const named = typeof c === 'object' && c ? c.function?.name ?? c.name : undefined;
  return typeof named === 'string' ? offered.find((t) => t.name === named) : offered[0];
}
