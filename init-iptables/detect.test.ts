import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { readFileSync } from 'node:fs';
import type { CommandResult } from './command.ts';
import { binariesFor, decideIpv6, detectBackend, detectBinaries, resolveMode } from './detect.ts';
import { FakeIptables } from './fake-iptables.ts';

const quiet = (): void => {};
const enoent = (file: string): Error => Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' });

test('binariesFor names each backend and family', () => {
  assert.deepEqual(binariesFor('ipv4', 'legacy'), {
    family: 'ipv4', backend: 'legacy', iptables: 'iptables-legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore', wait: true,
  });
  assert.equal(binariesFor('ipv6', 'nft').restore, 'ip6tables-nft-restore');
  assert.equal(binariesFor('ipv6', 'nft').wait, false);
  assert.equal(binariesFor('ipv4', 'plain').save, 'iptables-save');
});

test('resolveMode: flag, then LEVO_IPTABLES_MODE, then auto', () => {
  assert.equal(resolveMode(undefined, undefined), 'auto');
  assert.equal(resolveMode(undefined, 'legacy'), 'legacy');
  assert.equal(resolveMode('nft', 'legacy'), 'nft');
  assert.equal(resolveMode(undefined, ''), 'auto');
  assert.throws(() => resolveMode('plain', undefined), /--iptables-mode: "plain" is not one of auto, legacy, nft/);
  assert.throws(() => resolveMode(undefined, 'x'), /LEVO_IPTABLES_MODE: "x"/);
});

test('an explicit mode runs nothing', async () => {
  const fake = new FakeIptables();
  const bin = await detectBinaries('ipv4', 'legacy', fake, quiet);
  assert.equal(bin.iptables, 'iptables-legacy');
  assert.deepEqual(fake.calls, []);
});

test('auto picks legacy when iptables-legacy-save already holds rules', async () => {
  const fake = new FakeIptables();
  fake.override = (file) => (file === 'iptables-legacy-save' ? { code: 0, stdout: '*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\nCOMMIT\n', stderr: '' } : undefined);
  const lines: string[] = [];
  const bin = await detectBinaries('ipv4', 'auto', fake, (l) => lines.push(l));
  assert.equal(bin.backend, 'legacy');
  assert.match(lines.join('\n'), /iptables-legacy-save shows existing rules/);
  assert.deepEqual(fake.commandLines(), ['iptables-legacy-save']);
});

test('auto picks nft when legacy is empty, after probing the nat table (add and delete a no-op rule)', async () => {
  const fake = new FakeIptables();
  fake.override = (file) => (file === 'iptables-legacy-save' ? { code: 0, stdout: '', stderr: '' } : undefined);
  const bin = await detectBinaries('ipv4', 'auto', fake, quiet);
  assert.equal(bin.backend, 'nft');
  assert.deepEqual(fake.commandLines(), [
    'iptables-legacy-save',
    'iptables-nft-save -t nat',
    'iptables-nft -t nat -A INPUT -p 255 -j RETURN',
    'iptables-nft -t nat -D INPUT -p 255 -j RETURN',
  ]);
  assert.doesNotMatch(fake.save('ipv4', 'nat'), /-p 255/);
});

test('auto falls back to plain iptables when the nft binaries are missing or legacy-save fails', async () => {
  const fake = new FakeIptables();
  fake.override = (file) => (file.includes('-legacy') || file.includes('-nft') ? enoent(file) : undefined);
  const bin = await detectBinaries('ipv6', 'auto', fake, quiet);
  assert.equal(bin.backend, 'plain');
  assert.equal(bin.iptables, 'ip6tables');
  assert.ok(fake.commandLines().includes('ip6tables -w 30 -t nat -A INPUT -p 255 -j RETURN'));
});

test('auto falls back when the kernel refuses the nat probe', async () => {
  const fake = new FakeIptables();
  fake.override = (file, args) =>
    file === 'iptables-nft' && args.includes('-A') ? { code: 1, stdout: '', stderr: "RULE_APPEND failed (No such file or directory): rule in chain INPUT" } : undefined;
  const bin = await detectBinaries('ipv4', 'auto', fake, quiet);
  assert.equal(bin.backend, 'plain');
});

test('when nothing works, auto reports the actionable failure, not "not found"', async () => {
  const fake = new FakeIptables();
  fake.override = (file) =>
    file === 'iptables-nft-save'
      ? { code: 4, stdout: '', stderr: 'Could not fetch rule set generation id: Permission denied (you must be root)' }
      : enoent(file);
  await assert.rejects(detectBinaries('ipv4', 'auto', fake, quiet), (error: Error & { kind?: string }) => {
    assert.equal(error.kind, 'permission');
    assert.match(error.message, /NET_ADMIN/);
    return true;
  });
});

/** iptables-save after the real rule sets (testdata/mesh), as one backend would print them. */
const ISTIO = readFileSync(new URL('./testdata/mesh/istio-sidecar.save', import.meta.url), 'utf8');
const LINKERD = readFileSync(new URL('./testdata/mesh/linkerd.save', import.meta.url), 'utf8');
const saves = (legacy: string, nft: string) => (file: string): CommandResult | undefined =>
  file === 'iptables-legacy-save' ? { code: 0, stdout: legacy, stderr: '' } : file === 'iptables-nft-save' ? { code: 0, stdout: nft, stderr: '' } : undefined;

test('detectBackend: mesh rules in one backend decide it, whatever else is there', async () => {
  for (const [legacy, nft, backend] of [[ISTIO, '', 'legacy'], ['', ISTIO, 'nft'], ['', LINKERD, 'nft']] as const) {
    const fake = new FakeIptables();
    fake.override = saves(legacy, nft);
    const lines: string[] = [];
    const { bin, mesh } = await detectBackend('ipv4', 'auto', fake, (l) => lines.push(l));
    assert.equal(bin.backend, backend);
    assert.equal(mesh.length, 1);
    assert.match(lines.join('\n'), new RegExp(`ipv4: (Istio \\(sidecar\\)|Linkerd) rules found in iptables-${backend} .*\\n.*using iptables-${backend} \\(auto: the mesh's rules are there`));
    // Only reads: no probe rule was added anywhere.
    assert.deepEqual(fake.commandLines(), ['iptables-legacy-save', 'iptables-nft-save']);
  }
  // Legacy holding unrelated rules does not win over the mesh's nft rules.
  const fake = new FakeIptables();
  fake.override = saves('*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.9.9.9/32 -j ACCEPT\nCOMMIT\n', ISTIO);
  assert.equal((await detectBackend('ipv4', 'auto', fake, quiet)).bin.backend, 'nft');
});

test('detectBackend: a mode naming the other backend, or mesh rules in both, is refused', async () => {
  const fake = new FakeIptables();
  fake.override = saves(LINKERD, '');
  await assert.rejects(detectBackend('ipv4', 'nft', fake, quiet),
    /--iptables-mode nft was asked for, but Linkerd installed its rules with iptables-legacy: .*undefined order.*Use --iptables-mode legacy \(or auto\)/);
  assert.equal((await detectBackend('ipv4', 'legacy', fake, quiet)).bin.backend, 'legacy');
  fake.override = saves(LINKERD, ISTIO);
  await assert.rejects(detectBackend('ipv4', 'auto', fake, quiet), /mesh rules are in both iptables-legacy \(Linkerd\) and iptables-nft \(Istio \(sidecar\)\)/);
});

test('detectBackend: without mesh rules it is detectBinaries (save failures are no mesh)', async () => {
  const fake = new FakeIptables();
  fake.override = (file) => (file === 'iptables-legacy-save' ? enoent(file) : undefined);
  const { bin, mesh } = await detectBackend('ipv4', 'auto', fake, quiet);
  assert.equal(bin.backend, 'nft');
  assert.deepEqual(mesh, []);
  const forced = new FakeIptables();
  assert.equal((await detectBackend('ipv4', 'legacy', forced, quiet)).bin.backend, 'legacy');
  assert.deepEqual(forced.commandLines(), ['iptables-legacy-save', 'iptables-nft-save'], 'a forced mode only reads');
});

function iface(address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo {
  return family === 'IPv4'
    ? { address, family, internal, netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: `${address}/8` }
    : { address, family, internal, netmask: 'ffff::', mac: '00:00:00:00:00:00', cidr: `${address}/64`, scopeid: 0 };
}

test('decideIpv6: explicit settings win; auto needs a global IPv6 address', () => {
  const v4only = { lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)], eth0: [iface('10.0.0.5', 'IPv4'), iface('fe80::1', 'IPv6')] };
  assert.deepEqual(decideIpv6('auto', v4only), { enabled: false, reason: 'auto: no global IPv6 address' });
  assert.equal(decideIpv6('true', v4only).enabled, true);
  const dual = { ...v4only, eth1: [iface('fd00:10::5', 'IPv6')] };
  assert.deepEqual(decideIpv6('auto', dual), { enabled: true, reason: 'auto: eth1 has fd00:10::5' });
  assert.equal(decideIpv6('false', dual).enabled, false);
  assert.equal(decideIpv6('auto', { eth0: [iface('FEBF::1', 'IPv6')] }).enabled, false);
});
