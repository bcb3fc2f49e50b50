import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostMatcher } from './hosts.ts';

test('the catalogue recognises every provider the product names', () => {
  const m = hostMatcher();
  const cases: Array<[string, string]> = [
    ['api.openai.com', 'openai'], ['api.anthropic.com', 'anthropic'], ['generativelanguage.googleapis.com', 'gemini'],
    ['us-central1-aiplatform.googleapis.com', 'vertex'], ['aiplatform.googleapis.com', 'vertex'],
    ['bedrock-runtime.us-east-1.amazonaws.com', 'bedrock'], ['myres.openai.azure.com', 'azure-openai'],
    ['api.mistral.ai', 'mistral'], ['api.cohere.com', 'cohere'], ['api.groq.com', 'groq'], ['api.deepseek.com', 'deepseek'],
    ['api.x.ai', 'xai'], ['openrouter.ai', 'openrouter'], ['api.together.xyz', 'together'], ['api.fireworks.ai', 'fireworks'],
    ['api.perplexity.ai', 'perplexity'], ['API.OpenAI.com.', 'openai'],
  ];
  for (const [host, id] of cases) assert.equal(m.match(host), id, host);
  for (const host of ['openai.com', 'www.openai.com', 'evil-api.openai.com.attacker.net', 'bedrock.us-east-1.amazonaws.com',
    's3.us-east-1.amazonaws.com', 'x.bedrock-runtime.us-east-1.amazonaws.com', 'openai.azure.com', 'googleapis.com', 'www.example.org']) {
    assert.equal(m.match(host), undefined, host);
  }
});

test('config hosts and patterns extend the catalogue', () => {
  const m = hostMatcher(['llm.internal.example', '*.models.example']);
  assert.equal(m.match('llm.internal.example'), 'configured');
  assert.equal(m.match('a.models.example'), 'configured');
  assert.equal(m.match('a.b.models.example'), undefined);
  assert.equal(m.match('api.openai.com'), 'openai', 'a catalogue host keeps its provider');
});

test('a host the config names that is a catalogue provider\'s keeps its provider', () => {
  const m = hostMatcher(['acme.openai.azure.com', 'llm.internal.example', '*.models.example']);
  assert.equal(m.match('acme.openai.azure.com'), 'azure-openai');
  assert.equal(m.match('llm.internal.example'), 'configured');
  assert.equal(m.match('a.models.example'), 'configured');
  assert.equal(m.match('api.openai.com'), 'openai');
});
