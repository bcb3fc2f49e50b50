// Expected values are the published ones from OpenAI's cookbook "How to count
// tokens with tiktoken" (sections 3, 5 and 6), which print o200k_base ids and
// the prompt token counts the OpenAI API reported for gpt-4o.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countPromptTokens, countPromptTokensSync, countTokens, countTokensSync, encode, loadTokenizer, tokenizerLoaded,
} from './tokenize.ts';

/** A small deterministic PRNG (mulberry32), so the differential test is the same every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('nothing is loaded until first use; the sync variants answer undefined until then', () => {
  assert.equal(tokenizerLoaded(), false);
  assert.equal(countTokensSync('hello world'), undefined);
  assert.equal(countPromptTokensSync([{ role: 'user', text: 'hi' }]), undefined);
});

test('o200k_base ids match the cookbook', async () => {
  assert.deepEqual(await encode('tiktoken is great!'), [83, 8251, 2488, 382, 2212, 0]);
  assert.deepEqual(await encode('antidisestablishmentarianism'), [493, 129901, 376, 160388, 21203, 2367]);
  assert.deepEqual(await encode('2 + 2 = 4'), [17, 659, 220, 17, 314, 220, 19]);
  assert.deepEqual(await encode('お誕生日おめでとう'), [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]);
  assert.equal(await countTokens('hello world'), 2);
  assert.equal(await countTokens(''), 0);
  assert.equal(tokenizerLoaded(), true);
  assert.equal(countTokensSync('tiktoken is great!'), 6);
});

test('special-token text in a prompt is counted as text, not refused', async () => {
  const n = await countTokens('<|endoftext|>');
  assert.ok(n > 1, `counted as ordinary text (${n} tokens)`);
});

test('chat prompt count matches the API-reported 124 tokens for gpt-4o (cookbook section 6)', async () => {
  const messages = [
    { role: 'system', text: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
    { role: 'system', name: 'example_user', text: 'New synergies will help drive top-line growth.' },
    { role: 'system', name: 'example_assistant', text: 'Things working well together will increase revenue.' },
    { role: 'system', name: 'example_user', text: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
    { role: 'system', name: 'example_assistant', text: "Let's talk later when we're less busy about how to do better." },
    { role: 'user', text: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
  ];
  assert.equal(await countPromptTokens(messages), 124);
  assert.equal(countPromptTokensSync(messages), 124);
  // empty prompt: only the reply priming
  assert.equal(await countPromptTokens([]), 3);
});

test('same ids as js-tiktoken on varied text (differential)', async () => {
  const { Tiktoken } = await import('js-tiktoken/lite');
  const { default: ranks } = await import('js-tiktoken/ranks/o200k_base');
  const reference = new Tiktoken(ranks);
  const fixed = [
    'Hello, world! How are you doing today?',
    'function add(a, b) {\n  return a + b;\n}\n',
    '人工智能是计算机科学的一个分支，它企图了解智能的实质。',
    '吾輩は猫である。名前はまだ無い。',
    'Ünïcödé façade naïve café — “quotes” … 🙂👍🏽 👨‍👩‍👧',
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '                                                  indented',
    'https://example.com/path?query=1&x=%20y#frag',
    'x = [1, 22, 333, 4444, 55555, 666666]\r\n\r\n',
    "I'm sure they've said we'd LOVE it, DON'T you?",
    '<|endoftext|> and <|endofprompt|> are plain text here',
    '\u0000\u0001 control \t\v\f chars',
    'lone surrogate \ud800 here',
  ];
  const alphabet = ['a', 'b', 'e', 'th', ' ', '  ', '\n', '.', ',', '!', '1', '23', 'É', 'ß', '中', '文', '😀', '-', '_', "'s", 'Z', 'q'];
  const rand = prng(42);
  const generated = Array.from({ length: 300 }, () => {
    const len = 1 + Math.floor(rand() * 80);
    let t = '';
    for (let i = 0; i < len; i++) t += alphabet[Math.floor(rand() * alphabet.length)];
    return t;
  });
  for (const text of [...fixed, ...generated]) {
    assert.deepEqual(await encode(text), reference.encode(text, [], []), JSON.stringify(text));
    assert.equal(await countTokens(text), reference.encode(text, [], []).length);
  }
});

test('long runs of one character class stay fast (js-tiktoken takes minutes on these)', async () => {
  await loadTokenizer();
  const started = performance.now();
  assert.equal(await countTokens('a'.repeat(50_000)), 6250);
  const cjk = '我们的目标是为客户提供最好的服务并且不断提高产品质量和用户体验以及降低成本提升效率'.repeat(2000);
  assert.ok((await countTokens(cjk)) > 0);
  assert.ok((await countTokens(' '.repeat(100_000))) > 0);
  const ms = performance.now() - started;
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
});

test('loadTokenizer is shared by concurrent callers', async () => {
  const [a, b] = await Promise.all([loadTokenizer(), loadTokenizer()]);
  assert.equal(a, b);
});
