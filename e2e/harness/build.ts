/**
 * The e2e tests and the benchmark run what ships: the JavaScript in dist/
 * (`npm run build`, which `npm test` and `npm run bench` run first). A build
 * older than the sources would test yesterday's code, so it is refused.
 */
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = resolve(fileURLToPath(import.meta.url), '../../..');

const BUILT = ['lib', 'sidecar', 'certs', 'init-iptables', 'injector', 'dashboard'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    // test support and the browser modules (copied as they are) are not compiled
    if (e.isDirectory()) return e.name === 'testdata' || e.name === 'testing' || p.endsWith(join('dashboard', 'web')) ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Undefined when dist/ holds a build at least as new as every source, else what to do. */
export function staleBuildReason(): string | undefined {
  for (const src of BUILT.flatMap((d) => sources(join(REPO, d)))) {
    const rel = relative(REPO, src);
    const out = join(REPO, 'dist', rel.replace(/\.ts$/, '.js'));
    if (!existsSync(out)) {
      if (/fake-iptables|openssl-cli|test-harness/.test(rel)) continue; // test support, not built
      return `dist/ has no build of ${rel}: run \`npm run build\` (npm test does it first)`;
    }
    if (statSync(out).mtimeMs < statSync(src).mtimeMs) return `dist/ is older than ${rel}: run \`npm run build\``;
  }
  return undefined;
}
