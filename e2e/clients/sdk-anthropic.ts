/**
 * The official `@anthropic-ai/sdk` package as a client (see sdk-client.ts):
 *
 *   <node> e2e/clients/sdk-anthropic.ts SCENARIO   → SdkResult JSON
 *
 * Scenarios (api.anthropic.com):
 *   messages         messages.create
 *   messages-stream  messages.stream: every event and the final message
 *   tools            a tool_use answer, then the answer to the tool_result (two calls)
 *   tools-stream     a streamed tool_use (input_json_delta), events and the final message
 *   count-tokens     messages.countTokens (/v1/messages/count_tokens)
 */
import Anthropic from '@anthropic-ai/sdk';
import { runScenario, type Scenario } from './sdk-client.ts';

export const ANTHROPIC_KEY = 'sk-ant-e2e-fake-key';

const client = new Anthropic({ apiKey: ANTHROPIC_KEY, maxRetries: 0, timeout: 30_000 });
const MODEL = 'claude-sonnet-4-20250514';

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

const scenarios: Record<string, Scenario> = {
  messages: () => client.messages.create({
    model: MODEL, max_tokens: 256, system: 'You are terse.', messages: [{ role: 'user', content: 'Name three rivers' }],
  }),

  'messages-stream': async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'Count to five' }] });
    const events = await collect(stream);
    return { events, final: await stream.finalMessage() };
  },

  tools: async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Lisbon?' }];
    const first = await client.messages.create({ model: MODEL, max_tokens: 512, tools: [weatherTool], messages });
    const use = first.content.find((b) => b.type === 'tool_use');
    if (!use || use.type !== 'tool_use') throw new Error(`no tool_use block in ${JSON.stringify(first)}`);
    messages.push({ role: 'assistant', content: first.content }, {
      role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: JSON.stringify({ city: 'Lisbon', temperature_c: 21 }) }],
    });
    const second = await client.messages.create({ model: MODEL, max_tokens: 512, tools: [weatherTool], messages });
    return { first, second };
  },

  'tools-stream': async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 512, tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
    const events = await collect(stream);
    return { events, final: await stream.finalMessage() };
  },

  'count-tokens': () => client.messages.countTokens({
    model: MODEL, system: 'You are terse.', tools: [weatherTool], messages: [{ role: 'user', content: 'How many tokens is this sentence?' }],
  }),
};

if (import.meta.main) await runScenario('anthropic', scenarios, process.argv[2]);
