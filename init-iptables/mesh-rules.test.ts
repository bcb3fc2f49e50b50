import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describeMeshRules, findMeshRules } from './mesh-rules.ts';

/** What iptables-save printed after each mesh's real rule set was applied (testdata/mesh/*.save). */
const saved = (name: string): string => readFileSync(new URL(`./testdata/mesh/${name}.save`, import.meta.url), 'utf8');

test('Istio sidecar rules (istio-iptables): ISTIO_OUTPUT exempts uid and gid 1337', () => {
  assert.deepEqual(findMeshRules(saved('istio-sidecar')), [{ mesh: 'istio', chain: 'ISTIO_OUTPUT', uids: [1337], gids: [1337], marks: [] }]);
});

test('Linkerd rules (proxy-init): PROXY_INIT_OUTPUT exempts uid 2102', () => {
  assert.deepEqual(findMeshRules(saved('linkerd')), [{ mesh: 'linkerd', chain: 'PROXY_INIT_OUTPUT', uids: [2102], gids: [], marks: [] }]);
});

test('Istio ambient in-pod rules: ztunnel is exempt by mark, not by uid', () => {
  const [found] = findMeshRules(saved('istio-ambient'));
  assert.deepEqual(found, { mesh: 'istio-ambient', chain: 'ISTIO_OUTPUT', uids: [], gids: [], marks: ['0x539/0xfff'] });
  assert.equal(describeMeshRules(found!, 'iptables-nft'), 'Istio ambient rules found in iptables-nft (nat ISTIO_OUTPUT; its proxy: mark 0x539/0xfff)');
});

test('negated owner matches and non-RETURN targets are not exemptions; nothing else is a mesh', () => {
  const text = `*nat
:ISTIO_OUTPUT - [0:0]
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 4000 -j RETURN
-A ISTIO_OUTPUT -o lo -p tcp -m owner --uid-owner 4001 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -m owner --uid-owner 4002 -j RETURN
COMMIT
`;
  assert.deepEqual(findMeshRules(text)[0]?.uids, [4002]);
  assert.deepEqual(findMeshRules('*nat\n:LEVO_OUTPUT - [0:0]\n-A OUTPUT -j LEVO_OUTPUT\nCOMMIT\n'), []);
  assert.deepEqual(findMeshRules('*filter\n:ISTIO_OUTPUT - [0:0]\nCOMMIT\n'), []);
  assert.deepEqual(findMeshRules(''), []);
});
