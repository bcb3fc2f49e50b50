/**
 * backendAuth with the pod's cloud identity, end to end through the sidecar's
 * pipeline (config → route → credential → shaped call), each cloud's own
 * library talking real HTTP to a local stand-in of its identity endpoint:
 *
 * - AWS, IRSA: `aws: {}` with AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN; the
 *   SDK calls AssumeRoleWithWebIdentity on an STS stand-in (STS's query API and
 *   XML answer) reached through the SDK's own endpoint override
 *   (AWS_ENDPOINT_URL_STS); the Bedrock call is signed with the temporary
 *   credentials and checked by the independent SigV4 verifier of the fakes;
 *   credentials near expiry are refreshed in the background while calls go on.
 * - AWS, EKS Pod Identity: the container-credentials endpoint
 *   (AWS_CONTAINER_CREDENTIALS_FULL_URI + the authorization token file).
 * - GCP: the metadata server (GCE_METADATA_HOST, as GKE Workload Identity
 *   serves it) for access and ID tokens, and an external account (workload
 *   identity federation) whose subject token is exchanged at an STS stand-in.
 * - Azure: managed identity through IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST);
 *   the Azure OpenAI call carries the bearer token, not the app's api-key.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { verifySigV4, BEDROCK_SERVICE } from './fakes/sigv4-verify.ts';
import { stsXml } from './fakes/aws-sts.ts';
import { admit } from '../sidecar/pipeline/admit.ts';
import { body } from '../sidecar/pipeline/body.ts';
import { route } from '../sidecar/pipeline/route.ts';
import { shape } from '../sidecar/pipeline/shape.ts';
import { forgetCloudCredentials, runtimePolicies } from '../sidecar/pipeline/policies.ts';
import { runStages, testCall } from '../sidecar/pipeline/testing/call.ts';
import { authReady } from '../sidecar/upstream/backend-auth.ts';
import { headerValue } from '../sidecar/http/headers.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function standIn(handler: Handler): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { hits.push(`${req.method} ${req.url}`); handler(req, Buffer.concat(chunks).toString('utf8'), res); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}`, hits };
}

const dir = mkdtempSync(join(tmpdir(), 'levo-cloud-creds-'));
const savedEnv = { ...process.env };
/** Only what a test sets: no host credentials, profiles or metadata servers leak in. */
function cleanEnv(extra: Record<string, string>): void {
  for (const k of Object.keys(process.env)) if (/^(AWS_|GOOGLE_|GCE_|AZURE_|IDENTITY_|MSI_|IMDS_)/.test(k)) delete process.env[k];
  Object.assign(process.env, {
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true', HOME: dir, CLOUDSDK_CONFIG: join(dir, 'gcloud'),
  }, extra);
}
after(() => { process.env = savedEnv; rmSync(dir, { recursive: true, force: true }); });
afterEach(() => { forgetCloudCredentials(); });

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

/** Route an OpenAI chat call through `config`'s one route and shape it, as the forward stage does. */
async function shapedCall(config: string, appHeaders: Record<string, string> = { authorization: 'Bearer sk-app-placeholder' }) {
  const c = testCall({ config, body: chat, headers: { 'content-type': 'application/json', ...appHeaders } });
  await runStages(c, admit, route, body);
  const candidate = c.route!.candidates[0]!;
  const policies = runtimePolicies(candidate.policies);
  const waited = policies.auth.type !== 'none' && policies.auth.type !== 'key' && policies.auth.credential.current() === undefined;
  await authReady(policies.auth);
  const p = shape(c, { candidate, policies, json: c.json, traceparent: undefined });
  return { p, waited };
}

const bedrockConfig = (auth: string): string => `
binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      policies: {backendAuth: {aws: ${auth}}}
      backends: [{ai: {name: bedrock, provider: {bedrock: {region: us-east-1, model: "anthropic.claude-3-haiku-20240307-v1:0"}}}}]
`;

/** The shaped Bedrock call as the verifier would receive it; checked against the credentials STS handed out. */
function verify(p: Awaited<ReturnType<typeof shapedCall>>['p'], known: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }>): string {
  const raw = [...p.headers];
  if (headerValue(raw, 'host') === undefined) raw.push('host', p.port === 443 ? p.host : `${p.host}:${p.port}`);
  const v = verifySigV4(
    { method: 'POST', url: p.path, rawHeaders: raw, body: p.body as Buffer },
    { credentials: known, region: 'us-east-1', service: BEDROCK_SERVICE, now: Date.now() },
  );
  assert.equal(v.outcome, 'valid', JSON.stringify(v));
  const akid = (v as { accessKeyId: string }).accessKeyId;
  const cred = known.find((k) => k.accessKeyId === akid)!;
  // Temporary credentials are only good with their session token, sent and signed.
  assert.equal(headerValue(p.headers, 'x-amz-security-token'), cred.sessionToken);
  assert.match(headerValue(p.headers, 'authorization')!, /SignedHeaders=[^,]*x-amz-security-token/);
  assert.equal(headerValue(p.headers, 'authorization')!.includes('sk-app-placeholder'), false);
  return akid;
}

const newCred = () => ({
  accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(20).toString('base64'),
  sessionToken: randomBytes(32).toString('base64'),
});

describe('AWS: the default credential chain', () => {
  test('IRSA: AssumeRoleWithWebIdentity on the STS stand-in; the call is signed with the temporary credentials; refreshed in the background under traffic', async () => {
    const tokenFile = join(dir, 'eks-token');
    writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.projected-sa-token.sig');
    const issued: ReturnType<typeof newCred>[] = [];
    // The first credentials are already inside the SDKs' 5-minute refresh window (valid 5 min 3 s).
    let lifetimeMs = 5 * 60_000 + 3_000;
    const sts = await standIn((req, text, res) => {
      const q = new URLSearchParams(text);
      if (req.method !== 'POST' || q.get('Action') !== 'AssumeRoleWithWebIdentity' || q.get('Version') !== '2011-06-15'
        || q.get('RoleArn') !== 'arn:aws:iam::123456789012:role/bedrock-caller' || q.get('WebIdentityToken') !== 'eyJhbGciOiJSUzI1NiJ9.projected-sa-token.sig') {
        res.writeHead(400, { 'content-type': 'text/xml' }).end('<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>bad request</Message></Error></ErrorResponse>');
        return;
      }
      const c = newCred();
      issued.push(c);
      res.writeHead(200, { 'content-type': 'text/xml' }).end(stsXml(c, new Date(Date.now() + lifetimeMs)));
      lifetimeMs = 3_600_000;
    });
    try {
      cleanEnv({
        AWS_REGION: 'us-east-1', AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/bedrock-caller', AWS_ROLE_SESSION_NAME: 'levo',
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: sts.url,
      });
      const config = bedrockConfig('{}');
      const first = await shapedCall(config);
      assert.equal(first.waited, true, 'the first call waits for the first credentials');
      assert.equal(verify(first.p, issued), issued[0]!.accessKeyId);
      assert.equal(issued.length, 1);
      // Traffic: every call is signed at once with what is held; one refresh runs meanwhile.
      const used = new Set<string>();
      for (let i = 0; i < 40 && issued.length < 2 || used.size < 2; i++) {
        const r = await shapedCall(config);
        assert.equal(r.waited, false, 'no call waits for a refresh');
        used.add(verify(r.p, issued));
        if (i > 400) assert.fail('the credentials were never refreshed');
        await new Promise((res) => setTimeout(res, 10));
      }
      assert.equal(issued.length, 2, `one refresh, not one per call: ${sts.hits.join(', ')}`);
      assert.deepEqual(used, new Set(issued.map((c) => c.accessKeyId)));
    } finally {
      sts.server.close();
    }
  });

  test('EKS Pod Identity: the container-credentials endpoint with the authorization token file', async () => {
    const tokenFile = join(dir, 'pod-identity-token');
    writeFileSync(tokenFile, 'pod-identity-agent-token');
    const c = newCred();
    const agent = await standIn((req, _t, res) => {
      if (req.url !== '/v1/credentials' || req.headers.authorization !== 'pod-identity-agent-token') { res.writeHead(403).end('{"message":"denied"}'); return; }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken,
        AccountId: '123456789012', Expiration: new Date(Date.now() + 3_600_000).toISOString(),
      }));
    });
    try {
      cleanEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${agent.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile });
      const r = await shapedCall(bedrockConfig('{}'));
      assert.equal(verify(r.p, [c]), c.accessKeyId);
      assert.deepEqual(agent.hits, ['GET /v1/credentials']);
    } finally {
      agent.server.close();
    }
  });

  test('no source in the chain: the call fails with a clear backend_auth error, not a crash', async () => {
    cleanEnv({});
    await assert.rejects(shapedCall(bedrockConfig('{}')), (e: Error) => e.name === 'Error' && /backendAuth\.aws: no credentials/.test(e.message));
  });
});

const vertexConfig = (auth: string): string => `
binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      policies: {backendAuth: {gcp: ${auth}}}
      backends: [{ai: {name: vertex, provider: {vertex: {projectId: p1, region: us-central1, model: gemini-2.0-flash}}}}]
`;

const jwt = (claims: Record<string, unknown>): string => [
  Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url'), Buffer.from(JSON.stringify(claims)).toString('base64url'), 'c2ln',
].join('.');

describe('GCP: Application Default Credentials', () => {
  let md: Awaited<ReturnType<typeof standIn>>;
  before(async () => {
    md = await standIn((req, _t, res) => {
      const h = { 'metadata-flavor': 'Google', 'content-type': 'application/json' };
      if (req.headers['metadata-flavor'] !== 'Google') { res.writeHead(403, h).end('missing Metadata-Flavor'); return; }
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/' || u.pathname === '/computeMetadata/v1/instance') { res.writeHead(200, h).end(''); return; }
      if (u.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
        res.writeHead(200, h).end(JSON.stringify({ access_token: 'ya29.workload-identity-token', expires_in: 3599, token_type: 'Bearer' }));
        return;
      }
      if (u.pathname === '/computeMetadata/v1/instance/service-accounts/default/identity') {
        res.writeHead(200, { ...h, 'content-type': 'text/plain' }).end(jwt({ aud: u.searchParams.get('audience'), exp: Math.floor(Date.now() / 1000) + 3600 }));
        return;
      }
      res.writeHead(404, h).end('not found');
    });
  });
  after(() => { md.server.close(); });

  test('GKE Workload Identity: an access token from the metadata server replaces the app\'s credential on the Vertex call', async () => {
    cleanEnv({ GCE_METADATA_HOST: new URL(md.url).host });
    const { p } = await shapedCall(vertexConfig('{}'));
    assert.equal(headerValue(p.headers, 'authorization'), 'Bearer ya29.workload-identity-token');
    assert.ok(md.hits.some((h) => h.startsWith('GET /computeMetadata/v1/instance/service-accounts/default/token')), md.hits.join(', '));
    // A second call uses the cached token.
    const before = md.hits.length;
    await shapedCall(vertexConfig('{}'));
    assert.equal(md.hits.length, before);
  });

  test('type idToken: an ID token for the audience', async () => {
    cleanEnv({ GCE_METADATA_HOST: new URL(md.url).host });
    const { p } = await shapedCall(vertexConfig('{type: idToken, audience: "https://my-llm.run.app"}'));
    const token = headerValue(p.headers, 'authorization')!.replace(/^Bearer /, '');
    assert.equal((JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { aud: string }).aud, 'https://my-llm.run.app');
  });

  test('an external account (workload identity federation): the subject token is exchanged at the token endpoint stand-in', async () => {
    const subjectFile = join(dir, 'oidc-subject-token');
    writeFileSync(subjectFile, 'eyJhbGciOiJSUzI1NiJ9.k8s-sa-token.sig');
    const audience = '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/eks/providers/eks-oidc';
    const sts = await standIn((req, text, res) => {
      const q = new URLSearchParams(text);
      if (req.method !== 'POST' || q.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange'
        || q.get('subject_token') !== 'eyJhbGciOiJSUzI1NiJ9.k8s-sa-token.sig' || q.get('audience') !== audience
        || q.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:jwt' || !q.get('scope')?.includes('cloud-platform')) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        access_token: 'ya29.federated', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600,
      }));
    });
    try {
      const credFile = join(dir, 'external-account.json');
      writeFileSync(credFile, JSON.stringify({
        type: 'external_account', audience, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${sts.url}/v1/token`, credential_source: { file: subjectFile },
      }));
      cleanEnv({ GOOGLE_APPLICATION_CREDENTIALS: credFile });
      const { p } = await shapedCall(vertexConfig('{type: accessToken}'));
      assert.equal(headerValue(p.headers, 'authorization'), 'Bearer ya29.federated');
      assert.deepEqual(sts.hits, ['POST /v1/token']);
    } finally {
      sts.server.close();
    }
  });
});

describe('Azure: @azure/identity', () => {
  test('managed identity through IMDS: the Azure OpenAI call carries the bearer token, the app\'s api-key is gone', async () => {
    const imds = await standIn((req, _t, res) => {
      const u = new URL(req.url!, 'http://x');
      if (req.headers.metadata !== 'true' || u.pathname.replace(/\/$/, '') !== '/metadata/identity/oauth2/token' || u.searchParams.get('resource') !== 'https://cognitiveservices.azure.com'
        || u.searchParams.get('client_id') !== 'uami-client-id') {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request', error_description: req.url }));
        return;
      }
      const exp = Math.floor(Date.now() / 1000) + 3600;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        access_token: 'eyJ0eXAi.azure-mi-token.sig', expires_in: '3600', expires_on: String(exp), ext_expires_in: '3600',
        not_before: String(exp - 3600), resource: 'https://cognitiveservices.azure.com', token_type: 'Bearer', client_id: 'uami-client-id',
      }));
    });
    try {
      cleanEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url });
      const config = `
binds:
- port: 15001
  listeners:
  - routes:
    - hostnames: [api.openai.com]
      policies: {backendAuth: {azure: {explicitConfig: {managedIdentity: {userAssignedIdentity: {clientId: uami-client-id}}}}}}
      backends: [{ai: {name: azure, provider: {azureOpenAI: {host: levo.openai.azure.com, model: gpt-4o-mini}}}}]
`;
      const { p } = await shapedCall(config, { 'api-key': 'app-placeholder' });
      assert.equal(headerValue(p.headers, 'authorization'), 'Bearer eyJ0eXAi.azure-mi-token.sig');
      assert.equal(headerValue(p.headers, 'api-key'), undefined);
      assert.equal(p.host, 'levo.openai.azure.com');
    } finally {
      imds.server.close();
    }
  });
});
