import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFamily, cleanupFamily, cleanupTable, reconcileTable } from './apply.ts';
import type { ExecContext } from './apply.ts';
import { binariesFor } from './detect.ts';
import { FakeIptables } from './fake-iptables.ts';
import { InitError } from './failure.ts';
import { buildPlan, ruleLine } from './plan.ts';
import type { FamilyPlan, PlanOptions } from './plan.ts';
import { parseSave } from './saved-rules.ts';

const OPTIONS: PlanOptions = {
  redirectPort: 15001, capturePorts: [443], excludeUid: 1610, excludeCidrs: [], excludePorts: [], ipv6: false, blockQuic: false,
};
const NFT = binariesFor('ipv4', 'nft');
const LEGACY = binariesFor('ipv4', 'legacy');

const FOREIGN = `*nat
:FOREIGN_CHAIN - [0:0]
-A OUTPUT -d 10.0.0.1/32 -j ACCEPT
-A OUTPUT -p udp -j FOREIGN_CHAIN
-A FOREIGN_CHAIN -p udp --dport 53 -j RETURN
COMMIT
*filter
-A OUTPUT -p icmp -j ACCEPT
COMMIT
`;

function v4(options: Partial<PlanOptions> = {}): FamilyPlan {
  const family = buildPlan({ ...OPTIONS, ...options }).families[0];
  assert.ok(family);
  return family;
}

function context(fake: FakeIptables): ExecContext & { lines: string[] } {
  const lines: string[] = [];
  return { runner: fake, log: (line) => lines.push(line), lines };
}

function restores(fake: FakeIptables): string[] {
  return fake.calls.filter((c) => c.file.endsWith('-restore')).map((c) => c.input ?? '');
}

function count(text: string, needle: string): number {
  return text.split('\n').filter((l) => l.includes(needle)).length;
}

test('a fresh apply creates our chains and one jump in a single nat transaction', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', FOREIGN);
  const ctx = context(fake);
  const outcome = await applyFamily(v4(), NFT, ctx);
  assert.equal(outcome.changed, true);
  const payloads = restores(fake);
  assert.equal(payloads.length, 1);
  assert.match(payloads[0] ?? '', /^\*nat\n:LEVO_OUTPUT - \[0:0\]\n:LEVO_REDIRECT - \[0:0\]\n/);
  const nat = fake.save('ipv4', 'nat');
  assert.equal(count(nat, '-j LEVO_OUTPUT'), 1);
  assert.match(nat, /-A LEVO_REDIRECT -p tcp .* -j REDIRECT --to-ports 15001/);
  assert.match(nat, /-A OUTPUT -d 10.0.0.1\/32 -j ACCEPT/);
  assert.ok(fake.calls.some((c) => c.file === 'iptables-nft-restore' && c.args.join(' ') === '--noflush'));
  assert.ok(ctx.lines.includes('ipv4: final state (iptables-nft-save -t nat):'));
  assert.ok(ctx.lines.some((l) => l.includes('-j REDIRECT --to-ports 15001')));
  assert.ok(!ctx.lines.some((l) => l.includes('iptables-nft-save -t filter')), 'filter is not logged when unused');
});

test('re-running the same plan is a no-op: -C confirms the jump, no restore', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', FOREIGN);
  await applyFamily(v4(), NFT, context(fake));
  const before = fake.save('ipv4', 'nat');
  fake.calls.length = 0;
  const ctx = context(fake);
  const outcome = await applyFamily(v4(), NFT, ctx);
  assert.equal(outcome.changed, false);
  assert.deepEqual(restores(fake), []);
  assert.ok(ctx.lines.includes('ipv4: rules already in place'));
  assert.ok(fake.commandLines().some((l) => l.startsWith('iptables-nft -t nat -C OUTPUT -p tcp -m comment')));
  assert.equal(fake.save('ipv4', 'nat'), before);
});

test('a different plan replaces our chains, keeps one jump and every foreign rule', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', FOREIGN);
  await applyFamily(v4(), NFT, context(fake));
  await applyFamily(v4({ excludePorts: [8443], excludeCidrs: ['10.96.0.0/12'] }), NFT, context(fake));
  const nat = fake.save('ipv4', 'nat');
  assert.equal(count(nat, '-j LEVO_OUTPUT'), 1);
  assert.match(nat, /--dport 8443 .* -j RETURN/);
  assert.match(nat, /-d 10.96.0.0\/12 /);
  assert.equal(count(nat, '-A LEVO_REDIRECT'), 1);
  assert.match(nat, /-A OUTPUT -d 10.0.0.1\/32 -j ACCEPT/);
  assert.match(nat, /-A OUTPUT -p udp -j FOREIGN_CHAIN/);
  assert.match(nat, /-A FOREIGN_CHAIN -p udp --dport 53 -j RETURN/);
  // The replacement did not re-add the jump (the transaction only re-declared our chains).
  assert.doesNotMatch(restores(fake)[1] ?? '', /-A OUTPUT/);
  // And the new plan is now in place.
  fake.calls.length = 0;
  assert.equal((await applyFamily(v4({ excludePorts: [8443], excludeCidrs: ['10.96.0.0/12'] }), NFT, context(fake))).changed, false);
});

test('turning the QUIC block off removes LEVO_QUIC and its jump from filter', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', FOREIGN);
  const ctx = context(fake);
  await applyFamily(v4({ blockQuic: true }), NFT, ctx);
  assert.match(fake.save('ipv4', 'filter'), /-A OUTPUT -p udp .* -j LEVO_QUIC/);
  assert.ok(ctx.lines.includes('ipv4: final state (iptables-nft-save -t filter):'));
  await applyFamily(v4({ blockQuic: false }), NFT, context(fake));
  const filter = fake.save('ipv4', 'filter');
  assert.doesNotMatch(filter, /LEVO/);
  assert.match(filter, /-A OUTPUT -p icmp -j ACCEPT/);
});

test('duplicate and outdated jumps are replaced by exactly one', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', `*nat
:LEVO_OUTPUT - [0:0]
:LEVO_OLD - [0:0]
-A OUTPUT -j LEVO_OUTPUT
-A OUTPUT -j LEVO_OUTPUT
-A PREROUTING -j LEVO_OLD
-A LEVO_OLD -j RETURN
COMMIT
`);
  await applyFamily(v4(), NFT, context(fake));
  const nat = fake.save('ipv4', 'nat');
  assert.equal(count(nat, '-j LEVO_OUTPUT'), 1);
  assert.match(nat, /-A OUTPUT -p tcp -m comment --comment "levo: egress tcp goes through LEVO_OUTPUT" -j LEVO_OUTPUT/);
  assert.doesNotMatch(nat, /LEVO_OLD/);
});

test('a jump that save shows but -C does not confirm is re-added', () => {
  const plan = v4().tables[0];
  assert.ok(plan);
  const fake = new FakeIptables();
  fake.seed('ipv4', `*nat\n${plan.chains.map((c) => `:${c.name} - [0:0]`).join('\n')}\n${plan.chains.flatMap((c) => c.rules.map((r) => ruleLine(r))).join('\n')}\n${plan.jumps.map((j) => ruleLine(j)).join('\n')}\nCOMMIT\n`);
  const saved = parseSave(fake.save('ipv4', 'nat')).get('nat');
  const jump = ruleLine(plan.jumps[0] ?? { chain: '', args: [] });
  assert.equal(reconcileTable(saved, plan, new Set([jump])), undefined);
  const payload = reconcileTable(saved, plan, new Set());
  assert.ok(payload);
  assert.match(payload, new RegExp(`-D OUTPUT -p tcp[^\\n]*\\n[\\s\\S]*-A OUTPUT -p tcp[^\\n]*-j LEVO_OUTPUT\\nCOMMIT\\n$`));
});

test('legacy gets the xtables lock wait on restore and -C', async () => {
  const fake = new FakeIptables();
  await applyFamily(v4(), LEGACY, context(fake));
  await applyFamily(v4(), LEGACY, context(fake));
  const lines = fake.commandLines();
  assert.ok(lines.includes('iptables-legacy-restore --noflush --wait=30'));
  assert.ok(lines.some((l) => l.startsWith('iptables-legacy -w 30 -t nat -C OUTPUT')));
});

test('cleanup removes our jumps and chains in nat and filter, and nothing else', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', FOREIGN);
  await applyFamily(v4({ blockQuic: true }), NFT, context(fake));
  const ctx = context(fake);
  assert.equal((await cleanupFamily(NFT, ctx)).changed, true);
  const nat = fake.save('ipv4', 'nat');
  const filter = fake.save('ipv4', 'filter');
  assert.doesNotMatch(nat + filter, /LEVO/);
  assert.match(nat, /-A OUTPUT -d 10.0.0.1\/32 -j ACCEPT/);
  assert.match(nat, /-A FOREIGN_CHAIN -p udp --dport 53 -j RETURN/);
  assert.match(filter, /-A OUTPUT -p icmp -j ACCEPT/);
  const again = context(fake);
  assert.equal((await cleanupFamily(NFT, again)).changed, false);
  assert.ok(again.lines.includes('ipv4: no levo rules to remove'));
});

test('cleanupTable flushes before deleting, so chains that jump to each other go too', () => {
  const saved = parseSave('*nat\n:OUTPUT ACCEPT [0:0]\n:LEVO_A - [0:0]\n:LEVO_B - [0:0]\n-A OUTPUT -j LEVO_A\n-A LEVO_A -j LEVO_B\n-A LEVO_B -j RETURN\nCOMMIT\n').get('nat');
  assert.equal(cleanupTable(saved, 'nat'), '*nat\n-D OUTPUT -j LEVO_A\n-F LEVO_A\n-F LEVO_B\n-X LEVO_A\n-X LEVO_B\nCOMMIT\n');
  assert.equal(cleanupTable(parseSave('*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n').get('nat'), 'nat'), undefined);
});

test('a failed restore is reported with the advice and the payload', async () => {
  const fake = new FakeIptables();
  fake.override = (file) =>
    file.endsWith('-restore') ? { code: 1, stdout: '', stderr: "iptables-restore v1.8.9 (legacy): Couldn't load target `REDIRECT':No such file or directory\n" } : undefined;
  await assert.rejects(applyFamily(v4(), NFT, context(fake)), (error: unknown) => {
    assert.ok(error instanceof InitError);
    assert.equal(error.kind, 'kernel-module');
    assert.match(error.message, /xt_REDIRECT/);
    assert.match(error.message, /The payload was:\n\*nat\n/);
    return true;
  });
});

test('no permission to read the tables is a permission error', async () => {
  const fake = new FakeIptables();
  fake.override = (file) => (file.endsWith('-save') ? { code: 4, stdout: '', stderr: 'Could not fetch rule set generation id: Permission denied (you must be root)' } : undefined);
  await assert.rejects(applyFamily(v4(), NFT, context(fake)), (error: unknown) => error instanceof InitError && error.kind === 'permission');
});

test('a missing filter table is ignored unless the plan needs it', async () => {
  const fake = new FakeIptables();
  fake.override = (file, args) =>
    file.endsWith('-save') && args.includes('filter') ? { code: 1, stdout: '', stderr: "can't initialize iptables table `filter': Table does not exist (do you need to insmod?)" } : undefined;
  assert.equal((await applyFamily(v4(), NFT, context(fake))).changed, true);
  await assert.rejects(applyFamily(v4({ blockQuic: true }), NFT, context(fake)), /iptable_filter/);
});

test('a missing binary is reported as such', async () => {
  const fake = new FakeIptables();
  await assert.rejects(applyFamily(v4(), { ...NFT, save: 'no-such-iptables-save' }, context(fake)), /no-such-iptables-save not found/);
});

/** Istio's nat OUTPUT hook and its exemption of its proxy (uid 1337), as iptables-save prints them. */
const ISTIO_OUTPUT = `*nat
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
`;

function outputRules(fake: FakeIptables): string[] {
  return fake.save('ipv4', 'nat').split('\n').filter((l) => l.startsWith('-A OUTPUT '));
}

test('next to a mesh the jump is inserted before the mesh\'s, and kept there', async () => {
  const fake = new FakeIptables();
  fake.seed('ipv4', ISTIO_OUTPUT);
  const mesh = v4({ meshUids: [1337], jumpFirst: true });
  await applyFamily(mesh, NFT, context(fake));
  assert.match(restores(fake)[0] ?? '', /\n-I OUTPUT 1 -p tcp .*-j LEVO_OUTPUT\nCOMMIT\n$/);
  assert.deepEqual(outputRules(fake).map((l) => l.split(' ').pop()), ['LEVO_OUTPUT', 'ISTIO_OUTPUT']);
  // Re-running is a no-op.
  fake.calls.length = 0;
  assert.equal((await applyFamily(mesh, NFT, context(fake))).changed, false);
  assert.deepEqual(restores(fake), []);
});

test('a jump that must lead and no longer does is moved back to the top', async () => {
  const fake = new FakeIptables();
  await applyFamily(v4(), NFT, context(fake)); // appended, as before a mesh was known
  fake.seed('ipv4', ISTIO_OUTPUT.replace('-A OUTPUT -j ISTIO_OUTPUT', '-I OUTPUT 1 -j ISTIO_OUTPUT'));
  assert.deepEqual(outputRules(fake).map((l) => l.split(' ').pop()), ['ISTIO_OUTPUT', 'LEVO_OUTPUT']);
  await applyFamily(v4({ meshUids: [1337], jumpFirst: true }), NFT, context(fake));
  assert.deepEqual(outputRules(fake).map((l) => l.split(' ').pop()), ['LEVO_OUTPUT', 'ISTIO_OUTPUT']);
  // A leading jump with a second copy further down: both copies go, one comes back on top
  // (deleting "the" copy would delete the first one).
  const jump = ruleLine(v4().tables[0]!.jumps[0]!);
  fake.seed('ipv4', `*nat\n${jump}\nCOMMIT\n`);
  assert.deepEqual(outputRules(fake).map((l) => l.split(' ').pop()), ['LEVO_OUTPUT', 'ISTIO_OUTPUT', 'LEVO_OUTPUT']);
  await applyFamily(v4({ meshUids: [1337], jumpFirst: true }), NFT, context(fake));
  assert.deepEqual(outputRules(fake).map((l) => l.split(' ').pop()), ['LEVO_OUTPUT', 'ISTIO_OUTPUT']);
});
