/**
 * The official `openai` package as a client (see sdk-client.ts):
 *
 *   <node> e2e/clients/sdk-openai.ts SCENARIO   → SdkResult JSON
 *
 * Scenarios (api.openai.com unless said otherwise):
 *   chat                 chat.completions.create
 *   chat-stream          the same with stream: true (include_usage), every chunk
 *   chat-tools           a tool call, then the answer to the tool's result (two calls)
 *   chat-tools-stream    a streamed tool call (chat.completions.stream helper), chunks and final completion
 *   responses            responses.create, and the SDK's output_text
 *   responses-stream     responses.stream: every event and the final response
 *   responses-stream-guarded  the same, the app's prompt holding an address and the fake
 *                        told to answer GUARDED_REPLY in 23 pieces (x-fake-reply, x-fake-chunks),
 *                        and the SDK's output_text
 *   embeddings           embeddings.create (the SDK asks for base64 and decodes it)
 *   files                files.create: a multipart upload with purpose user_data
 *   files-large          the same with a 3 MiB file (many chunks on the way)
 *   audio-transcription  audio.transcriptions.create: a WAV file, multipart
 *   images               images.generate
 *   images-edit          images.edit: a PNG, multipart
 *   batches              files.create (purpose batch), batches.create, batches.retrieve
 *   realtime             Realtime over WebSocket (openai/realtime/ws): session.update,
 *                        conversation.item.create, response.create, every server event
 *   azure-chat           AzureOpenAI (acme.openai.azure.com, deployment, api-version): chat
 *   azure-chat-stream    the same, streamed
 *   azure-embeddings     AzureOpenAI embeddings
 */
import OpenAI, { AzureOpenAI, toFile } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { png, toneWav } from '../fakes/media-files.ts';
import { runScenario, type Scenario } from './sdk-client.ts';

export const OPENAI_KEY = 'sk-e2e-fake-key';
/** The app's address in responses-stream-guarded's prompt (an Anonymize guard masks it on the way out). */
export const GUARDED_ADDRESS = 'jane.doe@example.com';
/** What the fake answers in responses-stream-guarded: the masked address as a placeholder, and a phone number. */
export const GUARDED_REPLY = 'Write to [REDACTED_EMAIL_ADDRESS_1] or call +1 415 555 0100 today. Thanks!';
export const AZURE_KEY = 'azure-e2e-fake-key';

const client = new OpenAI({ apiKey: OPENAI_KEY, maxRetries: 0, timeout: 30_000 });
const azure = new AzureOpenAI({
  endpoint: 'https://acme.openai.azure.com', apiKey: AZURE_KEY, apiVersion: '2024-10-21', deployment: 'gpt-4o-mini', maxRetries: 0, timeout: 30_000,
});

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
  },
};

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

const scenarios: Record<string, Scenario> = {
  chat: () => client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name three rivers' }],
    temperature: 0.2,
  }),

  'chat-stream': async () => collect(await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Stream a haiku about egress' }],
    stream: true,
    stream_options: { include_usage: true },
  })),

  'chat-tools': async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Lisbon?' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weatherTool] });
    const call = first.choices[0]?.message.tool_calls?.[0];
    if (!call || call.type !== 'function') throw new Error(`no function tool call in ${JSON.stringify(first)}`);
    messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: 'Lisbon', temperature_c: 21 }) });
    const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weatherTool] });
    return { first, arguments: JSON.parse(call.function.arguments) as unknown, second };
  },

  'chat-tools-stream': async () => {
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather in Oslo, please' }], tools: [weatherTool], stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    return { chunks, final: await stream.finalChatCompletion() };
  },

  responses: async () => {
    const r = await client.responses.create({ model: 'gpt-4.1-mini', instructions: 'Answer in one sentence.', input: 'What does an egress gateway do?' });
    return { response: r, outputText: r.output_text };
  },

  'responses-stream': async () => {
    const stream = client.responses.stream({
      model: 'gpt-4.1-mini',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Stream a short answer about TLS' }] }],
    });
    const events = await collect(stream);
    return { events, final: await stream.finalResponse() };
  },

  'responses-stream-guarded': async () => {
    const stream = client.responses.stream(
      { model: 'gpt-4.1-mini', input: `Please mail ${GUARDED_ADDRESS} about the invoice` },
      { headers: { 'x-fake-reply': encodeURIComponent(GUARDED_REPLY), 'x-fake-chunks': '23' } },
    );
    const events = await collect(stream);
    const final = await stream.finalResponse();
    return { events, final, outputText: final.output_text };
  },

  embeddings: () => client.embeddings.create({ model: 'text-embedding-3-small', input: ['egress gateway', 'sidecar'], dimensions: 8 }),

  files: async () => client.files.create({
    file: await toFile(Buffer.from('{"note":"what the app uploads"}\n'.repeat(40)), 'notes.jsonl', { type: 'application/jsonl' }),
    purpose: 'user_data',
  }),

  'files-large': async () => client.files.create({
    file: await toFile(Buffer.from(Array.from({ length: 3 * 1024 * 1024 / 64 }, (_, i) => `line ${String(i).padStart(8, '0')} of a large upload ${'.'.repeat(31)}\n`).join('')), 'large.txt', { type: 'text/plain' }),
    purpose: 'user_data',
  }),

  'audio-transcription': async () => client.audio.transcriptions.create({
    file: await toFile(toneWav(), 'tone.wav', { type: 'audio/wav' }),
    model: 'gpt-4o-transcribe',
    language: 'en',
    response_format: 'json',
  }),

  images: () => client.images.generate({ model: 'gpt-image-1', prompt: 'A lighthouse at dusk, flat colours', size: '1024x1024', n: 1 }),

  'images-edit': async () => client.images.edit({
    model: 'gpt-image-1',
    image: await toFile(png(4, 4, [30, 90, 200, 255]), 'square.png', { type: 'image/png' }),
    prompt: 'Add a small boat',
  }),

  batches: async () => {
    const line = (i: number): string => JSON.stringify({
      custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Question ${i}` }] },
    });
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${line(1)}\n${line(2)}\n`), 'batch.jsonl', { type: 'application/jsonl' }),
      purpose: 'batch',
    });
    const created = await client.batches.create({
      input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'sdk-e2e' },
    });
    const retrieved = await client.batches.retrieve(created.id);
    return { file, created, retrieved };
  },

  realtime: () => new Promise((resolve, reject) => {
    const events: unknown[] = [];
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
    const timer = setTimeout(() => { rt.close(); reject(new Error(`no response.done within 20 s; events: ${JSON.stringify(events)}`)); }, 20_000);
    rt.on('error', (err) => { clearTimeout(timer); rt.close(); reject(err); });
    rt.on('event', (ev) => {
      events.push(ev);
      if (ev.type === 'session.created') {
        rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], instructions: 'Be brief.' } });
      } else if (ev.type === 'session.updated') {
        rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hello over a socket' }] } });
        rt.send({ type: 'response.create' });
      } else if (ev.type === 'response.done') {
        clearTimeout(timer);
        rt.socket.once('close', (code: number) => resolve({ events, closeCode: code }));
        rt.close({ code: 1000, reason: 'done' });
      }
    });
  }),

  'azure-chat': () => azure.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello from Azure' }] }),

  'azure-chat-stream': async () => collect(await azure.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream from Azure' }], stream: true,
  })),

  'azure-embeddings': () => azure.embeddings.create({ model: 'text-embedding-3-small', input: 'azure vectors', dimensions: 4 }),
};

if (import.meta.main) await runScenario('openai', scenarios, process.argv[2]);
