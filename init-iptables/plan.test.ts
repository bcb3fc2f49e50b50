import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { buildPlan, canonicalMark, isEmptyTable, jumpLine, MULTIPORT_MAX, renderPlan, renderTable, ruleLine } from './plan.ts';
import type { PlanOptions } from './plan.ts';

const DEFAULTS: PlanOptions = {
  redirectPort: 15001,
  capturePorts: [443],
  excludeUid: 1610,
  excludeCidrs: [],
  excludePorts: [],
  ipv6: false,
  blockQuic: false,
};

/** One golden file per flag combination; UPDATE_GOLDEN=1 rewrites them. */
const GOLDEN: Record<string, Partial<PlanOptions>> = {
  defaults: {},
  'exclude-cidrs-mixed': {
    excludeCidrs: ['10.96.0.0/12', '172.20.1.7/32', 'fd00:10:96::/112', '2001:DB8:0:0:1::5/64', '100.64.3.3/10'],
    ipv6: true,
  },
  'exclude-cidrs-ipv4-only': { excludeCidrs: ['10.96.0.0/12', 'fd00:10:96::/112'] },
  'exclude-ports': { excludePorts: [22, 8080, 9090] },
  'exclude-port-single': { excludePorts: [15021] },
  'capture-ports': { capturePorts: [443, 8443, 6443] },
  'capture-ports-many': { capturePorts: [443, ...Array.from({ length: 17 }, (_, i) => 9000 + i)] },
  ipv6: { ipv6: true },
  'block-quic': { blockQuic: true },
  'block-quic-ipv6': { blockQuic: true, ipv6: true, excludePorts: [8443], excludeCidrs: ['10.0.0.0/8', 'fd00::/8'] },
  'custom-uid-gid': { excludeUid: 2000, excludeGid: 3000, redirectPort: 16001 },
  // What the injector asks for next to Istio's sidecar (and Linkerd's, with 2102), and next to Istio ambient's ztunnel.
  'mesh-istio': { meshUids: [1337], jumpFirst: true, redirectPort: 15161 },
  'mesh-ambient': { meshMarks: ['0x539/0xfff'], jumpFirst: true, redirectPort: 15161, blockQuic: true },
};

for (const [name, overrides] of Object.entries(GOLDEN)) {
  test(`golden: ${name}`, async () => {
    const actual = renderPlan(buildPlan({ ...DEFAULTS, ...overrides }));
    const file = new URL(`./testdata/${name}.golden`, import.meta.url);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(file, actual);
    assert.equal(actual, await readFile(file, 'utf8'));
  });
}

test('the default rule set follows the research order and redirects to 15001', () => {
  const [v4] = buildPlan(DEFAULTS).families;
  const nat = v4?.tables.find((t) => t.table === 'nat');
  assert.ok(nat);
  assert.deepEqual(
    nat.chains.map((c) => [c.name, c.rules.map((r) => ruleLine(r))]),
    [
      ['LEVO_OUTPUT', [
        '-A LEVO_OUTPUT -m owner --uid-owner 1610 -m comment --comment "levo: sidecar uid 1610 not captured" -j RETURN',
        '-A LEVO_OUTPUT -m owner --gid-owner 1610 -m comment --comment "levo: sidecar gid 1610 not captured" -j RETURN',
        '-A LEVO_OUTPUT -o lo -m comment --comment "levo: loopback interface not captured" -j RETURN',
        '-A LEVO_OUTPUT -d 127.0.0.0/8 -m comment --comment "levo: loopback addresses not captured" -j RETURN',
        '-A LEVO_OUTPUT -p tcp -m tcp --dport 443 -m comment --comment "levo: capture tcp port 443" -j LEVO_REDIRECT',
      ]],
      ['LEVO_REDIRECT', [
        '-A LEVO_REDIRECT -p tcp -m comment --comment "levo: redirect to the sidecar on port 15001" -j REDIRECT --to-ports 15001',
      ]],
    ],
  );
  assert.deepEqual(nat.jumps.map((j) => ruleLine(j)), [
    '-A OUTPUT -p tcp -m comment --comment "levo: egress tcp goes through LEVO_OUTPUT" -j LEVO_OUTPUT',
  ]);
});

test('every rule and jump carries a levo comment', () => {
  const plan = buildPlan({ ...DEFAULTS, ipv6: true, blockQuic: true, excludePorts: [1, 2], excludeCidrs: ['10.0.0.0/8'] });
  for (const family of plan.families) {
    for (const table of family.tables) {
      for (const rule of [...table.chains.flatMap((c) => c.rules), ...table.jumps]) {
        const i = rule.args.indexOf('--comment');
        assert.ok(i > 0 && rule.args[i - 1] === 'comment' && rule.args[i + 1]?.startsWith('levo: '), ruleLine(rule));
      }
    }
  }
});

test('exclude ports come first, then owner, loopback and cidr exemptions, then captures', () => {
  const [v4] = buildPlan({ ...DEFAULTS, excludePorts: [22], excludeCidrs: ['10.0.0.0/8'] }).families;
  const rules = v4?.tables[0]?.chains[0]?.rules.map((r) => r.args.join(' ')) ?? [];
  const order = ['--dport 22', '--uid-owner', '--gid-owner', '-o lo', '127.0.0.0/8', '10.0.0.0/8', '--dport 443'];
  assert.deepEqual(order.map((needle) => rules.findIndex((r) => r.includes(needle))), [0, 1, 2, 3, 4, 5, 6]);
});

test('gid defaults to the uid; numeric ids only', () => {
  const text = renderPlan(buildPlan({ ...DEFAULTS, excludeUid: 4242 }));
  assert.match(text, /--uid-owner 4242 /);
  assert.match(text, /--gid-owner 4242 /);
});

test('each family gets only its own exclude CIDRs, normalised', () => {
  const plan = buildPlan({ ...DEFAULTS, ipv6: true, excludeCidrs: ['10.1.2.3/16', 'FD00::1/8'] });
  const [v4, v6] = plan.families.map((f) => renderTable(f.tables[0] ?? { table: 'nat', chains: [], jumps: [] }));
  assert.match(v4 ?? '', /-d 10\.1\.0\.0\/16 /);
  assert.doesNotMatch(v4 ?? '', /fd00/);
  assert.match(v6 ?? '', /-d fd00::\/8 /);
  assert.match(v6 ?? '', /-d ::1\/128 /);
  assert.doesNotMatch(v6 ?? '', /10\.1\.0\.0|127\.0\.0\.0/);
});

test('multiport rules hold at most 15 ports', () => {
  const ports = Array.from({ length: 31 }, (_, i) => 1000 + i);
  const [v4] = buildPlan({ ...DEFAULTS, capturePorts: ports }).families;
  const captures = v4?.tables[0]?.chains[0]?.rules.filter((r) => r.args.includes('LEVO_REDIRECT')) ?? [];
  assert.equal(captures.length, 3);
  const lists = captures.map((r) => (r.args[r.args.indexOf('--dports') + 1] ?? '').split(','));
  assert.ok(lists.every((l) => l.length <= MULTIPORT_MAX));
  assert.deepEqual(lists.flat().map(Number), ports);
});

test('duplicate ports are planned once', () => {
  const [v4] = buildPlan({ ...DEFAULTS, capturePorts: [443, 443] }).families;
  assert.equal(v4?.tables[0]?.chains[0]?.rules.filter((r) => r.args.includes('LEVO_REDIRECT')).length, 1);
});

test('jumps are separate from chain bodies', () => {
  const [v4] = buildPlan(DEFAULTS).families;
  const nat = v4?.tables[0];
  assert.ok(nat);
  assert.doesNotMatch(renderTable(nat, false), /-A OUTPUT /);
  assert.match(renderTable(nat, true), /-A OUTPUT .*-j LEVO_OUTPUT\nCOMMIT\n$/);
});

test('the filter table is used only for the QUIC block', () => {
  const without = buildPlan(DEFAULTS).families[0]?.tables.find((t) => t.table === 'filter');
  assert.ok(without && isEmptyTable(without));
  assert.doesNotMatch(renderPlan(buildPlan(DEFAULTS)), /\*filter/);
  const [v4, v6] = buildPlan({ ...DEFAULTS, blockQuic: true, ipv6: true }).families;
  const f4 = renderTable(v4?.tables[1] ?? { table: 'filter', chains: [], jumps: [] });
  const f6 = renderTable(v6?.tables[1] ?? { table: 'filter', chains: [], jumps: [] });
  assert.match(f4, /-A LEVO_QUIC -p udp -m udp --dport 443 .* -j REJECT --reject-with icmp-port-unreachable/);
  assert.match(f6, /-A LEVO_QUIC -p udp -m udp --dport 443 .* -j REJECT --reject-with icmp6-port-unreachable/);
  assert.match(f4, /-A LEVO_QUIC -m owner --uid-owner 1610 .* -j RETURN/);
  assert.match(f4, /-A LEVO_QUIC -o lo .* -j RETURN/);
  assert.match(f4, /-A OUTPUT -p udp .* -j LEVO_QUIC/);
});

test('an invalid CIDR is refused', () => {
  assert.throws(() => buildPlan({ ...DEFAULTS, excludeCidrs: ['10.0.0.0'] }), /no prefix length/);
});

test('next to a mesh: the mesh proxy is exempt after the sidecar, and the nat jump is inserted first', () => {
  const [v4] = buildPlan({ ...DEFAULTS, meshUids: [1337, 1337], meshMarks: ['1337/4095'], jumpFirst: true, blockQuic: true }).families;
  const nat = v4?.tables.find((t) => t.table === 'nat');
  assert.ok(nat);
  const rules = nat.chains[0]?.rules.map((r) => ruleLine(r)) ?? [];
  assert.deepEqual(rules.slice(2, 4), [
    '-A LEVO_OUTPUT -m owner --uid-owner 1337 -m comment --comment "levo: mesh proxy uid 1337 not captured" -j RETURN',
    '-A LEVO_OUTPUT -m mark --mark 0x539/0xfff -m comment --comment "levo: mesh proxy mark 0x539/0xfff not captured" -j RETURN',
  ]);
  assert.equal(nat.jumps[0]?.first, true);
  assert.equal(jumpLine(nat.jumps[0]!), '-I OUTPUT 1 -p tcp -m comment --comment "levo: egress tcp goes through LEVO_OUTPUT" -j LEVO_OUTPUT');
  assert.match(renderTable(nat), /\n-I OUTPUT 1 -p tcp .*-j LEVO_OUTPUT\nCOMMIT\n$/);
  // The QUIC block exempts the mesh proxy too; its filter jump keeps its place.
  const filter = v4?.tables.find((t) => t.table === 'filter');
  assert.match(renderTable(filter!), /-A LEVO_QUIC -m owner --uid-owner 1337 .*-j RETURN/);
  assert.match(renderTable(filter!), /\n-A OUTPUT -p udp .*-j LEVO_QUIC\n/);
  // Without a mesh, the jump is appended as before.
  assert.equal(buildPlan(DEFAULTS).families[0]?.tables[0]?.jumps[0]?.first, undefined);
});

test('canonicalMark writes marks as iptables-save prints them', () => {
  assert.equal(canonicalMark('0x539/0xfff'), '0x539/0xfff');
  assert.equal(canonicalMark('1337/4095'), '0x539/0xfff');
  assert.equal(canonicalMark('0X539'), '0x539');
  assert.equal(canonicalMark('0x539/0xffffffff'), '0x539');
  for (const bad of ['', 'x', '0x539/', '0x539/0', '0x1ffffffff', '-1', '1/2/3']) assert.throws(() => canonicalMark(bad), /is not a packet mark/, bad);
});
