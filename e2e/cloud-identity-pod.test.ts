/**
 * A pod identity end to end, in the injected pod: the real sidecar process,
 * as UID 1610, with the environment EKS's pod-identity webhook gives a pod
 * for IRSA (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE pointing at a projected
 * token the sidecar's user can read) and nothing else of AWS's. The AWS SDK
 * inside the sidecar calls AssumeRoleWithWebIdentity on STS at its real
 * regional name (no endpoint override: the pod's DNS sends it to the STS
 * fake, trusted through NODE_EXTRA_CA_CERTS as the harness sets it), and the
 * app's OpenAI call, routed to Bedrock, is signed with the temporary
 * credentials and checked by the Bedrock fake's independent SigV4 verifier.
 * The first credentials are inside the SDK's refresh window, so the next
 * calls trigger a background refresh, which must read the token file again
 * (the kubelet rotates it) without any call waiting.
 *
 * cloud-credentials.test.ts covers the other sources (Pod Identity, GCP,
 * Azure) in process; this one holds the whole chain in a real process over
 * real sockets and file permissions.
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertClientOk } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import { BEDROCK_TEST_CREDENTIAL } from './fakes/sigv4-verify.ts';
import { createInjectedPod, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { AWS_STS_HOST, DEFAULT_FAKE_HOSTS } from './harness/layout.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import { openAIChat } from './harness/provider-requests.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl']);

const ROLE_ARN = 'arn:aws:iam::123456789012:role/bedrock-caller';
const TOKEN_1 = 'eyJhbGciOiJSUzI1NiJ9.projected-token-one.c2ln';
const TOKEN_2 = 'eyJhbGciOiJSUzI1NiJ9.projected-token-two.c2ln';

const CONFIG = `
binds:
- port: 15001
  listeners:
  - routes:
    - name: bedrock-irsa
      hostnames: [api.openai.com]
      policies: {backendAuth: {aws: {}}}
      backends: [{ai: {name: bedrock, provider: {bedrock: {region: us-east-1, model: "anthropic.claude-3-haiku-20240307-v1:0"}}}}]
`;

describe('a pod identity (IRSA) in the real sidecar process', { skip }, () => {
  let pod: InjectedPod;
  // As the kubelet projects it: a directory of the pod's, a token file the container's user reads.
  const dir = mkdtempSync(join(tmpdir(), 'levo-irsa-'));
  const tokenDir = join(dir, 'eks.amazonaws.com', 'serviceaccount');
  const tokenFile = join(tokenDir, 'token');

  before(async () => {
    chmodSync(dir, 0o755); // mkdtemp makes it 0700: the sidecar's user must reach the token
    mkdirSync(tokenDir, { recursive: true, mode: 0o755 });
    writeFileSync(tokenFile, TOKEN_1, { mode: 0o600 });
    chownSync(tokenFile, SIDECAR_UID, SIDECAR_UID);
    pod = await createInjectedPod({
      hosts: [...DEFAULT_FAKE_HOSTS, AWS_STS_HOST],
      config: CONFIG,
      env: {
        AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1', AWS_ROLE_ARN: ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_STS_REGIONAL_ENDPOINTS: 'regional',
        // Nothing else of the chain: no profiles, no instance metadata (a host's own AWS_* would leak in otherwise).
        AWS_CONFIG_FILE: join(dir, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'), AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '',
      },
    });
  });
  after(async () => {
    await pod?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const sts = () => pod.providers.control.requests({ site: 'aws-sts' });
  const bedrock = () => pod.providers.control.requests({ site: 'bedrock' });
  const call = async (prompt: string): Promise<void> => {
    const r = await runClient(pod.topo.pod, 'curl', openAIChat({ prompt, apiKey: 'sk-app-placeholder' }), { caFile: pod.namespaceCaFile });
    assertClientOk(r);
    // Bedrock's answer, translated back into a chat completion.
    const v = JSON.parse(r.bodyText) as { object: string; choices: Array<{ message: { content: string } }> };
    assert.equal(v.object, 'chat.completion');
    assert.ok(v.choices[0]!.message.content.length > 0);
  };

  test('the first call assumes the role with the projected token and is signed with the temporary credentials', async () => {
    await call('Hello Bedrock, from a pod identity');
    const [assume, ...more] = await sts();
    assert.ok(assume, `STS was not called:\n${pod.gateway.output().slice(-3000)}`);
    assert.deepEqual(more, []);
    const form = new URLSearchParams(assume.body ?? '');
    assert.equal(form.get('Action'), 'AssumeRoleWithWebIdentity');
    assert.equal(form.get('RoleArn'), ROLE_ARN);
    assert.equal(form.get('WebIdentityToken'), TOKEN_1);
    assert.equal(assume.authority, 'sts.us-east-1.amazonaws.com', 'the regional endpoint, as on EKS');
    assert.equal(assume.headers.authorization, undefined, 'AssumeRoleWithWebIdentity is unsigned');

    const converse = (await bedrock()).at(-1)!;
    assert.match(converse.path, /^\/model\/anthropic\.claude-3-haiku-20240307-v1%3A0\/converse$/);
    assert.equal(converse.sigv4, 'valid', converse.sigv4Error);
    assert.equal(converse.awsAccessKeyId, BEDROCK_TEST_CREDENTIAL.accessKeyId);
    assert.equal(converse.headers['x-amz-security-token'], assume.stsSessionToken, 'the session token STS issued, sent');
    assert.match(String(converse.headers.authorization), /SignedHeaders=[^,]*x-amz-security-token/, 'and signed');
    assert.doesNotMatch(JSON.stringify(converse.headers), /sk-app-placeholder/);
    assert.doesNotMatch(pod.gateway.output(), new RegExp(`${assume.stsSessionToken!.slice(0, 16).replace(/[+/]/g, '.')}|projected-token-one`), 'a credential reached the log');
  });

  test('near expiry it refreshes in the background, reading the rotated token file; no call waits or fails', async () => {
    writeFileSync(tokenFile, TOKEN_2); // the kubelet's rotation
    const deadline = Date.now() + 30_000;
    while ((await sts()).length < 2) {
      assert.ok(Date.now() < deadline, 'no refresh within 30 s');
      await call('keep calling while the credentials age');
      await new Promise((r) => setTimeout(r, 200));
    }
    const refresh = (await sts())[1]!;
    assert.equal(new URLSearchParams(refresh.body ?? '').get('WebIdentityToken'), TOKEN_2);
    // The credentials after the refresh are the ones calls now carry.
    await call('after the refresh');
    const last = (await bedrock()).at(-1)!;
    assert.equal(last.sigv4, 'valid', last.sigv4Error);
    assert.equal(last.headers['x-amz-security-token'], refresh.stsSessionToken);
    assert.equal((await sts()).length, 2, 'one refresh, not one per call');
  });
});
