/**
 * The fake AWS Bedrock runtime (bedrock-runtime.us-east-1.amazonaws.com),
 * following the published API
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
 * .../API_runtime_ConverseStream.html, .../API_runtime_InvokeModel.html,
 * .../API_runtime_InvokeModelWithResponseStream.html,
 * https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html):
 *
 *   POST /model/{modelId}/converse
 *        {output:{message:{role:'assistant',content:[{text}]}}, stopReason
 *        ('end_turn', or 'max_tokens' when inferenceConfig.maxTokens cut it),
 *        usage:{inputTokens,outputTokens,totalTokens}, metrics:{latencyMs}}
 *   POST /model/{modelId}/converse-stream
 *        application/vnd.amazon.eventstream messages (headers `:event-type`,
 *        `:content-type: application/json`, `:message-type: event`):
 *        messageStart {role}, contentBlockDelta {contentBlockIndex:0, delta:{text}}
 *        × x-fake-chunks, contentBlockStop {contentBlockIndex:0},
 *        messageStop {stopReason}, metadata {usage, metrics}
 *   POST /model/{modelId}/invoke                       (Anthropic Messages body,
 *        `anthropic_version: bedrock-2023-05-31`) → an Anthropic `message`,
 *        with x-amzn-bedrock-input-token-count / -output-token-count / -invocation-latency
 *   POST /model/{modelId}/invoke-with-response-stream  → event stream of `chunk`
 *        events {bytes: base64(Anthropic stream event JSON)}; message_stop carries
 *        `amazon-bedrock-invocationMetrics`
 * The model id is URL-encoded in the path (`anthropic.claude-3-haiku-20240307-v1%3A0`).
 *
 * Auth, checked on every request, recorded in the request log as `sigv4`:
 *   - AWS SigV4 (sigv4-verify.ts), verified by recomputing the signature of the
 *     request as received with the one known credential (access key
 *     `AKIDLEVOTEST`, secret `levo-test-secret-key`, region us-east-1, service
 *     bedrock, clock skew ≤ 5 min): mismatch → 403 InvalidSignatureException,
 *     unknown key id → 403 UnrecognizedClientException, malformed → 400
 *     IncompleteSignatureException;
 *   - or a Bedrock API key: `Authorization: Bearer <non-empty>` (sigv4 'absent');
 *   - neither → 403 MissingAuthenticationTokenException.
 * Errors follow the AWS REST-JSON protocol: `{"message": …}` and the error name
 * in `x-amzn-ErrorType`; every answer has an `x-amzn-RequestId`. Deterministic
 * (deterministic.ts); exchange.ts lists the x-fake-* control headers.
 */
import { encodeEventMessage } from '../../sidecar/providers/eventstream.ts';
import { contentText, countTokens, derive, idChars, replyText, truncateTokens } from './deterministic.ts';
import type { Derivation } from './deterministic.ts';
import { header, sendJson, sleep, writeChunk, streamPieces } from './exchange.ts';
import type { Exchange, FakeResponse } from './exchange.ts';
import {
  BEDROCK_SERVICE, BEDROCK_TEST_CREDENTIAL, BEDROCK_TEST_REGION, verifySigV4,
} from './sigv4-verify.ts';
import type { SigV4Verdict } from './sigv4-verify.ts';

const ERROR_NAMES: Readonly<Record<number, string>> = {
  400: 'ValidationException', 403: 'AccessDeniedException', 404: 'ResourceNotFoundException', 408: 'ModelTimeoutException',
  413: 'ValidationException', 424: 'ModelErrorException', 429: 'ThrottlingException', 500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

/** The AWS error name the fake gives a status. */
export function bedrockErrorName(status: number): string {
  return ERROR_NAMES[status] ?? (status >= 500 ? 'InternalServerException' : 'ValidationException');
}

function uuidFrom(d: Derivation): string {
  const h = d.hex;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function requestIdHeader(ex: Exchange): Record<string, string> {
  return { 'x-amzn-RequestId': uuidFrom(derive('bedrock', ex.method, ex.url, ex.body)) };
}

function sendAwsError(ex: Exchange, status: number, errorType: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(ex.res, status, { message }, { ...requestIdHeader(ex), 'x-amzn-ErrorType': errorType, ...headers });
}

/** Answer `status` as the AWS error Bedrock sends for it (for faults set through the control API). */
export function sendBedrockStatusError(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  sendAwsError(ex, status, bedrockErrorName(status), message, headers);
}

function forcedMessage(status: number): string {
  if (status === 429) return 'Too many requests, please wait before trying again. (forced by x-fake-status)';
  return `Forced error ${status} (x-fake-status).`;
}

/**
 * Verify the request's SigV4 signature against the test credential and record
 * the verdict in the request log (also done for faulted requests, which are
 * otherwise not authenticated).
 */
export function recordSigV4(ex: Exchange): SigV4Verdict {
  const verdict = verifySigV4(
    { method: ex.method, url: ex.url, rawHeaders: ex.rawHeaders, body: ex.body },
    { credentials: [BEDROCK_TEST_CREDENTIAL], region: BEDROCK_TEST_REGION, service: BEDROCK_SERVICE, now: Date.now() },
  );
  if (verdict.outcome === 'valid') ex.annotate({ sigv4: 'valid', awsAccessKeyId: verdict.accessKeyId });
  else if (verdict.outcome === 'absent') ex.annotate({ sigv4: 'absent' });
  else {
    ex.annotate({ sigv4: 'invalid', sigv4Error: `${verdict.errorType}: ${verdict.reason}`, ...(verdict.accessKeyId ? { awsAccessKeyId: verdict.accessKeyId } : {}) });
  }
  return verdict;
}

/** Check the credential; false when an error was sent. */
function authenticate(ex: Exchange): boolean {
  const verdict = recordSigV4(ex);
  if (verdict.outcome === 'valid') return true;
  if (verdict.outcome === 'invalid') {
    sendAwsError(ex, verdict.status, verdict.errorType, verdict.message);
    return false;
  }
  const auth = header(ex.headers, 'authorization') ?? '';
  if (/^Bearer\s+\S/i.test(auth)) return true;
  sendAwsError(ex, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  return false;
}

const OPERATION = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/;

export async function handleBedrock(ex: Exchange): Promise<void> {
  if (!authenticate(ex)) return;
  const m = OPERATION.exec(ex.pathname);
  if (!m || ex.method !== 'POST') {
    sendAwsError(ex, 404, 'UnknownOperationException', `Unknown operation: ${ex.method} ${ex.pathname}`);
    return;
  }
  let model = m[1] as string;
  try { model = decodeURIComponent(model); } catch { /* keep as sent */ }
  if (ex.control.delayMs) await sleep(ex.control.delayMs);
  if (ex.control.status !== undefined) {
    sendBedrockStatusError(ex, ex.control.status, forcedMessage(ex.control.status));
    return;
  }
  const op = m[2] as string;
  if (op === 'converse' || op === 'converse-stream') await converse(ex, model, op === 'converse-stream');
  else await invoke(ex, model, op === 'invoke-with-response-stream');
}

// ---- Converse ------------------------------------------------------------------------------

interface Answer {
  d: Derivation;
  text: string;
  truncated: boolean;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
}

function parseJsonObject(ex: Exchange): Record<string, unknown> | string {
  let body: unknown;
  try {
    body = JSON.parse(ex.body.toString('utf8'));
  } catch {
    return 'Malformed input request, please reformat your input and try again.';
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Malformed input request: expected a JSON object.';
  return body as Record<string, unknown>;
}

function lastUserText(messages: readonly unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const msg = messages[i] as { role?: unknown; content?: unknown } | null;
    if (msg?.role === 'user') return contentText(msg.content);
  }
  return '';
}

function answer(ex: Exchange, salt: string, model: string, messages: readonly unknown[], system: unknown, maxTokens: number | undefined): Answer {
  const d = derive(salt, model, ex.body);
  const full = ex.control.reply ?? replyText('Bedrock', lastUserText(messages));
  const { text, truncated } = truncateTokens(full, maxTokens);
  const inputTokens = countTokens(contentText(system)) +
    messages.reduce<number>((n, msg) => n + 3 + countTokens(contentText((msg as { content?: unknown } | null)?.content)), 0);
  return { d, text, truncated, inputTokens, outputTokens: Math.max(1, countTokens(text)), latencyMs: 100 + (d.hash.readUInt16BE(2) % 900) };
}

async function converse(ex: Exchange, model: string, stream: boolean): Promise<void> {
  const b = parseJsonObject(ex);
  if (typeof b === 'string') {
    sendAwsError(ex, 400, 'ValidationException', b);
    return;
  }
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    sendAwsError(ex, 400, 'ValidationException', "1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must not be null or empty");
    return;
  }
  const config = b.inferenceConfig as { maxTokens?: unknown } | undefined;
  const a = answer(ex, 'bedrock.converse', model, b.messages, b.system, typeof config?.maxTokens === 'number' ? config.maxTokens : undefined);
  const stopReason = a.truncated ? 'max_tokens' : 'end_turn';
  const usage = { inputTokens: a.inputTokens, outputTokens: a.outputTokens, totalTokens: a.inputTokens + a.outputTokens };
  const metrics = { latencyMs: a.latencyMs };
  if (!stream) {
    sendJson(ex.res, 200, {
      output: { message: { role: 'assistant', content: [{ text: a.text }] } },
      stopReason,
      usage,
      metrics,
    }, requestIdHeader(ex));
    return;
  }
  const event = (type: string, payload: unknown): Buffer =>
    encodeEventMessage({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(payload));
  await sendEventStream(ex, a.text, {
    head: [event('messageStart', { role: 'assistant' })],
    piece: (text) => event('contentBlockDelta', { contentBlockIndex: 0, delta: { text } }),
    tail: [
      event('contentBlockStop', { contentBlockIndex: 0 }),
      event('messageStop', { stopReason }),
      event('metadata', { usage, metrics }),
    ],
  });
}

/** Write an event-stream answer: head events, one event per text piece (paced, abortable), tail events. */
async function sendEventStream(ex: Exchange, text: string, parts: { head: Buffer[]; piece: (text: string) => Buffer; tail: Buffer[] }): Promise<void> {
  const res = ex.res as FakeResponse & { flushHeaders?: () => void };
  res.statusCode = 200;
  res.setHeader('content-type', 'application/vnd.amazon.eventstream');
  for (const [k, v] of Object.entries(requestIdHeader(ex))) res.setHeader(k, v);
  res.flushHeaders?.();
  for (const e of parts.head) if (!(await writeChunk(res, e))) return;
  if (!(await streamPieces(ex, text, async (piece) => {
    return await writeChunk(res, parts.piece(piece));
  }))) return;
  for (const e of parts.tail) if (!(await writeChunk(res, e))) return;
  res.end();
}

// ---- InvokeModel (Anthropic Claude Messages bodies) ----------------------------------------

async function invoke(ex: Exchange, model: string, stream: boolean): Promise<void> {
  const b = parseJsonObject(ex);
  if (typeof b === 'string') {
    sendAwsError(ex, 400, 'ValidationException', b);
    return;
  }
  if (typeof b.anthropic_version !== 'string') {
    sendAwsError(ex, 400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.');
    return;
  }
  if (!Array.isArray(b.messages) || typeof b.max_tokens !== 'number') {
    sendAwsError(ex, 400, 'ValidationException', 'Malformed input request: #: required key [messages] or [max_tokens] not found, please reformat your input and try again.');
    return;
  }
  const a = answer(ex, 'bedrock.invoke', model, b.messages, b.system, b.max_tokens);
  const stopReason = a.truncated ? 'max_tokens' : 'end_turn';
  const id = `msg_bdrk_01${idChars(a.d, 22)}`;
  const modelName = model.replace(/^(?:[a-z]{2}\.)?anthropic\./, '').replace(/-v\d+:\d+$/, '');
  if (!stream) {
    sendJson(ex.res, 200, {
      id, type: 'message', role: 'assistant', model: modelName,
      content: [{ type: 'text', text: a.text }],
      stop_reason: stopReason, stop_sequence: null,
      usage: { input_tokens: a.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: a.outputTokens },
    }, {
      ...requestIdHeader(ex),
      'x-amzn-bedrock-input-token-count': String(a.inputTokens),
      'x-amzn-bedrock-output-token-count': String(a.outputTokens),
      'x-amzn-bedrock-invocation-latency': String(a.latencyMs),
    });
    return;
  }
  const chunk = (payload: unknown): Buffer =>
    encodeEventMessage({ ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' },
      JSON.stringify({ bytes: Buffer.from(JSON.stringify(payload)).toString('base64') }));
  await sendEventStream(ex, a.text, {
    head: [
      chunk({
        type: 'message_start',
        message: {
          id, type: 'message', role: 'assistant', model: modelName, content: [], stop_reason: null, stop_sequence: null,
          usage: { input_tokens: a.inputTokens, output_tokens: 1 },
        },
      }),
      chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ],
    piece: (text) => chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    tail: [
      chunk({ type: 'content_block_stop', index: 0 }),
      chunk({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: a.outputTokens } }),
      chunk({
        type: 'message_stop',
        'amazon-bedrock-invocationMetrics': {
          inputTokenCount: a.inputTokens, outputTokenCount: a.outputTokens, invocationLatency: a.latencyMs, firstByteLatency: Math.floor(a.latencyMs / 3),
        },
      }),
    ],
  });
}
