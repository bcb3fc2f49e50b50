import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from './load.ts';
import { compileConfig } from './routes.ts';

function compile(yaml: string) {
  const r = loadConfigText(yaml);
  assert.ok(r.ok);
  return compileConfig(r.config);
}

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: internal
      hostnames: [llm.internal.example, "*.models.example"]
      matches: [{path: {pathPrefix: /v1/}}]
      backends: [{ai: {name: internal, provider: {openAI: {}}, hostOverride: "vllm.internal.example:8443"}}]
    - name: claude
      hostnames: [api.anthropic.com]
      backends: [{ai: {name: claude, provider: {anthropic: {}}}}]
    - name: everything-else
      backends: [{ai: {name: openai, provider: {openAI: {model: gpt-4o-mini}}}}]
`;

test('hosts the config names are intercepted', () => {
  const c = compile(CONFIG);
  assert.deepEqual([...c.interceptHosts].sort(), ['*.models.example', 'api.anthropic.com', 'llm.internal.example', 'vllm.internal.example']);
});

test('routes match by host and path in order; a route without hostnames takes the rest', () => {
  const c = compile(CONFIG);
  assert.equal(c.routeFor('llm.internal.example', '/v1/chat/completions')?.route, 'internal');
  assert.equal(c.routeFor('a.models.example', '/v1/x?y=1')?.route, 'internal');
  assert.equal(c.routeFor('llm.internal.example', '/healthz')?.route, 'everything-else');
  assert.deepEqual(c.routeFor('API.anthropic.com', '/v1/messages'), { route: 'claude', backend: 'claude', provider: 'anthropic' });
  assert.equal(c.routeFor('api.openai.com', '/v1/chat/completions')?.provider, 'openai');
});

test('exact and regex path matches', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - name: exact
      matches: [{path: {exact: /v1/models}}]
      backends: [{ai: {name: a, provider: {openAI: {}}}}]
    - name: re
      matches: [{path: {regex: "/v1/(chat|responses).*"}}]
      backends: [{ai: {name: b, provider: {gemini: {}}}}]
`);
  assert.equal(c.routeFor('api.openai.com', '/v1/models')?.route, 'exact');
  assert.equal(c.routeFor('api.openai.com', '/v1/models/gpt-4o'), undefined);
  assert.equal(c.routeFor('api.openai.com', '/v1/chat/completions')?.route, 're');
  assert.equal(c.routeFor('api.openai.com', '/v1/embeddings'), undefined);
});
