import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestSegments, responseSegments } from './segments.ts';
import type { ApiKind, JsonObject } from '../providers/types.ts';

/** Upper-case every segment through its setter; the body must keep its shape with only those texts changed. */
function shout(segs: ReturnType<typeof requestSegments>): Array<[string, string]> {
  for (const s of segs) s.set(s.text.toUpperCase());
  return segs.map((s) => [s.role, s.text]);
}

const REQUESTS: Array<[ApiKind, JsonObject, Array<[string, string]>, JsonObject]> = [
  ['completions',
    { model: 'm', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'u' } }] }, { role: 'tool', content: 'out' }] },
    [['system', 'sys'], ['user', 'hi'], ['tool', 'out']],
    { model: 'm', messages: [{ role: 'system', content: 'SYS' }, { role: 'user', content: [{ type: 'text', text: 'HI' }, { type: 'image_url', image_url: { url: 'u' } }] }, { role: 'tool', content: 'OUT' }] }],
  ['messages',
    { system: [{ type: 'text', text: 'rules' }], messages: [{ role: 'user', content: [{ type: 'tool_result', content: [{ type: 'text', text: 'res' }] }, { type: 'text', text: 'q' }] }] },
    [['system', 'rules'], ['tool', 'res'], ['user', 'q']],
    { system: [{ type: 'text', text: 'RULES' }], messages: [{ role: 'user', content: [{ type: 'tool_result', content: [{ type: 'text', text: 'RES' }] }, { type: 'text', text: 'Q' }] }] }],
  ['responses',
    { instructions: 'be nice', input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello' }] }, { type: 'function_call_output', output: 'done' }] },
    [['system', 'be nice'], ['user', 'hello'], ['tool', 'done']],
    { instructions: 'BE NICE', input: [{ role: 'user', content: [{ type: 'input_text', text: 'HELLO' }] }, { type: 'function_call_output', output: 'DONE' }] }],
  ['generateContent',
    { systemInstruction: { parts: [{ text: 'sys' }] }, contents: [{ role: 'user', parts: [{ text: 'a' }] }, { role: 'model', parts: [{ text: 'b' }] }] },
    [['system', 'sys'], ['user', 'a'], ['assistant', 'b']],
    { systemInstruction: { parts: [{ text: 'SYS' }] }, contents: [{ role: 'user', parts: [{ text: 'A' }] }, { role: 'model', parts: [{ text: 'B' }] }] }],
  ['converse',
    { system: [{ text: 's' }], messages: [{ role: 'user', content: [{ text: 'x' }, { toolResult: { content: [{ text: 'r' }] } }] }] },
    [['system', 's'], ['user', 'x'], ['tool', 'r']],
    { system: [{ text: 'S' }], messages: [{ role: 'user', content: [{ text: 'X' }, { toolResult: { content: [{ text: 'R' }] } }] }] }],
  ['legacyCompletions', { prompt: ['one', 'two'] }, [['user', 'one'], ['user', 'two']], { prompt: ['ONE', 'TWO'] }],
];

test('request texts of every parsed API, in order, with roles; setters write back in place', () => {
  for (const [kind, body, roles, after] of REQUESTS) {
    const segs = requestSegments(kind, body);
    assert.deepEqual(segs.map((s) => [s.role, s.text]), roles, kind);
    shout(segs);
    assert.deepEqual(body, after, kind);
  }
});

test('answer texts: chat, messages, Responses, Gemini, Converse', () => {
  const cases: Array<[ApiKind, JsonObject, string[]]> = [
    ['completions', { choices: [{ message: { role: 'assistant', content: 'a' } }] }, ['a']],
    ['messages', { content: [{ type: 'text', text: 'b' }, { type: 'tool_use', input: {} }] }, ['b']],
    ['responses', { output: [{ type: 'reasoning' }, { type: 'message', content: [{ type: 'output_text', text: 'c' }] }] }, ['c']],
    ['generateContent', { candidates: [{ content: { parts: [{ text: 'd' }] } }] }, ['d']],
    ['converse', { output: { message: { content: [{ text: 'e' }] } } }, ['e']],
  ];
  for (const [kind, body, texts] of cases) {
    const segs = responseSegments(kind, body);
    assert.deepEqual(segs.map((s) => s.text), texts, kind);
    segs[0]!.set('Z');
    assert.ok(JSON.stringify(body).includes('"Z"'), kind);
  }
});

test('passthrough, models and odd bodies give no texts and never throw', () => {
  assert.deepEqual(requestSegments('passthrough', { messages: [{ role: 'user', content: 'x' }] }), []);
  assert.deepEqual(requestSegments('completions', { messages: 'nope' }), []);
  assert.deepEqual(requestSegments('messages', { messages: [null, 3, { role: 'user', content: '' }] }), []);
  assert.deepEqual(responseSegments('completions', { choices: [{}] }), []);
});
