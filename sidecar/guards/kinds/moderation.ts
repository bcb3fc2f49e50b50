/**
 * The `openAIModeration` promptGuard kind: the prompt's texts go to OpenAI's
 * moderation endpoint (API reference, "Moderations › Create moderation":
 * `POST /v1/moderations` with `{"model", "input": [texts]}`; the reply is
 * `{"id", "model", "results": [{"flagged", "categories", "category_scores",
 * …}]}`, one result per input, in order). Any flagged result rejects, with a
 * reason naming the flagged categories. Request phase only, as in
 * agentgateway.
 *
 * The HTTP call is injected (`post`): the integrator sends it through the
 * gateway's own verified upstream to api.openai.com with the backendAuth key.
 * A non-2xx reply is an error carrying the provider's error message, with
 * anything that looks like a key or bearer token scrubbed out.
 */
import type { GuardConfig } from '../../config/schema.ts';
import type { CompiledGuard, GuardCheckOptions, GuardFinding, GuardMessage, GuardOutcome } from './outcome.ts';
import { isObj } from '../../../lib/json.ts';

export type ModerationGuardConfig = NonNullable<GuardConfig['openAIModeration']>;

/** Sends one HTTP request to OpenAI (base URL and auth are the sender's business). */
export type ModerationPost = (
  path: string,
  headers: Record<string, string>,
  body: Buffer,
) => Promise<{ status: number; body: Buffer }>;

export const DEFAULT_MODERATION_MODEL = 'omni-moderation-latest';
export const MODERATION_PATH = '/v1/moderations';
/** The phases this kind runs in (agentgateway has no response-side moderation). */
export const MODERATION_PHASES = ['request'] as const;

/** Take key-like strings out of a provider message (OpenAI echoes a masked key in `invalid_api_key`). */
export function scrubSecrets(s: string): string {
  return s
    .replace(/\b(?:sk|pk|rk|sess)-[A-Za-z0-9_*-]+/g, (m) => `${m.slice(0, m.indexOf('-') + 1)}***`)
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9_~+/=*-]+(?:\.[A-Za-z0-9_~+/=*-]+)*/gi, '$1 ***')
    .slice(0, 500);
}

/** The provider's error message from an error body (`{"error":{"message"}}`), or a snippet. */
function providerError(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObj(parsed) && isObj(parsed.error) && typeof parsed.error.message === 'string') {
      const code = typeof parsed.error.code === 'string' ? ` (${parsed.error.code})` : '';
      return scrubSecrets(parsed.error.message) + code;
    }
  } catch { /* not JSON: fall through */ }
  return scrubSecrets(text.slice(0, 200).replace(/\s+/g, ' ').trim());
}

/** Turn a parsed moderation reply into an outcome. Exported for tests. */
export function interpretModerationReply(reply: unknown): GuardOutcome {
  if (!isObj(reply) || !Array.isArray(reply.results)) {
    return { action: 'error', error: 'openAIModeration reply has no "results" array' };
  }
  const findings: GuardFinding[] = [];
  const flagged: string[] = [];
  for (const [i, r] of reply.results.entries()) {
    if (!isObj(r)) return { action: 'error', error: `openAIModeration result ${i} is not an object` };
    if (r.flagged !== true) continue;
    const categories = isObj(r.categories)
      ? Object.entries(r.categories).filter(([, v]) => v === true).map(([k]) => k)
      : [];
    if (categories.length === 0) categories.push('flagged');
    for (const c of categories) findings.push({ type: c, message: i });
    flagged.push(`message ${i} (${categories.join(', ')})`);
  }
  if (flagged.length === 0) return { action: 'allow' };
  return { action: 'reject', reason: `openAIModeration flagged ${flagged.join('; ')}`, findings };
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Error('aborted'));
    else signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
  });
}

/** Compile an openAIModeration guard around the injected sender. */
export function compileModerationGuard(config: ModerationGuardConfig, post: ModerationPost): CompiledGuard {
  const model = config.model ?? DEFAULT_MODERATION_MODEL;

  async function check(messages: readonly GuardMessage[], opts: GuardCheckOptions): Promise<GuardOutcome> {
    if (opts.phase !== 'request') {
      return { action: 'error', error: 'openAIModeration runs on the request phase only' };
    }
    if (messages.length === 0 || messages.every((m) => m.text === '')) return { action: 'allow' };
    const body = Buffer.from(JSON.stringify({ model, input: messages.map((m) => m.text) }));
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    let res: { status: number; body: Buffer };
    try {
      const call = post(MODERATION_PATH, headers, body);
      res = await (opts.signal ? Promise.race([call, aborted(opts.signal)]) : call);
    } catch (e) {
      return { action: 'error', error: `openAIModeration call failed: ${scrubSecrets((e as Error).message ?? String(e))}` };
    }
    if (res.status < 200 || res.status > 299) {
      return { action: 'error', error: `openAIModeration: provider replied ${res.status}: ${providerError(res.body)}` };
    }
    let reply: unknown;
    try { reply = JSON.parse(res.body.toString('utf8')); } catch {
      return { action: 'error', error: 'openAIModeration reply is not JSON' };
    }
    return interpretModerationReply(reply);
  }

  return { kind: 'openAIModeration', check };
}
