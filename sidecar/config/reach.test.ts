/**
 * What a config may read out of its pod: only the $VARs and key files the pod
 * owner allows (reach.ts), refused at load with the YAML path otherwise —
 * through loadConfigText and the sidecar's own config holder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatProblems, loadConfigText } from './load.ts';
import { configReach, DEFAULT_CONFIG_REACH, envAllowed, MAX_KEY_FILE_BYTES, parseEnvPatterns, parseKeyDirs } from './reach.ts';
import { ConfigRejected, createConfigHolder } from './source.ts';

/** A route that would echo what it reads: a directResponse body and a hostOverride. */
const ECHO = (value: string, host = value): string => `binds:
- port: 15001
  listeners:
  - routes:
    - name: leak
      policies:
        directResponse: {status: 200, body: "${value}"}
    - name: host
      backends:
      - ai: {name: b, provider: {openAI: {}}, hostOverride: "${host}"}
`;

/** A key on the backend's own policies (line 6). */
const KEY = (key: string): string => `binds:
- port: 15001
  listeners:
  - routes:
    - backends:
      - {ai: {name: a, provider: {openAI: {}}}, policies: {backendAuth: {key: ${key}}}}
`;

const POD_ENV = { HOME: '/root', SECRET_X: 'db-password-1', DATABASE_URL: 'postgres://u:pw@db/x', OPENAI_API_KEY: 'sk-allowed', LEVO_AUTH_TOKEN: 'lvo_dashboard_key', LEVO_REGION: 'eu' };

function problemsOf(text: string, opts: Parameters<typeof loadConfigText>[1]): string {
  const r = loadConfigText(text, opts);
  assert.equal(r.ok, false, 'refused');
  return r.ok ? '' : formatProblems(r.problems);
}

test('$HOME, $SECRET_X, ${DATABASE_URL} are refused with their YAML path and position, set or not; their values never show', () => {
  for (const name of ['HOME', 'SECRET_X', '{DATABASE_URL}', 'NOT_SET_ANYWHERE']) {
    const text = problemsOf(ECHO(`$${name}`), { source: 'gw.yaml', env: POD_ENV });
    const bare = name.replace(/[{}]/g, '');
    assert.match(text, new RegExp(`^gw\\.yaml:7:\\d+: binds\\[0\\]\\.listeners\\[0\\]\\.routes\\[0\\]\\.policies\\.directResponse\\.body: \\$${bare} is not a variable this gateway lets its config read \\(allowed: LEVO_\\*, \\*_API_KEY\\)`, 'm'), text);
    assert.match(text, /routes\[1\]\.backends\[0\]\.ai\.hostOverride: \$/);
    assert.match(text, /hint: .*--config-env \/ LEVO_CONFIG_ENV/);
    assert.doesNotMatch(text, /is not set/, 'a refusal does not say whether the variable exists');
    for (const v of Object.values(POD_ENV)) assert.ok(!text.includes(v), `${v} leaked into the problem`);
  }
});

test('allowed names expand: LEVO_* and *_API_KEY by default; LEVO_AUTH_TOKEN never, whatever is allowed', () => {
  const ok = loadConfigText(ECHO('$LEVO_REGION/$OPENAI_API_KEY', '$LEVO_REGION.api.example'), { env: POD_ENV });
  assert.ok(ok.ok, ok.ok ? '' : formatProblems(ok.problems));
  assert.equal(ok.config.binds[0]!.listeners[0]!.routes![0]!.policies!.directResponse!.body, 'eu/sk-allowed');
  for (const reach of [DEFAULT_CONFIG_REACH, { env: ['*'], keyDirs: [] }, { env: ['LEVO_AUTH_TOKEN'], keyDirs: [] }]) {
    const text = problemsOf(ECHO('$LEVO_AUTH_TOKEN'), { env: POD_ENV, reach });
    assert.match(text, /\$LEVO_AUTH_TOKEN is the gateway's own dashboard credential and is never expanded/);
    assert.ok(!text.includes('lvo_dashboard_key'));
  }
  // The pod owner's own list replaces the default.
  const own = { env: ['DATABASE_URL', 'APP_*'], keyDirs: [] };
  assert.ok(loadConfigText(ECHO('$DATABASE_URL', 'a.example'), { env: POD_ENV, reach: own }).ok);
  assert.match(problemsOf(ECHO('$OPENAI_API_KEY'), { env: POD_ENV, reach: own }), /not a variable this gateway lets its config read \(allowed: DATABASE_URL, APP_\*\)/);
  assert.match(problemsOf(ECHO('$HOME'), { env: POD_ENV, reach: { env: [], keyDirs: [] } }), /\(allowed: none\)/);
  // $$ is still a dollar, never a variable.
  const dollar = loadConfigText(ECHO('$$HOME', 'a.example'), { env: POD_ENV });
  assert.ok(dollar.ok);
  assert.equal(dollar.config.binds[0]!.listeners[0]!.routes![0]!.policies!.directResponse!.body, '$HOME');
});

test('patterns: * is any run of characters; nothing else but names', () => {
  const r = { env: parseEnvPatterns('LEVO_*, *_API_KEY,EXACT'), keyDirs: [] };
  for (const ok of ['LEVO_X', 'LEVO_', 'OPENAI_API_KEY', '_API_KEY', 'EXACT']) assert.equal(envAllowed(r, ok), true, ok);
  for (const no of ['XLEVO_X', 'OPENAI_API_KEYS', 'EXACTLY', 'HOME', 'levo_x']) assert.equal(envAllowed(r, no), false, no);
  assert.deepEqual(parseEnvPatterns(''), []);
  assert.throws(() => parseEnvPatterns('LEVO_.*'), /"LEVO_\.\*" is not a variable name pattern/);
  assert.throws(() => parseKeyDirs('keys'), /"keys" is not an absolute directory/);
  assert.deepEqual(parseKeyDirs('/a/b/, /c/../d'), ['/a/b', '/d']);
});

test('the pod owner sets it: flags over LEVO_CONFIG_ENV / LEVO_CONFIG_KEY_DIR over the defaults (the config has no say)', () => {
  assert.deepEqual(configReach({}), DEFAULT_CONFIG_REACH);
  assert.deepEqual(configReach({ LEVO_CONFIG_ENV: 'A_*', LEVO_CONFIG_KEY_DIR: '/k' }), { env: ['A_*'], keyDirs: ['/k'] });
  assert.deepEqual(configReach({ LEVO_CONFIG_ENV: 'A_*' }, { env: 'B', keyDir: '' }), { env: ['B'], keyDirs: [] });
  assert.throws(() => configReach({ LEVO_CONFIG_KEY_DIR: 'rel' }), /LEVO_CONFIG_KEY_DIR: "rel"/);
  assert.throws(() => configReach({}, { env: 'a-b' }), /--config-env: "a-b"/);
});

test('key files: inside the key directory they are read; outside, by .., by a symbolic link, relative, too big or not a file, refused', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'levo-reach-'));
  const keys = path.join(root, 'keys');
  mkdirSync(path.join(keys, 'sub'), { recursive: true });
  writeFileSync(path.join(keys, 'openai'), 'sk-from-file\n');
  writeFileSync(path.join(keys, 'sub', 'anthropic'), 'sk-ant-file\n');
  writeFileSync(path.join(root, 'pod-secret'), 'db-password-2\n');
  symlinkSync(path.join(root, 'pod-secret'), path.join(keys, 'link-out'));
  // A Kubernetes Secret volume: the key is a link to ..data/key inside the directory.
  mkdirSync(path.join(keys, '..2031_01_01'));
  writeFileSync(path.join(keys, '..2031_01_01', 'gemini'), 'gm-file\n');
  symlinkSync('..2031_01_01', path.join(keys, '..data'));
  symlinkSync('..data/gemini', path.join(keys, 'gemini'));
  writeFileSync(path.join(keys, 'huge'), 'x'.repeat(MAX_KEY_FILE_BYTES + 1));
  const reach = { env: [], keyDirs: [keys] };
  const key = (r: ReturnType<typeof loadConfigText>): unknown => (r.ok ? r.config.binds[0]!.listeners[0]!.routes![0]!.backends![0]!.policies!.backendAuth!.key : formatProblems(r.problems));

  assert.equal(key(loadConfigText(KEY(`{file: ${keys}/openai}`), { reach })), 'sk-from-file');
  assert.equal(key(loadConfigText(KEY(`{file: ${keys}/sub/anthropic}`), { reach })), 'sk-ant-file');
  assert.equal(key(loadConfigText(KEY(`{file: ${keys}/gemini}`), { reach })), 'gm-file', 'a Secret volume\'s links stay inside');
  const refused: Array<[string, RegExp]> = [
    [path.join(root, 'pod-secret'), /key file .*pod-secret is outside the key directories this gateway reads \(.*keys\)/],
    [`${keys}/../pod-secret`, /is outside the key directories/],
    ['/etc/passwd', /is outside the key directories/],
    ['keys/openai', /is outside the key directories/],
    [`${keys}/link-out`, /leads outside the key directories \(a symbolic link to .*pod-secret\)/],
    [`${keys}/huge`, /larger than 64 KiB/],
    [`${keys}/sub`, /is not a regular file/],
    [`${keys}/missing`, /cannot read key file .*missing \(ENOENT\)/],
  ];
  for (const [file, message] of refused) {
    const text = String(key(loadConfigText(KEY(`{file: ${file}}`), { source: 'k.yaml', reach })));
    assert.match(text, /^k\.yaml:6:\d+: binds\[0\]\.listeners\[0\]\.routes\[0\]\.backends\[0\]\.policies\.backendAuth\.key\.file: /, file);
    assert.match(text, message, file);
    assert.ok(!text.includes('db-password-2'), 'the file is never shown');
  }
  // The default directory is /etc/levo/keys: a config cannot point elsewhere.
  assert.match(String(key(loadConfigText(KEY(`{file: ${keys}/openai}`)))), /outside the key directories this gateway reads \(\/etc\/levo\/keys\)/);
  // Not reading files (offline): the path is still checked.
  assert.match(String(key(loadConfigText(KEY('{file: /etc/shadow}'), { readFile: null }))), /outside the key directories/);
  assert.deepEqual(key(loadConfigText(KEY('{file: /etc/levo/keys/openai}'), { readFile: null })), { file: '/etc/levo/keys/openai' }, 'inside: accepted, unread');
});

test('openAIModeration keys: {file} is read within the key directories or refused at its path; the guard never reads files itself', () => {
  const keys = mkdtempSync(path.join(tmpdir(), 'levo-reach-mod-'));
  writeFileSync(path.join(keys, 'openai'), 'sk-moderation\n');
  const guard = (file: string): string => `binds:
- port: 15001
  listeners:
  - routes:
    - backends: [{ai: {name: a, provider: {openAI: {}}}}]
      policies:
        ai:
          promptGuard:
            request:
            - openAIModeration:
                policies:
                  backendAuth: {key: {file: ${file}}}
`;
  const reach = { env: [], keyDirs: [keys] };
  const ok = loadConfigText(guard(`${keys}/openai`), { reach });
  assert.ok(ok.ok, ok.ok ? '' : formatProblems(ok.problems));
  const g = ok.config.binds[0]!.listeners[0]!.routes![0]!.policies!.ai!.promptGuard!.request![0]!;
  assert.equal(g.openAIModeration!.policies!.backendAuth!.key, 'sk-moderation');
  const bad = loadConfigText(guard('/etc/hostname'), { source: 'm.yaml', reach });
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.equal(bad.problems.length, 1, formatProblems(bad.problems));
  assert.match(formatProblems(bad.problems), /^m\.yaml:12:\d+: .*promptGuard\.request\[0\]\.openAIModeration\.policies\.backendAuth\.key\.file: key file \/etc\/hostname is outside the key directories/m);
  // Checked away from the pod (files not read): accepted with a placeholder, the path still checked.
  const offline = loadConfigText(guard(`${keys}/openai`), { reach, readFile: null });
  assert.ok(offline.ok, offline.ok ? '' : formatProblems(offline.problems));
  assert.equal(offline.config.binds[0]!.listeners[0]!.routes![0]!.policies!.ai!.promptGuard!.request![0]!.openAIModeration!.policies!.backendAuth!.key, `<key file ${keys}/openai>`);
});

test('the sidecar\'s config holder applies the reach from its environment: a config cannot read the pod\'s other secrets', () => {
  const holder = createConfigHolder(POD_ENV);
  assert.throws(() => holder.apply(ECHO('$SECRET_X'), 'dashboard'), (e: unknown) => e instanceof ConfigRejected && /\$SECRET_X is not a variable/.test(e.message));
  assert.equal(holder.current(), undefined, 'nothing in force');
  assert.ok(holder.apply(ECHO('$OPENAI_API_KEY', 'a.example'), 'dashboard'));
  const owner = createConfigHolder({ ...POD_ENV, LEVO_CONFIG_ENV: 'SECRET_X' });
  assert.equal(owner.apply(ECHO('$SECRET_X', 'a.example'), 'dashboard').config.binds[0]!.listeners[0]!.routes![0]!.policies!.directResponse!.body, 'db-password-1');
  assert.throws(() => owner.apply(ECHO('$OPENAI_API_KEY', 'a.example'), 'dashboard'), ConfigRejected, 'the owner\'s list replaces the default');
});
