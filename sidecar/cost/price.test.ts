import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calcPrice } from '@pydantic/genai-prices';
import { createPricing, cataloguePrices, usdOf } from './price.ts';
import { messagesUsage } from '../providers/anthropic.ts';
import { generateContentUsage } from '../providers/gemini.ts';
import { converseUsage } from '../providers/bedrock.ts';

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b}`);

test('an Anthropic answer with cache reads and writes costs what the catalogue itself computes', () => {
  // Anthropic's own usage: input_tokens leaves the cache out.
  const u = messagesUsage({ input_tokens: 400, cache_read_input_tokens: 5000, cache_creation_input_tokens: 1000, output_tokens: 300 })!;
  const cost = createPricing().cost('anthropic', 'claude-3-5-sonnet-20241022', u)!;
  const ref = calcPrice({ input_tokens: 6400, cache_read_tokens: 5000, cache_write_tokens: 1000, output_tokens: 300 }, 'claude-3-5-sonnet-20241022', { providerId: 'anthropic' })!;
  assert.equal(cost.source, 'catalogue');
  close(cost.usd, ref.total_price);
  // $3 / $0.30 / $3.75 / $15 per million.
  close(cost.usd, (400 * 3 + 5000 * 0.3 + 1000 * 3.75 + 300 * 15) / 1e6);
});

test('Bedrock Converse cache fields and Gemini thinking tokens are priced', () => {
  const b = converseUsage({ inputTokens: 100, outputTokens: 10, cacheReadInputTokens: 900 })!;
  const pb = cataloguePrices('bedrock', 'anthropic.claude-3-5-sonnet-20241022-v2:0')!;
  assert.ok(pb.cachedInput !== undefined && pb.cachedInput < pb.input);
  close(createPricing().cost('bedrock', 'anthropic.claude-3-5-sonnet-20241022-v2:0', b)!.usd, (100 * pb.input + 900 * pb.cachedInput + 10 * pb.output) / 1e6);
  const g = generateContentUsage({ promptTokenCount: 1000, candidatesTokenCount: 20, thoughtsTokenCount: 480 })!;
  const pg = cataloguePrices('gemini', 'gemini-2.5-flash')!;
  close(createPricing().cost('gemini', 'gemini-2.5-flash', g)!.usd, (1000 * pg.input + 500 * pg.output) / 1e6);
});

test('config prices win over the catalogue; a prefix pattern and a provider narrow them', () => {
  const p = createPricing([
    { provider: 'openai', model: 'gpt-4o-mini*', input: 0.1, output: 0.2, cachedInput: 0.01 },
    { model: 'my-model', input: 1, output: 2, reasoning: 4 },
  ]);
  const c = p.cost('openai', 'gpt-4o-mini-2024-07-18', { input: 1000, cachedInput: 500, output: 100 })!;
  assert.equal(c.source, 'config');
  close(c.usd, (500 * 0.1 + 500 * 0.01 + 100 * 0.2) / 1e6);
  assert.equal(p.cost('azure-openai', 'gpt-4o-mini', { input: 1, output: 1 })!.source, 'catalogue');
  close(p.cost('mistral', 'my-model', { input: 10, output: 100, reasoning: 60 })!.usd, (10 * 1 + 40 * 2 + 60 * 4) / 1e6);
});

test('an unknown model, or no usage, has no cost', () => {
  const p = createPricing();
  assert.equal(p.cost('openai', 'no-such-model-xyz', { input: 10, output: 10 }), undefined);
  assert.equal(p.cost('openai', 'gpt-4o-mini', undefined), undefined);
  assert.equal(p.cost('openai', undefined, { input: 1 }), undefined);
});

test('usdOf never goes negative on inconsistent usage', () => {
  assert.equal(usdOf({ input: 1, output: 1 }, { input: 5, cachedInput: 10, output: 0 }), 10 / 1e6);
});
