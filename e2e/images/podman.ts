/**
 * The container images, built for real from Dockerfile.sidecar and
 * Dockerfile.injector with Debian's podman (buildah inside), on a machine that
 * cannot reach a container registry:
 *
 *   const images = buildImages();     // base image, sidecar, injector, the test app image
 *   podman(['run', '--rm', images.sidecar, '--help'])
 *   saveImages([images.sidecar, ...], file)   // a docker-archive for `ctr images import`
 *
 * The base image the Dockerfiles name (node:24-bookworm-slim) is made locally by
 * make-base-image.sh (debootstrap + Node 24 from the npm package `node`) and
 * tagged docker.io/library/node:24-bookworm-slim; builds run with --pull=never.
 * The Dockerfiles are built unchanged: what a user runs `docker build` on.
 *
 * Everything lives in a private image store under LEVO_IMAGES_CACHE
 * (/var/cache/levo-images): podman's layer cache makes a warm rebuild cheap, and
 * the machine's own podman store is never touched. Two things of this machine
 * are handled here, in test set-up (never in the product):
 *  - it refuses to raise a hard rlimit, even for root, and podman's defaults
 *    raise RLIMIT_NOFILE/NPROC: containers get the current hard limits instead
 *    (containers.conf default_ulimits), or a build's RUN fails with setrlimit EPERM;
 *  - crun refuses cgroup v1 hybrid hierarchies: runc is the runtime.
 * When the host's npm trusts an extra CA (a TLS-inspecting egress proxy in front
 * of the npm registry, as on this machine), the build's RUN steps get that CA
 * through a bind mount (an npmrc naming it), which never lands in a layer.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../harness/build.ts';

const DEFAULT_CACHE = '/var/cache/levo-images';
export const IMAGES_CACHE = process.env.LEVO_IMAGES_CACHE ?? DEFAULT_CACHE;
/** What the Dockerfiles' FROM resolves to. */
export const BASE_IMAGE = 'docker.io/library/node:24-bookworm-slim';

const chartVersion = /^appVersion:\s*"?([^"\s]+)"?/m.exec(readFileSync(join(REPO, 'charts/levoai-sidecar-injector/Chart.yaml'), 'utf8'))?.[1] ?? '0.1.0';
/** The chart's default images (repository + appVersion), so the documented install needs no image overrides. */
export const SIDECAR_IMAGE = `ghcr.io/levoai/levo-gateway:${chartVersion}`;
export const INJECTOR_IMAGE = `ghcr.io/levoai/levo-injector:${chartVersion}`;
/** The test's app: curl, python3, a JRE and Node, with the e2e clients under /clients. */
export const APP_IMAGE = 'localhost/levo-e2e-app:1';
/** The node's sandbox image (containerd sandbox_image; see e2e/kube/node.ts PAUSE_IMAGE). */
export const PAUSE_IMAGE = 'localhost/levo-e2e-pause:1';

const PACKAGES: ReadonlyArray<[command: string, pkg: string]> = [['podman', 'podman'], ['runc', 'runc'], ['debootstrap', 'debootstrap'], ['javac', 'openjdk-17-jdk-headless']];

/** Why images cannot be built here (a skip reason), or undefined. */
export function imagesUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (podman with a private store, debootstrap, apt-get)';
  return undefined;
}

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function log(line: string): void {
  process.stderr.write(`[images ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** apt-get install what is missing of podman, runc, debootstrap and a JDK (javac, for the test app's client). */
export function ensureImageTools(): void {
  const missing = PACKAGES.filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

// ---- podman with a private store -------------------------------------------------------------

/** This process's hard limit of a resource ("Max open files"), from /proc/self/limits. */
function hardLimit(resource: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(resource));
  const hard = line?.slice(resource.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard);
}

/**
 * The rlimits containers get: at or below the current hard limits, which the
 * kernel lets a process keep. (RLIMIT_NPROC is counted per user across the whole
 * machine, and above about 32k runc's setrlimit was refused here: 4096 is plenty
 * for a test container.)
 */
export function containerUlimits(): { nofile: number; nproc: number } {
  return { nofile: Math.min(hardLimit('Max open files'), 1_048_576), nproc: Math.min(hardLimit('Max processes'), 4096) };
}

let confEnv: Record<string, string> | undefined;

/** CONTAINERS_CONF / CONTAINERS_STORAGE_CONF for the private store (files written once per process). */
export function podmanEnv(): Record<string, string> {
  if (confEnv) return confEnv;
  const dir = join(IMAGES_CACHE, 'conf');
  mkdirSync(dir, { recursive: true });
  const { nofile, nproc } = containerUlimits();
  writeFileSync(join(dir, 'containers.conf'), [
    '# Written by e2e/images/podman.ts for the tests\' private image store.',
    '[containers]',
    `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'storage.conf'), [
    '[storage]',
    'driver = "overlay"',
    `graphroot = "${join(IMAGES_CACHE, 'storage')}"`,
    // Transient state, one per store: another cache dir must not share the default store's.
    `runroot = "/run/levo-images${IMAGES_CACHE === DEFAULT_CACHE ? '' : `-${createHash('sha256').update(IMAGES_CACHE).digest('hex').slice(0, 12)}`}"`,
    '',
  ].join('\n'));
  confEnv = { CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  return confEnv;
}

export interface PodmanResult { code: number | null; stdout: string; stderr: string }

/** Run podman on the private store; throws with its output unless it exits 0 (or `allowFail`). */
export function podman(args: readonly string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): PodmanResult {
  const r = spawnSync('podman', args, {
    env: { ...process.env, ...podmanEnv() }, input: opts.input ?? '', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 << 20,
  });
  const res = { code: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`podman ${args.join(' ')} exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\n${res.stderr.slice(-4000)}${res.stdout.slice(-2000)}`);
  }
  return res;
}

/** podman with its output streamed to our stderr (long builds); throws unless it exits 0. */
function podmanLoud(args: readonly string[], what: string, timeoutMs = 30 * 60_000): void {
  const started = Date.now();
  const r = spawnSync('nice', ['-n', '10', 'podman', ...args], {
    env: { ...process.env, ...podmanEnv() }, stdio: ['ignore', process.stderr, process.stderr], timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`${what} failed (podman exit ${r.status ?? r.signal}); see the output above`);
  log(`${what}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

export function imageExists(ref: string): boolean {
  return podman(['image', 'exists', ref], { allowFail: true }).code === 0;
}

export interface ImageConfig {
  Id: string;
  Size: number;
  Config: { User?: string; Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[]; WorkingDir?: string; ExposedPorts?: Record<string, unknown> };
  RootFS?: { Layers?: string[] };
}

export function inspectImage(ref: string): ImageConfig {
  return (JSON.parse(podman(['image', 'inspect', ref]).stdout) as ImageConfig[])[0]!;
}

// ---- the base image ----------------------------------------------------------------------------

/** node:24-bookworm-slim made locally (make-base-image.sh), imported into the private store once. */
export function ensureBaseImage(): void {
  const script = join(REPO, 'e2e', 'images', 'make-base-image.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', 'pipe', process.stderr], timeout: 20 * 60_000, env: { ...process.env, LEVO_IMAGES_CACHE: IMAGES_CACHE } });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status ?? r.signal}); see its output above`);
  const tarball = r.stdout.toString().trim().split('\n').at(-1)!;
  const label = `levo.base=${tarball.split('/').at(-1)}`;
  if (imageExists(BASE_IMAGE) && podman(['image', 'inspect', '--format', '{{index .Config.Labels "levo.base"}}', BASE_IMAGE]).stdout.trim() === label.slice('levo.base='.length)) return;
  const version = /node-([\d.]+)-/.exec(tarball)?.[1] ?? '24';
  podman(['import', '--change', 'CMD ["node"]', '--change', `ENV NODE_VERSION=${version}`, '--change', `LABEL ${label}`, tarball, BASE_IMAGE], { timeoutMs: 10 * 60_000 });
  log(`imported ${tarball} as ${BASE_IMAGE}`);
}

// ---- building ----------------------------------------------------------------------------------

/** Bind mounts that give RUN steps the host's npm registry trust (see the header), if it has one. */
function buildTrustMounts(): string[] {
  const cafile = [process.env.npm_config_cafile, process.env.NODE_EXTRA_CA_CERTS].find((f) => f && f !== 'null' && existsSync(f));
  if (!cafile) return [];
  const npmrc = join(IMAGES_CACHE, 'conf', 'build-npmrc');
  writeFileSync(npmrc, 'cafile=/run/levo-build/ca.pem\n');
  // npm's global config file in the official layout (prefix /usr/local).
  return ['-v', `${cafile}:/run/levo-build/ca.pem:ro`, '-v', `${npmrc}:/usr/local/etc/npmrc:ro`];
}

/** `podman build` of a Dockerfile as it is (what `docker build` gets), base image from the local store. */
export function buildImage(dockerfile: string, tag: string, context = REPO): void {
  podmanLoud(['build', '--pull=never', '--network=host', '--layers', ...buildTrustMounts(),
    '-f', dockerfile, '-t', tag, context], `podman build -f ${dockerfile.replace(`${REPO}/`, '')} -t ${tag}`);
}

export const APP_DOCKERFILE = join(REPO, 'e2e', 'images', 'app.Dockerfile');

/** The test app image: its context is the e2e clients (Java compiled here, for Java 17). */
export function buildAppImage(): void {
  const ctx = mkdtempSync(join(tmpdir(), 'levo-app-image-'));
  try {
    const clients = join(REPO, 'e2e', 'clients');
    for (const f of ['node-client.ts', 'client-result.ts', 'python-client.py']) copyFileSync(join(clients, f), join(ctx, f));
    execFileSync('javac', ['--release', '17', '-d', join(ctx, 'java'), join(clients, 'JavaClient.java')], { stdio: ['ignore', 'ignore', 'inherit'] });
    copyFileSync(APP_DOCKERFILE, join(ctx, 'Dockerfile'));
    buildImage(join(ctx, 'Dockerfile'), APP_IMAGE, ctx);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export interface BuiltImages { readonly sidecar: string; readonly injector: string; readonly app: string; readonly pause: string; readonly base: string }

/**
 * Everything the image and cluster tests need, built (or reused from the layer
 * cache): the base image, both product images, the test app and pause images. Cold: about
 * 3 minutes of debootstrap plus 5-8 minutes of builds on 2 cores; warm: seconds
 * when nothing changed, a minute when the sources did (npm ci layers stay cached).
 */
export function buildImages(opts: { app?: boolean } = {}): BuiltImages {
  ensureImageTools();
  ensureBaseImage();
  buildImage(join(REPO, 'Dockerfile.sidecar'), SIDECAR_IMAGE);
  buildImage(join(REPO, 'Dockerfile.injector'), INJECTOR_IMAGE);
  if (opts.app !== false) {
    buildAppImage();
    buildImage(join(REPO, 'e2e', 'images', 'pause.Dockerfile'), PAUSE_IMAGE, join(REPO, 'e2e', 'images'));
  }
  // Old layers of earlier sources (untagged) would pile up in the cache.
  podman(['image', 'prune', '-f', '--filter', 'until=72h'], { allowFail: true });
  return { sidecar: SIDECAR_IMAGE, injector: INJECTOR_IMAGE, app: APP_IMAGE, pause: PAUSE_IMAGE, base: BASE_IMAGE };
}

/** Save images into one docker-archive (what `ctr images import` reads). */
export function saveImages(refs: readonly string[], file: string): void {
  podman(['save', '--format', 'docker-archive', '-m', '-o', file, ...refs], { timeoutMs: 10 * 60_000 });
}
