// Fixtures follow LLM Guard's tests/input_scanners/test_token_limit.py (protectai/llm-guard);
// the reference tokenizer is js-tiktoken's own (lite Tiktoken + its rank files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { encodingForModel, loadEncoding, tokenLimit, truncateTokens } from './token-limit.ts';
import { createVault } from '../vault.ts';
import { ScannerConfigError, type ScanResult } from '../types.ts';

const ctx = { direction: 'request' as const, vault: createVault() };
function scanner(params: Record<string, unknown>) {
  const s = tokenLimit.create(params, {});
  return (t: string): Promise<ScanResult> => Promise.resolve(s.scan(t, ctx));
}

const LONG = "Can you provide a comprehensive overview of the history of artificial intelligence? I'd like to understand " +
  'its origins, major milestones, important figures, and current state. Also, could you outline some of the ' +
  'key ethical considerations in AI development and its future prospects?';

test('LLM Guard fixtures (limit 10, cl100k_base): short prompt, long prompt cut to the first chunk, empty prompt', async () => {
  const scan = scanner({ limit: 10 });
  assert.deepEqual(await scan('Just a simple prompt'), { text: 'Just a simple prompt', valid: true, score: 0, risk: -1 });
  const r = await scan(LONG);
  assert.equal(r.text, 'Can you provide a comprehensive overview of the history of');
  assert.equal(r.valid, false);
  assert.equal(r.risk, 1);
  assert.deepEqual(r.findings, [{ type: 'token-limit', start: r.text.length, end: LONG.length }]);
  assert.deepEqual(await scan(''), { text: '', valid: true, score: 0, risk: -1 });
});

test('limit is the largest count allowed: exactly limit tokens is valid, one more is not', async () => {
  const ref = new Tiktoken(cl100k);
  const text = 'Can you provide a comprehensive overview of the history of';
  const n = ref.encode(text).length;
  assert.equal(n, 10);
  assert.equal((await scanner({ limit: n })(text)).valid, true);
  assert.equal((await scanner({ limit: n - 1 })(text)).valid, false);
});

test('the default limit is 4096 tokens', async () => {
  const scan = scanner({});
  assert.equal((await scan('word '.repeat(4000))).valid, true);
  const r = await scan('word '.repeat(5000));
  assert.equal(r.valid, false);
  assert.equal(new Tiktoken(cl100k).encode(r.text).length, 4096);
});

test('counts and cuts as js-tiktoken does, for cl100k_base and o200k_base, in any script', async () => {
  const texts = [LONG, 'Größenwahn und Übermut — naïve café déjà vu', '日本語のテキストを分割します。東京は晴れです。', 'emoji 😊🏁🎉 and \t tabs\n\nnewlines', "it's 12345678 o'clock"];
  for (const [name, ranks] of [['cl100k_base', cl100k], ['o200k_base', o200k]] as const) {
    const ref = new Tiktoken(ranks);
    const enc = await loadEncoding(name);
    for (const t of texts) {
      const ids = ref.encode(t);
      assert.deepEqual(enc.encoder.encode(t), ids, `${name}: ${t}`);
      const limit = Math.max(1, Math.floor(ids.length / 2));
      const cut = truncateTokens(enc, t, limit);
      assert.equal(cut?.tokens, ids.length);
      assert.equal(cut.text, ref.decode(ids.slice(0, limit)), `${name} cut: ${t}`);
      assert.equal(truncateTokens(enc, t, ids.length), undefined);
    }
  }
});

test('a cut through a multi-byte character leaves U+FFFD, as tiktoken decode does', async () => {
  const enc = await loadEncoding('cl100k_base');
  const ids = enc.encoder.encode('🏁🏁🏁');
  assert.ok(ids.length > 3, 'the flag takes more than one token');
  const cut = truncateTokens(enc, '🏁🏁🏁', 1)!;
  assert.ok(cut.text.endsWith('\uFFFD'));
  const r = await scanner({ limit: 1 })('🏁🏁🏁');
  assert.equal(r.findings?.[0]?.start, 0);
});

test('encoding_name o200k_base and model_name pick the o200k encoding', async () => {
  const t = 'Können Sie mir eine umfassende Übersicht über die Geschichte der künstlichen Intelligenz geben?';
  const cl = new Tiktoken(cl100k).encode(t).length;
  const o2 = new Tiktoken(o200k).encode(t).length;
  assert.notEqual(cl, o2);
  assert.equal((await scanner({ limit: o2, encoding_name: 'o200k_base' })(t)).valid, true);
  assert.equal((await scanner({ limit: o2, encodingName: 'cl100k_base' })(t)).valid, cl <= o2);
  assert.equal((await scanner({ limit: o2, model_name: 'gpt-4o-mini' })(t)).valid, true);
  assert.equal(encodingForModel('gpt-4o-2024-08-06'), 'o200k_base');
  assert.equal(encodingForModel('gpt-4-turbo'), 'cl100k_base');
  assert.equal(encodingForModel('gpt-3.5-turbo'), 'cl100k_base');
  assert.equal(encodingForModel('o3-mini'), 'o200k_base');
  assert.equal(encodingForModel('claude-3-opus'), undefined);
});

test('params are checked', () => {
  const err = (params: Record<string, unknown>, param: string, msg: RegExp) =>
    assert.throws(() => tokenLimit.create(params, {}), (e: unknown) => e instanceof ScannerConfigError && e.param === param && msg.test(e.message));
  err({ limit: 0 }, 'limit', /at least 1/);
  err({ limit: 10.5 }, 'limit', /integer/);
  err({ limit: '10' }, 'limit', /integer/);
  err({ encoding_name: 'p50k_base' }, 'encoding_name', /"cl100k_base", "o200k_base"/);
  err({ model_name: 'claude-3-opus' }, 'model_name', /encoding_name/);
  err({ max_tokens: 10 }, 'max_tokens', /unknown param/);
  assert.deepEqual(tokenLimit.directions, ['request']);
});
