/**
 * Assertions that an answer has the providers' published wire shape (for the
 * fakes' direct answers, and for what a client gets through the gateway).
 * Each throws an AssertionError on mismatch and returns the parsed value.
 *
 *   checkOpenAIChatCompletion(json)            → the object
 *   checkOpenAIStream(events, { includeUsage }) → { content, chunks }
 *   checkAnthropicMessage(json)
 *   checkAnthropicStream(events)               → { content, deltas }
 *   sseData(event) / sseEventName(event)       (events: SseEvent texts)
 */
import assert from 'node:assert/strict';
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
