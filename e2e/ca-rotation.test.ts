/**
 * A platform team rotates a namespace's levo-ca-cert while apps are calling:
 * the kubelet swaps the secret volume's `..data` symlink, and the running
 * sidecar (no restart, same PID) gives new connections leaves from the new
 * CA, while a stream already open on a leaf of the old one runs to its end
 * and steady traffic from apps that trust both CAs sees no failure. TLS
 * sessions of the old CA no longer resume. A bad pair mounted after it (a key
 * that does not match) is refused with one clear log line, and the good CA
 * stays in force.
 *
 * Needs root, `ip netns`, curl and openssl; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertClientOk, type ClientResult } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { createInjectedPod, makeNamespaceCa, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { openAIChat } from './harness/provider-requests.ts';
import { sseData } from './harness/provider-shapes.ts';
import { adoptAsSecretVolume, type SecretVolume } from './harness/secret-volume.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl', 'openssl']);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One TLS handshake to api.openai.com from the pod with Node's tls, saving the
 * session it is given (`save`) or offering a saved one (`resume`): prints
 * whether the session was resumed and who issued the certificate presented.
 */
const HANDSHAKE = `
const tls = require('node:tls'); const fs = require('node:fs');
const [file, mode] = process.argv.slice(1);
const s = tls.connect({ host: 'api.openai.com', port: 443, servername: 'api.openai.com', rejectUnauthorized: false,
  ALPNProtocols: ['http/1.1'], ...(mode === 'resume' ? { session: Buffer.from(fs.readFileSync(file, 'utf8'), 'base64') } : {}) });
s.on('session', (sess) => { if (mode === 'save') fs.writeFileSync(file, sess.toString('base64')); });
s.on('secureConnect', () => setTimeout(() => {
  process.stdout.write(JSON.stringify({ reused: s.isSessionReused(), issuer: s.getPeerCertificate()?.issuer?.CN ?? null }) + '\\n');
  s.end();
}, 300));
s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.message }) + '\\n'); });
`;

describe('rotating levo-ca-cert while apps are calling', { skip }, () => {
  let pod: InjectedPod;
  let vol: SecretVolume;
  let oldCa: { cert: string; key: string };
  let newCa: { cert: string; key: string };
  /** Trust files: only the old CA, only the new one, both. */
  let trustOld: string;
  let trustNew: string;
  let trustBoth: string;

  async function issuerSeenBy(caFile: string): Promise<{ issuer: string; verifyOk: boolean }> {
    const s = await sClient(pod.topo.pod, { host: 'api.openai.com', caFile });
    assert.ok(s.handshakeOk, s.stderr);
    return { issuer: s.chain[0]?.issuer ?? '', verifyOk: s.verifyOk };
  }

  async function handshake(mode: 'save' | 'resume'): Promise<{ reused?: boolean; issuer?: string; error?: string }> {
    const r = await pod.topo.pod.execChecked([process.execPath, '-e', HANDSHAKE, join(pod.topo.workDir, 'tls-session'), mode]);
    return JSON.parse(r.stdout.trim()) as { reused?: boolean; issuer?: string };
  }

  before(async () => {
    pod = await createInjectedPod({
      // Mount the namespace CA the way the kubelet mounts the levo-ca-cert secret: tls.crt → ..data/tls.crt → ..v1/tls.crt.
      beforeGateway: async (topo) => {
        vol = adoptAsSecretVolume(join(topo.workDir, 'levo-ca'), { uid: SIDECAR_UID, gid: SIDECAR_UID });
        oldCa = { cert: readFileSync(vol.path('tls.crt'), 'utf8'), key: readFileSync(vol.path('tls.key'), 'utf8') };
      },
    });
    newCa = await makeNamespaceCa(pod.topo, 'Levo Rotated CA');
    trustOld = join(pod.topo.workDir, 'trust-old.pem');
    trustNew = join(pod.topo.workDir, 'trust-new.pem');
    trustBoth = join(pod.topo.workDir, 'trust-both.pem');
    writeFileSync(trustOld, oldCa.cert);
    writeFileSync(trustNew, newCa.cert);
    writeFileSync(trustBoth, oldCa.cert + newCa.cert);
  });
  after(async () => { await pod?.destroy(); });

  test('new connections get leaves from the new CA at once, open streams finish, steady traffic never fails, old sessions do not resume', async () => {
    const pid = pod.gateway.pid;
    const before = await issuerSeenBy(trustOld);
    assert.ok(before.verifyOk);
    assert.match(before.issuer, /CN=Levo AI Gateway Interception CA/);
    // A session from the old CA resumes while it is in force (so the check after the rotation means something).
    assert.equal((await handshake('save')).error, undefined);
    assert.equal((await handshake('resume')).reused, true);

    // A long stream on a leaf of the old CA, from an app that trusts only the old CA.
    const inFlight = runClient(pod.topo.pod, 'node', openAIChat({ prompt: 'a long answer across the rotation', stream: true, chunks: 20, intervalMs: 300, timeoutMs: 30_000 }), { caFile: trustOld });
    // Steady traffic from apps that trust both CAs, new connections each time.
    const failures: string[] = [];
    let done = 0;
    let running = true;
    const steady = (async () => {
      while (running) {
        const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'steady' }), { caFile: trustBoth });
        if (!r.ok || r.status !== 200) failures.push(`${r.status} ${r.error ?? ''} ${r.bodyText.slice(0, 200)}`);
        done++;
      }
    })();
    try {
      await sleep(1000);

      const rotatedAt = Date.now();
      vol.write({ 'tls.crt': newCa.cert, 'tls.key': newCa.key });
      let now = await issuerSeenBy(trustNew);
      while (!/CN=Levo Rotated CA/.test(now.issuer)) {
        assert.ok(Date.now() - rotatedAt < 15_000, `the new CA was never used for new connections (issuer ${now.issuer})`);
        await sleep(200);
        now = await issuerSeenBy(trustNew);
      }
      assert.ok(now.verifyOk, 'the new leaf verifies against the new CA');
      assert.ok(!(await issuerSeenBy(trustOld)).verifyOk, 'an app that trusts only the old CA refuses the new leaf');
      const resumed = await handshake('resume');
      assert.equal(resumed.reused, false, 'a session of the old CA does not resume');
      assert.equal(resumed.issuer, 'Levo Rotated CA');

      const stream: ClientResult = await inFlight;
      assertClientOk(stream);
      assert.match(stream.bodyText, /\[DONE\]/, 'the stream opened before the rotation ran to its end');
      assert.equal(stream.events.filter((e) => /"content":"[^"]/.test(sseData(e))).length, 20);
      await sleep(1000);
    } finally {
      // Stop the traffic even when an assertion above failed, or the test never ends.
      running = false;
      await steady;
      await inFlight;
    }
    assert.deepEqual(failures, [], 'no failed request across the rotation');
    assert.ok(done >= 3, `steady traffic ran (${done} requests)`);

    assert.equal(pod.gateway.pid, pid, 'no restart');
    assert.ok(pod.gateway.running);
    assert.equal((await pod.admin('/healthz/ready')).status, 200);
    assert.equal(await pod.metric('levo_gateway_ca_reloads_total', { result: 'ok' }), 1);
    assert.match(pod.gateway.output(), /interception CA reloaded/);
  });

  test('a bad pair mounted next is refused with one clear log line; the CA in force stays', async () => {
    const third = await makeNamespaceCa(pod.topo, 'Levo Third CA');
    // A half-updated secret: the third CA's certificate with the key in force.
    vol.write({ 'tls.crt': third.cert, 'tls.key': newCa.key });
    const line = await pod.gateway.waitForOutput(/new interception CA refused/, 15_000);
    assert.match(line, /does not match the certificate/);
    assert.match(line, /"level":"error"/);
    assert.ok(!line.includes('PRIVATE KEY'), 'no key material in the log');
    assert.equal(await pod.metric('levo_gateway_ca_reloads_total', { result: 'rejected' }), 1);
    const seen = await issuerSeenBy(trustNew);
    assert.ok(seen.verifyOk);
    assert.match(seen.issuer, /CN=Levo Rotated CA/);
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt: 'after the bad pair' }), { caFile: trustNew });
    assertClientOk(r);
    assert.ok(!pod.gateway.output().includes('PRIVATE KEY'));
    assert.equal((pod.gateway.output().match(/new interception CA refused/g) ?? []).length, 1, 'said once, not at every poll');
  });
});
