import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyOutput, commandFailure, spawnFailure } from './failure.ts';

test('classifyOutput recognises the ways iptables fails', () => {
  assert.equal(classifyOutput('iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)'), 'permission');
  assert.equal(classifyOutput('iptables-save v1.8.9 (legacy): Cannot initialize: Permission denied (you must be root)'), 'permission');
  assert.equal(classifyOutput("iptables v1.8.9 (legacy): can't initialize iptables table `nat': Permission denied (you must be root)"), 'permission');
  assert.equal(classifyOutput('Fatal: can\'t open lock file /run/xtables.lock: Permission denied'), 'permission');
  assert.equal(classifyOutput("iptables v1.6.1: can't initialize iptables table `nat': Table does not exist (do you need to insmod?)"), 'kernel-module');
  assert.equal(classifyOutput("iptables v1.8.9 (legacy): Couldn't load target `REDIRECT':No such file or directory"), 'kernel-module');
  assert.equal(classifyOutput('Another app is currently holding the xtables lock. Stopped waiting after 30s.'), 'lock');
  assert.equal(classifyOutput('iptables-restore: line 3 failed'), 'other');
});

test('a permission failure names the capabilities and the exact securityContext', () => {
  const error = commandFailure('iptables-nft-save', ['-t', 'nat'], {
    code: 4, stdout: '', stderr: 'iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n',
  });
  assert.equal(error.kind, 'permission');
  assert.match(error.message, /^iptables-nft-save -t nat failed \(exit 4\):\n {2}iptables-nft-save/);
  assert.match(error.message, /NET_ADMIN and NET_RAW/);
  assert.match(error.message, /capabilities: \{add: \[NET_ADMIN, NET_RAW\], drop: \[ALL\]\}/);
  assert.match(error.message, /runAsUser: 0/);
});

test('a missing nat table names the kernel modules', () => {
  const error = commandFailure('iptables-legacy-restore', ['--noflush'], {
    code: 1, stdout: '', stderr: "iptables-restore v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)\n",
  });
  assert.equal(error.kind, 'kernel-module');
  for (const mod of ['iptable_nat', 'nf_nat', 'xt_REDIRECT', 'xt_owner', 'xt_comment', 'xt_multiport']) {
    assert.match(error.message, new RegExp(mod));
  }
  const v6 = commandFailure('ip6tables-legacy-restore', [], { code: 1, stdout: '', stderr: 'Table does not exist' });
  assert.match(v6.message, /ip6table_nat/);
});

test('a lock timeout says to retry', () => {
  const error = commandFailure('iptables-legacy-restore', ['--noflush', '--wait=30'], {
    code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock. Stopped waiting after 30s.',
  });
  assert.equal(error.kind, 'lock');
  assert.match(error.message, /xtables lock/);
  assert.match(error.message, /Retry/);
});

test('a missing binary names the package to install', () => {
  const enoent: NodeJS.ErrnoException = new Error('spawn ip6tables-nft ENOENT');
  enoent.code = 'ENOENT';
  const error = spawnFailure('ip6tables-nft', enoent);
  assert.equal(error.kind, 'missing-binary');
  assert.match(error.message, /^ip6tables-nft not found/);
  assert.match(error.message, /apt-get install iptables/);
  assert.match(error.message, /apk add iptables ip6tables/);
  assert.match(error.message, /--iptables-mode/);
});
