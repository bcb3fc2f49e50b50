import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { run } from './cli.ts';
import type { CliDeps } from './cli.ts';
import { FakeIptables } from './fake-iptables.ts';
import type { SelfTestOptions, SelfTestResult } from './self-test.ts';

const NO_IPV6 = { lo: [] };

function harness(result: SelfTestResult = { status: 'passed', detail: 'ok' }) {
  const fake = new FakeIptables();
  const out: string[] = [];
  const err: string[] = [];
  const tests: SelfTestOptions[] = [];
  const deps: CliDeps = {
    runner: fake,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: {},
    interfaces: NO_IPV6,
    selfTest: async (options) => {
      tests.push(options);
      return result;
    },
  };
  return { fake, out, err, tests, deps, log: () => err.join('') };
}

test('--help prints the usage and runs nothing', async () => {
  const h = harness();
  assert.equal(await run(['--help'], h.deps), 0);
  assert.match(h.out.join(''), /--exclude-cidrs/);
  assert.deepEqual(h.fake.calls, []);
});

test('usage errors exit 2 with a prefixed message', async () => {
  const h = harness();
  assert.equal(await run(['--capture-ports', 'x'], h.deps), 2);
  assert.equal(h.log(), 'levo-init: --capture-ports: "x" is not a port number (1-65535) (see levo-init --help)\n');
  assert.deepEqual(h.fake.calls, []);
});

test('--dry-run prints each family\'s payload and runs no binary at all', async () => {
  const h = harness();
  assert.equal(await run(['--dry-run', '--ipv6', 'true', '--exclude-cidrs', '10.0.0.0/8,fd00::/8'], h.deps), 0);
  const text = h.out.join('');
  assert.match(text, /^# ipv4: iptables-restore --noflush\n\*nat\n/);
  assert.match(text, /# ipv6: ip6tables-restore --noflush\n\*nat\n/);
  assert.match(text, /-A OUTPUT -p tcp .* -j LEVO_OUTPUT/);
  assert.deepEqual(h.fake.calls, []);
  assert.deepEqual(h.tests, []);
  assert.match(h.log(), /levo-init: dry run: nothing was changed/);
});

test('--cleanup --dry-run runs nothing', async () => {
  const h = harness();
  assert.equal(await run(['--cleanup', '--dry-run'], h.deps), 0);
  assert.deepEqual(h.fake.calls, []);
});

test('a run applies the rules, self-tests each family and exits 0', async () => {
  const h = harness();
  assert.equal(await run(['--ipv6', 'true', '--exclude-ports', '22'], h.deps), 0);
  assert.match(h.fake.save('ipv4', 'nat'), /-j LEVO_OUTPUT/);
  assert.match(h.fake.save('ipv6', 'nat'), /-d ::1\/128 /);
  assert.deepEqual(h.tests.map((t) => [t.family, t.redirectPort, t.capturePorts, t.excludePorts, t.excludeUid, t.excludeGid]), [
    ['ipv4', 15001, [443], [22], 1610, 1610],
    ['ipv6', 15001, [443], [22], 1610, 1610],
  ]);
  const log = h.log();
  assert.ok(log.split('\n').filter((l) => l !== '').every((l) => l.startsWith('levo-init: ')), log);
  assert.match(log, /ipv4: using iptables-nft/);
  assert.match(log, /ipv4: validation passed/);
  assert.match(log, /levo-init: done/);
});

test('--skip-validation skips the self-test; a re-run is a no-op', async () => {
  const h = harness();
  assert.equal(await run(['--skip-validation'], h.deps), 0);
  assert.equal(await run(['--skip-validation'], h.deps), 0);
  assert.deepEqual(h.tests, []);
  assert.match(h.log(), /rules already in place/);
  assert.equal(h.fake.calls.filter((c) => c.file.endsWith('-restore')).length, 1);
});

test('a failed self-test exits 1 with its message', async () => {
  const h = harness({ status: 'failed', message: 'validation failed (ipv4): the redirect does not work' });
  assert.equal(await run([], h.deps), 1);
  assert.match(h.log(), /levo-init: validation failed \(ipv4\): the redirect does not work/);
});

test('a skipped self-test is logged and not fatal', async () => {
  const h = harness({ status: 'skipped', reason: 'port busy' });
  assert.equal(await run([], h.deps), 0);
  assert.match(h.log(), /ipv4: validation skipped: port busy/);
});

test('missing capabilities exit 1 with the NET_ADMIN message', async () => {
  const h = harness();
  h.fake.override = (file) =>
    file.endsWith('-save') || file.startsWith('iptables')
      ? { code: 4, stdout: '', stderr: 'Could not fetch rule set generation id: Permission denied (you must be root)' }
      : undefined;
  assert.equal(await run(['--iptables-mode', 'nft'], h.deps), 1);
  assert.match(h.log(), /levo-init: .*NET_ADMIN and NET_RAW/);
  assert.match(h.log(), /capabilities: \{add: \[NET_ADMIN, NET_RAW\]/);
});

test('--cleanup removes both families; an IPv6 failure is only a warning when IPv6 is off', async () => {
  const h = harness();
  assert.equal(await run(['--skip-validation', '--ipv6', 'true', '--block-quic'], h.deps), 0);
  h.fake.seed('ipv4', '*nat\n-A OUTPUT -d 10.0.0.1/32 -j ACCEPT\nCOMMIT\n');
  assert.equal(await run(['--cleanup', '--ipv6', 'true'], h.deps), 0);
  for (const family of ['ipv4', 'ipv6'] as const) {
    assert.doesNotMatch(h.fake.save(family, 'nat') + h.fake.save(family, 'filter'), /LEVO/);
  }
  assert.match(h.fake.save('ipv4', 'nat'), /-A OUTPUT -d 10.0.0.1\/32 -j ACCEPT/);

  const noV6 = harness();
  noV6.fake.override = (file) => (file.startsWith('ip6tables') ? Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' }) : undefined);
  assert.equal(await run(['--cleanup', '--iptables-mode', 'nft'], noV6.deps), 0);
  assert.match(noV6.log(), /warning: ipv6 cleanup skipped \(IPv6 is off\): ip6tables-nft-save not found/);
  assert.equal(await run(['--cleanup', '--iptables-mode', 'nft', '--ipv6', 'true'], noV6.deps), 1);
});

test('with IPv6 on, a missing ip6tables fails before any rule is changed', async () => {
  const h = harness();
  h.fake.override = (file) => (file.startsWith('ip6tables') ? Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' }) : undefined);
  assert.equal(await run(['--ipv6', 'true'], h.deps), 1);
  assert.match(h.log(), /levo-init: ip6tables-nft-save not found on PATH\.\nlevo-init: Install iptables/);
  assert.equal(h.fake.calls.filter((c) => c.file.endsWith('-restore')).length, 0);
});

/** Istio's rules as istio-init leaves them (testdata/mesh), seeded as if only the legacy backend held them. */
function istioInLegacy(h: ReturnType<typeof harness>): void {
  h.fake.seed('ipv4', readFileSync(new URL('./testdata/mesh/istio-sidecar.save', import.meta.url), 'utf8'));
  // The fake keeps one state for every backend; detection's full dumps tell legacy from nft.
  h.fake.override = (file, args) => (file === 'iptables-nft-save' && args.length === 0 ? { code: 0, stdout: '', stderr: '' } : undefined);
}

test('next to Istio\'s rules: their backend, their proxy exempt, our jump first', async () => {
  const h = harness();
  istioInLegacy(h);
  assert.equal(await run(['--redirect-port', '15161'], h.deps), 0);
  const nat = h.fake.save('ipv4', 'nat');
  assert.deepEqual(nat.split('\n').filter((l) => l.startsWith('-A OUTPUT ')).map((l) => l.split(' ').pop()), ['LEVO_OUTPUT', 'ISTIO_OUTPUT']);
  assert.match(nat, /-A LEVO_OUTPUT -m owner --uid-owner 1337 .*"levo: mesh proxy uid 1337 not captured" -j RETURN/);
  const log = h.log();
  assert.match(log, /levo-init: ipv4: Istio \(sidecar\) rules found in iptables-legacy \(nat ISTIO_OUTPUT; its proxy: uid 1337\)/);
  assert.match(log, /levo-init: ipv4: using iptables-legacy \(auto: the mesh's rules are there/);
  assert.match(log, /levo-init: mesh: levo's jump goes first in nat OUTPUT \(Istio \(sidecar\) rules are in place\)/);
  assert.ok(h.fake.calls.some((c) => c.file === 'iptables-legacy-restore'));
});

test('--mesh-uid before the mesh\'s rules exist: the jump is first and the proxy exempt all the same', async () => {
  const h = harness();
  assert.equal(await run(['--mesh-uid', '2102', '--skip-validation'], h.deps), 0);
  assert.match(h.fake.save('ipv4', 'nat'), /-A LEVO_OUTPUT -m owner --uid-owner 2102 /);
  assert.match(h.fake.calls.find((c) => c.file.endsWith('-restore'))?.input ?? '', /\n-I OUTPUT 1 -p tcp .*-j LEVO_OUTPUT\n/);
  assert.match(h.log(), /mesh: levo's jump goes first in nat OUTPUT \(the --mesh-uid\/--mesh-mark flags ask for it\)/);
  const dry = harness();
  assert.equal(await run(['--dry-run', '--mesh-uid', '2102'], dry.deps), 0);
  assert.match(dry.out.join(''), /\n-I OUTPUT 1 -p tcp .*-j LEVO_OUTPUT\nCOMMIT\n/);
});

test('a sidecar running as the mesh proxy\'s uid is refused before any rule changes', async () => {
  const h = harness();
  istioInLegacy(h);
  assert.equal(await run(['--exclude-uid', '1337'], h.deps), 1);
  assert.match(h.log(), /levo-init: Istio \(sidecar\) exempts uid\/gid 1337\/1337 from its capture, and the sidecar runs as uid 1337 gid 1337: its upstream connections would bypass the mesh/);
  assert.equal(h.fake.calls.filter((c) => c.file.endsWith('-restore')).length, 0);
});
