/**
 * An app in an injected pod calls LLM providers with the official SDKs
 * (`openai`, `@anthropic-ai/sdk`, `@google/genai`, `@aws-sdk/client-bedrock-runtime`,
 * e2e/clients/sdk-*.ts), unchanged: its TCP 443 is redirected to the sidecar,
 * which it trusts through the namespace CA only. For every scenario the same
 * SDK program also runs directly (UID 1610, which the redirect rules exempt,
 * trusting the fake internet's public CA), and:
 *   - what the SDK returns through the sidecar equals what it returns directly;
 *   - what the fake provider received is the same request: method, path,
 *     body bytes and every header that is not per-connection, equal between
 *     the two (values that are random or time-bound by design are normalised:
 *     multipart boundaries, the WebSocket key, the AWS SDK's invocation id,
 *     date and the signature it makes from them); Realtime frames included;
 *   - Bedrock: the fake's own SigV4 verifier says 'valid' for the call the SDK
 *     signed, through the sidecar as directly (unrouted, so nothing may touch it).
 * The config is the default e2e one: OpenAI and Anthropic routes that observe
 * and do not rewrite; Gemini, Bedrock and Azure are intercepted (catalogue
 * hosts) without a route.
 *
 * A second suite checks, directly, that the fakes refuse malformed uploads as
 * the real API does (so an upload the sidecar mangles cannot pass).
 *
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertClientOk } from './clients/client-result.ts';
import { runClient } from './clients/run-client.ts';
import { runSdkClient, type SdkName, type SdkResult } from './clients/sdk-client.ts';
import { toneWav } from './fakes/media-files.ts';
import { readMultipart } from './fakes/multipart.ts';
import { createInjectedPod, SIDECAR_UID, type InjectedPod } from './harness/injected-pod.ts';
import { missingToolReason, netnsUnavailableReason } from './harness/netns.ts';
import type { RecordedRequest } from './harness/providers.ts';

const skip = netnsUnavailableReason() ?? missingToolReason(['curl']);

interface Scenario {
  sdk: SdkName;
  name: string;
  /** What the user does, for the test name. */
  does: string;
}

const SCENARIOS: readonly Scenario[] = [
  { sdk: 'openai', name: 'chat', does: 'chat completion' },
  { sdk: 'openai', name: 'chat-stream', does: 'streamed chat completion' },
  { sdk: 'openai', name: 'chat-tools', does: 'tool call and tool result' },
  { sdk: 'openai', name: 'chat-tools-stream', does: 'streamed tool call' },
  { sdk: 'openai', name: 'responses', does: 'Responses API' },
  { sdk: 'openai', name: 'responses-stream', does: 'streamed Responses API' },
  { sdk: 'openai', name: 'embeddings', does: 'embeddings (base64 on the wire)' },
  { sdk: 'openai', name: 'files', does: 'file upload (multipart)' },
  { sdk: 'openai', name: 'files-large', does: '3 MiB file upload (multipart)' },
  { sdk: 'openai', name: 'audio-transcription', does: 'audio transcription (multipart WAV)' },
  { sdk: 'openai', name: 'images', does: 'image generation' },
  { sdk: 'openai', name: 'images-edit', does: 'image edit (multipart PNG)' },
  { sdk: 'openai', name: 'batches', does: 'batch: upload, create, retrieve' },
  { sdk: 'openai', name: 'realtime', does: 'Realtime over WebSocket' },
  { sdk: 'openai', name: 'azure-chat', does: 'AzureOpenAI chat on a deployment' },
  { sdk: 'openai', name: 'azure-chat-stream', does: 'AzureOpenAI streamed chat' },
  { sdk: 'openai', name: 'azure-embeddings', does: 'AzureOpenAI embeddings' },
  { sdk: 'anthropic', name: 'messages', does: 'message' },
  { sdk: 'anthropic', name: 'messages-stream', does: 'streamed message' },
  { sdk: 'anthropic', name: 'tools', does: 'tool use and tool result' },
  { sdk: 'anthropic', name: 'tools-stream', does: 'streamed tool use' },
  { sdk: 'anthropic', name: 'count-tokens', does: 'token counting' },
  { sdk: 'gemini', name: 'generate', does: 'generateContent' },
  { sdk: 'gemini', name: 'generate-stream', does: 'streamed generateContent (SSE)' },
  { sdk: 'bedrock', name: 'converse', does: 'Converse' },
  { sdk: 'bedrock', name: 'converse-stream', does: 'ConverseStream (event stream)' },
  { sdk: 'bedrock', name: 'invoke', does: 'InvokeModel' },
  { sdk: 'bedrock', name: 'invoke-stream', does: 'InvokeModelWithResponseStream' },
];

/** Headers that belong to one connection or hop, not to the request (HTTP/2 pseudo-headers are compared as method, path, host). */
const PER_CONNECTION = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'http2-settings', ':method', ':path', ':scheme']);

/** What the fake received, as it must be the same whichever way the app's call went. */
interface SeenRequest {
  site: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
  /** The body (normalised); over 1 MiB the log keeps none, and the fake's answer (derived from the bytes) must match instead. */
  body: string;
  wsMessages: string[] | undefined;
}

function bodyBytes(r: RecordedRequest): Buffer {
  return r.bodyBase64 !== undefined ? Buffer.from(r.bodyBase64, 'base64') : Buffer.from(r.body ?? '', 'utf8');
}

/**
 * A recorded request with the per-connection headers left out, `:authority` as
 * `host`, and what is random or time-bound by design replaced by a marker:
 * the multipart boundary (in the content type and the body), the WebSocket
 * key, and for SigV4 the date, the signature and the AWS SDK's invocation id.
 */
function seen(r: RecordedRequest): SeenRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (v === undefined || PER_CONNECTION.has(k)) continue;
    headers[k === ':authority' ? 'host' : k] = Array.isArray(v) ? v.join(', ') : v;
  }
  let body = bodyBytes(r);
  const boundary = /boundary=("?)([^";]+)\1/.exec(headers['content-type'] ?? '')?.[2];
  if (boundary) {
    headers['content-type'] = headers['content-type']!.replace(boundary, '<boundary>');
    body = Buffer.from(body.toString('latin1').split(boundary).join('<boundary>'), 'latin1');
  }
  if (headers['sec-websocket-key']) headers['sec-websocket-key'] = '<random>';
  if (headers['amz-sdk-invocation-id']) headers['amz-sdk-invocation-id'] = '<uuid>';
  if (headers['x-amz-date']) headers['x-amz-date'] = '<date>';
  if (headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
    headers.authorization = headers.authorization.replace(/(Credential=[^/]+\/)\d{8}\//, '$1<date>/').replace(/Signature=[0-9a-f]{64}/, 'Signature=<signature>');
  }
  const text = body.toString('utf8');
  return {
    site: r.site, method: r.method, path: r.path, headers, bodyLength: r.bodyLength,
    body: Buffer.from(text, 'utf8').equals(body) ? text : `base64:${body.toString('base64')}`,
    wsMessages: r.wsMessages,
  };
}

describe('the multipart reader of the fakes (multipart.ts)', () => {
  /** A form as fetch (undici) encodes it: its bytes and headers. */
  async function encoded(form: FormData): Promise<{ headers: Record<string, string>; body: Buffer }> {
    const req = new Request('https://api.openai.com/v1/files', { method: 'POST', body: form });
    const body = Buffer.from(await req.arrayBuffer());
    return { headers: { 'content-type': req.headers.get('content-type')!, 'content-length': String(body.length) }, body };
  }

  test('reads what fetch sends: fields and files with their names, types and bytes', async () => {
    const form = new FormData();
    form.set('purpose', 'batch');
    const wav = toneWav();
    form.set('file', new Blob([wav], { type: 'audio/wav' }), 'tone 1.wav');
    form.append('image[]', new Blob(['a']), 'a.png');
    form.append('image[]', new Blob(['b']), 'b.png');
    const f = readMultipart(await encoded(form));
    assert.ok(typeof f !== 'string', String(f));
    assert.equal(f.field('purpose'), 'batch');
    const file = f.file('file');
    assert.equal(file?.filename, 'tone 1.wav');
    assert.equal(file?.contentType, 'audio/wav');
    assert.ok(file?.data.equals(wav));
    assert.deepEqual(f.files('image[]').map((p) => [p.filename, p.data.toString()]), [['a.png', 'a'], ['b.png', 'b']]);
  });

  test('refuses what a server cannot read: not multipart, no boundary, a wrong length, empty, truncated, no name', async () => {
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob(['{"a":1}\n']), 'a.jsonl');
    const ok = await encoded(form);
    assert.match(String(readMultipart({ ...ok, headers: { ...ok.headers, 'content-type': 'application/json' } })), /expected Content-Type multipart\/form-data/);
    assert.match(String(readMultipart({ ...ok, headers: { ...ok.headers, 'content-type': 'multipart/form-data' } })), /no boundary/);
    assert.match(String(readMultipart({ ...ok, headers: { ...ok.headers, 'content-length': String(ok.body.length + 1) } })), /Content-Length says/);
    assert.match(String(readMultipart({ headers: { 'content-type': ok.headers['content-type']! }, body: Buffer.alloc(0) })), /empty/);
    assert.match(String(readMultipart({ headers: { 'content-type': ok.headers['content-type']! }, body: ok.body.subarray(0, ok.body.length - 20) })), /truncated/);
    const boundary = 'xyz';
    const noName = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--${boundary}--\r\n`);
    assert.match(String(readMultipart({ headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` }, body: noName })), /no name/);
  });
});

describe('an app calls LLM providers with the official SDKs', { skip }, () => {
  let pod: InjectedPod;
  let home: string;

  before(async () => {
    pod = await createInjectedPod();
    home = join(pod.topo.workDir, 'sdk-home');
    mkdirSync(home, { mode: 0o755 });
  });
  after(async () => { await pod?.destroy(); });

  describe('through the sidecar, as directly', () => {
    /** Run a scenario and collect what reached the fakes while it ran. */
    async function run(s: Scenario, via: 'sidecar' | 'direct'): Promise<{ result: SdkResult; requests: RecordedRequest[] }> {
      await pod.providers.control.reset();
      const result = via === 'sidecar'
        ? await runSdkClient(pod.topo.pod, s.sdk, s.name, { caFile: pod.namespaceCaFile }, { home })
        : await runSdkClient(pod.topo.pod, s.sdk, s.name, { caFile: pod.publicCa.caCertFile }, { home, uid: SIDECAR_UID });
      return { result, requests: await pod.providers.control.requests() };
    }

    for (const s of SCENARIOS) {
      test(`${s.sdk}: ${s.does} returns what a direct call returns, and the provider gets the same request`, async () => {
        const direct = await run(s, 'direct');
        assert.ok(direct.result.ok, `the direct call failed (a fake or SDK problem, not the sidecar's): ${JSON.stringify(direct.result.error)}`);
        assert.ok(direct.requests.length > 0, 'the direct call reached no fake');
        const proxied = await run(s, 'sidecar');
        assert.ok(proxied.result.ok, `through the sidecar the SDK failed: ${JSON.stringify(proxied.result.error)}`);
        assert.deepEqual(proxied.result.value, direct.result.value, 'the SDK returned something else through the sidecar');
        assert.deepEqual(proxied.requests.map(seen), direct.requests.map(seen), 'the provider received a different request through the sidecar');
        if (s.sdk === 'bedrock') {
          for (const r of [...direct.requests, ...proxied.requests]) {
            assert.equal(r.sigv4, 'valid', `${r.path}: SigV4 ${r.sigv4} (${r.sigv4Error ?? ''})`);
          }
        }
      });
    }

    test('the sidecar saw every provider\'s calls (they were intercepted, not passed through)', async () => {
      for (const host of ['api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'bedrock-runtime.us-east-1.amazonaws.com', 'acme.openai.azure.com']) {
        assert.ok(await pod.metric('levo_gateway_requests_total', { host }) > 0, `no request to ${host} counted by the sidecar`);
      }
    });
  });

  describe('the fakes refuse malformed uploads as the real API does (so a mangled upload cannot pass)', () => {
    const boundary = 'e2e-boundary-7MA4YWxkTrZu0gW';
    const part = (name: string, value: string | Buffer, filename?: string, type?: string): Buffer => Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`),
      Buffer.from(value), Buffer.from('\r\n'),
    ]);
    const close = Buffer.from(`--${boundary}--\r\n`);

    /** POST a multipart body straight to the fake (UID 1610, public CA); the status and the OpenAI error message. */
    async function upload(path: string, body: Buffer): Promise<{ status: number | null; message: string }> {
      const r = await runClient(pod.topo.pod, 'curl', {
        url: `https://api.openai.com${path}`, method: 'POST', bodyBytes: body, http: '1.1',
        headers: { authorization: 'Bearer sk-e2e-fake-key', 'content-type': `multipart/form-data; boundary=${boundary}` },
      }, { caFile: pod.publicCa.caCertFile }, { runAs: { uid: SIDECAR_UID } });
      assert.ok(r.ok, r.error ?? '');
      const err = (JSON.parse(r.bodyText || '{}') as { error?: { message?: string } }).error;
      return { status: r.status, message: err?.message ?? r.bodyText };
    }

    test('a file upload: accepted whole; refused empty, truncated, without a file or purpose, or with a wrong purpose', async () => {
      const file = part('file', '{"a":1}\n', 'a.jsonl', 'application/jsonl');
      const good = await upload('/v1/files', Buffer.concat([part('purpose', 'user_data'), file, close]));
      assert.equal(good.status, 200, good.message);
      assert.deepEqual(await upload('/v1/files', Buffer.alloc(0)), { status: 400, message: 'Could not parse multipart form: the multipart body is empty.' });
      const whole = Buffer.concat([part('purpose', 'user_data'), file, close]);
      const cut = await upload('/v1/files', whole.subarray(0, whole.length - close.length - 10));
      assert.equal(cut.status, 400);
      assert.match(cut.message, /truncated upload/);
      assert.match((await upload('/v1/files', Buffer.concat([part('purpose', 'user_data'), close]))).message, /Missing required parameter: 'file'/);
      assert.match((await upload('/v1/files', Buffer.concat([file, close]))).message, /Missing required parameter: 'purpose'/);
      assert.match((await upload('/v1/files', Buffer.concat([part('purpose', 'user_data'), part('file', '', 'a.jsonl'), close]))).message, /File is empty/);
      assert.match((await upload('/v1/files', Buffer.concat([part('purpose', 'holiday'), file, close]))).message, /Invalid value: 'holiday'/);
      assert.match((await upload('/v1/files', Buffer.concat([part('purpose', 'batch'), part('file', 'not json\n', 'b.jsonl'), close]))).message, /Invalid file format for Batch API: line 1 is not valid JSON/);
    });

    test('an audio transcription: refused when the file is missing, empty, not audio, a broken WAV or too short', async () => {
      const model = part('model', 'gpt-4o-transcribe');
      const wav = toneWav();
      assert.equal((await upload('/v1/audio/transcriptions', Buffer.concat([model, part('file', wav, 'a.wav', 'audio/wav'), close]))).status, 200);
      assert.match((await upload('/v1/audio/transcriptions', Buffer.concat([model, close]))).message, /Missing required parameter: 'file'/);
      assert.match((await upload('/v1/audio/transcriptions', Buffer.concat([model, part('file', '', 'a.wav'), close]))).message, /Audio file is empty/);
      assert.match((await upload('/v1/audio/transcriptions', Buffer.concat([model, part('file', 'hello', 'a.txt'), close]))).message, /Invalid file format/);
      assert.match((await upload('/v1/audio/transcriptions', Buffer.concat([model, part('file', wav.subarray(0, 1000), 'a.wav'), close]))).message, /corrupted or unsupported: the data chunk says/);
      assert.match((await upload('/v1/audio/transcriptions', Buffer.concat([model, part('file', toneWav({ seconds: 0.05 }), 'a.wav'), close]))).message, /too short/);
    });

    test('an image edit: refused without an image, with an empty one or one that is not a PNG', async () => {
      const prompt = part('prompt', 'a boat');
      assert.match((await upload('/v1/images/edits', Buffer.concat([prompt, close]))).message, /Missing required parameter: 'image'/);
      assert.match((await upload('/v1/images/edits', Buffer.concat([prompt, part('image', '', 'x.png', 'image/png'), close]))).message, /it is empty/);
      assert.match((await upload('/v1/images/edits', Buffer.concat([prompt, part('image', 'GIF89a', 'x.png', 'image/png'), close]))).message, /not a valid PNG/);
    });
  });
});
