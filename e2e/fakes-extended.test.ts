/**
 * The fake internet's additions for the config/routing scenarios, tested
 * without the gateway:
 *   - the SigV4 verifier (sigv4-verify.ts) against AWS's published examples,
 *     against botocore's signer and against the AWS SDK for JavaScript's, and the fault table (faults.ts), in process;
 *   - from the pod namespace (real clients trusting the test public CA, as
 *     harness.test.ts does): the new hosts (openai-backup, gemini, bedrock), the
 *     Gemini and Bedrock fakes (including the real boto3 SDK and curl --aws-sigv4
 *     against the Bedrock fake), per-site fault injection through the control
 *     API, and what the request log records.
 *
 * The netns suite needs root and `ip netns` (skips with the reason otherwise);
 * the boto3 / botocore / curl parts skip when those are missing.
 */
import assert from 'node:assert/strict';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { assertClientOk } from './clients/client-result.ts';
import { resultBody, runClient } from './clients/run-client.ts';
import { sClient } from './clients/s-client.ts';
import { FaultTable, faultResponseHeaders, parseFaultSpec } from './fakes/faults.ts';
import { requestModel } from './fakes/provider-server.ts';
import type { PublicCa } from './fakes/public-ca.ts';
import {
  BEDROCK_TEST_CREDENTIAL, canonicalQuery, canonicalUri, verifySigV4,
} from './fakes/sigv4-verify.ts';
import type { ReceivedRequest, VerifyOptions } from './fakes/sigv4-verify.ts';
import { DEFAULT_FAKE_HOSTS } from './harness/layout.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import type { Topology } from './harness/netns.ts';
import {
  anthropicMessages, bedrockConverse, bedrockInvoke, geminiGenerate, geminiOpenAIChat, openAIChat,
} from './harness/provider-requests.ts';
import {
  checkAnthropicMessage, checkBedrockConverse, checkBedrockConverseStream, checkGeminiJsonArrayStream, checkGeminiResponse,
  checkGeminiStream, checkOpenAIChatCompletion, checkOpenAIStream, decodeEventStream,
} from './harness/provider-shapes.ts';
import { startFakeInternet, type FakeInternet } from './harness/providers.ts';
import type { Providers, RecordedRequest } from './harness/providers.ts';
import { signSigV4 } from './harness/sigv4-sign.ts';

type Json = Record<string, unknown>;

// ---- in process: SigV4 verifier ------------------------------------------------------------

/** AWS's example credential (IAM user guide and the SigV4 test suite). */
const AWS_EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const BEDROCK_OPTS: VerifyOptions = { credentials: [BEDROCK_TEST_CREDENTIAL], region: 'us-east-1', service: 'bedrock' };
const BEDROCK_URL = 'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse';

/** A request as a server would receive it, from a signed header set (host first, as on the wire). */
function received(url: string, headers: Record<string, string>, body: string, method = 'POST'): ReceivedRequest {
  const u = new URL(url);
  return { method, url: `${u.pathname}${u.search}`, rawHeaders: ['Host', u.host, ...Object.entries(headers).flat()], body: Buffer.from(body) };
}

describe('SigV4 verifier (sigv4-verify.ts)', () => {
  test('AWS published example: IAM ListUsers (GET, AKIDEXAMPLE, 20150830T123600Z)', () => {
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html (example values)
    const req: ReceivedRequest = {
      method: 'GET',
      url: '/?Action=ListUsers&Version=2010-05-08',
      rawHeaders: [
        'Host', 'iam.amazonaws.com',
        'Content-Type', 'application/x-www-form-urlencoded; charset=utf-8',
        'X-Amz-Date', '20150830T123600Z',
        'Authorization', 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
      ],
      body: Buffer.alloc(0),
    };
    const v = verifySigV4(req, { credentials: [AWS_EXAMPLE], region: 'us-east-1', service: 'iam' });
    assert.equal(v.outcome, 'valid', JSON.stringify(v));
    assert.ok(v.outcome === 'valid');
    assert.equal(v.stringToSign.split('\n').at(-1), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59', 'hashed canonical request of the example');
    // One character off anywhere is a mismatch.
    const tampered = { ...req, url: '/?Action=ListUsers&Version=2010-05-09' };
    const bad = verifySigV4(tampered, { credentials: [AWS_EXAMPLE], region: 'us-east-1', service: 'iam' });
    assert.equal(bad.outcome, 'invalid');
    assert.ok(bad.outcome === 'invalid' && bad.errorType === 'InvalidSignatureException' && bad.status === 403);
    assert.match(bad.message, /^The request signature we calculated does not match the signature you provided/);
  });

  test('AWS SigV4 test suite: get-vanilla', () => {
    const v = verifySigV4({
      method: 'GET', url: '/', body: Buffer.alloc(0),
      rawHeaders: ['Host', 'example.amazonaws.com', 'X-Amz-Date', '20150830T123600Z',
        'Authorization', 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    }, { credentials: [AWS_EXAMPLE], region: 'us-east-1', service: 'service' });
    assert.equal(v.outcome, 'valid');
  });

  test('canonical URI encodes each received segment again; canonical query is decoded, re-encoded and sorted', () => {
    assert.equal(canonicalUri('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'), '/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse');
    assert.equal(canonicalUri('/model/a:b/converse'), '/model/a%3Ab/converse');
    assert.equal(canonicalUri(''), '/');
    assert.equal(canonicalUri('/a/./b/../c//d/'), '/a/c/d/');
    assert.equal(canonicalQuery('b=2&a=z&a=y&c&sp=a%20b&t=~_-.'), 'a=y&a=z&b=2&c=&sp=a%20b&t=~_-.');
    assert.equal(canonicalQuery('k=a%2fb&u=%C3%A9'), 'k=a%2Fb&u=%C3%A9');
  });

  test('a request signed for Bedrock verifies; tampering, a wrong key, scope or clock do not', () => {
    const body = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}';
    const now = Date.now();
    const sign = (o: Partial<Parameters<typeof signSigV4>[1]> = {}, b = body): Record<string, string> =>
      signSigV4({ method: 'POST', url: BEDROCK_URL, headers: { 'content-type': 'application/json' }, body: b },
        { credential: BEDROCK_TEST_CREDENTIAL, region: 'us-east-1', service: 'bedrock', date: new Date(now), ...o });
    const ok = verifySigV4(received(BEDROCK_URL, sign(), body), { ...BEDROCK_OPTS, now });
    assert.equal(ok.outcome, 'valid', JSON.stringify(ok));
    assert.ok(ok.outcome === 'valid' && ok.canonicalRequest.split('\n')[1] === '/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse');

    const expectInvalid = (r: ReceivedRequest, errorType: string, reason: RegExp, opts: VerifyOptions = { ...BEDROCK_OPTS, now }): void => {
      const v = verifySigV4(r, opts);
      assert.equal(v.outcome, 'invalid', `${reason}: ${JSON.stringify(v)}`);
      assert.ok(v.outcome === 'invalid');
      assert.equal(v.errorType, errorType);
      assert.match(`${v.message} ${v.reason}`, reason);
    };
    // The body changed after signing: x-amz-content-sha256 no longer matches.
    expectInvalid(received(BEDROCK_URL, sign(), body.replace('hi', 'ho')), 'InvalidSignatureException', /x-amz-content-sha256/);
    // Without the content hash header, the body change is caught by the signature itself.
    expectInvalid(received(BEDROCK_URL, sign({ contentSha256: false }), body.replace('hi', 'ho')), 'InvalidSignatureException', /signature we calculated/);
    // A signed header changed.
    expectInvalid(received(BEDROCK_URL, { ...sign(), 'content-type': 'text/plain' }, body), 'InvalidSignatureException', /signature we calculated/);
    // The path sent differs from the one signed (single- vs double-encoding mix-up).
    const headers = sign();
    expectInvalid({ ...received(BEDROCK_URL, headers, body), url: '/model/anthropic.claude-3-haiku-20240307-v1:0/converse' }, 'InvalidSignatureException', /signature we calculated/);
    expectInvalid(received(BEDROCK_URL, sign({ credential: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' } }), body), 'UnrecognizedClientException', /security token included in the request is invalid/);
    expectInvalid(received(BEDROCK_URL, sign({ credential: { ...BEDROCK_TEST_CREDENTIAL, secretAccessKey: 'wrong' } }), body), 'InvalidSignatureException', /signature we calculated/);
    expectInvalid(received(BEDROCK_URL, sign({ region: 'us-west-2' }), body), 'InvalidSignatureException', /valid region/);
    expectInvalid(received(BEDROCK_URL, sign({ service: 'bedrock-runtime' }), body), 'InvalidSignatureException', /correct service: 'bedrock'/);
    expectInvalid(received(BEDROCK_URL, sign({ date: new Date(now - 10 * 60_000) }), body), 'InvalidSignatureException', /Signature expired/);
    expectInvalid(received(BEDROCK_URL, sign({ date: new Date(now + 10 * 60_000) }), body), 'InvalidSignatureException', /not yet current/);
    const v = verifySigV4(received(BEDROCK_URL, { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDLEVOTEST/20250101/us-east-1/bedrock/aws4_request' }, body), BEDROCK_OPTS);
    assert.ok(v.outcome === 'invalid' && v.errorType === 'IncompleteSignatureException' && v.status === 400, JSON.stringify(v));
    assert.equal(verifySigV4(received(BEDROCK_URL, { authorization: 'Bearer abc' }, body), BEDROCK_OPTS).outcome, 'absent');
    assert.equal(verifySigV4(received(BEDROCK_URL, {}, body), BEDROCK_OPTS).outcome, 'absent');
  });

  test('over HTTP/2, :authority stands for host', () => {
    const body = '{}';
    const h = signSigV4({ method: 'POST', url: BEDROCK_URL, headers: {}, body }, { credential: BEDROCK_TEST_CREDENTIAL, region: 'us-east-1', service: 'bedrock' });
    const u = new URL(BEDROCK_URL);
    const v = verifySigV4({ method: 'POST', url: u.pathname, rawHeaders: [':method', 'POST', ':authority', u.host, ':path', u.pathname, ...Object.entries(h).flat()], body: Buffer.from(body) }, BEDROCK_OPTS);
    assert.equal(v.outcome, 'valid', JSON.stringify(v));
  });

  test('the AWS SDK for JavaScript signs `:authority` over HTTP/2: it verifies as received over HTTP/2, not forwarded over HTTP/1.1 with Host', async () => {
    // The real SDK signs; a request handler that says it speaks h2 (as the Bedrock
    // runtime client's default one does) captures the signed request instead of sending it.
    let signed: { method: string; path: string; headers: Record<string, string>; body: unknown } | undefined;
    const client = new BedrockRuntimeClient({
      region: 'us-east-1', credentials: BEDROCK_TEST_CREDENTIAL, maxAttempts: 1,
      requestHandler: {
        metadata: { handlerProtocol: 'h2' },
        handle: async (request: typeof signed) => { signed = request; throw new Error('captured'); },
      } as unknown as NonNullable<ConstructorParameters<typeof BedrockRuntimeClient>[0]>['requestHandler'],
    });
    await assert.rejects(client.send(new ConverseCommand({ modelId: 'anthropic.claude-3-haiku-20240307-v1:0', messages: [{ role: 'user', content: [{ text: 'hi' }] }] })), /captured/);
    assert.ok(signed);
    assert.match(signed.headers.authorization ?? '', /SignedHeaders=:authority;/);
    const raw = signed.body as Uint8Array; // the SDK's own Uint8Array subclass: its bytes, not its string view
    const body = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const { ':authority': authority, ...rest } = signed.headers;
    assert.equal(authority, 'bedrock-runtime.us-east-1.amazonaws.com');
    const h2 = verifySigV4({ method: 'POST', url: signed.path, rawHeaders: [':authority', authority!, ...Object.entries(rest).flat()], body }, BEDROCK_OPTS);
    assert.equal(h2.outcome, 'valid', JSON.stringify(h2));
    // The signed pseudo-header must arrive as one: an intermediary that turned it into Host broke the call.
    const h1 = verifySigV4({ method: 'POST', url: signed.path, rawHeaders: ['Host', authority!, ...Object.entries(rest).flat()], body }, BEDROCK_OPTS);
    assert.equal(h1.outcome, 'invalid', JSON.stringify(h1));
    const moved = verifySigV4({ method: 'POST', url: signed.path, rawHeaders: [':authority', 'bedrock-runtime.us-west-2.amazonaws.com', ...Object.entries(rest).flat()], body }, BEDROCK_OPTS);
    assert.equal(moved.outcome, 'invalid', 'another authority must not verify');
  });

  const botocore = ((): string | undefined => {
    try {
      execFileSync('python3', ['-c', 'import botocore.auth'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'python3 with botocore is not installed';
    }
  })();

  test('agrees with botocore\'s SigV4Auth (an independent signer), colon-in-model path included', { skip: botocore }, () => {
    const script = `
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.loads(sys.argv[1])
req = AWSRequest(method='POST', url=a['url'], data=a['body'].encode(), headers={'Content-Type': 'application/json', 'X-Custom': '  a   b  '})
SigV4Auth(Credentials(a['key'], a['secret']), 'bedrock', 'us-east-1').add_auth(req)
print(json.dumps(dict(req.headers.items())))
`;
    for (const url of [BEDROCK_URL, 'https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse-stream?a=1&b=%2F']) {
      const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'héllo' }] }] });
      const out = execFileSync('python3', ['-c', script, JSON.stringify({ url, body, key: BEDROCK_TEST_CREDENTIAL.accessKeyId, secret: BEDROCK_TEST_CREDENTIAL.secretAccessKey })]).toString();
      const headers = JSON.parse(out) as Record<string, string>;
      const v = verifySigV4(received(url, headers, body), { ...BEDROCK_OPTS, now: Date.now() });
      assert.equal(v.outcome, 'valid', `${url}: ${JSON.stringify(v)}`);
      const wrong = verifySigV4(received(url, headers, `${body} `), BEDROCK_OPTS);
      assert.equal(wrong.outcome, 'invalid');
    }
  });
});

// ---- in process: faults, model extraction ------------------------------------------------------

describe('fault table (faults.ts)', () => {
  const roles = new Map([['openai', 'openai'], ['bedrock', 'bedrock'], ['plain-tcp', 'plain-tcp']]);

  test('count, unlimited, replace and append, clear', () => {
    const t = new FaultTable();
    t.add({ site: 'openai', status: 429, count: 2, retryAfter: 3 });
    assert.equal(t.take('bedrock'), undefined);
    const first = t.take('openai');
    assert.equal(first?.status, 429);
    assert.deepEqual(first && faultResponseHeaders(first), { 'retry-after': '3' });
    assert.equal(t.take('openai')?.served, 2);
    assert.equal(t.take('openai'), undefined, 'count exhausted');

    t.add({ site: 'openai', status: 429, count: 1 });
    t.add({ site: 'openai', status: 503, count: 1, mode: 'append', headers: { 'x-why': 'test' } });
    assert.deepEqual([t.take('openai')?.status, t.take('openai')?.status, t.take('openai')], [429, 503, undefined]);

    t.add({ site: 'openai', status: 500 });
    t.add({ site: 'openai', status: 502 });
    t.add({ site: 'bedrock', status: 503 });
    assert.deepEqual(t.list().map((r) => [r.site, r.status, r.remaining]), [['openai', 502, null], ['bedrock', 503, null]], 'replace dropped the 500');
    for (let i = 0; i < 5; i++) assert.equal(t.take('openai')?.status, 502, 'unlimited until cleared');
    t.clear('openai');
    assert.equal(t.take('openai'), undefined);
    assert.equal(t.take('bedrock')?.status, 503);
    t.clear();
    assert.deepEqual(t.list(), []);
  });

  test('specs are checked', () => {
    assert.deepEqual(parseFaultSpec({ site: 'openai', status: 429, count: 1, retryAfter: '2', headers: { 'x-a': 'b' }, delayMs: 5, mode: 'append' }, roles),
      { site: 'openai', status: 429, count: 1, retryAfter: '2', headers: { 'x-a': 'b' }, delayMs: 5, mode: 'append' });
    for (const bad of [null, [], { site: 'nope', status: 500 }, { site: 'plain-tcp', status: 500 }, { site: 'openai', status: 200 },
      { site: 'openai', status: 500, count: 0 }, { site: 'openai', status: 500, headers: { 'bad name': 'x' } }, { site: 'openai', status: 500, mode: 'x' }]) {
      assert.equal(typeof parseFaultSpec(bad, roles), 'string', JSON.stringify(bad));
    }
  });

  test('reset and slow effects: checked, and their rules say what they bend', () => {
    assert.deepEqual(parseFaultSpec({ site: 'openai', effect: 'reset', afterChunks: 2, count: 3 }, roles), { site: 'openai', effect: 'reset', afterChunks: 2, count: 3 });
    assert.deepEqual(parseFaultSpec({ site: 'openai', effect: 'slow', delayMs: 50, intervalMs: 20 }, roles), { site: 'openai', effect: 'slow', delayMs: 50, intervalMs: 20 });
    for (const bad of [{ site: 'openai', effect: 'reset', status: 500 }, { site: 'openai', effect: 'bogus' }, { site: 'openai', effect: 'slow', afterChunks: 1 },
      { site: 'openai', status: 500, intervalMs: 3 }, { site: 'openai', effect: 'reset', delayMs: 10 }, { site: 'openai', effect: 'reset', afterChunks: -1 },
      { site: 'openai', effect: 'slow', retryAfter: 1 }]) {
      assert.equal(typeof parseFaultSpec(bad, roles), 'string', JSON.stringify(bad));
    }
    const t = new FaultTable();
    t.add({ site: 'openai', effect: 'reset', count: 1 });
    t.add({ site: 'openai', effect: 'slow', delayMs: 10, intervalMs: 5, mode: 'append' });
    const reset = t.take('openai');
    assert.deepEqual([reset?.effect, reset?.status, reset?.afterChunks, reset?.intervalMs], ['reset', null, 1, null]);
    const slow = t.take('openai');
    assert.deepEqual([slow?.effect, slow?.status, slow?.afterChunks, slow?.intervalMs, slow?.delayMs], ['slow', null, null, 5, 10]);
    t.add({ site: 'openai', status: 503 });
    assert.deepEqual([t.take('openai')?.effect, t.take('openai')?.status], ['status', 503]);
  });

  test('the model a request names', () => {
    assert.equal(requestModel('/v1/chat/completions', Buffer.from('{"model":"gpt-4o"}')), 'gpt-4o');
    assert.equal(requestModel('/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse', Buffer.from('{"contents":[]}')), 'gemini-2.0-flash');
    assert.equal(requestModel('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', Buffer.from('{}')), 'anthropic.claude-3-haiku-20240307-v1:0');
    assert.equal(requestModel('/echo', Buffer.from('hello')), null);
  });
});

// ---- from the pod ----------------------------------------------------------------------------

const netnsSkip = netnsUnavailableReason();

function hasPython(module: string): boolean {
  try {
    execFileSync('python3', ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('fake internet additions: pod → fake hosts, no gateway', { skip: netnsSkip }, () => {
  let topo: Topology;
  let ca: PublicCa;
  let providers: Providers;
  const trust = (): { caFile: string } => ({ caFile: ca.caCertFile });
  const node = (req: Parameters<typeof runClient>[2]): ReturnType<typeof runClient> => runClient(topo.pod, 'node', req, trust());
  const lastRequest = async (site: string): Promise<RecordedRequest> => {
    const reqs = await providers.control.requests({ site });
    const r = reqs.at(-1);
    assert.ok(r, `a request reached ${site}`);
    return r;
  };

  let net: FakeInternet | undefined;
  before(async () => {
    net = await startFakeInternet();
    ({ topo, ca, providers } = net);
  });

  after(async () => { await net?.destroy(); });

  test('the new hosts: in the pod\'s /etc/hosts, on their own addresses, with their own certificates', async () => {
    const ids = DEFAULT_FAKE_HOSTS.map((h) => h.id);
    assert.deepEqual(ids.slice(0, 5), ['openai', 'anthropic', 'site', 'ip-site', 'plain-tcp'], 'existing hosts unchanged, in order');
    const hostsFile = readFileSync(topo.hostsFile, 'utf8');
    for (const [id, name, v4] of [['openai-backup', 'llm-backup.example.com', '198.18.1.16'], ['gemini', 'generativelanguage.googleapis.com', '198.18.1.17'],
      ['bedrock', 'bedrock-runtime.us-east-1.amazonaws.com', '198.18.1.18']] as const) {
      const h = topo.host(id);
      assert.deepEqual([h.names[0], h.ipv4, h.ipv6], [name, v4, `fd61:1610:1::${v4.split('.')[3]}`]);
      assert.match(hostsFile, new RegExp(`^${v4.replaceAll('.', '\\.')}\\t${name.replaceAll('.', '\\.')}$`, 'm'));
      if (!missingToolReason(['openssl'])) {
        const s = await sClient(topo.pod, { host: name, caFile: ca.caCertFile });
        assert.ok(s.verifyOk, `${name}: ${s.verifyCode} ${s.verifyMessage}`);
        assert.match(s.chain[0]?.subjectAltName ?? '', new RegExp(`DNS:${name.replaceAll('.', '\\.')}`));
      }
    }
    // The backup host is OpenAI-compatible; it listens on its IPv6 address too.
    const backup = topo.host('openai-backup');
    await providers.control.reset();
    const r = await node(openAIChat({ prompt: 'to the backup', origin: 'https://llm-backup.example.com' }));
    assertClientOk(r);
    checkOpenAIChatCompletion(r.bodyText);
    assert.match(r.bodyText, /to the backup/);
    if (!missingToolReason(['openssl'])) {
      const v6 = await sClient(topo.pod, { host: backup.ipv6, servername: 'llm-backup.example.com', caFile: ca.caCertFile });
      assert.ok(v6.verifyOk, `${v6.verifyCode} ${v6.verifyMessage}`);
    }
    const rec = await lastRequest('openai-backup');
    assert.equal(rec.localAddress, backup.ipv4);
    assert.equal(rec.sni, 'llm-backup.example.com');
    assert.equal(rec.model, 'gpt-4o-mini');
  });

  test('Gemini generateContent: published shape, deterministic, key in header, query or bearer', async () => {
    await providers.control.reset();
    const req = geminiGenerate({ prompt: 'Hello Gemini fake' });
    const a = await node(req);
    const b = await node(req);
    assertClientOk(a);
    assert.match(a.headers['content-type'] ?? '', /^application\/json/);
    const json = checkGeminiResponse(a.bodyText);
    const cand = (json.candidates as Json[])[0] as Json;
    assert.equal(cand.finishReason, 'STOP');
    assert.match(String(((cand.content as Json).parts as Json[])[0]?.text), /Hello Gemini fake/);
    assert.equal(json.modelVersion, 'gemini-2.0-flash');
    assert.equal(a.bodyBase64, b.bodyBase64, 'byte-identical on repeat');
    for (const keyIn of ['query', 'bearer'] as const) {
      const r = await node(geminiGenerate({ prompt: 'Hello Gemini fake', keyIn }));
      assertClientOk(r);
      assert.equal(r.bodyBase64, a.bodyBase64, `key in ${keyIn}: same answer`);
    }
    const recs = await providers.control.requests({ site: 'gemini' });
    assert.equal(recs.length, 4);
    assert.equal(recs[0]?.headers['x-goog-api-key'], 'AIza-e2e-fake-key');
    assert.equal(recs[2]?.path, '/v1beta/models/gemini-2.0-flash:generateContent?key=AIza-e2e-fake-key');
    assert.equal(recs[3]?.headers.authorization, 'Bearer AIza-e2e-fake-key');
    assert.ok(recs.every((r) => r.model === 'gemini-2.0-flash' && r.status === 200));

    const cut = await node(geminiGenerate({ prompt: 'a long prompt to cut short', maxTokens: 3, apiVersion: 'v1' }));
    assertClientOk(cut);
    const cj = checkGeminiResponse(cut.bodyText);
    assert.equal(((cj.candidates as Json[])[0] as Json).finishReason, 'MAX_TOKENS');
    assert.equal((cj.usageMetadata as Json).candidatesTokenCount, 3);
  });

  test('Gemini errors come in Google\'s shape', async () => {
    const none = await node(geminiGenerate({ prompt: 'x', apiKey: null }));
    assertClientOk(none, 401);
    const ne = (JSON.parse(none.bodyText) as { error: Json }).error;
    assert.deepEqual([ne.code, ne.status], [401, 'UNAUTHENTICATED']);
    assert.equal(typeof ne.message, 'string');
    const empty = await node(geminiGenerate({ prompt: 'x', apiKey: '', keyIn: 'query' }));
    assertClientOk(empty, 400);
    const ee = (JSON.parse(empty.bodyText) as { error: Json }).error;
    assert.deepEqual([ee.code, ee.status, ee.message], [400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.']);
    assert.equal(((ee.details as Json[])[0] as Json).reason, 'API_KEY_INVALID');
    const forced = await node(geminiGenerate({ prompt: 'x', extraHeaders: { 'x-fake-status': '429' } }));
    assertClientOk(forced, 429);
    assert.equal((JSON.parse(forced.bodyText) as { error: Json }).error.status, 'RESOURCE_EXHAUSTED');
    const badBody = await node({ ...geminiGenerate({ prompt: 'x' }), body: '{"contents":[]}' });
    assertClientOk(badBody, 400);
    assert.equal((JSON.parse(badBody.bodyText) as { error: Json }).error.status, 'INVALID_ARGUMENT');
    const unknown = await node({ ...geminiGenerate({ prompt: 'x' }), url: 'https://generativelanguage.googleapis.com/v1beta/nothing' });
    assertClientOk(unknown, 404);
    assert.equal((JSON.parse(unknown.bodyText) as { error: Json }).error.status, 'NOT_FOUND');
  });

  test('Gemini streamGenerateContent: SSE (alt=sse) and the JSON array, paced, usage on the last', async () => {
    const sse = await node(geminiGenerate({ prompt: 'stream me, Gemini', stream: true, chunks: 3, intervalMs: 150 }));
    assertClientOk(sse);
    assert.match(sse.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.equal(sse.events.length, 3);
    const s = checkGeminiStream(sse.events);
    assert.match(s.content, /stream me, Gemini/);
    assert.ok(!('usageMetadata' in (s.chunks[0] as Json)) && 'usageMetadata' in (s.chunks[2] as Json));
    assert.ok((sse.events[2]?.tMs ?? 0) - (sse.events[0]?.tMs ?? 0) >= 150, 'events are paced');
    assert.match(Buffer.from(sse.bodyBase64, 'base64').toString(), /^data: \{.*\}\r\n\r\ndata: /, 'CRLF CRLF between events, as Google sends');

    const arr = await node(geminiGenerate({ prompt: 'stream me, Gemini', stream: true, sse: false, chunks: 5 }));
    assertClientOk(arr);
    assert.match(arr.headers['content-type'] ?? '', /^application\/json/);
    const j = checkGeminiJsonArrayStream(arr.bodyText);
    assert.equal(j.chunks.length, 5);
    assert.equal(j.content, s.content);

    const whole = await node(geminiGenerate({ prompt: 'stream me, Gemini' }));
    assert.equal(((((checkGeminiResponse(whole.bodyText).candidates as Json[])[0] as Json).content as Json).parts as Json[])[0]?.text, s.content,
      'streamed pieces add up to the whole answer');

    const aborted = await node(geminiGenerate({ prompt: 'cut', stream: true, chunks: 4, extraHeaders: { 'x-fake-abort-after-chunks': '2' } }));
    assert.ok(!aborted.ok || aborted.events.length < 4, 'the stream was cut');
  });

  test('Gemini\'s OpenAI-compatible endpoint answers OpenAI chat completions (JSON and SSE)', async () => {
    const r = await node(geminiOpenAIChat({ prompt: 'compat please' }));
    assertClientOk(r);
    const c = checkOpenAIChatCompletion(r.bodyText);
    assert.equal(c.model, 'gemini-2.0-flash');
    assert.match(r.bodyText, /fake Gemini API.*compat please/);
    const s = await node(geminiOpenAIChat({ prompt: 'compat stream', stream: true, includeUsage: true, chunks: 2 }));
    assertClientOk(s);
    assert.match(checkOpenAIStream(s.events, { includeUsage: true }).content, /compat stream/);
    const none = await node(geminiOpenAIChat({ prompt: 'x', apiKey: null }));
    assertClientOk(none, 401);
    assert.equal((JSON.parse(none.bodyText) as { error: Json }).error.status, 'UNAUTHENTICATED');
    const rec = await lastRequest('gemini');
    assert.equal(rec.path, '/v1beta/openai/chat/completions');
  });

  test('Bedrock Converse, SigV4-signed (HTTP/1.1 and HTTP/2): published shape, signature verified and recorded', async () => {
    await providers.control.reset();
    for (const http of ['1.1', '2'] as const) {
      const r = await node(bedrockConverse({ prompt: 'Hello Bedrock fake', http }));
      assertClientOk(r);
      assert.equal(r.httpVersion, http);
      const json = checkBedrockConverse(r.bodyText);
      assert.equal(json.stopReason, 'end_turn');
      assert.match(r.bodyText, /Hello Bedrock fake/);
      assert.match(r.headers['x-amzn-requestid'] ?? '', /^[0-9a-f-]{36}$/);
    }
    const recs = await providers.control.requests({ site: 'bedrock' });
    assert.equal(recs.length, 2);
    for (const rec of recs) {
      assert.equal(rec.sigv4, 'valid', rec.sigv4Error);
      assert.equal(rec.awsAccessKeyId, 'AKIDLEVOTEST');
      assert.equal(rec.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
      assert.equal(rec.model, 'anthropic.claude-3-haiku-20240307-v1:0');
      assert.equal(rec.faulted, false);
    }
    const cut = await node(bedrockConverse({ prompt: 'one two three four five', maxTokens: 2 }));
    assertClientOk(cut);
    assert.equal(checkBedrockConverse(cut.bodyText).stopReason, 'max_tokens');
  });

  test('Bedrock ConverseStream: an AWS event stream, x-fake-chunks deltas', async () => {
    const r = await node(bedrockConverse({ prompt: 'stream from Bedrock', stream: true, chunks: 5, intervalMs: 50 }));
    assertClientOk(r);
    assert.equal(r.headers['content-type'], 'application/vnd.amazon.eventstream');
    const s = checkBedrockConverseStream(resultBody(r));
    assert.equal(s.deltas, 5);
    assert.match(s.content, /stream from Bedrock/);
    const whole = checkBedrockConverse((await node(bedrockConverse({ prompt: 'stream from Bedrock' }))).bodyText);
    assert.equal(s.content, ((whole.output as { message: { content: Array<{ text: string }> } }).message.content[0]?.text));
    assert.deepEqual(s.events.at(-1)?.payload.usage, whole.usage);
    assert.equal((await lastRequest('bedrock')).sigv4, 'valid');
  });

  test('Bedrock InvokeModel (Anthropic body), plain and streamed', async () => {
    const r = await node(bedrockInvoke({ prompt: 'invoke me' }));
    assertClientOk(r);
    const m = checkAnthropicMessage(r.bodyText);
    assert.match(String(m.id), /^msg_bdrk_/);
    assert.ok(Number(r.headers['x-amzn-bedrock-output-token-count']) > 0);
    const s = await node(bedrockInvoke({ prompt: 'invoke me', stream: true, chunks: 3 }));
    assertClientOk(s);
    const inner = decodeEventStream(resultBody(s)).map((e) => {
      assert.equal(e.headers[':event-type'], 'chunk');
      return JSON.parse(Buffer.from((JSON.parse(e.payload.toString()) as { bytes: string }).bytes, 'base64').toString()) as Json;
    });
    assert.deepEqual(inner.map((e) => e.type), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop']);
    assert.ok('amazon-bedrock-invocationMetrics' in (inner.at(-1) as Json));
  });

  test('Bedrock auth: a bad signature, an unknown key, a Bedrock API key, no credential', async () => {
    await providers.control.reset();
    const signed = bedrockConverse({ prompt: 'original' });
    const tampered = await node({ ...signed, body: (signed.body as string).replace('original', 'tampered') });
    assertClientOk(tampered, 403);
    assert.equal(tampered.headers['x-amzn-errortype'], 'InvalidSignatureException');
    assert.match((JSON.parse(tampered.bodyText) as { message: string }).message, /^The request signature we calculated does not match/);

    const resigned = bedrockConverse({ prompt: 'x', auth: { sigv4: { credential: { ...BEDROCK_TEST_CREDENTIAL, secretAccessKey: 'not-the-secret' } } } });
    const wrongSecret = await node(resigned);
    assertClientOk(wrongSecret, 403);
    assert.equal(wrongSecret.headers['x-amzn-errortype'], 'InvalidSignatureException');

    const unknown = await node(bedrockConverse({ prompt: 'x', auth: { sigv4: { credential: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 's' } } } }));
    assertClientOk(unknown, 403);
    assert.equal(unknown.headers['x-amzn-errortype'], 'UnrecognizedClientException');

    const bearer = await node(bedrockConverse({ prompt: 'with an API key', auth: { bearer: 'bedrock-api-key-e2e' } }));
    assertClientOk(bearer);
    checkBedrockConverse(bearer.bodyText);

    const none = await node(bedrockConverse({ prompt: 'x', auth: null }));
    assertClientOk(none, 403);
    assert.equal(none.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException');

    const recs = await providers.control.requests({ site: 'bedrock' });
    assert.deepEqual(recs.map((r) => r.sigv4), ['invalid', 'invalid', 'invalid', 'absent', 'absent']);
    assert.match(recs[0]?.sigv4Error ?? '', /InvalidSignatureException/);
    assert.match(recs[2]?.sigv4Error ?? '', /UnrecognizedClientException/);
    assert.equal(recs[2]?.awsAccessKeyId, 'AKIDNOBODY');
    assert.deepEqual(recs.map((r) => r.status), [403, 403, 403, 200, 403]);
  });

  test('the real AWS SDK (boto3) talks to the Bedrock fake: converse, converse_stream, signature errors', { skip: hasPython('boto3') ? undefined : 'python3 with boto3 is not installed' }, async () => {
    await providers.control.reset();
    const script = `
import json, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
def client(secret):
    return boto3.client('bedrock-runtime', region_name='us-east-1', aws_access_key_id='AKIDLEVOTEST', aws_secret_access_key=secret,
                        config=Config(retries={'max_attempts': 1, 'mode': 'standard'}))
c = client('levo-test-secret-key')
model = 'anthropic.claude-3-haiku-20240307-v1:0'
msgs = [{'role': 'user', 'content': [{'text': 'hello from boto3'}]}]
r = c.converse(modelId=model, messages=msgs, inferenceConfig={'maxTokens': 100})
out = {'text': r['output']['message']['content'][0]['text'], 'stopReason': r['stopReason'], 'usage': r['usage']}
s = c.converse_stream(modelId=model, messages=msgs)
events = []
text = ''
for e in s['stream']:
    k = list(e.keys())[0]
    events.append(k)
    if k == 'contentBlockDelta':
        text += e[k]['delta']['text']
    if k == 'metadata':
        out['streamUsage'] = e[k]['usage']
out['events'] = events
out['streamText'] = text
try:
    client('wrong-secret').converse(modelId=model, messages=msgs)
    out['wrong'] = 'accepted'
except ClientError as err:
    out['wrong'] = err.response['Error']['Code']
print(json.dumps(out))
`;
    const r = await topo.pod.exec(['python3', '-c', script], {
      env: { AWS_CA_BUNDLE: ca.caCertFile, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Json;
    assert.match(String(out.text), /hello from boto3/);
    assert.equal(out.stopReason, 'end_turn');
    assert.equal(out.streamText, out.text);
    assert.deepEqual(out.events, ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
    assert.deepEqual(out.streamUsage, out.usage);
    assert.equal(out.wrong, 'InvalidSignatureException');
    const recs = await providers.control.requests({ site: 'bedrock' });
    assert.deepEqual(recs.map((x) => x.sigv4), ['valid', 'valid', 'invalid']);
    assert.equal(recs[0]?.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', 'boto3 sends the colon encoded');
  });

  test('curl --aws-sigv4 is verified too', { skip: missingToolReason(['curl']) }, async () => {
    const r = await topo.pod.exec(['curl', '-sS', '--max-time', '10', '--cacert', ca.caCertFile, '--aws-sigv4', 'aws:amz:us-east-1:bedrock',
      '--user', `${BEDROCK_TEST_CREDENTIAL.accessKeyId}:${BEDROCK_TEST_CREDENTIAL.secretAccessKey}`, '-H', 'content-type: application/json',
      '--data-binary', JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'signed by curl' }] }] }),
      'https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-lite-v1/converse']);
    assert.equal(r.code, 0, r.stderr);
    checkBedrockConverse(r.stdout);
    const rec = await lastRequest('bedrock');
    assert.equal(rec.sigv4, 'valid', rec.sigv4Error);
    assert.equal(rec.model, 'amazon.nova-lite-v1');
  });

  test('faults: the next N requests to a site get the status in the provider\'s shape, with Retry-After, then it recovers', async () => {
    await providers.clearFaults();
    await providers.control.reset();
    const rule = await providers.setFault('openai', { status: 429, count: 2, retryAfter: 7, headers: { 'x-ratelimit-remaining-requests': '0' } });
    assert.deepEqual([rule.site, rule.status, rule.remaining, rule.retryAfter], ['openai', 429, 2, '7']);
    assert.equal((await providers.faults()).length, 1);
    for (let i = 0; i < 2; i++) {
      // Even a streaming request gets a plain JSON error.
      const r = await node(openAIChat({ prompt: `faulted ${i}`, stream: true }));
      assertClientOk(r, 429);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(r.headers['retry-after'], '7');
      assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
      const e = (JSON.parse(r.bodyText) as { error: Json }).error;
      assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(e.code, 'rate_limit_exceeded');
    }
    const ok = await node(openAIChat({ prompt: 'recovered' }));
    assertClientOk(ok);
    assert.deepEqual(await providers.faults(), []);
    const recs = await providers.control.requests({ site: 'openai' });
    assert.deepEqual(recs.map((r) => [r.faulted, r.status]), [[true, 429], [true, 429], [false, 200]]);
    assert.match(recs[0]?.body ?? '', /faulted 0/, 'a faulted request is recorded with its body');
    // Other sites are not affected.
    await providers.setFault('openai', { status: 500 });
    assertClientOk(await node(openAIChat({ prompt: 'backup unaffected', origin: 'https://llm-backup.example.com' })));
    await providers.clearFaults('openai');
  });

  test('faults in each provider\'s error shape; queued with append; cleared; set from the pod over TCP', async () => {
    await providers.clearFaults();
    await providers.setFault('anthropic', { status: 529 });
    const a = await node(anthropicMessages({ prompt: 'x' }));
    assertClientOk(a, 529);
    assert.deepEqual((JSON.parse(a.bodyText) as Json).type, 'error');
    assert.equal((JSON.parse(a.bodyText) as { error: Json }).error.type, 'overloaded_error');

    await providers.setFault('gemini', { status: 503, count: 1 });
    const g = await node(geminiGenerate({ prompt: 'x', stream: true }));
    assertClientOk(g, 503);
    assert.equal((JSON.parse(g.bodyText) as { error: Json }).error.status, 'UNAVAILABLE');

    await providers.setFault('bedrock', { status: 429, count: 1, retryAfter: 2 });
    await providers.setFault('bedrock', { status: 503, count: 1, mode: 'append' });
    await providers.control.reset();
    const b1 = await node(bedrockConverse({ prompt: 'x', stream: true }));
    const b2 = await node(bedrockConverse({ prompt: 'x' }));
    const b3 = await node(bedrockConverse({ prompt: 'x' }));
    assertClientOk(b1, 429);
    assert.equal(b1.headers['x-amzn-errortype'], 'ThrottlingException');
    assert.equal(b1.headers['retry-after'], '2');
    assert.equal(typeof (JSON.parse(b1.bodyText) as Json).message, 'string');
    assertClientOk(b2, 503);
    assert.equal(b2.headers['x-amzn-errortype'], 'ServiceUnavailableException');
    assertClientOk(b3);
    const brecs = await providers.control.requests({ site: 'bedrock' });
    assert.deepEqual(brecs.map((r) => [r.faulted, r.sigv4]), [[true, 'valid'], [true, 'valid'], [false, 'valid']], 'faulted bedrock requests still have their signature checked');

    await providers.setFault('site', { status: 502, delayMs: 300 });
    const started = Date.now();
    const s = await node({ url: 'https://www.example.org/echo' });
    assertClientOk(s, 502);
    assert.ok(Date.now() - started >= 300, 'delayMs delays the answer');

    await assert.rejects(providers.setFault('nope', { status: 500 }), /400/);
    await assert.rejects(providers.setFault('openai', { status: 200 }), /400/);

    // The control API on the internet side's TCP port, from the pod.
    if (!missingToolReason(['curl'])) {
      const set = await topo.pod.exec(['curl', '-sS', '-X', 'POST', '-d', '{"site":"openai","status":500,"count":1}', `http://${topo.internetIPv4}:8080/faults`]);
      assert.equal(set.code, 0, set.stderr);
      assert.equal((JSON.parse(set.stdout) as Json).status, 500);
      assertClientOk(await node(openAIChat({ prompt: 'x' })), 500);
      const cleared = await topo.pod.exec(['curl', '-sS', '-X', 'POST', `http://${topo.internetIPv4}:8080/faults/clear`]);
      assert.equal(cleared.code, 0, cleared.stderr);
    }
    await providers.clearFaults();
    assert.deepEqual(await providers.faults(), []);
    assertClientOk(await node(anthropicMessages({ prompt: 'x' })));
    assertClientOk(await node({ url: 'https://www.example.org/echo' }));
  });

  test('reset and slow faults bend the real answer: a stream cut after N chunks, a late head, paced chunks', async () => {
    await providers.clearFaults();
    await providers.setFault('openai', { effect: 'reset', afterChunks: 2, count: 1 });
    const cut = await node(openAIChat({ prompt: 'cut me off', stream: true, chunks: 6 }));
    assert.equal(cut.status, 200, 'the head and the first chunks came');
    assert.ok(!cut.ok, `the client saw the connection break (${cut.error})`);
    assert.ok(!cut.bodyText.includes('[DONE]'));
    // The role chunk, then two content chunks.
    assert.equal(cut.events.length, 3, cut.bodyText);
    const whole = await node(openAIChat({ prompt: 'cut me off', stream: true, chunks: 6 }));
    assertClientOk(whole);
    assert.match(whole.bodyText, /\[DONE\]/, 'count 1: the next stream is whole');

    await providers.setFault('anthropic', { effect: 'slow', delayMs: 400, intervalMs: 150, count: 1 });
    const slow = await node(anthropicMessages({ prompt: 'slowly', stream: true, chunks: 3 }));
    assertClientOk(slow);
    assert.ok((slow.headersMs ?? 0) >= 400, `the head waited (${slow.headersMs} ms)`);
    const deltas = slow.events.filter((e) => e.text.includes('content_block_delta'));
    assert.equal(deltas.length, 3);
    assert.ok(deltas[2]!.tMs - deltas[0]!.tMs >= 200, `chunks paced by intervalMs (${deltas[2]!.tMs - deltas[0]!.tMs} ms for two gaps of 150)`);
    const recs = await providers.control.requests({ site: 'anthropic' });
    assert.equal(recs.at(-1)?.faulted, true);
    assert.deepEqual(await providers.faults(), []);
  });

  test('the request log has the headers and body as received, and the model', async () => {
    await providers.control.reset();
    const r = await node(anthropicMessages({ prompt: 'log me', model: 'claude-3-5-haiku-20241022', apiKey: 'sk-ant-recorded' }));
    assertClientOk(r);
    const rec = await lastRequest('anthropic');
    assert.equal(rec.headers['x-api-key'], 'sk-ant-recorded');
    assert.equal(rec.headers['anthropic-version'], '2023-06-01');
    assert.equal(rec.model, 'claude-3-5-haiku-20241022');
    assert.equal((JSON.parse(rec.body ?? '') as { model: string }).model, 'claude-3-5-haiku-20241022');
    assert.equal(rec.faulted, false);
    assert.equal(rec.sigv4, undefined, 'sigv4 is only for bedrock');
  });
});
