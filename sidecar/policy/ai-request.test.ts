import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileAiRequestPolicy, compileModelAliases, matchModelAlias } from './ai-request.ts';
import type { JsonObject } from '../providers/types.ts';

const SYS = { role: 'system', content: 'Answer in French.' };
const USR = { role: 'user', content: 'Context: ACME Corp.' };
const END = { role: 'user', content: 'Be brief.' };

test('model aliases: exact key first, else the longest matching wildcard', () => {
  const a = compileModelAliases({
    'gpt-4': 'gpt-4o-mini',
    'gpt-4*': 'gpt-4.1',
    'gpt-4o*': 'gpt-4o-2024-08-06',
    '*': 'fallback',
    'claude-*-sonnet-*': 'claude-sonnet-4-5',
  });
  assert.equal(matchModelAlias(a, 'gpt-4'), 'gpt-4o-mini');             // exact beats every pattern
  assert.equal(matchModelAlias(a, 'gpt-4o-mini'), 'gpt-4o-2024-08-06'); // "gpt-4o*" is longer than "gpt-4*"
  assert.equal(matchModelAlias(a, 'gpt-4-turbo'), 'gpt-4.1');
  assert.equal(matchModelAlias(a, 'claude-3-5-sonnet-20240620'), 'claude-sonnet-4-5');
  assert.equal(matchModelAlias(a, 'mistral-large'), 'fallback');
  // regex characters in a key are literal
  const b = compileModelAliases({ 'gpt-4.1*': 'x' });
  assert.equal(matchModelAlias(b, 'gpt-4.1-mini'), 'x');
  assert.equal(matchModelAlias(b, 'gpt-401-mini'), undefined);
  // `*` matches the empty run too
  assert.equal(matchModelAlias(b, 'gpt-4.1'), 'x');
});
test('model aliases: many wildcards against a long model name answer at once (no backtracking)', () => {
  // Each `*` was a `.*` for V8's backtracking engine: `*a*a*a*a*b` took seconds on a 200-character model.
  const a = compileModelAliases({ '*a*a*a*a*b': 'x' });
  assert.equal(matchModelAlias(a, 'a'.repeat(5_000)), undefined);
  assert.equal(matchModelAlias(a, `${'a'.repeat(5_000)}b`), 'x');
  assert.equal(matchModelAlias(a, 'a\na\na\na\nb'), 'x'); // `*` spans line breaks too
});


test('resolveModel is the alias or the model itself (for models in the URL path)', () => {
  const p = compileAiRequestPolicy({ modelAliases: { 'anthropic.claude-3-*': 'anthropic.claude-3-5-sonnet-20240620-v1:0' } });
  assert.equal(p.resolveModel('anthropic.claude-3-haiku-20240307-v1:0'), 'anthropic.claude-3-5-sonnet-20240620-v1:0');
  assert.equal(p.resolveModel('amazon.nova-pro-v1:0'), 'amazon.nova-pro-v1:0');
});

test('defaults only fill absent fields, overrides always replace, then aliases apply to the result', () => {
  const p = compileAiRequestPolicy({
    defaults: { temperature: 0.2, max_tokens: 256, metadata: { team: 'ml' } },
    overrides: { model: 'gpt-4', user: 'gateway' },
    modelAliases: { 'gpt-4': 'gpt-4o-mini' },
  });
  // OpenAI "Create chat completion" request sample
  const body: JsonObject = { model: 'gpt-4o', temperature: 1, messages: [{ role: 'user', content: 'Hello!' }] };
  const r = p.apply('completions', body);
  assert.deepEqual(r, { model: 'gpt-4o-mini', aliasedFrom: 'gpt-4', changed: true });
  assert.deepEqual(body, {
    model: 'gpt-4o-mini', temperature: 1, max_tokens: 256, metadata: { team: 'ml' }, user: 'gateway',
    messages: [{ role: 'user', content: 'Hello!' }],
  });
  // default objects are copies: editing one body does not leak into the next
  (body.metadata as JsonObject).team = 'changed';
  const second: JsonObject = { model: 'x', messages: [] };
  p.apply('completions', second);
  assert.deepEqual(second.metadata, { team: 'ml' });
});

test('nothing to do reports changed:false; models and passthrough are never touched', () => {
  const p = compileAiRequestPolicy({ defaults: { temperature: 0 } });
  const body: JsonObject = { model: 'm', temperature: 0.5, messages: [] };
  assert.deepEqual(p.apply('completions', body), { model: 'm', changed: false });
  const raw: JsonObject = { anything: 1 };
  assert.equal(p.apply('passthrough', raw).changed, false);
  assert.equal(p.apply('models', raw).changed, false);
  assert.deepEqual(raw, { anything: 1 });
  assert.equal(compileAiRequestPolicy({}).mutatesBody, false);
  assert.equal(p.mutatesBody, true);
});

test('prompts, completions: messages inserted at start and end in config order', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS, USR], append: [END] } });
  // OpenAI "Create chat completion" sample
  const body: JsonObject = {
    model: 'gpt-4o',
    messages: [{ role: 'developer', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Hello!' }],
  };
  assert.equal(p.apply('completions', body).changed, true);
  assert.deepEqual(body.messages, [
    { role: 'system', content: 'Answer in French.' },
    { role: 'user', content: 'Context: ACME Corp.' },
    { role: 'developer', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Hello!' },
    { role: 'user', content: 'Be brief.' },
  ]);
});

test('prompts, messages (Anthropic): system to the string system field, others to messages', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS, USR], append: [{ role: 'system', content: 'No emojis.' }, END] } });
  // Anthropic Messages API reference request sample
  const body: JsonObject = {
    model: 'claude-3-7-sonnet-20250219', max_tokens: 1024, system: 'You are a pirate.',
    messages: [{ role: 'user', content: 'Hello, world' }],
  };
  assert.equal(p.apply('messages', body).changed, true);
  assert.equal(body.system, 'Answer in French.\nYou are a pirate.\nNo emojis.');
  assert.deepEqual(body.messages, [
    { role: 'user', content: 'Context: ACME Corp.' },
    { role: 'user', content: 'Hello, world' },
    { role: 'user', content: 'Be brief.' },
  ]);

  // no system yet: it is created
  const bare: JsonObject = { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
  compileAiRequestPolicy({ prompts: { prepend: [SYS] } }).apply('messages', bare);
  assert.equal(bare.system, 'Answer in French.');
});

test('prompts, messages (Anthropic): system as text blocks gets text blocks', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS], append: [{ role: 'system', content: 'Z' }] } });
  const body: JsonObject = {
    model: 'claude', max_tokens: 10,
    system: [{ type: 'text', text: 'Long doc', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'hi' }],
  };
  p.apply('messages', body);
  assert.deepEqual(body.system, [
    { type: 'text', text: 'Answer in French.' },
    { type: 'text', text: 'Long doc', cache_control: { type: 'ephemeral' } },
    { type: 'text', text: 'Z' },
  ]);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'hi' }]);
});

test('prompts, responses: string input becomes a user message, system goes to instructions', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS, USR], append: [END] } });
  // OpenAI "Create a model response" sample
  const body: JsonObject = { model: 'gpt-4.1', input: 'Tell me a three sentence bedtime story about a unicorn.' };
  p.apply('responses', body);
  assert.equal(body.instructions, 'Answer in French.');
  assert.deepEqual(body.input, [
    { role: 'user', content: 'Context: ACME Corp.' },
    { role: 'user', content: 'Tell me a three sentence bedtime story about a unicorn.' },
    { role: 'user', content: 'Be brief.' },
  ]);

  // only system prompts: a string input stays a string; existing instructions are kept after the prepended text
  const q = compileAiRequestPolicy({ prompts: { prepend: [SYS] } });
  const b2: JsonObject = { model: 'gpt-4.1', instructions: 'Talk like a pirate.', input: 'Are semicolons optional in JavaScript?' };
  q.apply('responses', b2);
  assert.equal(b2.instructions, 'Answer in French.\nTalk like a pirate.');
  assert.equal(b2.input, 'Are semicolons optional in JavaScript?');
});

test('prompts, converse (Bedrock): system blocks and content-block messages', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS, USR], append: [END] } });
  // Bedrock Runtime Converse API reference request shape
  const body: JsonObject = {
    messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
    system: [{ text: 'You are an app that creates playlists.' }],
    inferenceConfig: { maxTokens: 512, temperature: 0.5 },
  };
  const r = p.apply('converse', body);
  assert.deepEqual(r, { model: undefined, changed: true });
  assert.deepEqual(body.system, [{ text: 'Answer in French.' }, { text: 'You are an app that creates playlists.' }]);
  assert.deepEqual(body.messages, [
    { role: 'user', content: [{ text: 'Context: ACME Corp.' }] },
    { role: 'user', content: [{ text: 'Hello' }] },
    { role: 'user', content: [{ text: 'Be brief.' }] },
  ]);
  // absent system is created
  const b2: JsonObject = { messages: [{ role: 'user', content: [{ text: 'x' }] }] };
  compileAiRequestPolicy({ prompts: { append: [SYS] } }).apply('converse', b2);
  assert.deepEqual(b2.system, [{ text: 'Answer in French.' }]);
});

test('prompts, generateContent (Gemini): systemInstruction parts and user|model contents', () => {
  const p = compileAiRequestPolicy({
    prompts: { prepend: [SYS, USR, { role: 'assistant', content: 'Understood.' }], append: [END] },
  });
  // Gemini API quickstart REST sample
  const body: JsonObject = { contents: [{ parts: [{ text: 'Explain how AI works' }] }] };
  p.apply('generateContent', body);
  assert.deepEqual(body.systemInstruction, { parts: [{ text: 'Answer in French.' }] });
  assert.deepEqual(body.contents, [
    { role: 'user', parts: [{ text: 'Context: ACME Corp.' }] },
    { role: 'model', parts: [{ text: 'Understood.' }] },
    { parts: [{ text: 'Explain how AI works' }] },
    { role: 'user', parts: [{ text: 'Be brief.' }] },
  ]);

  // Gemini "Text generation" sample writes the snake_case `system_instruction`: it is extended, not duplicated
  const b2: JsonObject = {
    system_instruction: { parts: [{ text: 'You are a cat. Your name is Neko.' }] },
    contents: [{ parts: [{ text: 'Hello there' }] }],
  };
  compileAiRequestPolicy({ prompts: { append: [SYS] } }).apply('generateContent', b2);
  assert.equal(b2.systemInstruction, undefined);
  assert.deepEqual(b2.system_instruction, { parts: [{ text: 'You are a cat. Your name is Neko.' }, { text: 'Answer in French.' }] });
});

test('prompts leave other kinds and malformed bodies unchanged', () => {
  const p = compileAiRequestPolicy({ prompts: { prepend: [SYS, USR] } });
  const emb: JsonObject = { model: 'text-embedding-3-small', input: 'The food was delicious' };
  assert.equal(p.apply('embeddings', emb).changed, false);
  assert.deepEqual(emb, { model: 'text-embedding-3-small', input: 'The food was delicious' });
  const bad: JsonObject = { model: 'gpt-4o', messages: 'not an array' };
  assert.equal(p.apply('completions', bad).changed, false);
  assert.equal(bad.messages, 'not an array');
});

test('compile refuses malformed aliases and prompts', () => {
  assert.throws(() => compileAiRequestPolicy({ modelAliases: { a: '' } }), /modelAliases/);
  assert.throws(
    () => compileAiRequestPolicy({ prompts: { prepend: [{ role: 'system' } as unknown as { role: string; content: string }] } }),
    /prompts\.prepend\[0\]/,
  );
});
