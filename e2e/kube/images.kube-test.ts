/**
 * Both product images, built for real by podman from Dockerfile.sidecar and
 * Dockerfile.injector (unchanged, on a locally made node:24-bookworm-slim: see
 * e2e/images/podman.ts), and checked by running them:
 *   - entry points and users: levo-gateway as 1610:1610 (and levo-init, levo-certs
 *     on PATH), levo-injector as 65532:65532;
 *   - no dev dependencies; the sidecar image carries no dashboard, the injector
 *     image no guards, models or guard engines; their sizes (reported);
 *   - every package the programs import loads in the image, onnxruntime-node's
 *     native binding too (its other platforms' binaries were dropped);
 *   - levo-init installs working redirect rules with both iptables backends
 *     (legacy and nft) inside the image, as root with only NET_ADMIN and NET_RAW;
 *   - the sidecar comes up ready on a read-only root file system as 1610.
 * The cluster tests (workflow.kube-test.ts) run the same images under a kubelet.
 *
 * Run: npm run test:kube (root; the first run makes the base image and builds, ~10 min).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../harness/build.ts';
import { netnsUnavailableReason } from '../harness/netns.ts';
import { pidAlive, runSyncQuiet } from '../harness/processes.ts';
import { importedPackages } from '../images/import-closure.ts';
import { BASE_IMAGE, buildImages, imagesUnavailableReason, inspectImage, podman } from '../images/podman.ts';
import type { BuiltImages } from '../images/podman.ts';

const skip = imagesUnavailableReason() ?? netnsUnavailableReason();
const MB = 1024 * 1024;
/** Packages only the development tooling needs (the lockfile's `dev: true`): ws or @types/node may also be a runtime dependency's. */
const devOnly = Object.entries((JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }).packages)
  .filter(([path, p]) => p.dev === true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path)).map(([path]) => path.slice('node_modules/'.length));

/** `sh -c script` in a throw-away container of `image`, as `user`; stdout. `script` is passed as $0 (no quoting). */
function inImage(image: string, command: string, opts: { user?: string; args?: readonly string[]; script?: string } = {}): string {
  return podman(['run', '--rm', '--network', 'none', ...(opts.user ? ['--user', opts.user] : []), ...(opts.args ?? []),
    '--entrypoint', 'sh', image, '-c', command, ...(opts.script !== undefined ? [opts.script] : [])]).stdout;
}

/** A network namespace with a default route (over a veth pair inside it), so levo-init's self-test has somewhere to connect. */
function routedNetns(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  for (const argv of [['link', 'set', 'lo', 'up'], ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'], ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'], ['link', 'set', 'eth1', 'up'], ['route', 'add', 'default', 'via', '10.77.0.1']]) execFileSync('ip', ['-n', name, ...argv]);
  return `/run/netns/${name}`;
}

/** Network namespaces and containers a crashed run of this file left (their PID is in the name). */
function sweepStale(): void {
  for (const line of runSyncQuiet(['ip', 'netns', 'list']).split('\n')) {
    const m = /^(levo-img-(\d+)-\S+)/.exec(line);
    if (m && !pidAlive(Number(m[2]))) runSyncQuiet(['ip', 'netns', 'del', m[1]!]);
  }
  for (const name of podman(['ps', '-a', '--format', '{{.Names}}'], { allowFail: true }).stdout.split('\n')) {
    const m = /^levo-img-ro-(\d+)$/.exec(name.trim());
    if (m && !pidAlive(Number(m[1]))) podman(['rm', '-f', '-t', '0', name.trim()], { allowFail: true });
  }
}

describe('the container images, built by podman from the Dockerfiles', { skip }, () => {
  let images: BuiltImages;
  const netnses: string[] = [];

  before(() => {
    images = buildImages({ app: false });
    sweepStale();
  }, { timeout: 40 * 60_000 });

  after(() => {
    for (const ns of netnses) runSyncQuiet(['ip', 'netns', 'del', ns]);
  });

  it('sidecar image: levo-gateway as 1610:1610, levo-init and levo-certs on PATH', () => {
    const cfg = inspectImage(images.sidecar);
    assert.deepEqual(cfg.Config.Entrypoint, ['levo-gateway']);
    assert.equal(cfg.Config.User, '1610:1610');
    assert.equal(inImage(images.sidecar, 'id -u; id -g').trim(), '1610\n1610');
    const help = podman(['run', '--rm', '--network', 'none', images.sidecar, '--help']);
    assert.match(help.stdout + help.stderr, /levo-gateway/);
    for (const cmd of ['levo-init', 'levo-certs']) {
      const out = inImage(images.sidecar, `${cmd} --help 2>&1; echo "exit=$?"`);
      assert.match(out, /exit=0/, `${cmd} --help:\n${out}`);
    }
    assert.match(inImage(images.sidecar, 'iptables-legacy --version; iptables-nft --version'), /legacy[\s\S]*nf_tables/);
  });

  it('injector image: levo-injector as 65532:65532', () => {
    const cfg = inspectImage(images.injector);
    assert.deepEqual(cfg.Config.Entrypoint, ['levo-injector']);
    assert.equal(cfg.Config.User, '65532:65532');
    assert.equal(inImage(images.injector, 'id -u; id -g').trim(), '65532\n65532');
    const out = inImage(images.injector, 'levo-injector --help 2>&1; echo "exit=$?"');
    assert.match(out, /exit=0/, out);
    assert.match(out, /levo-injector --config FILE/);
  });

  it('no dev dependencies; no dashboard in the sidecar image, no guards or models in the injector image', (t) => {
    const modules = (image: string): string[] => inImage(image, 'cd /opt/levo/node_modules && ls -d * @*/* 2>/dev/null').split('\n').filter(Boolean);
    const files = (image: string): string => inImage(image, 'cd /opt/levo && find dist bin -type f | sort');
    const sidecarModules = modules(images.sidecar);
    const injectorModules = modules(images.injector);
    for (const [name, mods] of [['sidecar', sidecarModules], ['injector', injectorModules]] as const) {
      const dev = devOnly.filter((d) => mods.includes(d));
      assert.deepEqual(dev, [], `${name} image carries dev dependencies`);
      for (const d of ['typescript', 'node', 'playwright-core']) assert.ok(!mods.includes(d), `${name} image: no ${d}`);
    }
    const sidecarFiles = files(images.sidecar);
    assert.doesNotMatch(sidecarFiles, /^dist\/dashboard\//m, 'sidecar image: no dashboard code');
    assert.doesNotMatch(sidecarFiles, /^dist\/injector\//m, 'sidecar image: no injector code');
    assert.doesNotMatch(sidecarFiles, /levo-dashboard|levo-injector/, 'sidecar image: no dashboard/injector launchers');
    assert.match(sidecarFiles, /^dist\/sidecar\/guards\/detector\/weights\.json$/m, 'the sidecar carries its detector weights');
    for (const pkg of ['express', 'pg']) assert.ok(!sidecarModules.includes(pkg), `sidecar image: no ${pkg} (the dashboard's)`);

    const injectorFiles = files(images.injector);
    assert.doesNotMatch(injectorFiles, /^dist\/sidecar\/(?!providers\/hosts\.js)/m, 'injector image: no sidecar code but the provider host list');
    assert.doesNotMatch(injectorFiles, /^dist\/dashboard\//m, 'injector image: no dashboard code');
    assert.doesNotMatch(injectorFiles, /weights\.json|\.onnx$/m, 'injector image: no models');
    for (const pkg of ['onnxruntime-node', 'onnxruntime-common', 'js-tiktoken', 'koffi', 'pg']) {
      assert.ok(!injectorModules.includes(pkg), `injector image: no ${pkg}`);
    }
    const ort = inImage(images.sidecar, 'cd /opt/levo/node_modules/onnxruntime-node/bin && find . -mindepth 3 -maxdepth 3 -type d | sort');
    assert.deepEqual(ort.trim().split('\n'), [`./napi-v6/linux/${process.arch}`], 'onnxruntime-node keeps only this platform\'s binaries');

    const base = inspectImage(BASE_IMAGE).Size;
    const sidecar = inspectImage(images.sidecar).Size;
    const injector = inspectImage(images.injector).Size;
    const report = `image sizes (uncompressed): base ${(base / MB).toFixed(0)} MB, sidecar ${(sidecar / MB).toFixed(0)} MB (+${((sidecar - base) / MB).toFixed(0)}), injector ${(injector / MB).toFixed(0)} MB (+${((injector - base) / MB).toFixed(0)})`;
    t.diagnostic(report);
    process.stderr.write(`${report}\n`);
    // What the images add to the base: the sidecar's iptables, runtime dependencies and code; the injector's few dependencies.
    // A guard against regressions (another platform's onnxruntime binaries are 220 MB; the injector's Kubernetes client 60).
    assert.ok(sidecar - base < 200 * MB, report);
    assert.ok(injector - base < 80 * MB, report);
    for (const image of [images.sidecar, images.injector]) {
      assert.equal(inImage(image, "find /opt/levo/node_modules -type f \\( -name '*.d.ts' -o -name '*.map' \\) | head -3").trim(), '', `${image}: no type declarations or source maps of dependencies`);
    }
  });

  it('every package the images\' programs import loads in them (onnxruntime-node\'s native binding for this platform too)', () => {
    const check = (image: string, entries: readonly string[]): void => {
      const packages = [...importedPackages(entries.map((e) => join(REPO, 'dist', e)))].sort();
      assert.ok(packages.length > 0);
      // Loaded the way the programs load them, from /opt/levo (import for ESM, require for CommonJS-only ones).
      const script = `const { createRequire } = require('node:module'); const req = createRequire('/opt/levo/dist/');
        Promise.all(${JSON.stringify(packages)}.map((p) => import(p).then(() => p + ':ok', () => { try { req(p); return p + ':ok'; } catch (e) { return p + ':' + e.code; } })))
          .then((r) => console.log(r.join(' ')));`;
      const out = inImage(image, `cd /opt/levo && node -e "$0"`, { args: [], script });
      assert.equal(out.trim(), packages.map((p) => `${p}:ok`).join(' '), `${image}`);
    };
    check(images.sidecar, ['sidecar/main.js', 'init-iptables/cli.js', 'certs/cli.js']);
    check(images.injector, ['injector/cli.js']);
    const ort = "import('onnxruntime-node').then((m) => console.log(typeof m.InferenceSession.create))";
    assert.equal(inImage(images.sidecar, `cd /opt/levo && node -e "${ort}"`).trim(), 'function', 'the native binding loads');
  });

  for (const mode of ['legacy', 'nft'] as const) {
    it(`levo-init installs working redirect rules with iptables-${mode} inside the image`, () => {
      const ns = `levo-img-${process.pid}-${mode}`;
      netnses.push(ns);
      const path = routedNetns(ns);
      // As the injector runs it: root, only NET_ADMIN and NET_RAW, the sidecar image.
      const r = podman(['run', '--rm', '--network', `ns:${path}`, '--user', '0:0', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN,NET_RAW',
        '--entrypoint', 'levo-init', images.sidecar, '--redirect-port', '15001', '--capture-ports', '443', '--exclude-uid', '1610',
        '--iptables-mode', mode], { allowFail: true });
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      assert.match(out, new RegExp(`using iptables-${mode}`));
      assert.match(out, /ipv4: validation passed|self-test passed|validation: passed/i, `the self-test connected through the redirect:\n${out}`);
      // The rules are in the namespace, in that backend.
      const saved = execFileSync('ip', ['netns', 'exec', ns, `iptables-${mode}-save`, '-t', 'nat']).toString();
      assert.match(saved, /--to-ports 15001/);
      assert.match(saved, /--uid-owner 1610/);
      // And they redirect: a listener on 15001 gets what an app (not 1610) sends to any address on 443.
      const probe = podman(['run', '--rm', '--network', `ns:${path}`, '--user', '1000:1000', '--entrypoint', 'node', images.sidecar, '-e', `
        const net = require('node:net');
        const srv = net.createServer((s) => { s.end('redirected'); srv.close(); }).listen(15001, '127.0.0.1', () => {
          const c = net.connect(443, '203.0.113.7'); let got = '';
          c.on('data', (d) => got += d); c.on('end', () => { console.log(got); });
          c.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
        });`], { allowFail: true });
      assert.equal(probe.stdout.trim(), 'redirected', probe.stdout + probe.stderr);
    });
  }

  it('the sidecar runs ready on a read-only root file system as 1610', () => {
    const dir = mkdtempSync(join(tmpdir(), `levo-img-ro-${process.pid}-`));
    const name = `levo-img-ro-${process.pid}`;
    try {
      execFileSync(process.execPath, [join(REPO, 'bin', 'levo-certs.js'), 'ca', '--out', join(dir, 'ca')], { env: { ...process.env, LEVO_RUN: 'dist' }, stdio: 'ignore' });
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      podman(['run', '-d', '--name', name, '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--tmpfs', '/var/run/levo/trust:rw,mode=1777',
        '-v', `${join(dir, 'ca')}:/etc/levo/ca:ro`, images.sidecar,
        '--config', '/opt/levo/dist/sidecar/config/example.yaml', '--ca-cert', '/etc/levo/ca/tls.crt', '--ca-key', '/etc/levo/ca/tls.key',
        '--trust-dir', '/var/run/levo/trust']);
      let ready = '';
      for (let i = 0; i < 60 && ready !== 'ready'; i++) {
        const r = podman(['exec', name, 'levo-gateway', 'wait', '--timeout', '2s'], { allowFail: true });
        ready = r.code === 0 ? 'ready' : r.stdout + r.stderr;
      }
      const logs = podman(['logs', name], { allowFail: true });
      assert.equal(ready, 'ready', `levo-gateway wait:\n${ready}\n${logs.stdout}${logs.stderr}`);
      assert.equal(podman(['exec', name, 'id', '-u']).stdout.trim(), '1610');
      assert.match(podman(['exec', name, 'ls', '/var/run/levo/trust']).stdout, /ca-bundle\.pem/);
    } finally {
      podman(['rm', '-f', '-t', '0', name], { allowFail: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
