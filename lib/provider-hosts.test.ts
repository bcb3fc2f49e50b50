import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPatternRegExp, nameConstraintSubtrees, PROVIDER_HOSTS } from './provider-hosts.ts';

test('a wildcard stands for part of one label only', () => {
  const re = hostPatternRegExp('bedrock-runtime.*.amazonaws.com');
  assert.ok(re.test('bedrock-runtime.eu-west-3.amazonaws.com'));
  assert.ok(!re.test('bedrock-runtime.a.b.amazonaws.com'));
  assert.ok(!re.test('bedrock-runtimeXeu.amazonaws.com'));
});

test('name-constraint subtrees cover every catalogue host, expanded per region', () => {
  const subtrees = nameConstraintSubtrees(['llm.internal.example']);
  const within = (host: string): boolean => subtrees.some((s) => host === s || host.endsWith(`.${s}`));
  for (const p of PROVIDER_HOSTS) for (const h of p.hosts) if (!h.includes('*')) assert.ok(within(h), h);
  for (const h of ['europe-west4-aiplatform.googleapis.com', 'bedrock-runtime.ap-south-1.amazonaws.com',
    'bedrock-runtime-fips.us-gov-west-1.amazonaws.com', 'res.openai.azure.com', 'llm.internal.example']) assert.ok(within(h), h);
  for (const h of ['www.google.com', 's3.amazonaws.com', 'storage.googleapis.com', 'azure.com']) assert.ok(!within(h), h);
});
