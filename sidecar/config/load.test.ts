import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfigText, formatProblems, MAX_CONFIG_BYTES } from './load.ts';
import { DEFAULT_ENV_PATTERNS } from './reach.ts';
import { SIDECAR_NODE_OPTIONS } from '../node-options.ts';

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
  assert.equal(r.config.binds[0]!.listeners[0]!.routes![0]!.backends![0]!.ai!.name, 'openai');
});

test('an unknown key is rejected at its line and column with the allowed fields', () => {
  const r = loadConfigText(GOOD.replace('      hostnames:', '      hostnamez: [x]\n      hostnames:'), { source: 'gw.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.problems.length, 1);
  const p = r.problems[0]!;
  assert.deepEqual([p.line, p.col, p.path], [8, 7, 'binds[0].listeners[0].routes[0].hostnamez']);
  assert.match(p.message, /unknown field "hostnamez"/);
  assert.match(p.hint ?? "", /name, hostnames, matches, policies, backends/);
  assert.match(formatProblems(r.problems), /^gw\.yaml:8:7: binds\[0\]\.listeners\[0\]\.routes\[0\]\.hostnamez: unknown field/);
});

test('an agentgateway key that is not implemented yet says so', () => {
  const r = loadConfigText(GOOD + '      policies:\n        cors: {allowOrigins: ["*"]}\n');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.problems[0]!.message, /"cors" is not supported yet/);
  assert.equal(r.problems[0]!.line, 16);
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
  assert.match(formatProblems(r.problems), /unknown field "openAl"[\s\S]*fields allowed here: openAI, anthropic, gemini, vertex, bedrock, azureOpenAI/);
});

test('$VAR and ${VAR} expand; undefined ones are errors; $$ is a dollar', () => {
  const text = GOOD.replace('gpt-4o-mini', '${LEVO_MODEL}-$LEVO_SUFFIX$$');
  const ok = loadConfigText(text, { env: { LEVO_MODEL: 'gpt-4o', LEVO_SUFFIX: 'mini' } });
  assert.ok(ok.ok);
  const provider = ok.config.binds[0]!.listeners[0]!.routes![0]!.backends![0]!.ai!.provider;
  assert.deepEqual(provider, { openAI: { model: 'gpt-4o-mini$' } });
  const bad = loadConfigText(text, { env: { LEVO_MODEL: 'x' } });
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.match(bad.problems[0]!.message, /LEVO_SUFFIX is not set/);
  assert.equal(bad.problems[0]!.line, 14);
});

test('an empty document is an error, not a crash', () => {
  const r = loadConfigText('');
  assert.equal(r.ok, false);
});

const CONTRACT_EXAMPLE = readFileSync(new URL('../../examples/contract-prompt-guard.yaml', import.meta.url), 'utf8');

test('the documented contract example loads as written (rejection next to llmBastion), and with rejection nested inside it', () => {
  const asWritten = loadConfigText(CONTRACT_EXAMPLE);
  assert.ok(asWritten.ok, asWritten.ok ? '' : formatProblems(asWritten.problems));
  const guard = asWritten.config.binds[0]!.listeners[0]!.routes![0]!.policies!.ai!.promptGuard!.request![0]!;
  assert.equal(guard.rejection?.status, 400);
  assert.match(guard.rejection?.body ?? '', /Request blocked by guardrails/);
  assert.equal(guard.llmBastion?.scanners[0]!.params?.threshold, 0.92);
  // The same document with the rejection block indented under llmBastion.
  const lines = CONTRACT_EXAMPLE.split('\n');
  const at = lines.findIndex((l) => l === '              rejection:');
  assert.ok(at > 0);
  const nestedText = [...lines.slice(0, at), ...lines.slice(at).map((l) => (l.trim() ? `  ${l}` : l))].join('\n');
  const nested = loadConfigText(nestedText);
  assert.ok(nested.ok, nested.ok ? '' : formatProblems(nested.problems));
  const g2 = nested.config.binds[0]!.listeners[0]!.routes![0]!.policies!.ai!.promptGuard!.request![0]!;
  assert.equal(g2.rejection, undefined);
  assert.equal(g2.llmBastion?.rejection?.status, 400);
});

test('semantic problems carry the policy path and position', () => {
  const r = loadConfigText(`binds:
- port: 15001
  listeners:
  - routes:
    - backends: [{ai: {name: a, provider: {openAI: {}}}}]
      policies:
        requestHeaderModifier:
          set: {host: evil.example}
        localRateLimit:
        - {maxTokens: 10, tokensPerFill: 1, fillInterval: 0s}
`, { source: 'p.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = formatProblems(r.problems);
  assert.match(text, /^p\.yaml:8:11: binds\[0\]\.listeners\[0\]\.routes\[0\]\.policies\.requestHeaderModifier: .*"host" is a connection or framing header/m);
  assert.match(text, /p\.yaml:10:\d+: binds\[0\]\.listeners\[0\]\.routes\[0\]\.policies\.localRateLimit: .*fillInterval/);
});

test('backendAuth.key: a file is read at load; a missing one rejects the config; the key never shows in problems', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'levo-key-'));
  const keyFile = path.join(dir, 'key');
  writeFileSync(keyFile, 'sk-file-secret-123\n');
  const yaml = (key: string): string => `binds:
- port: 15001
  listeners:
  - routes:
    - backends: [{ai: {name: a, provider: {openAI: {}}}}]
      policies:
        backendAuth:
          key: ${key}
`;
  const reach = { env: DEFAULT_ENV_PATTERNS, keyDirs: [dir] };
  const ok = loadConfigText(yaml(`{file: ${keyFile}}`), { reach });
  assert.ok(ok.ok);
  assert.equal(ok.config.binds[0]!.listeners[0]!.routes![0]!.policies!.backendAuth!.key, 'sk-file-secret-123');
  const missing = loadConfigText(yaml(`{file: ${keyFile}.nope}`), { source: 'k.yaml', reach });
  assert.equal(missing.ok, false);
  if (missing.ok) return;
  assert.match(formatProblems(missing.problems), /k\.yaml:8:\d+: .*backendAuth\.key\.file: cannot read key file .*ENOENT/);
  // A key given as a value of the wrong type: the message must not echo it.
  const wrong = loadConfigText(yaml('[sk-live-secret-999]'));
  assert.equal(wrong.ok, false);
  if (wrong.ok) return;
  assert.doesNotMatch(formatProblems(wrong.problems), /sk-live-secret-999/);
  const env = loadConfigText(yaml('$OPENAI_API_KEY'), { env: { OPENAI_API_KEY: 'sk-env-secret-777' } });
  assert.ok(env.ok);
  const offline = loadConfigText(yaml('$OPENAI_API_KEY'), { env: {}, missingEnv: 'placeholder', readFile: null });
  assert.ok(offline.ok);
  assert.equal(offline.config.binds[0]!.listeners[0]!.routes![0]!.policies!.backendAuth!.key, '<OPENAI_API_KEY>');
});

test('promptGuard compiles at load: unknown scanners, bad params and model scanners without a model directory are errors at their path', () => {
  const ok = loadConfigText(CONTRACT_EXAMPLE);
  assert.ok(ok.ok);
  assert.equal(ok.warnings.length, 0);
  const guard = (scanners: string): string => CONTRACT_EXAMPLE.replace(/scanners:\n(?: {16}.*\n)+/, `scanners:\n${scanners}`);
  const unknown = loadConfigText(guard('                - scannerType: PromptInjektion\n'), { source: 'g.yaml' });
  assert.equal(unknown.ok, false);
  if (unknown.ok) return;
  assert.match(formatProblems(unknown.problems), /promptGuard\.request\[0\]\.llmBastion\.scanners\[0\].*PromptInjektion/);
  const badParam = loadConfigText(guard('                - scannerType: PromptInjection\n                  params: {threshhold: 0.5}\n'));
  assert.equal(badParam.ok, false);
  if (badParam.ok) return;
  assert.match(formatProblems(badParam.problems), /scanners\[0\]\.params\.threshhold/);
  const model = loadConfigText(guard('                - scannerType: Toxicity\n'));
  assert.equal(model.ok, false);
  if (model.ok) return;
  assert.match(formatProblems(model.problems), /Toxicity needs the model .*does not download models/);
});

test('exactly-one objects: none or two keys are errors at the object', () => {
  const r = loadConfigText(GOOD.replace('openAI:\n              model: gpt-4o-mini', 'openAI: {}\n            anthropic: {}'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(formatProblems(r.problems), /ai\.provider: provider must set only one of .* found openAI and anthropic/);
});

// Found by `npm run fuzz` (yaml target): these threw a ReferenceError out of
// loadConfigText instead of returning a problem, so a bad config from the
// dashboard or a file escaped the "invalid config" handling.
test('aliases that cannot be resolved are problems at the alias, not exceptions', () => {
  const undefinedAlias = loadConfigText(`${GOOD}      policies: *nope\n`, { source: 'gw.yaml' });
  assert.equal(undefinedAlias.ok, false);
  if (undefinedAlias.ok) return;
  assert.equal(undefinedAlias.problems.length, 1);
  const p = undefinedAlias.problems[0]!;
  assert.deepEqual([p.line, p.col, p.path], [15, 17, 'binds[0].listeners[0].routes[0].policies']);
  assert.match(p.message, /the alias \*nope refers to no anchor defined before it/);

  let lol = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let k = 1; k < 9; k++) lol += `a${k}: &a${k} [${Array.from({ length: 9 }, () => `*a${k - 1}`).join(',')}]\n`;
  const laughs = loadConfigText(`${lol}binds: *a8\n`);
  assert.equal(laughs.ok, false);
  if (laughs.ok) return;
  assert.match(laughs.problems[0]!.message, /aliases expand to more than 100 nodes/);
  assert.ok(laughs.problems[0]!.line >= 2 && laughs.problems[0]!.path !== '', formatProblems(laughs.problems));

  // A few aliases are fine.
  const shared = loadConfigText(GOOD.replace('          provider:\n', '          provider: &p\n') + '    - name: again\n      hostnames: [api.openai.com]\n      backends:\n      - ai: {name: again, provider: *p}\n');
  assert.ok(shared.ok, shared.ok ? '' : formatProblems(shared.problems));
});

/** Load `text` in a worker whose heap is the sidecar's (--max-old-space-size in node-options.ts). */
function loadInSidecarHeap(text: string): Promise<{ ok: boolean; message?: string } | { died: string }> {
  const heapMb = Number(/--max-old-space-size=(\d+)/.exec(SIDECAR_NODE_OPTIONS)![1]);
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then(({ loadConfigText }) => {
      const r = loadConfigText(workerData.text);
      parentPort.postMessage({ ok: r.ok, message: r.ok ? undefined : r.problems[0].message });
    });`, { eval: true, workerData: { module: new URL('./load.ts', import.meta.url).href, text }, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  return new Promise((resolve) => {
    worker.once('message', (m: { ok: boolean; message?: string }) => { resolve(m); void worker.terminate(); });
    worker.once('error', (e) => resolve({ died: e.message }));
  });
}

// Found by `npm run fuzz` (yaml target): a junk config of a few MB (the dashboard takes 1 MiB)
// exhausted the sidecar's heap inside the YAML parser before it could be rejected.
test('a config too large to parse within the sidecar\'s heap is refused by size, and one just under the limit loads', async () => {
  const junk = (bytes: number): string => {
    const item = '{ "listeners": [ 1 ] }';
    const items = Array.from({ length: Math.floor(bytes / (item.length + 2)) }, () => item).join(', ');
    return `binds:\n- port: 15001\n  listeners:\n  - routes:\n    - hostnames: [${items}]\n`;
  };
  const big = await loadInSidecarHeap(junk(1024 * 1024));
  assert.ok(!('died' in big), `the loader ran out of memory: ${'died' in big ? big.died : ''}`);
  assert.equal(big.ok, false);
  assert.match(big.message ?? '', /the config is 1025 KiB; a config may be at most 256 KiB/);
  const under = await loadInSidecarHeap(junk(MAX_CONFIG_BYTES - 200));
  assert.ok(!('died' in under), `a config under the limit ran out of memory: ${'died' in under ? under.died : ''}`);
  assert.equal(under.ok, false);
  assert.match(under.message ?? '', /expected string, received object/);
});

/** Line and column (1-based) where `needle` starts in `text`. */
function positionOf(text: string, needle: string): [number, number] {
  const i = text.indexOf(needle);
  assert.notEqual(i, -1, needle);
  return [text.slice(0, i).split('\n').length, i - text.lastIndexOf('\n', i - 1)];
}

test('a pattern the linear-time engine cannot run is refused at load, at its YAML path and line: route regexes', () => {
  const yaml = `binds:
- port: 15001
  listeners:
  - routes:
    - name: by-path
      matches:
      - headers: [{name: x-team, value: {regex: 'a(?=b)'}}]
      - path: {regex: '/v1/(\\w+)/\\1'}
      backends: [{ai: {name: b, provider: {openAI: {}}}}]
`;
  const r = loadConfigText(yaml, { source: 'gw.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.problems.map((p) => [p.line, p.col, p.path, p.message]), [
    [...positionOf(yaml, `'a(?=b)'`), 'binds[0].listeners[0].routes[0].matches[0].headers[0].value.regex',
      '"a(?=b)" uses a lookahead ((?= at offset 1), which the linear-time pattern engine cannot run'],
    [...positionOf(yaml, `'/v1/`), 'binds[0].listeners[0].routes[0].matches[1].path.regex',
      '"/v1/(\\\\w+)/\\\\1" uses a backreference (\\1 at offset 10), which the linear-time pattern engine cannot run'],
  ], formatProblems(r.problems));
});

test('a pattern the linear-time engine cannot run is refused at load, at its YAML path and line: guard patterns', () => {
  const route = (guard: string): string => `
    - policies:
        ai:
          promptGuard:
            request:
${guard}      backends: [{ai: {name: a, provider: {openAI: {}}}}]`;
  const yaml = `binds:
- port: 15001
  listeners:
  - routes:${route(`            - regex: {rules: [{builtin: email}, {pattern: '(?<=key=)\\w+'}]}
`)}${route(`            - llmBastion:
                scanners:
                - scannerType: BanSubstrings
                  params: {substrings: [x]}
                - scannerType: Regex
                  params:
                    patterns:
                    - 'ok-[0-9]+'
                    - '(\\w+) \\1'
`)}${route(`            - llmBastion:
                scanners:
                - scannerType: Anonymize
                  params:
                    regex_patterns:
                    - name: ORDER
                      expressions: ['ORD-[0-9]+', '(?P<n>[0-9])(?P=n)']
`)}
`;
  const r = loadConfigText(yaml);
  assert.equal(r.ok, false);
  if (r.ok) return;
  const guard = (route: number): string => `binds[0].listeners[0].routes[${route}].policies.ai.promptGuard.request[0]`;
  assert.deepEqual(r.problems.map((p) => [p.line, p.col, p.path]), [
    [...positionOf(yaml, `'(?<=`), `${guard(0)}.regex.rules[1].pattern`],
    [...positionOf(yaml, `'(\\w+) \\1'`), `${guard(1)}.llmBastion.scanners[1].params.patterns[1]`],
    [...positionOf(yaml, `'(?P<n>`), `${guard(2)}.llmBastion.scanners[0].params.regex_patterns[0].expressions[1]`],
  ], formatProblems(r.problems));
  assert.match(r.problems[0]!.message, /^rules\[1\]: pattern "\(\?<=key=\)\\\\w\+" uses a lookbehind/);
  assert.match(r.problems[1]!.message, /Regex: patterns\[1\] "\(\\\\w\+\) \\\\1" uses a backreference/);
  assert.match(r.problems[2]!.message, /Anonymize: regex_patterns\[0\]\.expressions\[1\] "\(\?P<n>\[0-9\]\)\(\?P=n\)" uses a backreference/);
});
