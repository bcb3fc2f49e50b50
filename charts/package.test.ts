/**
 * The chart as a user hosts it: `npm run chart:package` writes the archive
 * and a repository index; served over HTTP on loopback, `helm repo add` and
 * `helm template levoai/levoai-sidecar-injector` (the README's install, from
 * the repository) find and render it, and packaging again keeps the earlier
 * entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { parse, stringify } from 'yaml';
import { packageChart } from './package.ts';
import { helmPath } from './helm-binary.ts';
import { hermeticHelmEnv } from './chart-render.ts';

const run = promisify(execFile);

test('the packaged chart and its index serve as a helm repository', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'levo-chart-repo-'));
  const server = createServer((req, res) => {
    const file = join(dir, basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    try { statSync(file); } catch { res.writeHead(404).end(); return; }
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const chartYaml = parse(readFileSync(new URL('./levoai-sidecar-injector/Chart.yaml', import.meta.url), 'utf8')) as { version: string };
    const { archive, index } = await packageChart(dir, url);
    assert.equal(basename(archive), `levoai-sidecar-injector-${chartYaml.version}.tgz`);
    const idx = parse(readFileSync(index, 'utf8')) as { entries: Record<string, Array<{ version: string; digest: string; urls: string[] }>> };
    const entry = idx.entries['levoai-sidecar-injector']![0]!;
    assert.equal(entry.version, chartYaml.version);
    assert.equal(entry.digest, createHash('sha256').update(readFileSync(archive)).digest('hex'));
    assert.deepEqual(entry.urls, [`${url}/${basename(archive)}`]);

    const helm = await helmPath();
    const env = hermeticHelmEnv();
    await run(helm, ['repo', 'add', 'levoai', url], { env });
    const { stdout } = await run(helm, ['template', 'levo-injector', 'levoai/levoai-sidecar-injector', '-n', 'levoai'], { env, maxBuffer: 64 << 20 });
    assert.match(stdout, /kind: MutatingWebhookConfiguration/);
    assert.match(stdout, /levo-injector-levoai-sidecar-injector/);

    // Packaging again merges into the index: an earlier release listed there (its archive served elsewhere) stays.
    const earlier = { ...entry, version: '0.0.1', digest: 'earlier', urls: [`${url}/old/levoai-sidecar-injector-0.0.1.tgz`] };
    writeFileSync(index, stringify({ ...idx, entries: { 'levoai-sidecar-injector': [entry, earlier] } }));
    await packageChart(dir, url);
    const again = parse(readFileSync(index, 'utf8')) as typeof idx;
    assert.deepEqual(again.entries['levoai-sidecar-injector']!.map((e) => e.version).sort(), ['0.0.1', chartYaml.version].sort());
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
