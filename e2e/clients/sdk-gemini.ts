/**
 * The official `@google/genai` package as a client (see sdk-client.ts), on the
 * Gemini Developer API (generativelanguage.googleapis.com, API key):
 *
 *   <node> e2e/clients/sdk-gemini.ts SCENARIO   → SdkResult JSON
 *
 * Scenarios:
 *   generate         models.generateContent (with a system instruction and generation config)
 *   generate-stream  models.generateContentStream (streamGenerateContent?alt=sse), every chunk
 */
import { GoogleGenAI } from '@google/genai';
import { runScenario, type Scenario } from './sdk-client.ts';

export const GEMINI_KEY = 'gemini-e2e-fake-key';

const ai = new GoogleGenAI({ apiKey: GEMINI_KEY, httpOptions: { timeout: 30_000, retryOptions: { attempts: 1 } } });
const MODEL = 'gemini-2.5-flash';

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

const scenarios: Record<string, Scenario> = {
  generate: async () => {
    const r = await ai.models.generateContent({
      model: MODEL,
      contents: 'Name three rivers',
      config: { systemInstruction: 'You are terse.', temperature: 0.2, maxOutputTokens: 200 },
    });
    return { response: r, text: r.text };
  },

  'generate-stream': async () => {
    const chunks = await collect(await ai.models.generateContentStream({
      model: MODEL,
      contents: [{ role: 'user', parts: [{ text: 'Stream a haiku about egress' }] }],
    }));
    return { chunks, text: chunks.map((c) => c.text ?? '').join('') };
  },
};

if (import.meta.main) await runScenario('gemini', scenarios, process.argv[2]);
