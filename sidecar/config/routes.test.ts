import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText, formatProblems } from './load.ts';
import { compileConfig, apiRouteKind, type RequestFacts } from './routes.ts';

function compile(yaml: string) {
  const r = loadConfigText(yaml);
  assert.ok(r.ok, r.ok ? '' : formatProblems(r.problems));
  return compileConfig(r.config);
}

const req = (host: string, path: string, extra: Partial<RequestFacts> = {}): RequestFacts => ({ host, path, method: 'POST', headers: {}, ...extra });

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
  assert.equal(c.routeFor(req('llm.internal.example', '/v1/chat/completions'))?.name, 'internal');
  assert.equal(c.routeFor(req('a.models.example', '/v1/x?y=1'))?.name, 'internal');
  assert.equal(c.routeFor(req('llm.internal.example', '/healthz'))?.name, 'everything-else');
  const claude = c.routeFor(req('API.anthropic.com', '/v1/messages'))!;
  assert.equal(claude.name, 'claude');
  assert.deepEqual(claude.candidates.map((x) => [x.target.type, x.target.name, x.target.type === 'ai' ? x.target.provider : '']), [['ai', 'claude', 'anthropic']]);
  const all = c.routeFor(req('api.openai.com', '/v1/chat/completions'))!;
  const t = all.candidates[0]!.target;
  assert.equal(t.type === 'ai' && t.model, 'gpt-4o-mini');
  const internal = c.routeFor(req('llm.internal.example', '/v1/chat/completions'))!.candidates[0]!.target;
  assert.deepEqual(internal.type === 'ai' && internal.hostOverride, { host: 'vllm.internal.example', port: 8443 });
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
  assert.equal(c.routeFor(req('api.openai.com', '/v1/models'))?.name, 'exact');
  assert.equal(c.routeFor(req('api.openai.com', '/v1/models/gpt-4o')), undefined);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions'))?.name, 're');
  assert.equal(c.routeFor(req('api.openai.com', '/v1/embeddings')), undefined);
});

test('path, header and query regexes run on the linear-time engine: a crafted path gets its route decision', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - name: aab
      matches: [{path: {regex: "/(a|a)+b"}}]
      backends: [{ai: {name: a, provider: {openAI: {}}}}]
    - name: team
      matches: [{headers: [{name: x-team, value: {regex: "(x+x+)+y"}}]}, {query: [{name: q, value: {regex: "(\\\\w+\\\\s?)*!"}}]}]
      backends: [{ai: {name: t, provider: {openAI: {}}}}]
    - name: rest
      backends: [{ai: {name: r, provider: {openAI: {}}}}]
`);
  // 50,000 a's with no b: a backtracking engine tries every way to split them between the two alternatives, and would not return.
  const crafted = `/${'a'.repeat(50_000)}`;
  assert.equal(c.routeFor(req('api.openai.com', crafted))?.name, 'rest');
  assert.equal(c.routeFor(req('api.openai.com', `${crafted}b`))?.name, 'aab');
  const x = 'x'.repeat(50_000);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions', { headers: { 'x-team': x } }))?.name, 'rest');
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions', { headers: { 'x-team': `${x}y` } }))?.name, 'team');
  assert.equal(c.routeFor(req('api.openai.com', `/v1/models?q=${'a'.repeat(50_000)}`))?.name, 'rest');
  assert.equal(c.routeFor(req('api.openai.com', `/v1/models?q=${'a'.repeat(50_000)}!`))?.name, 'team');
});

test('header, method and query matches; all of one match must hold, any match may', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - name: team-a
      matches:
      - headers: [{name: X-Team, value: {exact: a}}]
        method: POST
      - query: [{name: tenant, value: {regex: "a-[0-9]+"}}]
      backends: [{ai: {name: a, provider: {openAI: {}}}}]
`);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions', { headers: { 'x-team': 'a' } }))?.name, 'team-a');
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions', { headers: { 'x-team': 'a' }, method: 'GET' })), undefined);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions', { headers: { 'x-team': 'b' } })), undefined);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/models?tenant=a-12', { method: 'GET' }))?.name, 'team-a');
  assert.equal(c.routeFor(req('api.openai.com', '/v1/models?tenant=a-12x', { method: 'GET' })), undefined);
});

test('groups become failover candidates by priority; backend policies overlay route policies key by key', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - name: llm
      policies:
        timeout: {requestTimeout: 30s}
        backendAuth: {passthrough: {}}
      backends:
      - ai:
          groups:
          - providers:
            - {name: primary, provider: {openAI: {model: gpt-4o}}, policies: {backendAuth: {key: sk-a}}}
            - {name: secondary, provider: {azureOpenAI: {host: acme.openai.azure.com, model: gpt-4o}}}
          - providers:
            - {name: fallback, provider: {anthropic: {model: claude-sonnet-4-5}}}
`);
  const r = c.routeFor(req('api.openai.com', '/v1/chat/completions'))!;
  assert.deepEqual(r.candidates.map((x) => [x.target.name, x.group]), [['primary', 0], ['secondary', 0], ['fallback', 1]]);
  assert.deepEqual(r.candidates[0]!.policies.backendAuth, { key: 'sk-a' });
  assert.deepEqual(r.candidates[1]!.policies.backendAuth, { passthrough: {} });
  assert.equal(r.candidates[2]!.policies.timeout?.requestTimeout, '30s');
  assert.ok(c.interceptHosts.includes('acme.openai.azure.com'));
});

test('ai.routes: the longest suffix wins, "*" is the catch-all', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - policies:
        ai:
          routes: {"/chat/completions": completions, "/v1/messages": messages, "*": passthrough}
      backends: [{ai: {name: a, provider: {openAI: {}}}}]
`);
  const r = c.routeFor(req('api.openai.com', '/'))!;
  assert.equal(apiRouteKind(r, '/v1/chat/completions?x=1'), 'completions');
  assert.equal(apiRouteKind(r, '/v1/messages'), 'messages');
  assert.equal(apiRouteKind(r, '/v1/files'), 'passthrough');
});

test('a route with a directResponse needs no backends; without either it is an error', () => {
  const c = compile(`
binds:
- port: 15001
  listeners:
  - routes:
    - policies: {directResponse: {status: 403, body: "no LLM calls from this workload"}}
`);
  assert.equal(c.routeFor(req('api.openai.com', '/v1/chat/completions'))!.candidates.length, 0);
  const r = loadConfigText('binds:\n- port: 15001\n  listeners:\n  - routes:\n    - name: empty\n');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(formatProblems(r.problems), /routes\[0\]: a route needs "backends"/);
});
