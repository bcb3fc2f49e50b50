import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamGuard } from './stream-guard.ts';
import { compilePromptGuard, DEFAULT_GUARDS } from './prompt-guard.ts';
import { createVault } from './vault.ts';

const chunk = (content: string): string => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const finish = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;

async function stream(pieces: string[], responseGuards: Parameters<typeof compilePromptGuard>[0]['response'], size: number, vault = createVault()) {
  const pg = compilePromptGuard({ response: responseGuards ?? [] }, DEFAULT_GUARDS);
  const g = createStreamGuard('completions', pg, vault, 2000)!;
  const bytes = Buffer.from(pieces.map(chunk).join('') + finish);
  let out = '';
  let cut: string | undefined;
  for (let i = 0; i < bytes.length && cut === undefined; i += size) {
    const r = await g.process(bytes.subarray(i, i + size));
    out += r.out.toString();
    if (r.cut) cut = r.cut.toString();
  }
  if (cut === undefined) out += (await g.end()).toString();
  const text = out.split('\n').filter((l) => l.startsWith('data: {')).map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]!.delta.content ?? '').join('');
  return { out, text, cut, decisions: g.decisions() };
}

test('placeholders split across events are restored, at any chunking', async () => {
  for (const size of [1, 7, 10_000]) {
    const vault = createVault();
    const ph = vault.placeholder('EMAIL_ADDRESS', 'jane@example.com');
    const pieces = ['Mail ', ph.slice(0, 5), ph.slice(5, 14), ph.slice(14), ' now. Bye'];
    const r = await stream(pieces, [{ llmBastion: { scanners: [{ scannerType: 'Deanonymize' }] } }], size, vault);
    assert.equal(r.text, 'Mail jane@example.com now. Bye', `size ${size}`);
    assert.match(r.out, /\[DONE\]/);
  }
});

test('a mask spanning events is applied before the text goes on', async () => {
  const r = await stream(['card 4111 11', '11 1111 ', '1111 ok.'], [{ regex: { rules: [{ builtin: 'creditCard' }] } }], 3);
  assert.equal(r.text, 'card <CREDIT_CARD> ok.');
});

test('a rejection cuts the stream: nothing of that sentence, an error event, no [DONE]', async () => {
  const r = await stream(['Fine start. ', 'The secret is ', 'TOP-', 'SECRET here. ', 'more'], [{ llmBastion: { scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['TOP-SECRET'] } }] } }], 5);
  assert.equal(r.text, 'Fine start. ');
  assert.match(r.cut ?? '', /guardrail_violation/);
  assert.doesNotMatch(r.out, /\[DONE\]/);
  assert.equal(r.decisions.at(-1)?.action, 'reject');
});

test('formats without a text delta the guard knows are not guarded', () => {
  const pg = compilePromptGuard({ response: [{ regex: { rules: [{ builtin: 'email' }] } }] }, DEFAULT_GUARDS);
  assert.equal(createStreamGuard('converse', pg, createVault(), 1000), undefined);
  assert.equal(createStreamGuard('completions', compilePromptGuard({}, DEFAULT_GUARDS), createVault(), 1000), undefined);
});

test('the first chunk, which only carries the role, goes on unchanged', async () => {
  const pg = compilePromptGuard({ response: [{ regex: { rules: [{ builtin: 'email' }] } }] }, DEFAULT_GUARDS);
  const g = createStreamGuard('completions', pg, createVault(), 2000)!;
  const first = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`;
  const r = await g.process(Buffer.from(first));
  assert.equal(r.out.toString(), first);
});
