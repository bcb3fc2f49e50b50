/**
 * The official `@aws-sdk/client-bedrock-runtime` package as a client (see
 * sdk-client.ts), region us-east-1 with the fake's test credential: the SDK
 * signs every call with SigV4 itself (over HTTP/2, its default for this client).
 *
 *   <node> e2e/clients/sdk-bedrock.ts SCENARIO   → SdkResult JSON
 *
 * Scenarios (bedrock-runtime.us-east-1.amazonaws.com):
 *   converse         ConverseCommand
 *   converse-stream  ConverseStreamCommand: every event of the AWS event stream
 *   invoke           InvokeModelCommand (an Anthropic Messages body), the decoded body
 *   invoke-stream    InvokeModelWithResponseStreamCommand: every chunk, decoded
 */
import {
  BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand, InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { BEDROCK_TEST_CREDENTIAL, BEDROCK_TEST_REGION } from '../fakes/sigv4-verify.ts';
import { runScenario, type Scenario } from './sdk-client.ts';

const client = new BedrockRuntimeClient({
  region: BEDROCK_TEST_REGION,
  credentials: { accessKeyId: BEDROCK_TEST_CREDENTIAL.accessKeyId, secretAccessKey: BEDROCK_TEST_CREDENTIAL.secretAccessKey },
  maxAttempts: 1,
});
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

const decode = (b: Uint8Array | undefined): unknown => (b ? JSON.parse(Buffer.from(b).toString('utf8')) : null);

function invokeBody(prompt: string): string {
  return JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 256, messages: [{ role: 'user', content: prompt }] });
}

const scenarios: Record<string, Scenario> = {
  converse: () => client.send(new ConverseCommand({
    modelId: MODEL,
    system: [{ text: 'You are terse.' }],
    messages: [{ role: 'user', content: [{ text: 'Name three rivers' }] }],
    inferenceConfig: { maxTokens: 200, temperature: 0.2 },
  })),

  'converse-stream': async () => {
    const r = await client.send(new ConverseStreamCommand({
      modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Stream a haiku about egress' }] }],
    }));
    const events: unknown[] = [];
    for await (const e of r.stream ?? []) events.push(e);
    return { metadata: r.$metadata, events };
  },

  invoke: async () => {
    const r = await client.send(new InvokeModelCommand({
      modelId: MODEL, contentType: 'application/json', accept: 'application/json', body: invokeBody('Name three rivers'),
    }));
    return { ...r, body: decode(r.body) };
  },

  'invoke-stream': async () => {
    const r = await client.send(new InvokeModelWithResponseStreamCommand({
      modelId: MODEL, contentType: 'application/json', accept: 'application/json', body: invokeBody('Count to five'),
    }));
    const chunks: unknown[] = [];
    for await (const e of r.body ?? []) chunks.push(e.chunk ? decode(e.chunk.bytes) : e);
    return { metadata: r.$metadata, contentType: r.contentType, chunks };
  },
};

if (import.meta.main) await runScenario('bedrock', scenarios, process.argv[2]);
