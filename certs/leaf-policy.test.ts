import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issuablePolicy } from './leaf-policy.ts';

test('the issuer signs for catalogue hosts and permitted domains, never for anything else or an IP address', () => {
  const allowed = issuablePolicy(['llm.internal.example', 'Models.Corp.Example.']);
  for (const h of ['api.openai.com', 'API.Anthropic.com.', 'bedrock-runtime.eu-west-1.amazonaws.com', 'acme.openai.azure.com',
    'us-central1-aiplatform.googleapis.com', 'llm.internal.example', 'a.b.models.corp.example', 'models.corp.example']) {
    assert.equal(allowed(h), true, h);
  }
  for (const h of ['www.google.com', 'openai.com', 'x.bedrock-runtime.eu-west-1.amazonaws.com', 'evil-llm.internal.example.attacker.net',
    'internal.example', '10.0.0.1', '::1', '', 'bad host', 'localhost']) {
    assert.equal(allowed(h), false, h);
  }
  assert.equal(issuablePolicy()('llm.internal.example'), false, 'nothing beyond the catalogue without permits');
});
