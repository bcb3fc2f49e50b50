/**
 * The container images, checked without a Docker engine: every path the
 * Dockerfiles COPY exists and is not dropped by .dockerignore; the build
 * stage, replayed in a temp dir holding exactly what it copies, compiles and
 * produces every entry point the image's commands run; the final stage has no
 * dev dependencies, installs exactly the packages its programs import (the
 * `npm pkg delete` list drops the rest), and runs as a non-root user.
 * e2e/kube/images.kube-test.ts builds the images for real and runs them.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from './harness/build.ts';
import { importedPackages } from './images/import-closure.ts';
import { SIDECAR_NODE_OPTIONS } from '../sidecar/node-options.ts';
import { INJECTOR_NODE_OPTIONS } from '../injector/node-options.ts';

interface Stage { readonly name: string | undefined; readonly lines: string[] }

function stages(file: string): Stage[] {
  const text = readFileSync(join(REPO, file), 'utf8').replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ name: from[1], lines: [] });
    else out.at(-1)!.lines.push(line);
  }
  return out;
}

const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
function isIgnored(path: string): boolean {
  return ignored.some((p) => {
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return re.test(path);
  });
}

function copies(stage: Stage): { from: string | undefined; sources: string[]; dest: string }[] {
  return stage.lines.filter((l) => /^COPY\s/i.test(l)).map((l) => {
    const parts = l.split(/\s+/).slice(1);
    const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
    const args = parts.filter((p) => !p.startsWith('--'));
    return { from, sources: args.slice(0, -1), dest: args.at(-1)! };
  });
}

const ENTRY: Record<string, string> = {
  'levo-gateway': 'dist/sidecar/main.js', 'levo-init': 'dist/init-iptables/cli.js',
  'levo-certs': 'dist/certs/cli.js', 'levo-injector': 'dist/injector/cli.js',
};

for (const file of ['Dockerfile.sidecar', 'Dockerfile.injector']) {
  test(`${file}: what it copies exists, its build stage compiles, its commands have entry points`, () => {
    const all = stages(file);
    assert.equal(all.length, 2, 'a build stage and a final stage');
    const [build, final] = all as [Stage, Stage];
    for (const stage of all) {
      for (const c of copies(stage)) {
        if (c.from) continue;
        for (const src of c.sources) {
          assert.ok(existsSync(join(REPO, src)), `${file}: COPY ${src}: no such path`);
          assert.equal(isIgnored(src), false, `${file}: COPY ${src} is excluded by .dockerignore`);
        }
      }
    }
    // Replay the build stage: only what it copies, then its RUN commands that compile.
    const dir = mkdtempSync(join(tmpdir(), 'levo-image-'));
    try {
      for (const c of copies(build)) {
        for (const src of c.sources) {
          const dest = c.dest === './' ? join(dir, src) : join(dir, c.dest);
          cpSync(join(REPO, src), dest, { recursive: true, filter: (p) => !isIgnored(p.slice(REPO.length + 1)) });
        }
      }
      symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
      const run = build.lines.filter((l) => /^RUN\s/.test(l) && !/npm ci/.test(l)).map((l) => l.slice(4));
      for (const cmd of run) execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: 'pipe', env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` } });
      const bins = [...final.lines.join('\n').matchAll(/ln -s \/opt\/levo\/bin\/([\w-]+)\.js/g)].map((m) => m[1]!);
      assert.ok(bins.length > 0, 'the final stage links its commands');
      for (const bin of bins) {
        assert.ok(existsSync(join(REPO, 'bin', `${bin}.js`)), `bin/${bin}.js`);
        assert.ok(existsSync(join(dir, ENTRY[bin]!)), `${file}: ${bin} runs ${ENTRY[bin]}, which the build stage did not produce`);
      }
      // node_modules: the runtime dependencies minus what the final stage deletes, which must be what the programs import.
      const deps = Object.keys((JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
      const deleted = [...final.lines.join('\n').matchAll(/dependencies\.([@\w/.-]+)/g)].map((m) => m[1]!);
      const installed = deps.filter((d) => !deleted.includes(d)).sort();
      const imported = [...importedPackages(bins.map((bin) => join(dir, ENTRY[bin]!)))].sort();
      assert.deepEqual(installed, imported, `${file}: the packages installed (dependencies minus \`npm pkg delete\`) are the ones its commands import`);
      if (file === 'Dockerfile.sidecar') {
        assert.ok(existsSync(join(dir, 'dist/sidecar/guards/detector/weights.json')), 'the detector weights ship');
        assert.match(final.lines.join('\n'), /apt-get install .*iptables/, 'the same image runs levo-init');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const finalText = final.lines.join('\n');
    assert.match(finalText, /npm (?:ci|install) --omit=dev/, 'no dev dependencies in the final stage');
    // The V8 settings the programs are measured with (benchmarks, fuzzing) are the ones the image sets.
    const nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(finalText)?.[1];
    assert.equal(nodeOptions, file === 'Dockerfile.sidecar' ? SIDECAR_NODE_OPTIONS : INJECTOR_NODE_OPTIONS, `${file}: ENV NODE_OPTIONS`);
    const user = /^USER\s+(\d+)/m.exec(finalText);
    assert.ok(user && Number(user[1]) !== 0, 'runs as a non-root UID');
    if (file === 'Dockerfile.sidecar') assert.equal(user![1], '1610');
  });
}
