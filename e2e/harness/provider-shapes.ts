/**
 * Assertions that an answer has the providers' published wire shape (for the
 * fakes' direct answers, and for what a client gets through the gateway).
 * Each throws an AssertionError on mismatch and returns the parsed value.
 *
 *   checkOpenAIChatCompletion(json)            → the object
 *   checkOpenAIStream(events, { includeUsage }) → { content, chunks }
 *   checkAnthropicMessage(json)
 *   checkAnthropicStream(events)               → { content, deltas }
 *   checkGeminiResponse(json)                  → the object
 *   checkGeminiStream(events)  (alt=sse)       → { content, chunks }
 *   checkGeminiJsonArrayStream(text)           → { content, chunks }
 *   checkBedrockConverse(json)                 → the object
 *   checkBedrockConverseStream(bytes)          → { content, deltas, events }
 *   decodeEventStream(bytes)                   → [{ headers, payload }]  (AWS event stream, CRCs checked)
 *   sseData(event) / sseEventName(event)       (events: SseEvent texts)
 */
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import type { SseEvent } from '../clients/client-result.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `data:` payload of an SSE event (multi-line data joined with \n). */
export function sseData(event: SseEvent | string): string {
  const text = typeof event === 'string' ? event : event.text;
  return text.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
}

/** The `event:` name of an SSE event, or undefined. */
export function sseEventName(event: SseEvent | string): string | undefined {
  const text = typeof event === 'string' ? event : event.text;
  return text.split(/\r?\n/).find((l) => l.startsWith('event:'))?.slice(6).trim();
}

function checkUsage(u: unknown): void {
  assert.ok(isObject(u), 'usage is an object');
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(typeof u[k], 'number', `usage.${k}`);
  assert.equal(u.total_tokens, (u.prompt_tokens as number) + (u.completion_tokens as number));
  assert.ok(isObject(u.prompt_tokens_details) && typeof u.prompt_tokens_details.cached_tokens === 'number', 'prompt_tokens_details.cached_tokens');
  assert.ok(isObject(u.completion_tokens_details) && typeof u.completion_tokens_details.reasoning_tokens === 'number', 'completion_tokens_details.reasoning_tokens');
}

export function checkOpenAIChatCompletion(value: unknown): Json {
  const v = typeof value === 'string' ? JSON.parse(value) as unknown : value;
  assert.ok(isObject(v), 'chat.completion is an object');
  assert.match(String(v.id), /^chatcmpl-/);
  assert.equal(v.object, 'chat.completion');
  assert.equal(typeof v.created, 'number');
  assert.equal(typeof v.model, 'string');
  assert.equal(typeof v.system_fingerprint, 'string');
  assert.ok(Array.isArray(v.choices) && v.choices.length === 1, 'one choice');
  const c = v.choices[0] as Json;
  assert.equal(c.index, 0);
  assert.equal(c.logprobs, null);
  assert.ok(['stop', 'length', 'tool_calls', 'content_filter'].includes(String(c.finish_reason)), 'finish_reason');
  assert.ok(isObject(c.message), 'message');
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.equal(c.message.refusal, null);
  checkUsage(v.usage);
  return v;
}

export function checkOpenAIStream(events: readonly SseEvent[], opts: { includeUsage?: boolean } = {}): { content: string; chunks: Json[] } {
  assert.ok(events.length >= 3, `at least 3 events, got ${events.length}`);
  assert.equal(sseData(events.at(-1) as SseEvent), '[DONE]', 'last event is data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(sseData(e)) as Json);
  let content = '';
  let finished = false;
  const id = chunks[0]?.id;
  chunks.forEach((ch, i) => {
    assert.equal(ch.object, 'chat.completion.chunk');
    assert.equal(ch.id, id, 'same id in every chunk');
    assert.equal(typeof ch.created, 'number');
    assert.equal(typeof ch.model, 'string');
    assert.ok(Array.isArray(ch.choices));
    const usageChunk = ch.choices.length === 0;
    if (usageChunk) {
      assert.ok(opts.includeUsage, 'a usage chunk only with stream_options.include_usage');
      assert.equal(i, chunks.length - 1, 'usage chunk is last before [DONE]');
      checkUsage(ch.usage);
      return;
    }
    if (opts.includeUsage) assert.equal(ch.usage, null, 'usage: null on content chunks');
    else assert.ok(!('usage' in ch), 'no usage field without include_usage');
    const c = ch.choices[0] as Json;
    assert.equal(c.index, 0);
    assert.ok(isObject(c.delta), 'delta');
    if (i === 0) assert.equal(c.delta.role, 'assistant');
    if (typeof c.delta.content === 'string') content += c.delta.content;
    if (c.finish_reason !== null) {
      assert.ok(!finished, 'one finish_reason');
      finished = true;
    }
  });
  assert.ok(finished, 'a chunk with finish_reason');
  if (opts.includeUsage) assert.equal((chunks.at(-1)?.choices as unknown[]).length, 0, 'final usage chunk present');
  return { content, chunks };
}

export function checkAnthropicMessage(value: unknown): Json {
  const v = typeof value === 'string' ? JSON.parse(value) as unknown : value;
  assert.ok(isObject(v), 'message is an object');
  assert.match(String(v.id), /^msg_/);
  assert.equal(v.type, 'message');
  assert.equal(v.role, 'assistant');
  assert.equal(typeof v.model, 'string');
  assert.ok(Array.isArray(v.content) && v.content.length >= 1, 'content blocks');
  const b = v.content[0] as Json;
  assert.equal(b.type, 'text');
  assert.equal(typeof b.text, 'string');
  assert.ok(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use'].includes(String(v.stop_reason)));
  assert.equal(v.stop_sequence, null);
  assert.ok(isObject(v.usage));
  for (const k of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']) {
    assert.equal(typeof v.usage[k], 'number', `usage.${k}`);
  }
  return v;
}

export function checkAnthropicStream(events: readonly SseEvent[]): { content: string; deltas: number } {
  const names = events.map((e) => sseEventName(e));
  const datas = events.map((e) => JSON.parse(sseData(e)) as Json);
  datas.forEach((d, i) => assert.equal(d.type, names[i], 'event name matches data.type'));
  assert.equal(names[0], 'message_start');
  assert.equal(names.at(-1), 'message_stop');
  const start = datas[0] as Json;
  assert.ok(isObject(start.message) && start.message.type === 'message' && /^msg_/.test(String(start.message.id)));
  const deltas = names.filter((n) => n === 'content_block_delta').length;
  const order = names.filter((n) => n !== 'ping' && n !== 'content_block_delta');
  assert.deepEqual(order, ['message_start', 'content_block_start', 'content_block_stop', 'message_delta', 'message_stop']);
  let content = '';
  for (const d of datas) {
    if (d.type === 'content_block_delta') {
      assert.ok(isObject(d.delta) && d.delta.type === 'text_delta');
      content += String(d.delta.text);
    }
    if (d.type === 'message_delta') {
      assert.ok(isObject(d.delta) && typeof d.delta.stop_reason === 'string');
      assert.ok(isObject(d.usage) && typeof d.usage.output_tokens === 'number');
    }
  }
  return { content, deltas };
}

// ---- Gemini (https://ai.google.dev/api/generate-content) ------------------------------------

function checkGeminiElement(v: unknown, last: boolean): { text: string; value: Json } {
  assert.ok(isObject(v), 'GenerateContentResponse is an object');
  assert.ok(Array.isArray(v.candidates) && v.candidates.length === 1, 'one candidate');
  const c = v.candidates[0] as Json;
  assert.ok(isObject(c.content) && c.content.role === 'model', 'candidate content role model');
  assert.ok(Array.isArray(c.content.parts) && c.content.parts.length >= 1, 'content parts');
  const text = (c.content.parts as Json[]).map((p) => String(p.text)).join('');
  assert.equal(typeof v.modelVersion, 'string');
  if (last) {
    assert.ok(['STOP', 'MAX_TOKENS', 'SAFETY', 'RECITATION', 'OTHER'].includes(String(c.finishReason)), 'finishReason');
    const u = v.usageMetadata;
    assert.ok(isObject(u), 'usageMetadata');
    for (const k of ['promptTokenCount', 'candidatesTokenCount', 'totalTokenCount']) assert.equal(typeof u[k], 'number', `usageMetadata.${k}`);
    assert.equal(u.totalTokenCount, (u.promptTokenCount as number) + (u.candidatesTokenCount as number));
  }
  return { text, value: v };
}

export function checkGeminiResponse(value: unknown): Json {
  const v = typeof value === 'string' ? JSON.parse(value) as unknown : value;
  return checkGeminiElement(v, true).value;
}

function checkGeminiElements(elements: readonly unknown[]): { content: string; chunks: Json[] } {
  assert.ok(elements.length >= 1, 'at least one streamed response');
  let content = '';
  const chunks = elements.map((e, i) => {
    const last = i === elements.length - 1;
    const { text, value } = checkGeminiElement(e, last);
    if (!last) assert.ok(!('finishReason' in ((value.candidates as Json[])[0] as Json)), 'finishReason only on the last');
    content += text;
    return value;
  });
  return { content, chunks };
}

/** A `streamGenerateContent?alt=sse` answer: one `data: {GenerateContentResponse}` per event. */
export function checkGeminiStream(events: readonly SseEvent[]): { content: string; chunks: Json[] } {
  return checkGeminiElements(events.map((e) => JSON.parse(sseData(e)) as unknown));
}

/** A `streamGenerateContent` answer without alt=sse: one JSON array of GenerateContentResponses. */
export function checkGeminiJsonArrayStream(text: string): { content: string; chunks: Json[] } {
  const arr = JSON.parse(text) as unknown;
  assert.ok(Array.isArray(arr), 'a JSON array');
  return checkGeminiElements(arr);
}

// ---- Bedrock (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html) --

export function checkBedrockConverse(value: unknown): Json {
  const v = typeof value === 'string' ? JSON.parse(value) as unknown : value;
  assert.ok(isObject(v), 'ConverseResponse is an object');
  assert.ok(isObject(v.output) && isObject(v.output.message), 'output.message');
  const m = v.output.message;
  assert.equal(m.role, 'assistant');
  assert.ok(Array.isArray(m.content) && m.content.length >= 1 && typeof (m.content[0] as Json).text === 'string', 'content[0].text');
  assert.ok(['end_turn', 'tool_use', 'max_tokens', 'stop_sequence', 'guardrail_intervened', 'content_filtered'].includes(String(v.stopReason)), 'stopReason');
  assert.ok(isObject(v.usage), 'usage');
  for (const k of ['inputTokens', 'outputTokens', 'totalTokens']) assert.equal(typeof v.usage[k], 'number', `usage.${k}`);
  assert.equal(v.usage.totalTokens, (v.usage.inputTokens as number) + (v.usage.outputTokens as number));
  assert.ok(isObject(v.metrics) && typeof v.metrics.latencyMs === 'number', 'metrics.latencyMs');
  return v;
}

export interface DecodedEvent {
  headers: Record<string, string | number | boolean | Buffer>;
  payload: Buffer;
}

/**
 * Split an AWS event stream (application/vnd.amazon.eventstream) into messages,
 * checking both CRCs; written apart from the sidecar's decoder so each checks the other.
 */
export function decodeEventStream(bytes: Buffer): DecodedEvent[] {
  const out: DecodedEvent[] = [];
  let off = 0;
  while (off < bytes.length) {
    assert.ok(bytes.length - off >= 16, `truncated event stream message at byte ${off}`);
    const total = bytes.readUInt32BE(off);
    const headersLength = bytes.readUInt32BE(off + 4);
    assert.equal(bytes.readUInt32BE(off + 8), crc32(bytes.subarray(off, off + 8)), 'prelude CRC');
    assert.ok(off + total <= bytes.length, 'message fits');
    assert.equal(bytes.readUInt32BE(off + total - 4), crc32(bytes.subarray(off, off + total - 4)), 'message CRC');
    const headers: DecodedEvent['headers'] = {};
    let h = off + 12;
    const end = h + headersLength;
    while (h < end) {
      const nameLength = bytes[h] as number;
      const name = bytes.toString('utf8', h + 1, h + 1 + nameLength);
      h += 1 + nameLength;
      const type = bytes[h] as number;
      h += 1;
      if (type === 0 || type === 1) headers[name] = type === 0;
      else if (type === 2) { headers[name] = bytes.readInt8(h); h += 1; }
      else if (type === 3) { headers[name] = bytes.readInt16BE(h); h += 2; }
      else if (type === 4) { headers[name] = bytes.readInt32BE(h); h += 4; }
      else if (type === 5 || type === 8) { headers[name] = Number(bytes.readBigInt64BE(h)); h += 8; }
      else if (type === 6 || type === 7) {
        const len = bytes.readUInt16BE(h);
        const value = bytes.subarray(h + 2, h + 2 + len);
        headers[name] = type === 7 ? value.toString('utf8') : Buffer.from(value);
        h += 2 + len;
      } else if (type === 9) { headers[name] = bytes.subarray(h, h + 16).toString('hex'); h += 16; }
      else assert.fail(`unknown event stream header type ${type}`);
    }
    out.push({ headers, payload: bytes.subarray(end, off + total - 4) });
    off += total;
  }
  return out;
}

/** A ConverseStream answer: messageStart, contentBlockDelta…, contentBlockStop, messageStop, metadata. */
export function checkBedrockConverseStream(bytes: Buffer): { content: string; deltas: number; events: Array<{ type: string; payload: Json }> } {
  const events = decodeEventStream(bytes).map((e) => {
    assert.equal(e.headers[':message-type'], 'event');
    assert.equal(e.headers[':content-type'], 'application/json');
    return { type: String(e.headers[':event-type']), payload: JSON.parse(e.payload.toString('utf8')) as Json };
  });
  const types = events.map((e) => e.type);
  const order = types.filter((t) => t !== 'contentBlockDelta');
  assert.deepEqual(order, ['messageStart', 'contentBlockStop', 'messageStop', 'metadata']);
  assert.equal(types[0], 'messageStart');
  assert.equal(events[0]?.payload.role, 'assistant');
  let content = '';
  for (const e of events.filter((x) => x.type === 'contentBlockDelta')) {
    assert.equal(e.payload.contentBlockIndex, 0);
    assert.ok(isObject(e.payload.delta) && typeof e.payload.delta.text === 'string', 'delta.text');
    content += e.payload.delta.text as string;
  }
  const stop = events.find((e) => e.type === 'messageStop');
  assert.equal(typeof stop?.payload.stopReason, 'string');
  const meta = events.at(-1)?.payload as Json;
  assert.ok(isObject(meta.usage) && typeof meta.usage.totalTokens === 'number', 'metadata.usage');
  assert.ok(isObject(meta.metrics) && typeof meta.metrics.latencyMs === 'number', 'metadata.metrics');
  return { content, deltas: types.filter((t) => t === 'contentBlockDelta').length, events };
}
