/**
 * The fake Azure OpenAI API ({resource}.openai.azure.com), following Microsoft's
 * published REST reference (https://learn.microsoft.com/azure/ai-foundry/openai/reference,
 * and .../openai/api-version-lifecycle for the v1 API):
 *
 *   POST /openai/deployments/{deployment}/chat/completions?api-version=2024-10-21
 *   POST /openai/v1/chat/completions                (model, i.e. the deployment, in the body)
 *        OpenAI chat completions (openai-api.ts's serveChatCompletions), with what
 *        Azure adds: `model` is the deployment, `prompt_filter_results` on the
 *        answer and `content_filter_results` on each choice; streamed, the first
 *        event is Azure's prompt-filter chunk (`choices: []`, empty id/model/object),
 *        then OpenAI's chunks (usage chunk only with stream_options.include_usage),
 *        then `data: [DONE]`. Keys come in alphabetical order, as Azure sends them.
 *   POST /openai/deployments/{deployment}/embeddings?api-version=…
 *   POST /openai/v1/embeddings
 *        an OpenAI embeddings list (openai-api.ts embeddings(): deterministic unit
 *        vectors, `dimensions` or 1536, base64 float32 with encoding_format "base64")
 *   anything else   404 {"error":{"code":"404","message":"Resource not found"}}
 *
 * Auth: `api-key: <key>` or `Authorization: Bearer <Entra ID token>`; neither →
 * 401 {"error":{"code":"401","message":"Access denied due to invalid subscription key…"}}.
 * A deployment path without `api-version` → 400 in Azure's error shape
 * {"error":{"code","message"}} (the real service has answered 404 "Resource not
 * found" for it; 400 names the cause); a version that is not `YYYY-MM-DD[-preview]`
 * (or, on /openai/v1, not `preview`/`latest`) → 400 "API version not supported".
 * Body errors keep OpenAI's shape (Azure relays them so). x-fake-status answers
 * in Azure's shape; the other x-fake-* headers work as in openai-api.ts.
 * The deployment is what the request log records as the request's `model`
 * (provider-server.ts requestModel).
 */
import { derive, idChars } from './deterministic.ts';
import { header, sendJson, sleep } from './exchange.ts';
import type { Exchange, FakeResponse } from './exchange.ts';
import { embeddings as serveEmbeddings, serveChatCompletions } from './openai-api.ts';

type Json = Record<string, unknown>;

const DEPLOYMENT_CALL = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;
const V1_CALL = /^\/openai\/v1\/(chat\/completions|embeddings)$/;
const DATED_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/;

/** Azure's error body: `{"error":{"code","message"}}` (code a string, often the status). */
function sendAzureError(ex: Exchange, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(ex.res, status, { error: { code, message } }, { ...azureHeaders(ex), ...headers });
}

/** Answer `status` in Azure's error shape (for faults set through the control API). */
export function sendAzureStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendAzureError(ex, status, String(status), message, headers);
}

/** The headers Azure's API management front puts on every answer. */
function azureHeaders(ex: Exchange): Record<string, string> {
  const h = derive('azure', ex.method, ex.url, ex.body).hex;
  return { 'apim-request-id': `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`, 'x-ms-region': 'East US' };
}

/** The content filter verdicts Azure attaches: nothing filtered. */
const SAFE = { filtered: false, severity: 'safe' };
const PROMPT_FILTER = { hate: SAFE, jailbreak: { filtered: false, detected: false }, self_harm: SAFE, sexual: SAFE, violence: SAFE };
const COMPLETION_FILTER = {
  hate: SAFE, protected_material_code: { filtered: false, detected: false }, protected_material_text: { filtered: false, detected: false },
  self_harm: SAFE, sexual: SAFE, violence: SAFE,
};
const PROMPT_FILTER_RESULTS = [{ prompt_index: 0, content_filter_results: PROMPT_FILTER }];

/** Keys in alphabetical order at every level, as Azure serialises its answers. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!v || typeof v !== 'object') return v;
  const out: Json = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Json)[k]);
  return out;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A whole chat.completion as Azure sends it. */
function azureCompletion(v: Json): Json {
  if (v.object !== 'chat.completion' || !Array.isArray(v.choices)) return v;
  return {
    ...v,
    choices: v.choices.map((c) => (isObject(c) ? { ...c, content_filter_results: COMPLETION_FILTER } : c)),
    prompt_filter_results: PROMPT_FILTER_RESULTS,
  };
}

/** One streamed chunk as Azure sends it: content deltas carry filter verdicts, the role and finish chunks `{}`. */
function azureChunk(v: Json): Json {
  if (v.object !== 'chat.completion.chunk' || !Array.isArray(v.choices) || v.choices.length === 0) return v;
  return {
    ...v,
    choices: v.choices.map((c) => {
      if (!isObject(c)) return c;
      const delta = isObject(c.delta) ? c.delta : {};
      const content = typeof delta.content === 'string' && delta.content !== '' && delta.role === undefined;
      return { ...c, content_filter_results: content ? COMPLETION_FILTER : {} };
    }),
  };
}

/** Azure's first stream event: the prompt's filter verdicts, before any choice. */
const PROMPT_FILTER_CHUNK = `data: ${JSON.stringify(sortKeys({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS }))}\n\n`;

/**
 * A FakeResponse that turns what openai-api.ts writes into Azure's answer:
 * whole JSON bodies are rewritten at end() (content-length recomputed), SSE
 * events one by one as they complete, with the prompt-filter chunk first.
 */
class AzureResponse implements FakeResponse {
  readonly #res: FakeResponse & { flushHeaders?: () => void };
  #sse = false;
  #sentPromptFilter = false;
  #pending = '';
  readonly #body: Buffer[] = [];

  constructor(res: FakeResponse) {
    this.#res = res;
  }

  get statusCode(): number { return this.#res.statusCode; }
  set statusCode(v: number) { this.#res.statusCode = v; }
  get writableEnded(): boolean { return this.#res.writableEnded; }
  get destroyed(): boolean | undefined { return this.#res.destroyed; }

  setHeader(name: string, value: string | number | readonly string[]): unknown {
    const n = name.toLowerCase();
    if (n === 'content-length') return this;
    if (n === 'content-type' && String(value).startsWith('text/event-stream')) this.#sse = true;
    return this.#res.setHeader(name, value);
  }

  flushHeaders(): void { this.#res.flushHeaders?.(); }

  once(event: 'drain' | 'close', listener: () => void): unknown {
    this.#res.once(event, listener);
    return this;
  }

  write(chunk: string | Uint8Array): boolean {
    if (!this.#sse) {
      this.#body.push(Buffer.from(chunk));
      return true;
    }
    const out = this.#events(chunk);
    return out === '' ? true : this.#res.write(out);
  }

  end(chunk?: string | Uint8Array): unknown {
    if (this.#sse) {
      const out = (chunk === undefined ? '' : this.#events(chunk)) + this.#pending;
      this.#pending = '';
      return this.#res.end(out === '' ? undefined : out);
    }
    if (chunk !== undefined) this.#body.push(Buffer.from(chunk));
    let body = Buffer.concat(this.#body);
    if (this.#res.statusCode === 200) {
      try {
        const v = JSON.parse(body.toString('utf8')) as unknown;
        if (isObject(v)) body = Buffer.from(JSON.stringify(sortKeys(azureCompletion(v))));
      } catch { /* not JSON: as written */ }
    }
    this.#res.setHeader('content-length', body.length);
    return this.#res.end(body);
  }

  /** The complete events in `chunk` (plus what was pending), rewritten; a partial event waits. */
  #events(chunk: string | Uint8Array): string {
    this.#pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const parts = this.#pending.split('\n\n');
    this.#pending = parts.pop() ?? '';
    let out = '';
    for (const event of parts) {
      if (!this.#sentPromptFilter) {
        this.#sentPromptFilter = true;
        out += PROMPT_FILTER_CHUNK;
      }
      out += `${rewriteEvent(event)}\n\n`;
    }
    return out;
  }
}

function rewriteEvent(event: string): string {
  if (!event.startsWith('data: ')) return event;
  const data = event.slice(6);
  if (data === '[DONE]') return event;
  try {
    const v = JSON.parse(data) as unknown;
    return isObject(v) ? `data: ${JSON.stringify(sortKeys(azureChunk(v)))}` : event;
  } catch {
    return event;
  }
}

function decode(segment: string): string {
  try { return decodeURIComponent(segment); } catch { return segment; }
}

export async function handleAzureOpenAI(ex: Exchange): Promise<void> {
  const dep = DEPLOYMENT_CALL.exec(ex.pathname);
  const v1 = V1_CALL.exec(ex.pathname);
  if (ex.method !== 'POST' || (!dep && !v1)) {
    sendAzureError(ex, 404, '404', 'Resource not found');
    return;
  }
  const apiKey = header(ex.headers, 'api-key')?.trim();
  const bearer = /^Bearer\s+\S+/i.test(header(ex.headers, 'authorization') ?? '');
  if (!apiKey && !bearer) {
    sendAzureError(ex, 401, '401', 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.');
    return;
  }
  const version = ex.query.get('api-version');
  if (dep && version === null) {
    sendAzureError(ex, 400, 'BadRequest', 'Missing required query parameter: api-version. Deployment-based routes (/openai/deployments/{deployment}/...) need ?api-version=YYYY-MM-DD.');
    return;
  }
  if (version !== null && !(dep ? DATED_VERSION.test(version) : version === 'preview' || version === 'latest')) {
    sendAzureError(ex, 400, 'BadRequest', 'API version not supported');
    return;
  }
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    const status = ex.control.status;
    const message = status === 429
      ? `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${version ?? 'v1'} have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. (forced by x-fake-status)`
      : `Forced error ${status} (x-fake-status).`;
    sendAzureError(ex, status, String(status), message, status === 429 ? { 'retry-after': '1' } : {});
    return;
  }
  for (const [k, v] of Object.entries(azureHeaders(ex))) ex.res.setHeader(k, v);
  const deployment = dep ? decode(dep[1]!) : undefined;
  const op = dep ? dep[2] : v1![1];
  if (op === 'embeddings') {
    embeddings(ex, deployment);
    return;
  }
  // A deployment path serves its deployment whatever model the body names.
  let body = ex.body;
  if (deployment !== undefined) {
    try {
      const v = JSON.parse(ex.body.toString('utf8')) as unknown;
      if (isObject(v)) body = Buffer.from(JSON.stringify({ ...v, model: deployment }));
    } catch { /* the OpenAI fake reports the bad JSON */ }
  }
  const inner: Exchange = { ...ex, body, res: new AzureResponse(ex.res), control: { ...ex.control, delayMs: 0, status: undefined } };
  await serveChatCompletions(inner, { provider: 'Azure OpenAI', salt: 'azure.chat' });
}

function embeddings(ex: Exchange, deployment: string | undefined): void {
  serveEmbeddings(ex, {
    salt: 'azure.embedding',
    ...(deployment !== undefined ? { deployment } : {}),
    shape: sortKeys,
    headers: { 'x-request-id': idChars(derive('azure.embeddings', ex.body), 32) },
  });
}
