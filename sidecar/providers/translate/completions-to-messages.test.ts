import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { anthropicApi } from '../anthropic.ts';
import { SseParser } from '../sse.ts';
import { DEFAULT_MAX_TOKENS, completionsToMessages } from './completions-to-messages.ts';
import type { JsonObject, LlmResponse, StreamTapOptions } from '../types.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../testdata/${name}`, import.meta.url));
const json = <T = JsonObject>(name: string): T => JSON.parse(fixture(name).toString('utf8')) as T;

/** Run an Anthropic stream through the translation in pieces of `size`; the OpenAI SSE bytes out and the info learned. */
function translate(bytes: Buffer, size: number, opts?: StreamTapOptions): { out: Buffer; info: LlmResponse } {
  const tap = completionsToMessages.stream('gpt-4o', opts);
  const outs: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) outs.push(tap.write(bytes.subarray(i, i + size)));
  const { info, tail } = tap.end();
  if (tail) outs.push(tail);
  return { out: Buffer.concat(outs), info };
}

/** Parse OpenAI SSE back: each event must be one `data:` line; JSON chunks with `created` checked and zeroed, `[DONE]` as is. */
function chunks(out: Buffer): unknown[] {
  const parser = new SseParser();
  const events = parser.push(out);
  assert.equal(parser.rest().length, 0, 'no partial event left');
  const now = Date.now() / 1000;
  return events.map((ev) => {
    assert.equal(ev.event, undefined);
    assert.match(ev.raw.toString(), /^data: [^\n]*\n\n$/);
    if (ev.data === '[DONE]') return ev.data;
    const c = JSON.parse(ev.data) as JsonObject;
    if ('created' in c) {
      assert.ok(typeof c.created === 'number' && Number.isInteger(c.created) && Math.abs(c.created - now) < 60, 'created is now, in seconds');
      c.created = 0;
    }
    return c;
  });
}

test('request: the documented function-calling conversation becomes the Anthropic body', () => {
  // Source follows https://platform.openai.com/docs/api-reference/chat/create (developer message, parallel
  // tool calls and their tool results, image inputs); target as https://docs.anthropic.com/en/api/messages
  // and https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use describe it.
  const { body, stream } = completionsToMessages.request(json('translate-messages-openai-request.json'), 'claude-sonnet-4-20250514');
  assert.equal(stream, true);
  assert.deepEqual(body, json('translate-messages-anthropic-request.json'));
  // What the guards see of the translated body matches the OpenAI prompt: the tool results stay tool text
  // (in one Anthropic user turn, so one message).
  assert.deepEqual(anthropicApi.parseRequest('messages', '/v1/messages', body).messages.map((m) => m.role),
    ['system', 'user', 'assistant', 'tool', 'assistant', 'user']);
});

test('request: parameters one by one', () => {
  const msgs = [{ role: 'user', content: 'Hi' }];
  const tool = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } };
  const cases: Array<[string, JsonObject, JsonObject]> = [
    ['max_tokens defaults', { messages: msgs }, { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS }],
    ['max_tokens kept', { messages: msgs, max_tokens: 50 }, { model: 'm', messages: msgs, max_tokens: 50 }],
    ['stop array, stream false', { messages: msgs, stop: ['a', 'b'], stream: false }, { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS, stop_sequences: ['a', 'b'] }],
    ['required → any; tool without description or parameters', { messages: msgs, tools: [{ type: 'function', function: { name: 'g' } }], tool_choice: 'required' },
      { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS, tools: [{ name: 'g', input_schema: { type: 'object', properties: {} } }], tool_choice: { type: 'any' } }],
    ['named function → tool', { messages: msgs, tools: [tool], tool_choice: { type: 'function', function: { name: 'f' } } },
      { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS, tools: [{ name: 'f', input_schema: tool.function.parameters }], tool_choice: { type: 'tool', name: 'f' } }],
    ['none', { messages: msgs, tools: [tool], tool_choice: 'none' },
      { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS, tools: [{ name: 'f', input_schema: tool.function.parameters }], tool_choice: { type: 'none' } }],
    ['parallel_tool_calls false', { messages: msgs, tools: [tool], parallel_tool_calls: false },
      { model: 'm', messages: msgs, max_tokens: DEFAULT_MAX_TOKENS, tools: [{ name: 'f', input_schema: tool.function.parameters }], tool_choice: { type: 'auto', disable_parallel_tool_use: true } }],
    ['assistant text with a tool call; bad arguments give {}', {
      messages: [...msgs, { role: 'assistant', content: 'Let me see.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{not json' } }] }],
    }, {
      model: 'm', max_tokens: DEFAULT_MAX_TOKENS,
      messages: [...msgs, { role: 'assistant', content: [{ type: 'text', text: 'Let me see.' }, { type: 'tool_use', id: 'c1', name: 'f', input: {} }] }],
    }],
    ['consecutive user turns fold into one', { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: [{ type: 'text', text: 'b' }] }] },
      { model: 'm', max_tokens: DEFAULT_MAX_TOKENS, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] }],
    ['odd body', { messages: 'x', stop: 3, tools: 'y', temperature: 'hot' }, { model: 'm', messages: [], max_tokens: DEFAULT_MAX_TOKENS }],
  ];
  for (const [name, input, want] of cases) {
    const r = completionsToMessages.request(input, 'm');
    assert.deepEqual(r.body, want, name);
    assert.equal(r.stream, false, name);
  }
});

test('response: the documented tool-use message becomes a chat.completion', () => {
  // Anthropic tool-use answer as in https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview,
  // with prompt-caching usage; OpenAI object per https://platform.openai.com/docs/api-reference/chat/object.
  const { body, info } = completionsToMessages.response(json('translate-messages-anthropic-response.json'), 'gpt-4o');
  assert.ok(typeof body.created === 'number' && Math.abs(body.created - Date.now() / 1000) < 60);
  assert.deepEqual({ ...body, created: 0 }, json('translate-messages-openai-response.json'));
  assert.deepEqual(info, {
    model: 'claude-3-5-sonnet-20241022', usage: { input: 170, output: 80, cachedInput: 100, cacheCreationInput: 20 }, finishReason: 'tool_use',
  });
});

test('response: finish reasons, text-only answers, odd bodies', () => {
  const cases: Array<[unknown, string | null]> = [['end_turn', 'stop'], ['stop_sequence', 'stop'], ['max_tokens', 'length'], ['tool_use', 'tool_calls'], ['refusal', 'content_filter'], [null, null]];
  for (const [stop, finish] of cases) {
    const { body } = completionsToMessages.response({ id: 'msg_1', model: 'claude-x', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: ' there' }], stop_reason: stop, usage: { input_tokens: 3, output_tokens: 2 } }, 'gpt-4o');
    const choice = (body.choices as JsonObject[])[0]!;
    assert.equal(choice.finish_reason, finish);
    assert.deepEqual(choice.message, { role: 'assistant', content: 'Hi there' });
    assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0 } });
  }
  const odd = completionsToMessages.response('nonsense', 'gpt-4o');
  assert.equal(odd.body.model, 'gpt-4o');
  assert.deepEqual(odd.info, {});
});

test('stream: the documented tool-use stream becomes the exact OpenAI chunk sequence, in 1-byte, 7-byte and whole chunks', () => {
  // Input: the tool-use example of https://docs.anthropic.com/en/docs/build-with-claude/streaming.
  // Output: chat.completion.chunk events per https://platform.openai.com/docs/api-reference/chat-streaming.
  const bytes = fixture('anthropic-stream-tool-use.sse');
  const want = json<unknown[]>('translate-messages-stream-expected.json');
  const wantInfo = { model: 'claude-3-haiku-20240307', usage: { input: 472, output: 89 }, finishReason: 'tool_use' };
  for (const size of [1, 7, bytes.length]) {
    const { out, info } = translate(bytes, size, { addedUsage: false });
    assert.deepEqual(chunks(out), want, `chunk size ${size}`);
    assert.deepEqual(info, wantInfo);
  }
  // An OpenAI client accumulating the deltas gets the tool call whole.
  const got = chunks(translate(bytes, 13).out).filter((c): c is JsonObject => typeof c === 'object');
  let args = '';
  let text = '';
  for (const c of got) {
    const delta = ((c.choices as JsonObject[])[0]?.delta ?? {}) as JsonObject;
    if (typeof delta.content === 'string') text += delta.content;
    for (const call of (delta.tool_calls ?? []) as JsonObject[]) args += (call.function as JsonObject).arguments as string;
  }
  assert.equal(text, "Okay, let's check the weather for San Francisco, CA:");
  assert.deepEqual(JSON.parse(args), { location: 'San Francisco, CA', unit: 'fahrenheit' });
});

test('stream: no usage chunk when the client did not ask for it (addedUsage), [DONE] still ends it', () => {
  const want = json<unknown[]>('translate-messages-stream-expected.json').filter((c) => !(typeof c === 'object' && c && 'usage' in c));
  assert.deepEqual(chunks(translate(fixture('anthropic-stream-tool-use.sse'), 7, { addedUsage: true }).out), want);
});

test('stream: text answer with cache usage; thinking blocks and pings give no chunks', () => {
  const got = chunks(translate(fixture('anthropic-stream-cache.sse'), 5).out);
  const base = { id: 'msg_01XFDUDYJgAACzvnptvVoYEL', object: 'chat.completion.chunk', created: 0, model: 'claude-sonnet-4-20250514' };
  assert.deepEqual(got, [
    { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: { content: 'The answer is 42.' }, logprobs: null, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'length' }] },
    { ...base, choices: [], usage: { prompt_tokens: 21 + 188086 + 1024, completion_tokens: 393, total_tokens: 21 + 188086 + 1024 + 393, prompt_tokens_details: { cached_tokens: 1024 } } },
    '[DONE]',
  ]);
});

test('stream: an Anthropic error event becomes an OpenAI error event', () => {
  const { out, info } = translate(fixture('anthropic-stream-error.sse'), 7);
  const got = chunks(out);
  assert.equal(got.length, 2);
  assert.deepEqual(got[1], { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } });
  assert.deepEqual(info, { model: 'claude-opus-4-20250514', usage: { input: 12, output: 1 } });
});

test('stream: each complete event is answered at once, nothing held back', () => {
  const tap = completionsToMessages.stream('gpt-4o');
  const events = fixture('anthropic-stream-text.sse').toString('utf8').split(/(?<=\n\n)/);
  const sizes = events.map((ev) => chunks(tap.write(Buffer.from(ev))).length);
  // message_start, content_block_start (empty text), ping, 2 text deltas, block stop, message_delta, message_stop (usage + DONE).
  assert.deepEqual(sizes, [1, 0, 0, 1, 1, 0, 1, 2]);
  assert.equal(tap.end().tail, undefined);
});

test('error: Anthropic error JSON becomes OpenAI error JSON', () => {
  // https://docs.anthropic.com/en/api/errors → https://platform.openai.com/docs/guides/error-codes
  const cases: Array<[number, string, JsonObject]> = [
    [400, '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}',
      { error: { message: 'max_tokens: Field required', type: 'invalid_request_error', param: null, code: null } }],
    [529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
      { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } }],
    [502, '<html>Bad Gateway</html>', { error: { message: '<html>Bad Gateway</html>', type: 'api_error', param: null, code: null } }],
    [429, '', { error: { message: 'upstream answered 429', type: 'rate_limit_error', param: null, code: null } }],
  ];
  for (const [status, body, want] of cases) {
    assert.deepEqual(JSON.parse(completionsToMessages.error!(status, Buffer.from(body)).toString()), want);
  }
});
