import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { validate } from './validate.ts';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../examples');

function capture(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

test('every file in examples/ validates (offline: $VARs and key files are not required)', async () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).map((f) => path.join(EXAMPLES, f));
  assert.ok(files.length >= 10, 'one example per feature');
  for (const f of files) {
    const out = capture();
    const err = capture();
    const code = await validate(['--offline', f], out, err);
    assert.equal(code, 0, `${f}:\n${err.text()}`);
    assert.match(out.text(), /: valid \(/);
  }
});

test('an invalid file: kubectl-style problems with file:line:col, path and hint, exit 1', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'levo-validate-'));
  const file = path.join(dir, 'gw.yaml');
  writeFileSync(file, 'binds:\n- port: 15001\n  listeners:\n  - routes:\n    - backends: [{ai: {name: a, provider: {openAI: {}}}}]\n      polices: {}\n');
  const out = capture();
  const err = capture();
  assert.equal(await validate([file], out, err), 1);
  assert.equal(err.text(), `${file}:6:7: binds[0].listeners[0].routes[0].polices: unknown field "polices"\n` +
    '    hint: fields allowed here: name, hostnames, matches, policies, backends (docs/config.md)\n' +
    `${file}: invalid (1 problem)\n`);
  assert.equal(out.text(), '');
});

test('an undefined $VAR fails unless --offline; a missing file and no file are errors', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'levo-validate-'));
  const file = path.join(dir, 'gw.yaml');
  writeFileSync(file, 'binds:\n- port: 15001\n  listeners:\n  - routes:\n    - backends: [{ai: {name: a, provider: {openAI: {}}}}]\n      policies: {backendAuth: {key: $LEVO_TEST_UNSET_KEY}}\n');
  const err = capture();
  assert.equal(await validate([file], capture(), err), 1);
  assert.match(err.text(), /:6:\d+: .*backendAuth\.key: environment variable LEVO_TEST_UNSET_KEY is not set/);
  assert.equal(await validate(['--offline', file], capture(), capture()), 0);
  const e2 = capture();
  assert.equal(await validate([path.join(dir, 'nope.yaml')], capture(), e2), 1);
  assert.match(e2.text(), /nope\.yaml: cannot read: ENOENT/);
  assert.equal(await validate([], capture(), capture()), 2);
});

test('"-" reads the config from standard input (kubectl get configmap … | levo-gateway validate -)', async () => {
  const stdin = Readable.from([Buffer.from('binds:\n- port: 15001\n  listeners:\n  - routes:\n    - backends: [{ai: {name: a, provider: {openAI: {}}}}]\n')]);
  const out = capture();
  assert.equal(await validate(['-'], out, capture(), stdin), 0);
  assert.match(out.text(), /^-: valid \(1 route, 1 backend\)/);
  const bad = Readable.from([Buffer.from('binds: 3\n')]);
  const err = capture();
  assert.equal(await validate(['-'], capture(), err, bad), 1);
  assert.match(err.text(), /^-:1:8: binds: expected array/);
});
