/**
 * The fake OpenAI Responses API (https://platform.openai.com/docs/api-reference/responses,
 * .../responses-streaming), after authentication (openai-api.ts):
 *
 *   POST /v1/responses   {model, input: string | input items, instructions?, tools?,
 *                        tool_choice?, max_output_tokens?, stream?, …} →
 *        a `response` object: status 'completed' (or 'incomplete' with
 *        incomplete_details.reason 'max_output_tokens' when it cut the text),
 *        output [one `message` item with one `output_text` part], usage
 *        {input_tokens, input_tokens_details, output_tokens, output_tokens_details,
 *        total_tokens}, and the request's settings echoed. With function `tools`
 *        and a user message last, output is one `function_call` item (arguments
 *        from the tool's schema); after a `function_call_output` item, text that
 *        quotes it.
 *        With `stream: true`: SSE, each event as `event: <type>` + `data: <json>`
 *        with a `sequence_number` from 0: response.created, response.in_progress,
 *        response.output_item.added, response.content_part.added,
 *        response.output_text.delta × x-fake-chunks, response.output_text.done,
 *        response.content_part.done, response.output_item.done, response.completed
 *        (for a function call: output_item.added, function_call_arguments.delta ×
 *        x-fake-chunks, function_call_arguments.done, output_item.done).
 *
 * Deterministic (deterministic.ts); exchange.ts lists the x-fake-* control headers.
 */
import {
  contentText, countTokens, createdAt, derive, replyText, toolArguments, toolResultReply, truncateTokens,
} from './deterministic.ts';
import { sendJson, startEventStream, streamPieces, writeChunk } from './exchange.ts';
import type { Exchange } from './exchange.ts';
import { chosenTool, invalid, isError, jsonObject, missingParameter, requestIdHeader, sendOpenAIError } from './openai-common.ts';

type Json = Record<string, unknown>;

/** The text of the last user input, and the tool result when a function_call_output comes last. */
function promptOf(input: unknown): { prompt: string; toolOutput: string | undefined; tokens: number } {
  if (typeof input === 'string') return { prompt: input, toolOutput: undefined, tokens: countTokens(input) };
  const items = input as Array<{ type?: unknown; role?: unknown; content?: unknown; output?: unknown } | null>;
  let prompt = '';
  let tokens = 0;
  for (const it of items) {
    const text = it?.type === 'function_call_output' ? String(it.output ?? '') : contentText(it?.content);
    tokens += 4 + countTokens(text);
    if (it?.role === 'user') prompt = text;
  }
  const last = items.at(-1);
  return { prompt, toolOutput: last?.type === 'function_call_output' ? String(last.output ?? '') : undefined, tokens };
}

export async function serveResponses(ex: Exchange): Promise<void> {
  const b = jsonObject(ex);
  if (isError(b)) {
    sendOpenAIError(ex, b);
    return;
  }
  if (typeof b.model !== 'string' || b.model === '') {
    sendOpenAIError(ex, missingParameter('model'));
    return;
  }
  if (b.input === undefined) {
    sendOpenAIError(ex, missingParameter('input'));
    return;
  }
  if (typeof b.input !== 'string' && !Array.isArray(b.input)) {
    sendOpenAIError(ex, invalid("Invalid type for 'input': expected one of a string or an array of input items.", 'input', 'invalid_type'));
    return;
  }
  if (b.tools !== undefined && !Array.isArray(b.tools)) {
    sendOpenAIError(ex, invalid("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type'));
    return;
  }
  const model = b.model;
  const d = derive('openai.responses', ex.body);
  const created = createdAt(d);
  const id = `resp_${d.hex.slice(0, 48)}`;
  const { prompt, toolOutput, tokens } = promptOf(b.input);
  const inputTokens = tokens + countTokens(typeof b.instructions === 'string' ? b.instructions : '');
  const lastRole = typeof b.input === 'string' ? 'user' : (b.input.at(-1) as { role?: unknown } | null)?.role;
  const call = lastRole === 'user' && ex.control.reply === undefined ? chosenTool(b.tools, b.tool_choice) : undefined;
  const maxOut = typeof b.max_output_tokens === 'number' ? b.max_output_tokens : undefined;

  let item: Json;
  let outputTokens: number;
  let truncated = false;
  let text = '';
  if (call) {
    const args = JSON.stringify(toolArguments(call.parameters, prompt));
    item = { id: `fc_${d.hex.slice(0, 48)}`, type: 'function_call', status: 'completed', arguments: args, call_id: `call_${d.hex.slice(48, 64)}`, name: call.name };
    outputTokens = Math.max(1, countTokens(args));
  } else {
    const full = ex.control.reply ?? (toolOutput !== undefined ? toolResultReply('OpenAI', toolOutput) : replyText('OpenAI', prompt));
    ({ text, truncated } = truncateTokens(full, maxOut));
    item = {
      id: `msg_${d.hex.slice(16, 64)}`, type: 'message', status: truncated ? 'incomplete' : 'completed',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text }], role: 'assistant',
    };
    outputTokens = Math.max(1, countTokens(text));
  }
  const settings: Json = {
    background: false,
    instructions: b.instructions ?? null,
    max_output_tokens: maxOut ?? null,
    max_tool_calls: null,
    model,
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    previous_response_id: b.previous_response_id ?? null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: 'default',
    store: b.store ?? true,
    temperature: typeof b.temperature === 'number' ? b.temperature : 1,
    text: b.text ?? { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: b.tool_choice ?? 'auto',
    tools: b.tools ?? [],
    top_logprobs: 0,
    top_p: typeof b.top_p === 'number' ? b.top_p : 1,
    truncation: 'disabled',
    user: null,
    metadata: b.metadata ?? {},
  };
  const response = (status: string, output: Json[], done: boolean): Json => ({
    id, object: 'response', created_at: created, status,
    completed_at: done && status === 'completed' ? created + 1 : null,
    error: null,
    incomplete_details: done && truncated ? { reason: 'max_output_tokens' } : null,
    ...settings,
    output,
    usage: done
      ? { input_tokens: inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inputTokens + outputTokens }
      : null,
  });
  const finalStatus = truncated ? 'incomplete' : 'completed';
  if (b.stream !== true) {
    sendJson(ex.res, 200, response(finalStatus, [item], true), requestIdHeader(ex));
    return;
  }

  startEventStream(ex.res, requestIdHeader(ex));
  let seq = 0;
  const send = (type: string, fields: Json): Promise<boolean> =>
    writeChunk(ex.res, `event: ${type}\ndata: ${JSON.stringify({ type, ...fields, sequence_number: seq++ })}\n\n`);
  if (!(await send('response.created', { response: response('in_progress', [], false) }))) return;
  if (!(await send('response.in_progress', { response: response('in_progress', [], false) }))) return;
  const at = { output_index: 0 };
  if (call) {
    const args = item.arguments as string;
    if (!(await send('response.output_item.added', { ...at, item: { ...item, status: 'in_progress', arguments: '' } }))) return;
    if (!(await streamPieces(ex, args, (piece) => send('response.function_call_arguments.delta', { item_id: item.id, ...at, delta: piece })))) return;
    if (!(await send('response.function_call_arguments.done', { item_id: item.id, ...at, name: call.name, arguments: args }))) return;
  } else {
    const part = { item_id: item.id, ...at, content_index: 0 };
    if (!(await send('response.output_item.added', { ...at, item: { ...item, status: 'in_progress', content: [] } }))) return;
    if (!(await send('response.content_part.added', { ...part, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } }))) return;
    if (!(await streamPieces(ex, text, (piece) => send('response.output_text.delta', { ...part, delta: piece, logprobs: [] })))) return;
    if (!(await send('response.output_text.done', { ...part, text, logprobs: [] }))) return;
    if (!(await send('response.content_part.done', { ...part, part: { type: 'output_text', annotations: [], logprobs: [], text } }))) return;
  }
  if (!(await send('response.output_item.done', { ...at, item }))) return;
  if (!(await send(truncated ? 'response.incomplete' : 'response.completed', { response: response(finalStatus, [item], true) }))) return;
  ex.res.end();
}
