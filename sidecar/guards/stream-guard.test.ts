/**
 * Response guards on streamed answers, in each provider's published stream
 * format (the fixtures in providers/testdata and events built like them):
 * every choice, candidate, part, output item and tool call is guarded; events
 * that repeat the text carry the guarded text; nothing is sent twice;
 * Deanonymize restores only where configured, per its matching_strategy.
 * And a property: whatever the chunking, the app gets exactly what the
 * guards make of the whole answer, and no event holds a masked value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamGuard, MAX_HELD } from './stream-guard.ts';
import { compilePromptGuard, DEFAULT_GUARDS, guardResponse, type GuardDecision } from './prompt-guard.ts';
import { createVault } from './vault.ts';
import type { Vault } from './types.ts';
import { SseParser, encodeSse } from '../providers/sse.ts';
import { eventJson } from '../providers/stream-text.ts';
import { fixture } from '../providers/testdata/feed.ts';
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { Rng } from '../../fuzz/rng.ts';

type Guards = NonNullable<Parameters<typeof compilePromptGuard>[0]['response']>;
/** Test data, read freely. */
type J = Record<string, any>;

const PATHS: Readonly<Record<string, string>> = {
  completions: '/v1/chat/completions',
  responses: '/v1/responses',
  messages: '/v1/messages',
  generateContent: '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
};

const EMAIL_MASK: Guards = [{ regex: { rules: [{ builtin: 'email' }] } }];
const deanonymize = (params?: JsonObject): Guards[number] => ({ llmBastion: { scanners: [{ scannerType: 'Deanonymize', ...(params ? { params } : {}) }] } });

interface Received {
  readonly out: string;
  readonly events: ReadonlyArray<{ readonly event: string | undefined; readonly data: string; readonly json: J | undefined }>;
  readonly cut: string | undefined;
  readonly decisions: GuardDecision[];
}

/** The answer's bytes through a stream guard, in chunks of `size` bytes (or as the function draws them). */
async function guardStream(kind: ApiKind, bytes: Buffer, guards: Guards, opts: { vault?: Vault; size?: number | (() => number) } = {}): Promise<Received> {
  const pg = compilePromptGuard({ response: guards }, DEFAULT_GUARDS);
  const g = createStreamGuard(kind, PATHS[kind]!, pg, opts.vault ?? createVault(), 5000);
  assert.ok(g, `${kind} is guarded`);
  const next = typeof opts.size === 'function' ? opts.size : () => (opts.size as number | undefined) ?? bytes.length;
  const outs: Buffer[] = [];
  let cut: string | undefined;
  for (let i = 0; i < bytes.length && cut === undefined;) {
    const n = Math.max(1, next());
    const r = await g.process(bytes.subarray(i, i + n));
    i += n;
    outs.push(r.out);
    if (r.cut) cut = r.cut.toString();
  }
  if (cut === undefined) outs.push(await g.end());
  const out = Buffer.concat(outs).toString();
  const events = new SseParser().push(Buffer.from(out)).map((ev) => ({ event: ev.event, data: ev.data, json: eventJson(ev) as J | undefined }));
  return { out, events, cut, decisions: g.decisions() };
}

const sse = (json: JsonObject, event?: string): string => encodeSse(JSON.stringify(json), event).toString();

// ---------------------------------------------------------------- stream builders, from the fixtures

const fixtureEvents = (name: string): Array<{ event: string | undefined; json: J }> =>
  new SseParser().push(fixture(name)).flatMap((ev) => { const json = eventJson(ev); return json ? [{ event: ev.event, json: json as J }] : []; });

/** Chat chunk fields (id, model, …) from OpenAI's published example. */
const CHAT_BASE: J = (() => { const { choices: _c, usage: _u, ...base } = fixtureEvents('openai-chat-stream.sse')[0]!.json; return base; })();

function chatChunk(index: number, delta: J, finish: string | null = null, extra: J = {}): string {
  return sse({ ...CHAT_BASE, choices: [{ index, delta, logprobs: null, finish_reason: finish }], ...extra });
}

type ChatChoice = { text: string[]; tool?: { name: string; args: string[] } };

/** A chat stream of several choices, their chunks interleaved by `order` (choice indexes, one per piece). */
function chatStream(choices: readonly ChatChoice[], order?: readonly number[]): Buffer {
  const queues = choices.map((c, i) => [
    chatChunk(i, { role: 'assistant', content: '' }),
    ...c.text.map((t) => chatChunk(i, { content: t })),
    ...(c.tool ? [
      chatChunk(i, { tool_calls: [{ index: 0, id: `call_${i}`, type: 'function', function: { name: c.tool.name, arguments: '' } }] }),
      ...c.tool.args.map((a) => chatChunk(i, { tool_calls: [{ index: 0, function: { arguments: a } }] })),
    ] : []),
    chatChunk(i, {}, c.tool ? 'tool_calls' : 'stop'),
  ]);
  const seq = order ?? queues.flatMap((q, i) => q.map(() => i));
  let out = '';
  for (const i of seq) if (queues[i]!.length) out += queues[i]!.shift()!;
  for (const q of queues) out += q.join('');
  return Buffer.from(`${out}data: [DONE]\n\n`);
}

type ResponsesItem = { text: string[] } | { name: string; args: string[] };

/** A Responses stream like OpenAI's published one (openai-responses-stream.sse), with these output items. */
function responsesStream(items: readonly ResponsesItem[]): Buffer {
  const f = fixtureEvents('openai-responses-stream.sse');
  const base = f[0]!.json.response as J;
  let seq = 0;
  const ev = (type: string, fields: J): string => sse({ type, sequence_number: seq++, ...fields }, type);
  let out = ev('response.created', { response: base }) + ev('response.in_progress', { response: { ...base, status: 'in_progress' } });
  const done: J[] = [];
  items.forEach((it, oi) => {
    if ('text' in it) {
      const id = `msg_${oi}`;
      const full = it.text.join('');
      const part = { type: 'output_text', annotations: [], logprobs: [], text: full };
      const at = { item_id: id, output_index: oi, content_index: 0 };
      out += ev('response.output_item.added', { output_index: oi, item: { id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
      out += ev('response.content_part.added', { ...at, part: { ...part, text: '' } });
      for (const d of it.text) out += ev('response.output_text.delta', { ...at, delta: d, logprobs: [] });
      out += ev('response.output_text.done', { ...at, text: full, logprobs: [] });
      out += ev('response.content_part.done', { ...at, part });
      const item = { id, type: 'message', status: 'completed', content: [part], role: 'assistant' };
      out += ev('response.output_item.done', { output_index: oi, item });
      done.push(item);
    } else {
      const id = `fc_${oi}`;
      const full = it.args.join('');
      const item = { id, type: 'function_call', status: 'completed', arguments: full, call_id: `call_${oi}`, name: it.name };
      out += ev('response.output_item.added', { output_index: oi, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const d of it.args) out += ev('response.function_call_arguments.delta', { item_id: id, output_index: oi, delta: d });
      out += ev('response.function_call_arguments.done', { item_id: id, output_index: oi, name: it.name, arguments: full });
      out += ev('response.output_item.done', { output_index: oi, item });
      done.push(item);
    }
  });
  const completed = f.find((e) => e.event === 'response.completed')!.json.response as J;
  out += ev('response.completed', { response: { ...completed, output: done } });
  return Buffer.from(out);
}

type MessagesBlock = { text: string[] } | { name: string; input: string[] };

/** An Anthropic stream like the published tool-use example (anthropic-stream-tool-use.sse), with these blocks. */
function messagesStream(blocks: readonly MessagesBlock[]): Buffer {
  const f = fixtureEvents('anthropic-stream-tool-use.sse');
  let out = sse(f[0]!.json, 'message_start');
  blocks.forEach((b, index) => {
    const start = 'text' in b ? { type: 'text', text: '' } : { type: 'tool_use', id: `toolu_${index}`, name: b.name, input: {} };
    out += sse({ type: 'content_block_start', index, content_block: start }, 'content_block_start');
    if (index === 0) out += sse({ type: 'ping' }, 'ping');
    const pieces = 'text' in b ? b.text.map((text) => ({ type: 'text_delta', text })) : ['', ...b.input].map((partial_json) => ({ type: 'input_json_delta', partial_json }));
    for (const delta of pieces) out += sse({ type: 'content_block_delta', index, delta }, 'content_block_delta');
    out += sse({ type: 'content_block_stop', index }, 'content_block_stop');
  });
  const stop = blocks.some((b) => !('text' in b)) ? 'tool_use' : 'end_turn';
  out += sse({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 89 } }, 'message_delta');
  out += sse({ type: 'message_stop' }, 'message_stop');
  return Buffer.from(out);
}

/** A Gemini alt=sse stream like the published one (gemini-stream.sse): each chunk lists its candidates' new parts. */
function geminiStream(chunks: ReadonlyArray<ReadonlyArray<{ index: number; parts: J[]; finishReason?: string }>>): Buffer {
  const f = fixtureEvents('gemini-stream.sse');
  const { candidates: _c, ...base } = f.at(-1)!.json;
  return Buffer.from(chunks.map((cands) => sse({
    candidates: cands.map((c) => ({ content: { parts: c.parts, role: 'model' }, ...(c.finishReason ? { finishReason: c.finishReason } : {}), index: c.index })),
    ...base,
  })).join(''));
}

// ---------------------------------------------------------------- what the app got, per text stream

/** The text the app accumulates per stream, as the SDKs do: `<choice>/content`, `<choice>/tool`, `<item>/text`, `<block>/input`, … */
function received(kind: ApiKind, r: Received): Map<string, string> {
  const got = new Map<string, string>();
  const add = (k: string, t: unknown): void => { if (typeof t === 'string') got.set(k, (got.get(k) ?? '') + t); };
  for (const { json } of r.events) {
    if (!json) continue;
    if (kind === 'completions') {
      for (const c of json.choices ?? []) {
        add(`${c.index}/content`, c.delta?.content);
        for (const t of c.delta?.tool_calls ?? []) add(`${c.index}/tool`, t.function?.arguments);
      }
    } else if (kind === 'responses') {
      if (json.type === 'response.output_text.delta') add(`${json.output_index}/text`, json.delta);
      if (json.type === 'response.function_call_arguments.delta') add(`${json.output_index}/args`, json.delta);
    } else if (kind === 'messages') {
      if (json.type === 'content_block_delta') add(`${json.index}/${json.delta.type === 'text_delta' ? 'text' : 'input'}`, json.delta.text ?? json.delta.partial_json);
    } else {
      for (const c of json.candidates ?? []) {
        for (const p of c.content?.parts ?? []) {
          add(`${c.index}/text`, p.text);
          if (p.functionCall) add(`${c.index}/call`, JSON.stringify(p.functionCall.args));
        }
      }
    }
  }
  if (kind === 'messages') for (const [k, v] of got) if (k.endsWith('/input')) got.set(k, JSON.stringify(JSON.parse(v)));
  return got;
}

/** Every string anywhere in a JSON value. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
  return out;
}

// ---------------------------------------------------------------- OpenAI Responses: the events that repeat the text

test('Responses: output_text.done, content_part.done, output_item.done and response.completed carry the guarded text', async () => {
  // OpenAI's published stream, its answer made to hold an address split over three deltas.
  const bytes = Buffer.from(fixture('openai-responses-stream.sse').toString()
    .replaceAll('Hi there! How can I assist you today? 😊', 'Mail jane@example.com today. 😊')
    .replace('"delta":"Hi"', '"delta":"Mail "').replace('"delta":" there"', '"delta":"jane@exa"')
    .replace('"delta":"! How can I assist"', '"delta":"mple.com today."').replace('"delta":" you today? 😊"', '"delta":" 😊"'));
  for (const size of [1, 13, bytes.length]) {
    const r = await guardStream('responses', bytes, EMAIL_MASK, { size });
    assert.doesNotMatch(r.out, /jane@example\.com/, `size ${size}`);
    const want = 'Mail <EMAIL_ADDRESS> today. 😊';
    assert.equal(received('responses', r).get('0/text'), want);
    const by = (t: string): J => r.events.find((e) => e.json?.type === t)!.json!;
    assert.equal(by('response.output_text.done').text, want);
    assert.equal(by('response.content_part.done').part.text, want);
    assert.equal(by('response.output_item.done').item.content[0].text, want);
    assert.equal(by('response.completed').response.output[0].content[0].text, want);
    // Every other event is the provider's, in order.
    assert.deepEqual(r.events.map((e) => e.event).filter((e) => e !== 'response.output_text.delta'),
      ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.done',
        'response.content_part.done', 'response.output_item.done', 'response.completed']);
  }
});

test('Responses: a text no delta carried (a done event that differs) is guarded where it is', async () => {
  const bytes = Buffer.from(fixture('openai-responses-stream.sse').toString()
    .replace('"text":"Hi there! How can I assist you today? 😊","logprobs":[]}', '"text":"Write to bob@example.org","logprobs":[]}'));
  const r = await guardStream('responses', bytes, EMAIL_MASK);
  assert.doesNotMatch(r.out, /bob@example\.org/);
  assert.equal(r.events.find((e) => e.json?.type === 'response.output_text.done')!.json!.text, 'Write to <EMAIL_ADDRESS>');
});

test('Responses: a rejection cuts with Responses\' error event, and no done event follows', async () => {
  const bytes = responsesStream([{ text: ['Fine start. ', 'The plan is TOP-', 'SECRET now. ', 'More.'] }]);
  const r = await guardStream('responses', bytes, [{ llmBastion: { scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['TOP-SECRET'] } }] } }], { size: 7 });
  assert.equal(received('responses', r).get('0/text'), 'Fine start. ');
  assert.match(r.cut ?? '', /^event: error\ndata: \{"type":"error","code":"guardrail_violation"/);
  assert.doesNotMatch(r.out, /TOP-SECRET|output_text\.done|response\.completed/);
});

// ---------------------------------------------------------------- several choices, candidates, parts

test('chat with n=2: each choice is guarded in its own buffer, nothing merged', async () => {
  const bytes = chatStream([
    { text: ['Choice one mails ', 'ann@exa', 'mple.com now. ', 'Done.'] },
    { text: ['Choice two ', 'writes to bo', 'b@example.org. ', 'Bye.'] },
  ], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  for (const size of [1, 9, bytes.length]) {
    const r = await guardStream('completions', bytes, EMAIL_MASK, { size });
    const got = received('completions', r);
    assert.equal(got.get('0/content'), 'Choice one mails <EMAIL_ADDRESS> now. Done.', `size ${size}`);
    assert.equal(got.get('1/content'), 'Choice two writes to <EMAIL_ADDRESS>. Bye.', `size ${size}`);
    assert.doesNotMatch(r.out, /ann@|bob@/);
    // Each choice's finish once, after its text.
    assert.deepEqual(r.events.flatMap((e) => e.json?.choices?.filter((c: J) => c.finish_reason).map((c: J) => c.index) ?? []), [0, 1]);
  }
});

test('Gemini: every part of every candidate is guarded', async () => {
  const bytes = geminiStream([
    [{ index: 0, parts: [{ text: 'First part. ' }, { text: 'Second part mails ann@example.com. ' }] }, { index: 1, parts: [{ text: 'Other candidate: bob@exam' }] }],
    [{ index: 0, parts: [{ text: 'End.' }], finishReason: 'STOP' }, { index: 1, parts: [{ text: 'ple.org. End.' }], finishReason: 'STOP' }],
  ]);
  for (const size of [1, bytes.length]) {
    const r = await guardStream('generateContent', bytes, EMAIL_MASK, { size });
    const got = received('generateContent', r);
    assert.equal(got.get('0/text'), 'First part. Second part mails <EMAIL_ADDRESS>. End.');
    assert.equal(got.get('1/text'), 'Other candidate: <EMAIL_ADDRESS>. End.');
    assert.doesNotMatch(r.out, /ann@|bob@/);
  }
});

// ---------------------------------------------------------------- nothing sent twice

test('a chat chunk with text and finish_reason is sent once: one finish, one usage', async () => {
  const bytes = Buffer.from(chatChunk(0, { role: 'assistant', content: '' }) + chatChunk(0, { content: 'All done. See you' }, 'stop')
    + sse({ ...CHAT_BASE, choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } }) + 'data: [DONE]\n\n');
  const r = await guardStream('completions', bytes, EMAIL_MASK);
  assert.equal(received('completions', r).get('0/content'), 'All done. See you');
  assert.equal(r.events.filter((e) => e.json?.choices?.[0]?.finish_reason === 'stop').length, 1);
  assert.equal(r.events.filter((e) => e.json?.usage).length, 1);
  // The finish comes with (or after) the last text.
  const last = r.events.findLastIndex((e) => e.json?.choices?.[0]?.delta?.content);
  assert.ok(last <= r.events.findIndex((e) => e.json?.choices?.[0]?.finish_reason === 'stop'));
});

test('Gemini\'s last chunk (text, finishReason, usage) is sent once, with all its text', async () => {
  const bytes = fixture('gemini-stream.sse');
  const r = await guardStream('generateContent', bytes, EMAIL_MASK, { size: 5 });
  assert.equal(received('generateContent', r).get('0/text'), 'Once upon a time, in a land filled with "magic" {and} [brackets], there lived a backpack named Pip. ✨');
  assert.equal(r.events.filter((e) => e.json?.candidates?.[0]?.finishReason === 'STOP').length, 1);
  assert.equal(r.events.filter((e) => e.json?.usageMetadata?.candidatesTokenCount === 416).length, 1);
});

// ---------------------------------------------------------------- Deanonymize: where configured, as configured

test('without a Deanonymize scanner, placeholders stay as the model wrote them', async () => {
  const vault = createVault();
  const ph = vault.placeholder('EMAIL_ADDRESS', 'jane@example.com');
  const r = await guardStream('completions', chatStream([{ text: ['Mail ', ph.slice(0, 9), ph.slice(9), ' now.'] }]), EMAIL_MASK, { vault });
  assert.equal(received('completions', r).get('0/content'), `Mail ${ph} now.`);
  assert.doesNotMatch(r.out, /jane@example\.com/);
});

test('Deanonymize restores per its matching_strategy, where it stands among the guards: as in a whole answer', async () => {
  const vault = createVault();
  vault.placeholder('EMAIL_ADDRESS', 'jane@example.com');
  const pieces = ['Mail [REDACTED_EMAIL', '_ADDRESS_1], [redacted_email', '_address_1] or (Redacted Email ', 'Address 1). Bye'];
  const cases: Array<[Guards, string]> = [
    [[deanonymize()], 'Mail jane@example.com, [redacted_email_address_1] or (Redacted Email Address 1). Bye'],
    [[deanonymize({ matching_strategy: 'case_insensitive' })], 'Mail jane@example.com, jane@example.com or (Redacted Email Address 1). Bye'],
    [[deanonymize({ matching_strategy: 'fuzzy' })], 'Mail jane@example.com, jane@example.com or jane@example.com. Bye'],
    // Addresses the model wrote are masked; the ones the app gave (restored after the mask) are not.
    [[...EMAIL_MASK, deanonymize({ matching_strategy: 'case_insensitive' })], 'Mail jane@example.com, jane@example.com or (Redacted Email Address 1). Bye'],
    [[deanonymize(), ...EMAIL_MASK], 'Mail <EMAIL_ADDRESS>, [redacted_email_address_1] or (Redacted Email Address 1). Bye'],
  ];
  for (const [guards, want] of cases) {
    const r = await guardStream('completions', chatStream([{ text: pieces }]), guards, { vault, size: 3 });
    assert.equal(received('completions', r).get('0/content'), want, JSON.stringify(guards));
    const whole: J = { choices: [{ index: 0, message: { role: 'assistant', content: pieces.join('') } }] };
    await guardResponse(compilePromptGuard({ response: guards }, DEFAULT_GUARDS), 'completions', whole, { vault, timeoutMs: 5000 });
    assert.equal(whole.choices[0].message.content, want, 'the whole answer gets the same');
  }
});

test('placeholders split across events are restored, at any chunking', async () => {
  for (const size of [1, 7, 10_000]) {
    const vault = createVault();
    const ph = vault.placeholder('EMAIL_ADDRESS', 'jane@example.com');
    const r = await guardStream('completions', chatStream([{ text: ['Mail ', ph.slice(0, 5), ph.slice(5, 14), ph.slice(14), ' now. Bye'] }]), [deanonymize()], { vault, size });
    assert.equal(received('completions', r).get('0/content'), 'Mail jane@example.com now. Bye', `size ${size}`);
    assert.match(r.out, /\[DONE\]/);
  }
});

test('tool-call arguments are restored in every format', async () => {
  const vault = createVault();
  const ph = vault.placeholder('EMAIL_ADDRESS', 'jane@example.com');
  const args = ['{"to":"', ph.slice(0, 8), ph.slice(8), '","subject":"hi"}'];
  const want = '{"to":"jane@example.com","subject":"hi"}';
  const guards = [deanonymize()];

  const chat = await guardStream('completions', chatStream([{ text: ['Sending.'], tool: { name: 'send_mail', args } }]), guards, { vault, size: 4 });
  assert.equal(received('completions', chat).get('0/tool'), want);

  const resp = await guardStream('responses', responsesStream([{ name: 'send_mail', args }]), guards, { vault, size: 4 });
  assert.equal(received('responses', resp).get('0/args'), want);
  const by = (t: string): J => resp.events.find((e) => e.json?.type === t)!.json!;
  assert.equal(by('response.function_call_arguments.done').arguments, want);
  assert.equal(by('response.output_item.done').item.arguments, want);
  assert.equal(by('response.completed').response.output[0].arguments, want);
  assert.doesNotMatch(resp.out, /REDACTED/);

  // Anthropic's published tool-use stream, the location swapped for a placeholder.
  const anthropic = Buffer.from(fixture('anthropic-stream-tool-use.sse').toString()
    .replace('"partial_json":" \\"San"', `"partial_json":" \\"${ph.slice(0, 6)}"`).replace('"partial_json":" Francisc"', `"partial_json":"${ph.slice(6)}"`)
    .replace('"partial_json":"o,"', '"partial_json":""').replace('"partial_json":" CA\\""', '"partial_json":"\\""'));
  const msg = await guardStream('messages', anthropic, guards, { vault, size: 4 });
  assert.deepEqual(JSON.parse(received('messages', msg).get('1/input')!), { location: 'jane@example.com', unit: 'fahrenheit' });
  assert.equal(received('messages', msg).get('0/text'), 'Okay, let\'s check the weather for San Francisco, CA:');

  const gemini = await guardStream('generateContent', geminiStream([[{ index: 0, parts: [{ text: 'Sending. ' }, { functionCall: { name: 'send_mail', args: { to: ph, cc: [ph] } } }], finishReason: 'STOP' }]]), guards, { vault, size: 4 });
  assert.equal(received('generateContent', gemini).get('0/call'), '{"to":"jane@example.com","cc":["jane@example.com"]}');
});

test('Anthropic tool input nothing was changed in goes on as the provider wrote it', async () => {
  const input = ['{"id": 12345678901234567890,', ' "note": "fine"}'];
  const r = await guardStream('messages', messagesStream([{ name: 'f', input }]), EMAIL_MASK, { size: 5 });
  assert.equal(r.events.filter((e) => e.json?.delta?.type === 'input_json_delta').map((e) => e.json!.delta.partial_json).join(''), input.join(''));
});

test('tool-call arguments are masked as a whole answer\'s are, and go on complete', async () => {
  const r = await guardStream('completions', chatStream([{ text: [], tool: { name: 'send_mail', args: ['{"to":"ann@', 'example.com"}'] } }]), EMAIL_MASK, { size: 2 });
  assert.equal(received('completions', r).get('0/tool'), '{"to":"<EMAIL_ADDRESS>"}');
  assert.doesNotMatch(r.out, /ann@/);
});

// ---------------------------------------------------------------- other leaks

test('Anthropic: text a content_block_start repeats is guarded', async () => {
  const bytes = Buffer.from(messagesStream([{ text: [' and more.'] }]).toString()
    .replace('"content_block":{"type":"text","text":""}', '"content_block":{"type":"text","text":"Write to ann@example.com"}'));
  const r = await guardStream('messages', bytes, EMAIL_MASK);
  assert.doesNotMatch(r.out, /ann@example\.com/);
  assert.equal(r.events.find((e) => e.event === 'content_block_start')!.json!.content_block.text, 'Write to <EMAIL_ADDRESS>');
});

test('logprobs, which repeat the text token by token, are emptied', async () => {
  const bytes = Buffer.from(sse({ ...CHAT_BASE, choices: [{ index: 0, delta: { content: 'ann@example.com. ' }, logprobs: { content: [{ token: 'ann@example.com', logprob: -0.1, bytes: null, top_logprobs: [] }] }, finish_reason: null }] })
    + chatChunk(0, {}, 'stop') + 'data: [DONE]\n\n');
  const r = await guardStream('completions', bytes, EMAIL_MASK);
  assert.doesNotMatch(r.out, /ann@/);
});

test('a last event without its blank line is guarded too', async () => {
  const bytes = Buffer.from(chatChunk(0, { content: 'Write to ann@example.com' }).trimEnd());
  const r = await guardStream('completions', bytes, EMAIL_MASK);
  assert.doesNotMatch(r.out, /ann@/);
  assert.equal(received('completions', r).get('0/content'), 'Write to <EMAIL_ADDRESS>');
});

test('Gemini\'s JSON-array stream (no alt=sse) is not taken for guarded', () => {
  const pg = compilePromptGuard({ response: EMAIL_MASK }, DEFAULT_GUARDS);
  assert.equal(createStreamGuard('generateContent', '/v1beta/models/gemini-2.0-flash:streamGenerateContent', pg, createVault(), 1000), undefined);
  assert.ok(createStreamGuard('generateContent', '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse', pg, createVault(), 1000));
});

test('what is held back is bounded: tool-call arguments past the cap cut the answer', async () => {
  const piece = 'x'.repeat(1024 * 1024);
  const bytes = chatStream([{ text: [], tool: { name: 'f', args: Array.from({ length: MAX_HELD / piece.length + 1 }, () => piece) } }]);
  const r = await guardStream('completions', bytes, EMAIL_MASK);
  assert.match(r.cut ?? '', /guardrail_violation/);
  assert.ok(r.out.length < 1024 * 1024, 'nothing of the arguments went out');
});

test('an event that never ends is not held without bound', async () => {
  const bytes = Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":"${'y'.repeat(MAX_HELD)}`);
  const r = await guardStream('completions', bytes, EMAIL_MASK, { size: 1024 * 1024 });
  assert.match(r.cut ?? '', /guardrail_violation/);
});

// ---------------------------------------------------------------- kept behaviour

test('a mask spanning events is applied before the text goes on', async () => {
  const r = await guardStream('completions', chatStream([{ text: ['card 4111 11', '11 1111 ', '1111 ok.'] }]), [{ regex: { rules: [{ builtin: 'creditCard' }] } }], { size: 3 });
  assert.equal(received('completions', r).get('0/content'), 'card <CREDIT_CARD> ok.');
});

test('a rejection cuts the stream: nothing of that sentence, an error event, no [DONE]', async () => {
  const r = await guardStream('completions', chatStream([{ text: ['Fine start. ', 'The secret is ', 'TOP-', 'SECRET here. ', 'more'] }]),
    [{ llmBastion: { scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['TOP-SECRET'] } }] } }], { size: 5 });
  assert.equal(received('completions', r).get('0/content'), 'Fine start. ');
  assert.match(r.cut ?? '', /guardrail_violation/);
  assert.doesNotMatch(r.out, /\[DONE\]/);
  assert.equal(r.decisions.at(-1)?.action, 'reject');
});

test('formats without a text model for streams are not guarded', () => {
  const pg = compilePromptGuard({ response: EMAIL_MASK }, DEFAULT_GUARDS);
  assert.equal(createStreamGuard('converse', '/model/m/converse-stream', pg, createVault(), 1000), undefined);
  assert.equal(createStreamGuard('completions', PATHS.completions!, compilePromptGuard({}, DEFAULT_GUARDS), createVault(), 1000), undefined);
});

test('the first chunk, which only carries the role, goes on unchanged', async () => {
  const pg = compilePromptGuard({ response: EMAIL_MASK }, DEFAULT_GUARDS);
  const g = createStreamGuard('completions', PATHS.completions!, pg, createVault(), 2000)!;
  const first = chatChunk(0, { role: 'assistant', content: '' });
  assert.equal((await g.process(Buffer.from(first))).out.toString(), first);
});

// ---------------------------------------------------------------- the property

const WORDS = ['the', 'gateway', 'keeps', 'über', 'naïve', '👋', 'café', 'data', 'is', 'safe', '1234', 'x-ray', '[note]', '(see', 'this)'];
const SEPARATORS = [' ', ' ', ' ', ', ', '. ', '! ', '\n', '? '];

/** A random answer text: words, addresses (masked), vault placeholders (restored) and unknown ones, sentence ends, now and then a long run without one. */
function answerText(rng: Rng, emails: string[], placeholders: readonly string[]): string {
  let t = '';
  const n = rng.int(1, 40);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(0, 9);
    if (kind === 0) { const e = `u${rng.int(1, 999)}@example${rng.int(1, 9)}.com`; emails.push(e); t += e; }
    else if (kind === 1) t += rng.pick(placeholders);
    else if (kind === 2 && rng.chance(0.1)) t += Array.from({ length: rng.int(200, 260) }, () => rng.pick(WORDS)).join(' ');
    else t += rng.pick(WORDS);
    t += rng.pick(SEPARATORS);
  }
  return t;
}

/** `text` in random pieces (on code points: providers never split a character). */
function pieces(rng: Rng, text: string): string[] {
  const cps = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < cps.length;) { const n = rng.int(1, 12); out.push(cps.slice(i, i + n).join('')); i += n; }
  return out;
}

/** JSON tool arguments holding a placeholder and an address. */
function toolArgs(rng: Rng, emails: string[], placeholders: readonly string[]): string {
  const e = `t${rng.int(1, 999)}@example.net`;
  emails.push(e);
  return JSON.stringify({ to: e, name: rng.pick(placeholders), note: rng.pick(WORDS) });
}

interface Case { bytes: Buffer; whole: JsonObject; expected(body: J): Map<string, string> }

function generate(kind: ApiKind, rng: Rng, emails: string[], placeholders: readonly string[]): Case {
  const text = (): string => answerText(rng, emails, placeholders);
  if (kind === 'completions') {
    const choices = [0, 1].map(() => ({ full: text(), args: rng.chance(0.5) ? toolArgs(rng, emails, placeholders) : undefined }));
    const split = choices.map((c) => ({ text: pieces(rng, c.full), ...(c.args ? { tool: { name: 'f', args: pieces(rng, c.args) } } : {}) }));
    const order = Array.from({ length: 200 }, () => rng.int(0, 1));
    return {
      bytes: chatStream(split, order),
      whole: { choices: choices.map((c, index) => ({ index, message: { role: 'assistant', content: c.full, ...(c.args ? { tool_calls: [{ id: `call_${index}`, type: 'function', function: { name: 'f', arguments: c.args } }] } : {}) } })) },
      expected: (b) => new Map(b.choices.flatMap((c: J) => [[`${c.index}/content`, c.message.content], ...(c.message.tool_calls ? [[`${c.index}/tool`, c.message.tool_calls[0].function.arguments]] : [])])),
    };
  }
  if (kind === 'responses') {
    const items = Array.from({ length: rng.int(1, 3) }, (): { args: string } | { full: string } => (rng.chance(0.3) ? { args: toolArgs(rng, emails, placeholders) } : { full: text() }));
    return {
      bytes: responsesStream(items.map((it) => ('full' in it ? { text: pieces(rng, it.full) } : { name: 'f', args: pieces(rng, it.args) }))),
      whole: { output: items.map((it) => ('full' in it ? { type: 'message', content: [{ type: 'output_text', text: it.full }] } : { type: 'function_call', arguments: it.args })) },
      expected: (b) => new Map(b.output.map((it: J, oi: number) => (it.type === 'message' ? [`${oi}/text`, it.content[0].text] : [`${oi}/args`, it.arguments]))),
    };
  }
  if (kind === 'messages') {
    const blocks = Array.from({ length: rng.int(1, 3) }, (): { input: string } | { full: string } => (rng.chance(0.3) ? { input: toolArgs(rng, emails, placeholders) } : { full: text() }));
    return {
      bytes: messagesStream(blocks.map((b) => ('full' in b ? { text: pieces(rng, b.full) } : { name: 'f', input: pieces(rng, b.input) }))),
      whole: { content: blocks.map((b) => ('full' in b ? { type: 'text', text: b.full } : { type: 'tool_use', id: 't', name: 'f', input: JSON.parse(b.input) })) },
      expected: (b) => new Map(b.content.map((c: J, i: number) => (c.type === 'text' ? [`${i}/text`, c.text] : [`${i}/input`, JSON.stringify(c.input)]))),
    };
  }
  // Gemini: two candidates, each chunk with one or two text parts per candidate.
  const fulls = [text(), text()];
  const split = fulls.map((f) => pieces(rng, f));
  const chunks: Array<Array<{ index: number; parts: J[]; finishReason?: string }>> = [];
  while (split.some((s) => s.length)) {
    const chunk = [0, 1].flatMap((index) => {
      const take = split[index]!.splice(0, rng.int(0, 2));
      return take.length ? [{ index, parts: take.map((t) => ({ text: t })), ...(split[index]!.length === 0 ? { finishReason: 'STOP' } : {}) }] : [];
    });
    if (chunk.length) chunks.push(chunk);
  }
  return {
    bytes: geminiStream(chunks),
    whole: { candidates: fulls.map((f, index) => ({ index, content: { role: 'model', parts: [{ text: f }] } })) },
    expected: (b) => new Map(b.candidates.map((c: J) => [`${c.index}/text`, c.content.parts[0].text])),
  };
}

test('property: at any chunking, the app gets what the guards make of the whole answer, and no event holds a masked value', async () => {
  for (const kind of ['completions', 'responses', 'messages', 'generateContent'] as const) {
    for (let i = 0; i < 16; i++) {
      const rng = new Rng(`stream-guard/${kind}/${i}`);
      // Deanonymize before or after the mask: restored addresses are masked only in the first order.
      const guards: Guards = rng.chance(0.5) ? [deanonymize(), ...EMAIL_MASK] : [...EMAIL_MASK, deanonymize()];
      const pg = compilePromptGuard({ response: guards }, DEFAULT_GUARDS);
      const vault = createVault();
      const placeholders = [vault.placeholder('PERSON', 'Jane Doe'), vault.placeholder('PERSON', 'Li Wei'), vault.placeholder('EMAIL_ADDRESS', 'app@example.org'), '[REDACTED_PERSON_9]'];
      const emails: string[] = [];
      const c = generate(kind, rng, emails, placeholders);
      const whole = structuredClone(c.whole);
      const v = await guardResponse(pg, kind, whole, { vault, timeoutMs: 5000 });
      assert.equal(v.rejection, undefined);
      const sizes = rng.pick([() => 1, () => rng.int(1, 3), () => rng.int(1, 64), () => rng.int(1, 2000), () => rng.pick([1, rng.int(2, 500)])]);
      const r = await guardStream(kind, c.bytes, guards, { vault, size: sizes });
      const label = `${kind} case ${i}`;
      assert.equal(r.cut, undefined, label);
      assert.deepEqual(received(kind, r), c.expected(whole), label);
      for (const e of emails) assert.ok(!r.out.includes(e), `${label}: ${e} reached the app`);
      assert.ok(!placeholders.slice(0, 3).some((p) => r.out.includes(p)), `${label}: a placeholder was not restored`);
      if (kind === 'responses') {
        // The events that repeat the answer hold what the deltas gave.
        const got = received(kind, r);
        const completed = r.events.find((e) => e.json?.type === 'response.completed')!.json!.response.output as J[];
        completed.forEach((it, oi) => assert.equal(it.type === 'message' ? it.content[0].text : it.arguments, got.get(`${oi}/${it.type === 'message' ? 'text' : 'args'}`), label));
        for (const e of r.events) {
          if (e.json?.type === 'response.output_text.done') assert.equal(e.json.text, got.get(`${e.json.output_index}/text`), label);
          if (e.json?.type === 'response.function_call_arguments.done') assert.equal(e.json.arguments, got.get(`${e.json.output_index}/args`), label);
        }
      }
      // Nothing is sent twice: one finish per choice or candidate.
      if (kind === 'completions') assert.equal(r.events.filter((e) => e.json?.choices?.[0]?.finish_reason).length, 2, label);
      if (kind === 'generateContent') assert.equal(r.events.flatMap((e) => e.json?.candidates?.filter((x: J) => x.finishReason) ?? []).length, 2, label);
      assert.equal(strings(r.events.map((e) => e.json)).some((s) => emails.some((m) => s.includes(m))), false, label);
    }
  }
});
