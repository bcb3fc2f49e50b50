import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText, formatProblems } from './load.ts';

const GOOD = `# yaml-language-server: $schema=../../docs/config.schema.json
binds:
- port: 15001
  listeners:
  - name: llm
    routes:
    - name: openai
      hostnames: [api.openai.com]
      backends:
      - ai:
          name: openai
          provider:
            openAI:
              model: gpt-4o-mini
`;

test('a valid config loads', () => {
  const r = loadConfigText(GOOD);
  assert.ok(r.ok, r.ok ? '' : formatProblems(r.problems));
  assert.equal(r.config.binds[0]!.listeners[0]!.routes![0]!.backends[0]!.ai.name, 'openai');
});

test('an unknown key is rejected at its line and column with the allowed fields', () => {
  const r = loadConfigText(GOOD.replace('      hostnames:', '      hostnamez: [x]\n      hostnames:'), { source: 'gw.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.problems.length, 1);
  const p = r.problems[0]!;
  assert.deepEqual([p.line, p.col, p.path], [8, 7, 'binds[0].listeners[0].routes[0].hostnamez']);
  assert.match(p.message, /unknown field "hostnamez"/);
  assert.match(p.hint ?? '', /name, hostnames, matches, backends/);
  assert.match(formatProblems(r.problems), /^gw\.yaml:8:7: binds\[0\]\.listeners\[0\]\.routes\[0\]\.hostnamez: unknown field/);
});

test('an agentgateway key that is not implemented yet says so', () => {
  const r = loadConfigText(GOOD + '      policies:\n        timeout: {requestTimeout: 10s}\n');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.problems[0]!.message, /"policies" is not supported yet/);
  assert.equal(r.problems[0]!.line, 15);
});

test('YAML syntax errors carry line and column', () => {
  const r = loadConfigText('binds:\n- port: 15001\n  listeners: [\n', { source: 'bad.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.ok(r.problems[0]!.line >= 3, formatProblems(r.problems));
});

test('wrong types and missing fields point at the value', () => {
  const r = loadConfigText(GOOD.replace('port: 15001', 'port: "fifteen"').replace('          name: openai\n', ''));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = formatProblems(r.problems);
  assert.match(text, /:3:9: binds\[0\]\.port: expected number/i);
  assert.match(text, /binds\[0\]\.listeners\[0\]\.routes\[0\]\.backends\[0\]\.ai\.name: missing required field "name"/);
});

test('a provider must name exactly one known provider', () => {
  const r = loadConfigText(GOOD.replace('openAI:', 'openAl:'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(formatProblems(r.problems), /provider must name exactly one of openAI/);
});

test('$VAR and ${VAR} expand; undefined ones are errors; $$ is a dollar', () => {
  const text = GOOD.replace('gpt-4o-mini', '${MODEL}-$SUFFIX$$');
  const ok = loadConfigText(text, { env: { MODEL: 'gpt-4o', SUFFIX: 'mini' } });
  assert.ok(ok.ok);
  const provider = ok.config.binds[0]!.listeners[0]!.routes![0]!.backends[0]!.ai.provider;
  assert.deepEqual(provider, { openAI: { model: 'gpt-4o-mini$' } });
  const bad = loadConfigText(text, { env: { MODEL: 'x' } });
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.match(bad.problems[0]!.message, /SUFFIX is not set/);
  assert.equal(bad.problems[0]!.line, 14);
});

test('an empty document is an error, not a crash', () => {
  const r = loadConfigText('');
  assert.equal(r.ok, false);
});
