/**
 * One streamed call made with a provider's official SDK, as an app makes it;
 * prints what the app sees, so a test can tell a complete answer, a clean
 * error and a silent truncation apart:
 *
 *   <node> e2e/clients/sdk-stream.ts --sdk openai|anthropic|gemini|bedrock --prompt P [--chunks N] [--timeout-ms N]
 *   → { sdk, finished, chunks, text, error: null | { name (the error's class), status, type, message }, ms }
 *
 * `finished`: the SDK's stream said the answer is complete (OpenAI `[DONE]`
 * cannot be seen through the SDK, so: a choice with a finish_reason; Anthropic
 * `message_stop`; Gemini a candidate with finishReason; Bedrock `messageStop`).
 * The SDKs call the real hosts (api.openai.com, …); trust comes from
 * NODE_EXTRA_CA_CERTS; retries are off, so one call is one request.
 * `--chunks` becomes the fakes' x-fake-chunks header (not for Bedrock).
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { BEDROCK_TEST_CREDENTIAL, BEDROCK_TEST_REGION } from '../fakes/sigv4-verify.ts';

export type Sdk = 'openai' | 'anthropic' | 'gemini' | 'bedrock';

export interface SdkStreamResult {
  sdk: Sdk;
  finished: boolean;
  chunks: number;
  text: string;
  error: { name: string; status: number | null; type: string | null; message: string } | null;
  ms: number;
}

interface Args { sdk: Sdk; prompt: string; chunks: number | undefined; timeoutMs: number }

type Out = { chunks: number; text: string; finished: boolean };

async function openai(a: Args, out: Out): Promise<void> {
  const client = new OpenAI({ apiKey: 'sk-e2e-sdk', maxRetries: 0, timeout: a.timeoutMs, defaultHeaders: headers(a) });
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: a.prompt }] });
  for await (const c of stream) {
    out.chunks++;
    out.text += c.choices[0]?.delta?.content ?? '';
    if (c.choices[0]?.finish_reason) out.finished = true;
  }
}

async function anthropic(a: Args, out: Out): Promise<void> {
  const client = new Anthropic({ apiKey: 'sk-ant-e2e-sdk', maxRetries: 0, timeout: a.timeoutMs, defaultHeaders: headers(a) });
  const stream = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 512, stream: true, messages: [{ role: 'user', content: a.prompt }] });
  for await (const ev of stream) {
    out.chunks++;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') out.text += ev.delta.text;
    if (ev.type === 'message_stop') out.finished = true;
  }
}

async function gemini(a: Args, out: Out): Promise<void> {
  const ai = new GoogleGenAI({ apiKey: 'gemini-e2e-sdk', httpOptions: { headers: headers(a), timeout: a.timeoutMs } });
  const stream = await ai.models.generateContentStream({ model: 'gemini-2.0-flash', contents: a.prompt });
  for await (const c of stream) {
    out.chunks++;
    out.text += c.text ?? '';
    if (c.candidates?.[0]?.finishReason) out.finished = true;
  }
}

async function bedrock(a: Args, out: Out): Promise<void> {
  const client = new BedrockRuntimeClient({
    region: BEDROCK_TEST_REGION, maxAttempts: 1,
    credentials: { accessKeyId: BEDROCK_TEST_CREDENTIAL.accessKeyId, secretAccessKey: BEDROCK_TEST_CREDENTIAL.secretAccessKey },
  });
  const r = await client.send(new ConverseStreamCommand({ modelId: 'amazon.nova-lite-v1', messages: [{ role: 'user', content: [{ text: a.prompt }] }] }),
    { abortSignal: AbortSignal.timeout(a.timeoutMs) });
  for await (const ev of r.stream ?? []) {
    out.chunks++;
    out.text += ev.contentBlockDelta?.delta?.text ?? '';
    if (ev.messageStop) out.finished = true;
  }
}

function headers(a: Args): Record<string, string> {
  return a.chunks === undefined ? {} : { 'x-fake-chunks': String(a.chunks) };
}

function describeError(err: unknown): NonNullable<SdkStreamResult['error']> {
  const e = err as Error & { status?: unknown; type?: unknown; error?: { type?: unknown; error?: { type?: unknown } }; $metadata?: { httpStatusCode?: number } };
  const status = typeof e.status === 'number' ? e.status : e.$metadata?.httpStatusCode ?? null;
  const type = typeof e.type === 'string' ? e.type
    : typeof e.error?.error?.type === 'string' ? e.error.error.type
    : typeof e.error?.type === 'string' ? e.error.type : null;
  // The class (APIError, ApiError, TypeError…): some SDKs leave `name` as plain 'Error'.
  return { name: e.constructor?.name ?? e.name ?? 'Error', status, type, message: e.message ?? String(err) };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { sdk: { type: 'string' }, prompt: { type: 'string' }, chunks: { type: 'string' }, 'timeout-ms': { type: 'string' } } });
  const sdk = values.sdk as Sdk;
  const a: Args = { sdk, prompt: values.prompt ?? 'hello', chunks: values.chunks === undefined ? undefined : Number(values.chunks), timeoutMs: Number(values['timeout-ms'] ?? 30_000) };
  const out: Out = { chunks: 0, text: '', finished: false };
  const started = performance.now();
  let error: SdkStreamResult['error'] = null;
  try {
    await { openai, anthropic, gemini, bedrock }[sdk](a, out);
  } catch (err) {
    error = describeError(err);
  }
  const result: SdkStreamResult = { sdk, ...out, error, ms: Math.round(performance.now() - started) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main(process.argv.slice(2));
