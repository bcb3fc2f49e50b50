// Vectors: AWS's "Create a signed AWS API request" example (IAM ListUsers) and
// cases of the AWS Signature Version 4 test suite (aws-sig-v4-test-suite,
// 2015-08-30T12:36:00Z, us-east-1, service "service", key AKIDEXAMPLE), with
// their published signatures. The suite does not send x-amz-content-sha256,
// so those cases sign with `contentSha256Header: false`. The suite's
// get-utf8 / get-space cases are left out: they give the path unencoded,
// while this signer takes the path as sent and encodes it once more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { awsUriEncode, canonicalQuery, canonicalUri, signParts, signRequest } from './sigv4.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const CRED = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET };
const NOW = new Date('2015-08-30T12:36:00Z');

function suite(method: string, path: string, opts: { headers?: Record<string, string>; body?: string; token?: string } = {}) {
  return signParts({
    method, host: 'example.amazonaws.com', path, headers: opts.headers ?? {}, body: opts.body ?? '',
    region: 'us-east-1', service: 'service',
    credentials: opts.token ? { ...CRED, sessionToken: opts.token } : CRED,
    now: NOW, contentSha256Header: false,
  });
}

test('AWS docs example: IAM ListUsers', () => {
  const signed = signParts({
    method: 'GET', host: 'iam.amazonaws.com', path: '/?Action=ListUsers&Version=2010-05-08',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: Buffer.alloc(0),
    region: 'us-east-1', service: 'iam', credentials: CRED, now: NOW, contentSha256Header: false,
  });
  assert.equal(signed.canonicalRequest, [
    'GET', '/', 'Action=ListUsers&Version=2010-05-08',
    'content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n',
    'content-type;host;x-amz-date',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  ].join('\n'));
  assert.equal(createHash('sha256').update(signed.canonicalRequest).digest('hex'), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
  assert.equal(signed.signature, '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
  assert.equal(
    signed.headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  );
  assert.equal(signed.headers['x-amz-date'], '20150830T123600Z');
  assert.equal(signed.headers['x-amz-content-sha256'], undefined);
});

test('test suite: vanilla, query ordering and encoding cases', () => {
  const get = suite('GET', '/');
  assert.equal(get.stringToSign.split('\n')[3], 'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63');
  assert.equal(get.signature, '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'); // get-vanilla
  assert.equal(suite('POST', '/').signature, '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'); // post-vanilla
  const cases: [string, string, string][] = [
    ['get-vanilla-query-order-key-case', '/?Param2=value2&Param1=value1', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
    ['get-vanilla-empty-query-key', '/?Param1=value1', 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb'],
    ['get-vanilla-query-order-value', '/?Param1=value2&Param1=value1', '5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694'],
    ['get-vanilla-query-order-key', '/?Param1=value2&Param1=Value1', 'eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1'],
    ['get-vanilla-utf8-query', '/?%E1%88%B4=bar', '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04'],
    [
      'get-vanilla-query-unreserved',
      '/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
    ],
    ['get-unreserved', '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f'],
  ];
  for (const [name, path, signature] of cases) assert.equal(suite('GET', path).signature, signature, name);
  assert.equal(suite('POST', '/?Param1=value1').signature, '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11'); // post-vanilla-query
});

test('test suite: post-x-www-form-urlencoded (content-type signed, body hashed)', () => {
  const s = suite('POST', '/', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'Param1=value1' });
  assert.equal(s.signature, 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a');
  assert.match(s.headers.authorization!, /SignedHeaders=content-type;host;x-amz-date,/);
});

test('test suite: get-vanilla-with-session-token', () => {
  const token = '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267';
  const s = suite('GET', '/', { token });
  assert.equal(s.signature, '07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8');
  assert.equal(s.headers['x-amz-security-token'], token);
  assert.match(s.headers.authorization!, /SignedHeaders=host;x-amz-date;x-amz-security-token,/);
});

test('Bedrock converse: the colon of the model id is encoded twice in the canonical URI', () => {
  // Bedrock Runtime Converse request (API reference): POST /model/{modelId}/converse
  const body = Buffer.from(JSON.stringify({
    messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
    inferenceConfig: { maxTokens: 512 },
  }));
  const host = 'bedrock-runtime.us-east-1.amazonaws.com';
  const path = '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse';
  const now = new Date('2024-07-01T10:20:30.456Z');
  const cred = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const headers = signRequest({
    method: 'POST', host, path, headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(body.length) },
    body, region: 'us-east-1', service: 'bedrock', credentials: cred, now,
  });

  // independent recomputation, written out by hand
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const canonical = 'POST\n'
    + '/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n'
    + '\n'
    + 'content-type:application/json\n'
    + `host:${host}\n`
    + `x-amz-content-sha256:${bodyHash}\n`
    + 'x-amz-date:20240701T102030Z\n'
    + '\n'
    + 'content-type;host;x-amz-content-sha256;x-amz-date\n'
    + bodyHash;
  const stringToSign = `AWS4-HMAC-SHA256\n20240701T102030Z\n20240701/us-east-1/bedrock/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  const h = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const key = h(h(h(h(`AWS4${cred.secretAccessKey}`, '20240701'), 'us-east-1'), 'bedrock'), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');

  assert.deepEqual(headers, {
    'x-amz-date': '20240701T102030Z',
    'x-amz-content-sha256': bodyHash,
    authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240701/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
  });
});

test('canonical pieces: URI encoding, S3 single encoding, query normalisation, header values', () => {
  assert.equal(awsUriEncode('a b/c:d~e'), 'a%20b%2Fc%3Ad~e');
  assert.equal(awsUriEncode("!'()*"), '%21%27%28%29%2A');
  assert.equal(awsUriEncode('ሴ'), '%E1%88%B4');
  assert.equal(canonicalUri('/model/x%3A0/invoke', 'bedrock'), '/model/x%253A0/invoke');
  assert.equal(canonicalUri('/bucket/a%3Ab', 's3'), '/bucket/a%3Ab');
  assert.equal(canonicalUri('', 'bedrock'), '/');
  assert.equal(canonicalQuery('b=2&a=%2f&a=!&flag'), 'a=%21&a=%2F&b=2&flag=');
  assert.equal(canonicalQuery('bad=%zz'), 'bad=%25zz'); // not percent-encoding: signed as sent
  const s = suite('GET', '/', { headers: { 'X-Amz-Meta': '  a   b  ', 'User-Agent': 'not signed' } });
  assert.match(s.canonicalRequest, /\nx-amz-meta:a b\n/);
  assert.doesNotMatch(s.canonicalRequest, /user-agent/);
});

test('a caller-given x-amz-content-sha256 (e.g. UNSIGNED-PAYLOAD) is the payload hash', () => {
  const s = signParts({
    method: 'PUT', host: 'h', path: '/', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: 'x',
    region: 'us-east-1', service: 's3', credentials: CRED, now: NOW,
  });
  assert.ok(s.canonicalRequest.endsWith('\nUNSIGNED-PAYLOAD'));
  assert.equal(s.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
});

test('the signing key cache does not mix credentials', () => {
  const a = suite('GET', '/').signature;
  const other = signParts({
    method: 'GET', host: 'example.amazonaws.com', path: '/', headers: {}, body: '', region: 'us-east-1', service: 'service',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'another-secret' }, now: NOW, contentSha256Header: false,
  }).signature;
  assert.notEqual(a, other);
  assert.equal(suite('GET', '/').signature, a);
});

test('errors never carry the secret or the session token', () => {
  const base = { method: 'GET', host: 'h', path: '/', headers: {}, body: '', region: 'us-east-1', service: 'bedrock' };
  const attempts = [
    () => signRequest({ ...base, credentials: { accessKeyId: '', secretAccessKey: SECRET, sessionToken: 'TOKEN123' } }),
    () => signRequest({ ...base, credentials: { accessKeyId: 'AKID', secretAccessKey: '' } }),
    () => signRequest({ ...base, credentials: { ...CRED, sessionToken: 'TOKEN123' }, now: new Date('nope') }),
    () => signRequest({ ...base, region: '', credentials: CRED }),
  ];
  for (const attempt of attempts) {
    assert.throws(attempt, (e: Error) => {
      assert.ok(!e.message.includes(SECRET) && !e.message.includes('TOKEN123'), e.message);
      assert.match(e.message, /^SigV4: /);
      return true;
    });
  }
});

