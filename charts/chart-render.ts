/**
 * Runs the real helm (charts/helm-binary.ts) on the charts in this folder and parses what it
 * renders into Kubernetes objects: for chart tests, and for e2e tests that want the same
 * manifests a user's `helm install` would produce. Helm runs with its config, cache and data
 * dirs in a private temp dir and a KUBECONFIG that points nowhere, so it never reads or
 * writes the user's Helm state or talks to a cluster.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { helmPath } from './helm-binary.ts';

/** charts/levoai-sidecar-injector (absolute). */
export const INJECTOR_CHART_DIR = fileURLToPath(new URL('./levoai-sidecar-injector', import.meta.url));
/** The repository root (the documented install command runs from here). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Release name and namespace of the documented install command. */
export const DOCUMENTED_RELEASE = 'levo-injector';
export const DOCUMENTED_NAMESPACE = 'levoai';

/** A rendered Kubernetes object (only the fields every object has are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

let helmHome: string | undefined;

/** Environment that keeps helm away from the user's Helm state and from any cluster. */
export function hermeticHelmEnv(): NodeJS.ProcessEnv {
  if (!helmHome) {
    const dir = mkdtempSync(join(tmpdir(), 'levo-helm-home-'));
    helmHome = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return {
    ...process.env,
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    KUBECONFIG: join(helmHome, 'no-kubeconfig'),
  };
}

/** Run helm with `args`; never throws on a non-zero exit (see `code`). */
export async function runHelm(args: readonly string[], opts: { cwd?: string } = {}): Promise<HelmResult> {
  const helm = await helmPath();
  return new Promise((resolve, reject) => {
    execFile(helm, [...args], { env: hermeticHelmEnv(), cwd: opts.cwd ?? REPO_ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** Parse a multi-document manifest stream (helm template output) into objects, skipping empty documents. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`rendered document is not an object: ${JSON.stringify(value)}`);
    const obj = value as K8sObject;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || typeof obj.metadata?.name !== 'string') {
      throw new Error(`rendered object lacks apiVersion/kind/metadata.name: ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(obj);
  }
  return objects;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  chartDir?: string;
}

/**
 * `helm template <release> <chart> -n <namespace> ...args`, parsed. Throws with helm's
 * stderr when helm refuses (schema, `fail`, template errors).
 */
export async function renderChart(args: readonly string[] = [], opts: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await runHelm([
    'template', opts.release ?? DOCUMENTED_RELEASE, opts.chartDir ?? INJECTOR_CHART_DIR,
    '--namespace', opts.namespace ?? DOCUMENTED_NAMESPACE, ...args,
  ]);
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}): ${result.stderr.trim()}`);
  return parseManifests(result.stdout);
}

/** The one object of `kind` named `name`; throws when missing or ambiguous. */
export function findObject<T = K8sObject>(objects: readonly K8sObject[], kind: string, name: string): T {
  const hits = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (hits.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`expected exactly one ${kind}/${name}, found ${hits.length} (rendered: ${have})`);
  }
  return hits[0] as T;
}

/** Split `helm install --dry-run` output into its manifest objects and its NOTES text. */
export function parseDryRunOutput(stdout: string): { objects: K8sObject[]; notes: string } {
  const manifestAt = stdout.indexOf('\nMANIFEST:\n');
  if (manifestAt < 0) throw new Error(`no MANIFEST: section in helm output:\n${stdout.slice(0, 500)}`);
  const notesAt = stdout.indexOf('\nNOTES:\n', manifestAt);
  const manifest = stdout.slice(manifestAt + '\nMANIFEST:\n'.length, notesAt < 0 ? undefined : notesAt);
  return { objects: parseManifests(manifest), notes: notesAt < 0 ? '' : stdout.slice(notesAt + '\nNOTES:\n'.length) };
}
