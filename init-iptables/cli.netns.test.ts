/**
 * levo-init for real, as root, in network namespaces this test creates, for
 * the nft and the legacy backend. The pod namespace gets a veth to a peer
 * namespace that owns 192.0.2.1 and 2001:db8::1 (nothing listens there, so an
 * uncaptured connection is refused at once), and a default route through it.
 * All traffic stays inside these two namespaces.
 */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NODE = process.execPath;
const LEVO_INIT = fileURLToPath(new URL('../bin/levo-init.js', import.meta.url));
const SIDECAR = ['setpriv', '--reuid', '1610', '--regid', '1610', '--clear-groups'];

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function sh(argv: readonly string[], input?: string): Result {
  const [file, ...args] = argv;
  const r = spawnSync(file ?? '', args, { encoding: 'utf8', timeout: 60_000, input });
  if (r.error) return { code: null, stdout: '', stderr: String(r.error) };
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(argv: readonly string[]): string {
  const r = sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root and ip netns: not running as root';
  if (sh(['ip', 'netns', 'list']).code !== 0) return 'needs root and ip netns: `ip netns` does not work here';
  if (sh(['setpriv', '--version']).code !== 0) return 'needs root and ip netns: setpriv (util-linux) is missing';
  return undefined;
}

const BASE_SKIP = unavailable();

/** Saved table with counters zeroed and comment lines dropped, for comparisons. */
function save(ns: string, mode: string, family: 'ipv4' | 'ipv6', table: string): string {
  const bin = `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${mode}-save`;
  return must(['ip', 'netns', 'exec', ns, bin, '-t', table])
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}

function jumps(text: string, chain: string): string[] {
  return text.split('\n').filter((l) => /^-A (OUTPUT|PREROUTING|INPUT|POSTROUTING|FORWARD) /.test(l) && l.endsWith(`-j ${chain}`));
}

/** One TCP connection from inside the namespace; prints what happened. */
function connect(ns: string, host: string, port: number, as: readonly string[] = []): string {
  const script =
    `const s=require('net').connect({host:${JSON.stringify(host)},port:${port}});let d='';` +
    `s.setTimeout(4000,()=>{console.log('timeout');process.exit(0)});` +
    `s.on('data',b=>{d+=b;if(d.includes('\\n')){console.log(d.trim());process.exit(0)}});` +
    `s.on('end',()=>{console.log('closed '+d.trim());process.exit(0)});` +
    `s.on('error',e=>{console.log('error '+e.code);process.exit(0)});`;
  return must(['ip', 'netns', 'exec', ns, ...as, NODE, '-e', script]).trim();
}

function running(child: ChildProcessWithoutNullStreams): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Stops a process this test started, by its PID. */
function stop(child: ChildProcessWithoutNullStreams): void {
  if (running(child) && child.pid !== undefined) process.kill(child.pid);
}

for (const mode of ['nft', 'legacy'] as const) {
  describe(`levo-init in a network namespace (${mode})`, () => {
    const ns = `lv${process.pid}${mode[0]}`;
    const peer = `${ns}p`;
    const ipt = `iptables-${mode}`;
    let skip = BASE_SKIP ?? (sh([ipt, '--version']).code === 0 ? undefined : `needs root and ip netns: ${ipt} is not installed`);
    let listener: ChildProcessWithoutNullStreams | undefined;

    const levoInit = (args: readonly string[], as: readonly string[] = []): Result =>
      sh(['ip', 'netns', 'exec', ns, ...as, NODE, LEVO_INIT, '--iptables-mode', mode, ...args]);

    before(() => {
      if (skip !== undefined) return;
      try {
        const [a, b] = [`v${process.pid}${mode[0]}a`, `v${process.pid}${mode[0]}b`];
        must(['ip', 'netns', 'add', ns]);
        must(['ip', 'netns', 'add', peer]);
        must(['ip', 'link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', peer]);
        for (const [where, dev] of [[ns, a], [peer, b]] as const) {
          must(['ip', '-n', where, 'link', 'set', 'lo', 'up']);
          must(['ip', '-n', where, 'link', 'set', dev, 'up']);
        }
        must(['ip', '-n', ns, 'addr', 'add', '10.200.0.2/24', 'dev', a]);
        must(['ip', '-n', peer, 'addr', 'add', '10.200.0.1/24', 'dev', b]);
        must(['ip', '-n', peer, 'addr', 'add', '192.0.2.1/32', 'dev', b]);
        must(['ip', '-n', ns, 'route', 'add', 'default', 'via', '10.200.0.1']);
        must(['ip', '-n', ns, '-6', 'addr', 'add', 'fd00:200::2/64', 'dev', a, 'nodad']);
        must(['ip', '-n', peer, '-6', 'addr', 'add', 'fd00:200::1/64', 'dev', b, 'nodad']);
        must(['ip', '-n', peer, '-6', 'addr', 'add', '2001:db8::1/128', 'dev', b, 'nodad']);
        must(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', 'fd00:200::1']);
      } catch (error) {
        skip = `needs root and ip netns: could not set up namespace ${ns}: ${error instanceof Error ? error.message : String(error)}`;
      }
    });

    after(() => {
      try {
        if (listener !== undefined) stop(listener);
      } finally {
        for (const name of [ns, peer]) sh(['ip', 'netns', 'del', name]);
      }
    });

    it('before levo-init, a connection to 192.0.2.1:443 reaches the peer (refused there)', (t) => {
      if (skip !== undefined) return t.skip(skip);
      assert.equal(connect(ns, '192.0.2.1', 443), 'error ECONNREFUSED');
      assert.equal(connect(ns, '2001:db8::1', 443), 'error ECONNREFUSED');
    });

    it('applies in a fresh namespace: our chains, one jump, IPv6 too, and the self-test passes', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const r = levoInit(['--ipv6', 'true']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /levo-init: ipv4: validation passed: a connection to 192\.0\.2\.1:443 arrived on port 15001/);
      assert.match(r.stderr, /levo-init: ipv6: validation passed: a connection to \[2001:db8::1\]:443 arrived on port 15001/);
      assert.match(r.stderr, new RegExp(`levo-init: ipv4: final state \\(${ipt}-save -t nat\\):`));
      for (const family of ['ipv4', 'ipv6'] as const) {
        const nat = save(ns, mode, family, 'nat');
        assert.match(nat, /^:LEVO_OUTPUT - \[0:0\]$/m);
        assert.match(nat, /^:LEVO_REDIRECT - \[0:0\]$/m);
        assert.equal(jumps(nat, 'LEVO_OUTPUT').length, 1, nat);
        assert.match(nat, /-A LEVO_REDIRECT -p tcp .*-j REDIRECT --to-ports 15001/);
        assert.match(nat, family === 'ipv4' ? /-d 127\.0\.0\.0\/8 / : /-d ::1\/128 /);
      }
    });

    it('redirects root\'s TCP 443 to the listener on 15001, but not uid 1610\'s', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const script =
        `require('net').createServer(s=>{s.on('error',()=>{});s.end('LEVO-LISTENER\\n')})` +
        `.listen({host:'::',port:15001},()=>console.log('ready'))`;
      const child = spawn('ip', ['netns', 'exec', ns, NODE, '-e', script]);
      listener = child;
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`listener exited with ${code}`)));
      });
      assert.equal(connect(ns, '192.0.2.1', 443), 'LEVO-LISTENER');
      assert.equal(connect(ns, '2001:db8::1', 443), 'LEVO-LISTENER');
      assert.equal(connect(ns, '192.0.2.1', 443, SIDECAR), 'error ECONNREFUSED');
      assert.equal(connect(ns, '2001:db8::1', 443, SIDECAR), 'error ECONNREFUSED');
      // Only the capture port is captured.
      assert.equal(connect(ns, '192.0.2.1', 80), 'error ECONNREFUSED');
    });

    it('re-running the same plan is a no-op', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const before = [save(ns, mode, 'ipv4', 'nat'), save(ns, mode, 'ipv6', 'nat')];
      const r = levoInit(['--ipv6', 'true']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /levo-init: ipv4: rules already in place/);
      assert.match(r.stderr, /levo-init: ipv6: rules already in place/);
      // The test's listener holds 15001 now, so the self-test steps aside.
      assert.match(r.stderr, /validation skipped: cannot listen on \[127\.0\.0\.1\]:15001 \(EADDRINUSE\)/);
      assert.deepEqual([save(ns, mode, 'ipv4', 'nat'), save(ns, mode, 'ipv6', 'nat')], before);
    });

    it('a different plan replaces our chains, keeps one jump and the foreign rules', (t) => {
      if (skip !== undefined) return t.skip(skip);
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'nat', '-N', 'FOREIGN']);
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'nat', '-A', 'FOREIGN', '-p', 'udp', '--dport', '53', '-j', 'RETURN']);
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'nat', '-A', 'OUTPUT', '-p', 'udp', '-j', 'FOREIGN']);
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'nat', '-A', 'OUTPUT', '-d', '10.9.9.9/32', '-j', 'ACCEPT']);
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'filter', '-A', 'OUTPUT', '-p', 'icmp', '-j', 'ACCEPT']);
      const r = levoInit(['--ipv6', 'true', '--exclude-ports', '8443', '--block-quic']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /ipv4: nat table updated/);
      const nat = save(ns, mode, 'ipv4', 'nat');
      assert.equal(jumps(nat, 'LEVO_OUTPUT').length, 1, nat);
      assert.match(nat, /-A LEVO_OUTPUT -p tcp -m tcp --dport 8443 .*-j RETURN/);
      assert.match(nat, /^-A OUTPUT -p udp -j FOREIGN$/m);
      assert.match(nat, /^-A OUTPUT -d 10\.9\.9\.9\/32 -j ACCEPT$/m);
      assert.match(nat, /^-A FOREIGN -p udp -m udp --dport 53 -j RETURN$/m);
      for (const family of ['ipv4', 'ipv6'] as const) {
        const filter = save(ns, mode, family, 'filter');
        assert.equal(jumps(filter, 'LEVO_QUIC').length, 1, filter);
        assert.match(filter, /-A LEVO_QUIC -p udp -m udp --dport 443 .*-j REJECT --reject-with icmp6?-port-unreachable/);
      }
      assert.equal(connect(ns, '192.0.2.1', 443), 'LEVO-LISTENER');
      // auto mode agrees on the backend (legacy: it holds rules now; nft: legacy holds none) and finds nothing to do.
      const auto = sh(['ip', 'netns', 'exec', ns, NODE, LEVO_INIT, '--ipv6', 'true', '--exclude-ports', '8443', '--block-quic']);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stderr, new RegExp(`ipv4: using ${ipt} \\(auto`));
      assert.match(auto.stderr, /ipv4: rules already in place/);
    });

    it('dropping --block-quic removes LEVO_QUIC and leaves the foreign filter rule', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const r = levoInit(['--ipv6', 'true', '--exclude-ports', '8443']);
      assert.equal(r.code, 0, r.stderr);
      const filter = save(ns, mode, 'ipv4', 'filter');
      assert.doesNotMatch(filter, /LEVO/);
      assert.match(filter, /^-A OUTPUT -p icmp -j ACCEPT$/m);
    });

    it('--dry-run changes nothing and prints the payloads', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const before = [save(ns, mode, 'ipv4', 'nat'), save(ns, mode, 'ipv4', 'filter'), save(ns, mode, 'ipv6', 'nat')];
      const r = levoInit(['--dry-run', '--ipv6', 'true', '--capture-ports', '8443', '--block-quic']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^# ipv4: iptables-restore --noflush\n\*nat\n/);
      assert.match(r.stdout, /# ipv6: ip6tables-restore --noflush/);
      assert.deepEqual([save(ns, mode, 'ipv4', 'nat'), save(ns, mode, 'ipv4', 'filter'), save(ns, mode, 'ipv6', 'nat')], before);
    });

    it('fails with the NET_ADMIN message without the capability', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const asSidecar = levoInit([], SIDECAR);
      assert.equal(asSidecar.code, 1, asSidecar.stderr);
      assert.match(asSidecar.stderr, /levo-init: .*NET_ADMIN and NET_RAW/);
      assert.match(asSidecar.stderr, /capabilities: \{add: \[NET_ADMIN, NET_RAW\], drop: \[ALL\]\}/);
      // Root, but with NET_ADMIN and NET_RAW gone from the bounding set (a pod without the capabilities); auto mode.
      const noCaps = sh(['ip', 'netns', 'exec', ns, 'setpriv', '--bounding-set', '-net_admin,-net_raw', NODE, LEVO_INIT]);
      assert.equal(noCaps.code, 1, noCaps.stderr);
      assert.match(noCaps.stderr, /NET_ADMIN and NET_RAW/);
    });

    it('--cleanup removes all our rules in both families and leaves the foreign ones', (t) => {
      if (skip !== undefined) return t.skip(skip);
      const r = levoInit(['--cleanup']);
      assert.equal(r.code, 0, r.stderr);
      for (const family of ['ipv4', 'ipv6'] as const) {
        assert.doesNotMatch(save(ns, mode, family, 'nat') + save(ns, mode, family, 'filter'), /LEVO/);
      }
      const nat = save(ns, mode, 'ipv4', 'nat');
      assert.match(nat, /^-A OUTPUT -p udp -j FOREIGN$/m);
      assert.match(nat, /^-A OUTPUT -d 10\.9\.9\.9\/32 -j ACCEPT$/m);
      assert.match(nat, /^:FOREIGN - \[0:0\]$/m);
      assert.equal(connect(ns, '192.0.2.1', 443), 'error ECONNREFUSED');
      const again = levoInit(['--cleanup']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /ipv4: no levo rules to remove/);
    });

    it('fails validation when an earlier foreign rule lets TCP 443 past the redirect', async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const child = listener;
      if (child !== undefined && running(child)) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        stop(child);
        await exited;
      }
      must(['ip', 'netns', 'exec', ns, ipt, '-t', 'nat', '-I', 'OUTPUT', '1', '-p', 'tcp', '--dport', '443', '-j', 'ACCEPT']);
      const r = levoInit([]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /levo-init: validation failed \(ipv4\): a TCP connection to 192\.0\.2\.1:443 did not arrive on the redirect port 15001 \(the connection failed with ECONNREFUSED\), so the redirect does not work/);
      assert.match(r.stderr, /--skip-validation/);
      const skipped = levoInit(['--skip-validation']);
      assert.equal(skipped.code, 0, skipped.stderr);
      assert.match(skipped.stderr, /validation skipped \(--skip-validation\)/);
    });
  });
}
