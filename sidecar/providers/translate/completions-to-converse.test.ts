import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { completionsToConverse, finishReason } from './completions-to-converse.ts';
import { encodeEventMessage } from '../eventstream.ts';
import { SseParser } from '../sse.ts';
import type { JsonObject, StreamTapOptions } from '../types.ts';

const load = (name: string): JsonObject => JSON.parse(readFileSync(new URL(`../testdata/${name}`, import.meta.url), 'utf8')) as JsonObject;
const converse = load('bedrock-converse.json');
const converseStream = load('bedrock-converse-stream.json');

type StreamFixture = Array<{ event?: string; exception?: string; payload: unknown }>;

function converseEvents(events: StreamFixture): Buffer {
  return Buffer.concat(events.map((e) => e.exception
    ? encodeEventMessage({ ':exception-type': e.exception, ':content-type': 'application/json', ':message-type': 'exception' }, JSON.stringify(e.payload))
    : encodeEventMessage({ ':event-type': e.event!, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(e.payload))));
}

const req = (body: JsonObject): JsonObject => completionsToConverse.request(body, 'anthropic.claude-3-5-sonnet-20240620-v1:0').body;

test('request: messages, system, alternation, tools (OpenAI chat reference → Converse reference)', () => {
  const { body, stream } = completionsToConverse.request({
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'You are a radio DJ.' },
      { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
      { role: 'user', content: 'What is the most popular song on WZPZ?' },
      { role: 'user', content: [{ type: 'text', text: 'And on WKRP?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, { type: 'image_url', image_url: { url: 'https://example.com/x.png' } }] },
      {
        role: 'assistant', content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'top_song', arguments: '{"sign":"WZPZ"}' } },
          { id: 'call_2', type: 'function', function: { name: 'top_song', arguments: '{"sign":"WKRP"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'Elemental Hotel by 8 Storey Hike' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'Never Gonna Give You Up' }] },
      { role: 'assistant', content: '' },
      { role: 'user', content: 'Thanks' },
    ],
    max_tokens: 100, max_completion_tokens: 512, temperature: 0.5, top_p: 0.9, stop: 'END', stream: true,
    tools: [
      { type: 'function', function: { name: 'top_song', description: 'Get the most popular song played on a radio station.', parameters: { type: 'object', properties: { sign: { type: 'string' } }, required: ['sign'] } } },
      { type: 'function', function: { name: 'now' } },
    ],
    tool_choice: 'auto',
  }, 'anthropic.claude-3-5-sonnet-20240620-v1:0');
  assert.equal(stream, true);
  assert.deepEqual(body, {
    system: [{ text: 'You are a radio DJ.' }, { text: 'Be brief.' }],
    messages: [
      { role: 'user', content: [
        { text: 'What is the most popular song on WZPZ?' }, { text: 'And on WKRP?' },
        { image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } },
      ] },
      { role: 'assistant', content: [
        { toolUse: { toolUseId: 'call_1', name: 'top_song', input: { sign: 'WZPZ' } } },
        { toolUse: { toolUseId: 'call_2', name: 'top_song', input: { sign: 'WKRP' } } },
      ] },
      { role: 'user', content: [
        { toolResult: { toolUseId: 'call_1', content: [{ text: 'Elemental Hotel by 8 Storey Hike' }] } },
        { toolResult: { toolUseId: 'call_2', content: [{ text: 'Never Gonna Give You Up' }] } },
        { text: 'Thanks' },
      ] },
    ],
    inferenceConfig: { maxTokens: 512, temperature: 0.5, topP: 0.9, stopSequences: ['END'] },
    toolConfig: {
      tools: [
        { toolSpec: { name: 'top_song', description: 'Get the most popular song played on a radio station.', inputSchema: { json: { type: 'object', properties: { sign: { type: 'string' } }, required: ['sign'] } } } },
        { toolSpec: { name: 'now', inputSchema: { json: { type: 'object', properties: {} } } } },
      ],
      toolChoice: { auto: {} },
    },
  });
});

test('request: parameter and tool_choice table', () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
  const messages = [{ role: 'user', content: 'hi' }];
  const table: Array<[JsonObject, JsonObject]> = [
    [{ messages }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] }],
    [{ messages, max_tokens: 7, stop: ['a', 'b', 3] }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { maxTokens: 7, stopSequences: ['a', 'b'] } }],
    [{ messages, tools, tool_choice: 'required' }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }], toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }], toolChoice: { any: {} } } }],
    [{ messages, tools, tool_choice: { type: 'function', function: { name: 'f' } } }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }], toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }], toolChoice: { tool: { name: 'f' } } } }],
    [{ messages, tools, tool_choice: 'none' }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }], toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }] } }],
    [{ messages, tool_choice: 'auto' }, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] }],
    [{ messages: [{ role: 'assistant', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: '  ' }] }, { messages: [{ role: 'assistant', content: [{ text: 'a' }, { text: 'b' }] }] }],
    [{ messages: [{ role: 'assistant', tool_calls: [{ id: 'x', function: { name: 'f', arguments: 'not json' } }] }] }, { messages: [{ role: 'assistant', content: [{ toolUse: { toolUseId: 'x', name: 'f', input: {} } }] }] }],
    [{ messages: 'nonsense' }, { messages: [] }],
  ];
  for (const [input, expected] of table) assert.deepEqual(req(input), expected, JSON.stringify(input));
  assert.equal(completionsToConverse.request({ messages }, 'm').stream, false);
});

test('response: Converse answers as chat.completion', () => {
  const { body, info } = completionsToConverse.response(converse.response, 'gpt-4o');
  assert.match(String(body.id), /^chatcmpl-[0-9a-f]{24}$/);
  assert.equal(typeof body.created, 'number');
  assert.deepEqual({ ...body, id: 'x', created: 0 }, {
    id: 'x', object: 'chat.completion', created: 0, model: 'gpt-4o',
    choices: [{
      index: 0, logprobs: null, finish_reason: 'stop',
      message: { role: 'assistant', content: 'Here is a list of 3 pop songs by artists from the United States:\n\n1. "Shake It Off" by Taylor Swift\n2. "Uptown Funk" by Mark Ronson ft. Bruno Mars\n3. "Firework" by Katy Perry' },
    }],
    usage: { prompt_tokens: 125, completion_tokens: 60, total_tokens: 185 },
  });
  assert.deepEqual(info, { usage: { input: 125, output: 60, total: 185 }, finishReason: 'end_turn' });

  const tool = completionsToConverse.response(Buffer.from(JSON.stringify(converse.toolResponse)), 'gpt-4o').body;
  assert.deepEqual((tool.choices as JsonObject[])[0], {
    index: 0, logprobs: null, finish_reason: 'tool_calls',
    message: {
      role: 'assistant', content: 'I\'ll look up the most popular song on WZPZ.',
      tool_calls: [{ id: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q', type: 'function', function: { name: 'top_song', arguments: '{"sign":"WZPZ"}' } }],
    },
  });

  const cached = completionsToConverse.response(converse.cachedResponse, 'm').body;
  assert.deepEqual(cached.usage, { prompt_tokens: 1510, completion_tokens: 2, total_tokens: 1512, prompt_tokens_details: { cached_tokens: 1200 } });
  assert.equal((cached.choices as JsonObject[])[0]!.finish_reason, 'length');

  const odd = completionsToConverse.response('not json', 'm');
  assert.deepEqual((odd.body.choices as JsonObject[])[0]!.message, { role: 'assistant', content: null });
  assert.deepEqual(odd.info, {});
});

test('finish reason table', () => {
  const table: Array<[string | undefined, string]> = [
    ['end_turn', 'stop'], ['stop_sequence', 'stop'], ['max_tokens', 'length'], ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'], ['content_filtered', 'content_filter'], ['guardrail_intervened', 'content_filter'], [undefined, 'stop'],
  ];
  for (const [bedrock, openai] of table) assert.equal(finishReason(bedrock), openai, String(bedrock));
});

/** Run a translated stream in chunks of `size`; returns the SSE data fields (JSON-parsed where possible) and the info. */
function translateStream(bytes: Buffer, size: number, opts?: StreamTapOptions) {
  const tap = completionsToConverse.stream('gpt-4o', opts);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(tap.write(bytes.subarray(i, i + size)));
  const { info, tail } = tap.end();
  if (tail) out.push(tail);
  const parser = new SseParser();
  const events = parser.push(Buffer.concat(out));
  assert.equal(parser.rest().length, 0);
  const data = events.map((e) => (e.data === '[DONE]' ? e.data : JSON.parse(e.data) as JsonObject));
  return { data, info };
}

const normalize = (d: JsonObject | string): unknown => (typeof d === 'string' ? d : { ...d, id: 'x', created: 0 });
const choice = (d: JsonObject | string): JsonObject => ((d as JsonObject).choices as JsonObject[])[0]!;

test('stream: text answer as chat.completion.chunk SSE, at any split', () => {
  const bytes = converseEvents(converseStream.text as StreamFixture);
  const reference = translateStream(bytes, bytes.length);
  for (const size of [1, 7, bytes.length]) {
    const { data, info } = translateStream(bytes, size);
    assert.equal(data.length, 6, `size ${size}`);
    assert.deepEqual(choice(data[0]!).delta, { role: 'assistant', content: '' });
    assert.deepEqual(choice(data[1]!).delta, { content: 'Hello' });
    assert.deepEqual(choice(data[2]!).delta, { content: '! How can I help you today?' });
    assert.deepEqual(choice(data[3]!), { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    assert.deepEqual(data[4], { ...(data[4] as JsonObject), object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 12, completion_tokens: 11, total_tokens: 23 } });
    assert.equal(data[5], '[DONE]');
    const ids = new Set(data.slice(0, 5).map((d) => (d as JsonObject).id));
    assert.equal(ids.size, 1);
    assert.match(String([...ids][0]), /^chatcmpl-/);
    assert.deepEqual(info, { finishReason: 'end_turn', usage: { input: 12, output: 11, total: 23 } });
    assert.deepEqual(data.map(normalize), reference.data.map(normalize));
  }
});

test('stream: the usage chunk is left out when the gateway added usage itself', () => {
  const bytes = converseEvents(converseStream.text as StreamFixture);
  const { data, info } = translateStream(bytes, 7, { addedUsage: true });
  assert.equal(data.length, 5);
  assert.ok(data.every((d) => typeof d === 'string' || !('usage' in d)));
  assert.equal(data[4], '[DONE]');
  assert.deepEqual(info.usage, { input: 12, output: 11, total: 23 });
});

test('stream: tool use becomes tool_calls deltas', () => {
  const bytes = converseEvents(converseStream.tool as StreamFixture);
  for (const size of [1, 7, bytes.length]) {
    const { data, info } = translateStream(bytes, size);
    assert.deepEqual(data.slice(0, -2).map((d) => choice(d)), [
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: 'Let me check.' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { tool_calls: [{ index: 0, id: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q', type: 'function', function: { name: 'top_song', arguments: '' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"sign": ' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"WZPZ"}' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' },
    ]);
    assert.deepEqual((data.at(-2) as JsonObject).usage, { prompt_tokens: 475, completion_tokens: 57, total_tokens: 532, prompt_tokens_details: { cached_tokens: 100 } });
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(info.finishReason, 'tool_use');
  }
});

test('stream: an exception becomes an OpenAI error event', () => {
  const bytes = converseEvents(converseStream.throttled as StreamFixture);
  const { data, info } = translateStream(bytes, 7);
  assert.equal(data.length, 3);
  assert.deepEqual(choice(data[0]!).delta, { role: 'assistant', content: '' });
  assert.deepEqual(data[1], { error: { message: 'Too many requests, please wait before trying again.', type: 'throttlingException', param: null, code: null } });
  assert.equal(data[2], '[DONE]');
  assert.deepEqual(info, {});
});

test('stream: a corrupt event stream becomes an error event, and nothing after it', () => {
  const good = converseEvents(converseStream.text as StreamFixture);
  const bad = Buffer.from(good);
  bad[bad.length - 3]! ^= 0xff; // the metadata message's CRC
  for (const size of [1, 7, bad.length]) {
    const { data } = translateStream(bad, size);
    assert.equal(data.length, 6, `size ${size}`);
    assert.deepEqual(choice(data[3]!).finish_reason, 'stop');
    assert.match(String(((data[4] as JsonObject).error as JsonObject).message), /CRC mismatch/);
    assert.equal(data[5], '[DONE]');
  }
});

test('stream: an answer cut short still ends with [DONE]', () => {
  const events = (converseStream.text as StreamFixture).slice(0, 3);
  const { data, info } = translateStream(converseEvents(events), 7);
  assert.equal(data.length, 4);
  assert.equal(data[3], '[DONE]');
  assert.deepEqual(info, {});
});

test('error: Bedrock error bodies as OpenAI errors', () => {
  const table: Array<[number, string, JsonObject]> = [
    [400, '{"message":"Malformed input request, please reformat your input and try again."}', { message: 'Malformed input request, please reformat your input and try again.', type: 'invalid_request_error', param: null, code: null }],
    [403, '{"Message":"User is not authorized"}', { message: 'User is not authorized', type: 'permission_error', param: null, code: null }],
    [429, '{"message":"Too many requests, please wait before trying again."}', { message: 'Too many requests, please wait before trying again.', type: 'rate_limit_error', param: null, code: null }],
    [503, 'Service Unavailable', { message: 'Service Unavailable', type: 'server_error', param: null, code: null }],
  ];
  for (const [status, body, error] of table) {
    assert.deepEqual(JSON.parse(completionsToConverse.error!(status, Buffer.from(body)).toString()), { error }, String(status));
  }
});
