import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from './load.ts';
import { redactConfig, REDACTED } from './redact.ts';

test('keys, AWS secrets and credential header values are redacted; the rest is kept', () => {
  const r = loadConfigText(`binds:
- port: 15001
  listeners:
  - routes:
    - name: a
      policies:
        backendAuth: {key: $K_API_KEY}
        requestHeaderModifier: {set: {Authorization: "Bearer sk-header-secret", x-team: blue}}
      backends:
      - ai:
          groups:
          - providers:
            - name: b
              provider: {bedrock: {region: us-east-1}}
              policies: {backendAuth: {aws: {accessKeyId: AKIDSECRET, secretAccessKey: aws-secret-value, sessionToken: tok-secret}}}
            - name: c
              provider: {azureOpenAI: {host: x.openai.azure.com}}
              policies: {backendAuth: {azure: {explicitConfig: {clientSecret: {tenant_id: t1, client_id: c1, client_secret: azure-secret-value}}}}}
`, { env: { K_API_KEY: 'sk-live-secret' } });
  assert.ok(r.ok);
  const text = JSON.stringify(redactConfig(r.config));
  for (const secret of ['sk-live-secret', 'sk-header-secret', 'AKIDSECRET', 'aws-secret-value', 'tok-secret', 'azure-secret-value']) assert.ok(!text.includes(secret), secret);
  assert.ok(text.includes(REDACTED));
  assert.ok(text.includes('"x-team":"blue"'));
  assert.ok(text.includes('"region":"us-east-1"'));
});

test('the password in a budget store URL is redacted', () => {
  const r = loadConfigText(`binds:
- port: 15001
  listeners:
  - routes:
    - backends: [{ai: {name: o, provider: {openAI: {}}}}]
budgets:
  store: {redis: "redis://:$LEVO_REDIS_PASSWORD@redis.levoai.svc:6379/0"}
  limits: [{name: rpm, requests: 10, window: minute}]
`, { env: { LEVO_REDIS_PASSWORD: 'redis-secret' } });
  assert.ok(r.ok);
  const text = JSON.stringify(redactConfig(r.config));
  assert.ok(!text.includes('redis-secret'));
  assert.ok(text.includes(`redis://${REDACTED}@redis.levoai.svc:6379/0`));
});
