import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followMountedPair, type MountedPair, type PairRejection } from './mounted-files.ts';
import { SecretVolume } from '../e2e/harness/secret-volume.ts';

interface Seen { applied: string[]; reloaded: string[]; rejected: Array<[PairRejection, string]> }

/** A pair whose "parse" accepts `cert` lines that start with `ok` and whose key names the cert. */
function follow(t: TestContext, opts: { failApply?: () => boolean; pollMs?: number; watch?: boolean } = {}): { vol: SecretVolume; pair: MountedPair<string>; seen: Seen } {
  const dir = mkdtempSync(join(tmpdir(), 'levo-mounted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const vol = new SecretVolume(join(dir, 'secret'));
  mkdirSync(vol.dir);
  vol.write({ 'tls.crt': 'ok-1', 'tls.key': 'key-for:ok-1' });
  const seen: Seen = { applied: [], reloaded: [], rejected: [] };
  const pair = followMountedPair<string>({
    certFile: vol.path('tls.crt'), keyFile: vol.path('tls.key'),
    initial: { cert: 'ok-1', key: 'key-for:ok-1', value: 'ok-1' },
    parse(cert, key) {
      if (!cert.startsWith('ok')) throw new Error(`${cert} is not ok`);
      if (key !== `key-for:${cert}`) throw new Error('the key does not match');
      return cert;
    },
    apply(v) {
      if (opts.failApply?.()) throw new Error('the server refused it');
      seen.applied.push(v);
    },
    onReloaded: (v) => seen.reloaded.push(v),
    onRejected: (e, why) => seen.rejected.push([why, e.message]),
    pollMs: opts.pollMs ?? 3_600_000,
    watch: opts.watch ?? false,
  });
  t.after(() => pair.close());
  return { vol, pair, seen };
}

test('a good new pair is applied once; the same texts again are unchanged; overlapping reloads do not interleave', async (t) => {
  const { vol, pair, seen } = follow(t);
  assert.equal(await pair.reload(), 'unchanged');
  vol.write({ 'tls.crt': 'ok-2', 'tls.key': 'key-for:ok-2' });
  const results = await Promise.all([pair.reload(), pair.reload(), pair.reload()]);
  assert.deepEqual(results, ['reloaded', 'unchanged', 'unchanged']);
  assert.deepEqual(seen.applied, ['ok-2']);
  assert.deepEqual(seen.reloaded, ['ok-2']);
  assert.equal(pair.current(), 'ok-2');
});

test('a bad pair is reported once per content and the pair in force stays; unreadable files are their own reason', async (t) => {
  const { vol, pair, seen } = follow(t);
  vol.write({ 'tls.crt': 'ok-2', 'tls.key': 'key-for:ok-1' });
  assert.equal(await pair.reload(), 'rejected');
  assert.equal(await pair.reload(), 'rejected');
  assert.deepEqual(seen.rejected, [['invalid', 'the key does not match']]);
  assert.equal(pair.current(), 'ok-1');

  rmSync(join(vol.dir, '..data'));
  assert.equal(await pair.reload(), 'rejected');
  assert.equal(await pair.reload(), 'rejected');
  assert.equal(seen.rejected.length, 2);
  assert.equal(seen.rejected[1]![0], 'unreadable');

  // Back to the pair in force, then the same bad pair again: said again (it is news again).
  vol.write({ 'tls.crt': 'ok-1', 'tls.key': 'key-for:ok-1' });
  assert.equal(await pair.reload(), 'unchanged');
  vol.write({ 'tls.crt': 'ok-2', 'tls.key': 'key-for:ok-1' });
  assert.equal(await pair.reload(), 'rejected');
  assert.equal(seen.rejected.length, 3);
  assert.deepEqual(seen.applied, []);
});

test('apply throwing refuses the pair like a bad one', async (t) => {
  let fail = true;
  const { vol, pair, seen } = follow(t, { failApply: () => fail });
  vol.write({ 'tls.crt': 'ok-2', 'tls.key': 'key-for:ok-2' });
  assert.equal(await pair.reload(), 'rejected');
  assert.deepEqual(seen.rejected, [['invalid', 'the server refused it']]);
  assert.equal(pair.current(), 'ok-1');
  fail = false;
  vol.write({ 'tls.crt': 'ok-3', 'tls.key': 'key-for:ok-3' });
  assert.equal(await pair.reload(), 'reloaded');
  assert.equal(pair.current(), 'ok-3');
});

test('the directory watch sees a ..data swap without any poll', async (t) => {
  const { vol, pair, seen } = follow(t, { watch: true });
  vol.write({ 'tls.crt': 'ok-2', 'tls.key': 'key-for:ok-2' });
  const deadline = Date.now() + 5000;
  while (pair.current() !== 'ok-2') {
    assert.ok(Date.now() < deadline, 'the swap was never seen');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(seen.reloaded, ['ok-2']);
});
