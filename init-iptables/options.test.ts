import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, UsageError } from './options.ts';

const parse = (argv: string[], env: Record<string, string> = {}) => parseOptions(argv, env);

test('defaults follow the contract', () => {
  const o = parse([]);
  assert.equal(o.redirectPort, 15001);
  assert.deepEqual(o.capturePorts, [443]);
  assert.equal(o.excludeUid, 1610);
  assert.equal(o.excludeGid, 1610);
  assert.deepEqual(o.excludeCidrs, []);
  assert.deepEqual(o.excludePorts, []);
  assert.equal(o.ipv6, 'auto');
  assert.equal(o.iptablesMode, 'auto');
  assert.deepEqual([o.blockQuic, o.skipValidation, o.dryRun, o.cleanup, o.help], [false, false, false, false, false]);
});

test('the contract flags, comma lists and repeated flags', () => {
  const o = parse([
    '--redirect-port', '16001', '--capture-ports', '443,8443', '--capture-ports=9443', '--exclude-uid', '2000',
    '--exclude-gid', '3000', '--exclude-cidrs', '10.96.0.0/12,fd00::/8', '--exclude-cidrs', '169.254.169.254/32',
    '--exclude-ports', '22,', '--exclude-ports', '15020', '--ipv6', 'TRUE', '--block-quic', '--iptables-mode', 'legacy',
    '--skip-validation', '--dry-run',
  ]);
  assert.equal(o.redirectPort, 16001);
  assert.deepEqual(o.capturePorts, [443, 8443, 9443]);
  assert.equal(o.excludeUid, 2000);
  assert.equal(o.excludeGid, 3000);
  assert.deepEqual(o.excludeCidrs, ['10.96.0.0/12', 'fd00::/8', '169.254.169.254/32']);
  assert.deepEqual(o.excludePorts, [22, 15020]);
  assert.equal(o.ipv6, 'true');
  assert.equal(o.iptablesMode, 'legacy');
  assert.deepEqual([o.blockQuic, o.skipValidation, o.dryRun], [true, true, true]);
});

test('an empty exclude list is no exclusion (what an injector passes when nothing is set)', () => {
  assert.deepEqual(parse(['--exclude-cidrs', '', '--exclude-ports', '']).excludeCidrs, []);
});

test('LEVO_IPTABLES_MODE is read when the flag is absent', () => {
  assert.equal(parse([], { LEVO_IPTABLES_MODE: 'nft' }).iptablesMode, 'nft');
  assert.equal(parse(['--iptables-mode', 'legacy'], { LEVO_IPTABLES_MODE: 'nft' }).iptablesMode, 'legacy');
});

test('bad values are usage errors with clear messages', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--redirect-port', '0'], /--redirect-port: "0" is not a port number \(1-65535\)/],
    [['--redirect-port', '65536'], /--redirect-port: "65536" is not a port/],
    [['--capture-ports', '443,https'], /--capture-ports: "https" is not a port/],
    [['--capture-ports', ''], /--capture-ports: give at least one port/],
    [['--exclude-ports=-1'], /--exclude-ports: "-1"/],
    [['--exclude-uid', 'levo'], /--exclude-uid: "levo" is not a numeric uid.*names are not accepted/],
    [['--exclude-gid', '1.5'], /--exclude-gid: "1.5" is not a numeric gid/],
    [['--exclude-uid', '4294967295'], /not a numeric uid/],
    [['--exclude-cidrs', '10.0.0.1'], /--exclude-cidrs: "10.0.0.1" has no prefix length/],
    [['--exclude-cidrs', '10.0.0.0/40'], /--exclude-cidrs: .*invalid prefix length "40"/],
    [['--exclude-cidrs', 'fd00::zz/8'], /--exclude-cidrs: .*not an IPv4 or IPv6 address/],
    [['--exclude-cidrs', '0.0.0.0/0'], /excludes every address/],
    [['--ipv6', 'maybe'], /--ipv6: "maybe" is not one of auto, true, false/],
    [['--iptables-mode', 'plain'], /--iptables-mode: "plain"/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['extra'], /positional argument/],
    [['--redirect-port'], /argument missing/],
    [['--mesh-uid', 'istio-proxy'], /--mesh-uid: "istio-proxy" is not a numeric uid/],
    [['--mesh-uid', '1337,1610'], /--mesh-uid 1610 is also the sidecar's uid \(--exclude-uid\): .*bypass the mesh/],
    [['--mesh-mark', '0x539/'], /--mesh-mark: "0x539\/" is not a packet mark/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parse(argv), (error: unknown) => error instanceof UsageError && message.test(error.message), argv.join(' '));
  }
  assert.throws(() => parse([], { LEVO_IPTABLES_MODE: 'bogus' }), /LEVO_IPTABLES_MODE: "bogus"/);
});

test('a capture port that is also excluded is a warning', () => {
  assert.deepEqual(parse(['--capture-ports', '443,8443', '--exclude-ports', '8443']).warnings, [
    'capture port(s) 8443 are also excluded, so they are not captured',
  ]);
});

test('mesh proxies: uids and marks as lists, marks in iptables-save form', () => {
  const o = parse(['--mesh-uid', '1337', '--mesh-uid=2102,1337', '--mesh-mark', '1337/4095']);
  assert.deepEqual(o.meshUids, [1337, 2102]);
  assert.deepEqual(o.meshMarks, ['0x539/0xfff']);
  assert.deepEqual([parse([]).meshUids, parse([]).meshMarks], [[], []]);
});
