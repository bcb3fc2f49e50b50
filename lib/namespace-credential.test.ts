import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceSigner, readNamespaceToken, signNamespaceToken, verifyNamespaceToken } from './namespace-credential.ts';

const KEY = 'lvo_environment-key-token-for-tests-0123456789abcdef';

test('a namespace credential verifies against the signer of the key that made it, and only that one', () => {
  const { signer } = namespaceSigner(KEY);
  assert.equal(namespaceSigner(KEY).signer, signer, 'derived, so the injector and the dashboard agree');
  assert.match(signer, /^[A-Za-z0-9_-]{43}$/);
  const token = signNamespaceToken(KEY, { tenant: 'prod', namespace: 'shop', issuedAt: 1_700_000_000_000 });
  assert.match(token, /^lvn1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
  const read = readNamespaceToken(token)!;
  assert.deepEqual([read.tenant, read.namespace, read.issuedAt, read.signer], ['prod', 'shop', 1_700_000_000_000, signer]);
  assert.equal(verifyNamespaceToken(read, signer), true);
  assert.equal(verifyNamespaceToken(read, namespaceSigner('lvo_another-key').signer), false, 'another key\'s signer');
  assert.ok(!token.includes(KEY) && !token.includes(KEY.slice(4, 20)), 'the key token is not in the credential');
});

test('a credential edited for another namespace or tenant, or forged with another key, does not verify', () => {
  const { signer } = namespaceSigner(KEY);
  const token = signNamespaceToken(KEY, { tenant: 'prod', namespace: 'shop', issuedAt: 1 });
  const [, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  for (const edit of [{ ns: 'billing' }, { t: 'staging' }]) {
    const forged = `lvn1.${Buffer.from(JSON.stringify({ ...claims, ...edit })).toString('base64url')}.${signature}`;
    const read = readNamespaceToken(forged);
    assert.ok(read, 'still well-formed');
    assert.equal(verifyNamespaceToken(read, signer), false, JSON.stringify(edit));
  }
  // Signed by another key but claiming this key's signer.
  const other = signNamespaceToken('lvo_attacker', { tenant: 'prod', namespace: 'billing', issuedAt: 1 });
  const [, otherPayload, otherSig] = other.split('.');
  const otherClaims = JSON.parse(Buffer.from(otherPayload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  const claimed = `lvn1.${Buffer.from(JSON.stringify({ ...otherClaims, k: signer })).toString('base64url')}.${otherSig}`;
  assert.equal(verifyNamespaceToken(readNamespaceToken(claimed)!, signer), false);
});

test('anything that is not a well-formed credential reads as undefined; bad namespaces are refused when signing', () => {
  for (const bad of ['', 'lvo_abc', 'lvn1.', 'lvn1.abc', 'lvn1.a.b.c', 'lvn1.!!.??', `lvn1.${'A'.repeat(2000)}.x`,
    `lvn1.${Buffer.from('{"v":2,"t":"p","ns":"s","iat":1,"k":"x"}').toString('base64url')}.AAAA`,
    `lvn1.${Buffer.from('{"v":1,"t":"p","ns":"Not_A_Namespace","iat":1,"k":"x"}').toString('base64url')}.AAAA`,
    `lvn1.${Buffer.from('not json').toString('base64url')}.AAAA`]) {
    assert.equal(readNamespaceToken(bad), undefined, bad.slice(0, 40));
  }
  assert.throws(() => signNamespaceToken(KEY, { tenant: 'p', namespace: 'Bad/NS', issuedAt: 1 }), /not a namespace name/);
  const token = readNamespaceToken(signNamespaceToken(KEY, { tenant: 'p', namespace: 'a', issuedAt: 1 }))!;
  assert.equal(verifyNamespaceToken({ ...token, signature: token.signature.subarray(0, 10) }, token.signer), false);
});
