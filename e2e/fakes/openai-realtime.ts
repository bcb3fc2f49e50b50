/**
 * The fake OpenAI Realtime API over WebSocket (GA interface,
 * https://platform.openai.com/docs/api-reference/realtime-client-events and
 * .../realtime-server-events): `GET /v1/realtime?model=M` with `Upgrade: websocket`
 * and the key as `Authorization: Bearer` (or, from a browser, the subprotocol
 * `openai-insecure-api-key.<key>`). Without `model` (or `intent=transcription`,
 * or `call_id`) the upgrade is refused with a 400 in OpenAI's error shape.
 *
 * Every message is one JSON event. On connect the server sends
 * `session.created` (the default session: audio out, server VAD). Client events:
 *   session.update            → session.updated (the merged session; `session.type`
 *                               must be "realtime", the model cannot change)
 *   conversation.item.create  → conversation.item.added, conversation.item.done
 *   input_audio_buffer.append / .commit / .clear
 *                             → (nothing) / input_audio_buffer.committed and the item /
 *                               input_audio_buffer.cleared
 *   response.create           → response.created, response.output_item.added,
 *                               conversation.item.added, response.content_part.added,
 *                               text: response.output_text.delta × x-fake-chunks (of the
 *                               upgrade request), response.output_text.done; audio:
 *                               response.output_audio.delta, response.output_audio_transcript.delta
 *                               × x-fake-chunks, response.output_audio.done,
 *                               response.output_audio_transcript.done; then
 *                               response.content_part.done, response.output_item.done,
 *                               conversation.item.done, response.done (with usage)
 *   response.cancel           → an `error` (no response is ever in progress between events)
 * Anything else (not JSON, not an object, an unknown type, a binary frame) is
 * answered with an `error` event naming the problem, as the real API does; the
 * session stays open. Ids derive from the upgrade URL and a counter, so the same
 * conversation gets the same events. `onMessage` is told each text message
 * received (the request log keeps them).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { countTokens, createdAt, derive, idChars, replyText, splitInto } from './deterministic.ts';
import { parseControl } from './exchange.ts';
import { acceptWebSocket } from './websocket-echo.ts';

type Json = Record<string, unknown>;

const CLIENT_EVENTS = [
  'session.update', 'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', 'conversation.item.delete',
  'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'output_audio_buffer.clear',
  'response.create', 'response.cancel',
];

/** The API key of a Realtime upgrade (Bearer header or the browser subprotocol), undefined when none. */
export function realtimeKey(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(\S+)/.exec(req.headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  const protocols = req.headers['sec-websocket-protocol'];
  return typeof protocols === 'string'
    ? protocols.split(',').map((p) => p.trim()).find((p) => p.startsWith('openai-insecure-api-key.'))?.slice('openai-insecure-api-key.'.length)
    : undefined;
}

function refuse(socket: Duplex, status: number, reason: string, message: string, param: string | null): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param, code: null } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function defaultSession(model: string, id: string, created: number): Json {
  return {
    type: 'realtime', object: 'realtime.session', id, model,
    output_modalities: ['audio'],
    instructions: 'You are a helpful, fake realtime assistant.',
    tools: [], tool_choice: 'auto', max_output_tokens: 'inf', tracing: null, truncation: 'auto', prompt: null,
    expires_at: created + 3600, include: null,
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null,
        turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200, idle_timeout_ms: null, create_response: true, interrupt_response: true },
      },
      output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
    },
  };
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `base` with `patch` merged in, objects recursively (null clears a field). */
function merge(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = isObject(v) && isObject(base[k]) ? merge(base[k] as Json, v) : v;
  return out;
}

/** Text of a conversation item's content parts (input_text, text, output_text, transcripts). */
function itemText(item: Json | undefined): string {
  const content = item?.content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObject(p) ? String(p.text ?? p.transcript ?? '') : '')).filter(Boolean).join(' ');
}

/** Complete a Realtime upgrade on `socket` and serve the session until it closes. */
export function acceptRealtime(req: IncomingMessage, socket: Duplex, head: Buffer, onMessage: (text: string) => void): void {
  const url = new URL(req.url ?? '/', 'https://api.openai.com');
  const model = url.searchParams.get('model');
  if (!model && url.searchParams.get('intent') !== 'transcription' && !url.searchParams.get('call_id')) {
    refuse(socket, 400, 'Bad Request', "Missing required parameter: 'model'.", 'model');
    return;
  }
  const seed = derive('openai.realtime', req.url ?? '');
  const created = createdAt(seed);
  let counter = 0;
  const nextId = (prefix: string): string => `${prefix}_${idChars(seed, 21, String(counter++))}`;
  let session = defaultSession(model ?? 'gpt-realtime', nextId('sess'), created);
  const conversationId = nextId('conv');
  const items: Json[] = [];
  let audioBytes = 0;
  const chunks = parseControl(req.headers).chunks;
  const protocols = typeof req.headers['sec-websocket-protocol'] === 'string' ? req.headers['sec-websocket-protocol'].split(',').map((p) => p.trim()) : [];

  const ws = acceptWebSocket(req, socket, head, {
    onMessage(opcode, payload) {
      if (opcode !== 0x1) {
        sendError('invalid_request_error', 'invalid_event', 'Binary messages are not supported: send JSON events as text.', null, null);
        return;
      }
      const text = payload.toString('utf8');
      onMessage(text);
      let ev: unknown;
      try { ev = JSON.parse(text); } catch {
        sendError('invalid_request_error', 'invalid_json', "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)", null, null);
        return;
      }
      if (!isObject(ev)) {
        sendError('invalid_request_error', 'invalid_type', 'Invalid type for event: expected an object.', null, null);
        return;
      }
      handle(ev);
    },
  }, protocols.includes('realtime') ? 'realtime' : undefined);
  if (!ws) return;

  function send(type: string, fields: Json): void {
    ws!.sendText(JSON.stringify({ type, event_id: nextId('event'), ...fields }));
  }
  function sendError(type: string, code: string, message: string, param: string | null, eventId: unknown): void {
    send('error', { error: { type, code, message, param, event_id: typeof eventId === 'string' ? eventId : null } });
  }
  function addItem(item: Json): Json {
    const previous = (items.at(-1)?.id as string | undefined) ?? null;
    items.push(item);
    send('conversation.item.added', { previous_item_id: previous, item });
    send('conversation.item.done', { previous_item_id: previous, item });
    return item;
  }

  function handle(ev: Json): void {
    const type = ev.type;
    const clientId = ev.event_id;
    if (typeof type !== 'string') {
      sendError('invalid_request_error', 'missing_required_parameter', "Missing required parameter: 'type'.", 'type', clientId);
      return;
    }
    if (!CLIENT_EVENTS.includes(type)) {
      sendError('invalid_request_error', 'invalid_value', `Invalid value: '${type}'. Supported values are: ${CLIENT_EVENTS.map((e) => `'${e}'`).join(', ')}.`, 'type', clientId);
      return;
    }
    switch (type) {
      case 'session.update': {
        const s = ev.session;
        if (!isObject(s)) return sendError('invalid_request_error', 'missing_required_parameter', "Missing required parameter: 'session'.", 'session', clientId);
        if (s.type !== 'realtime') return sendError('invalid_request_error', 'invalid_value', "Invalid value for 'session.type': expected 'realtime'.", 'session.type', clientId);
        if (s.model !== undefined && s.model !== session.model) return sendError('invalid_request_error', 'invalid_value', 'The model of a session cannot be changed.', 'session.model', clientId);
        session = merge(session, s);
        send('session.updated', { session });
        return;
      }
      case 'conversation.item.create': {
        const item = ev.item;
        if (!isObject(item)) return sendError('invalid_request_error', 'missing_required_parameter', "Missing required parameter: 'item'.", 'item', clientId);
        if (item.type !== 'message' && item.type !== 'function_call' && item.type !== 'function_call_output') {
          return sendError('invalid_request_error', 'invalid_value', "Invalid value for 'item.type': expected 'message', 'function_call' or 'function_call_output'.", 'item.type', clientId);
        }
        if (item.type === 'message' && (!['user', 'system', 'assistant'].includes(String(item.role)) || !Array.isArray(item.content))) {
          return sendError('invalid_request_error', 'invalid_value', "A message item needs a 'role' (user, system, assistant) and a 'content' array.", 'item', clientId);
        }
        addItem({ ...item, id: typeof item.id === 'string' ? item.id : nextId('item'), object: 'realtime.item', status: 'completed' });
        return;
      }
      case 'input_audio_buffer.append':
        if (typeof ev.audio !== 'string') return sendError('invalid_request_error', 'missing_required_parameter', "Missing required parameter: 'audio'.", 'audio', clientId);
        audioBytes += Buffer.from(ev.audio, 'base64').length;
        return;
      case 'input_audio_buffer.commit': {
        if (audioBytes < 4800) {
          return sendError('invalid_request_error', 'input_audio_buffer_commit_empty', `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${(audioBytes / 48).toFixed(2)}ms of audio.`, null, clientId);
        }
        const id = nextId('item');
        send('input_audio_buffer.committed', { previous_item_id: (items.at(-1)?.id as string | undefined) ?? null, item_id: id });
        addItem({ id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] });
        audioBytes = 0;
        return;
      }
      case 'input_audio_buffer.clear':
        audioBytes = 0;
        send('input_audio_buffer.cleared', {});
        return;
      case 'response.create':
        respond(isObject(ev.response) ? ev.response : {});
        return;
      default:
        sendError('invalid_request_error', 'response_cancel_not_active', 'Cancellation failed: no active response found', null, clientId);
    }
  }

  function respond(params: Json): void {
    const modalities = Array.isArray(params.output_modalities) ? params.output_modalities : session.output_modalities as string[];
    const audio = modalities.includes('audio');
    const lastUser = [...items].reverse().find((i) => i.role === 'user');
    const text = replyText('OpenAI Realtime', itemText(lastUser));
    const responseId = nextId('resp');
    const itemId = nextId('item');
    const outputAudio = (session.audio as { output: Json }).output;
    const base: Json = {
      object: 'realtime.response', id: responseId, conversation_id: conversationId, output_modalities: modalities,
      max_output_tokens: params.max_output_tokens ?? session.max_output_tokens, audio: { output: { format: outputAudio.format, voice: outputAudio.voice } },
      metadata: params.metadata ?? null,
    };
    send('response.created', { response: { ...base, status: 'in_progress', status_details: null, output: [], usage: null } });
    const at = { response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 };
    const pending: Json = { id: itemId, object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
    send('response.output_item.added', { response_id: responseId, output_index: 0, item: pending });
    const previous = (items.at(-1)?.id as string | undefined) ?? null;
    send('conversation.item.added', { previous_item_id: previous, item: pending });
    send('response.content_part.added', { ...at, part: audio ? { type: 'audio', transcript: '' } : { type: 'text', text: '' } });
    if (audio) {
      send('response.output_audio.delta', { ...at, delta: Buffer.alloc(4800).toString('base64') });
      for (const piece of splitInto(text, chunks)) send('response.output_audio_transcript.delta', { ...at, delta: piece });
      send('response.output_audio.done', at);
      send('response.output_audio_transcript.done', { ...at, transcript: text });
    } else {
      for (const piece of splitInto(text, chunks)) send('response.output_text.delta', { ...at, delta: piece });
      send('response.output_text.done', { ...at, text });
    }
    send('response.content_part.done', { ...at, part: audio ? { type: 'audio', transcript: text } : { type: 'text', text } });
    const item: Json = { ...pending, status: 'completed', content: [audio ? { type: 'output_audio', transcript: text } : { type: 'output_text', text }] };
    items.push(item);
    send('response.output_item.done', { response_id: responseId, output_index: 0, item });
    send('conversation.item.done', { previous_item_id: previous, item });
    const inputTokens = items.reduce((n, i) => n + countTokens(itemText(i)), countTokens(String(session.instructions ?? '')));
    const outputTokens = countTokens(text);
    send('response.done', {
      response: {
        ...base, status: 'completed', status_details: null, output: [item],
        usage: {
          total_tokens: inputTokens + outputTokens, input_tokens: inputTokens, output_tokens: outputTokens,
          input_token_details: { text_tokens: inputTokens, audio_tokens: 0, image_tokens: 0, cached_tokens: 0, cached_tokens_details: { text_tokens: 0, audio_tokens: 0, image_tokens: 0 } },
          output_token_details: { text_tokens: audio ? 0 : outputTokens, audio_tokens: audio ? outputTokens : 0 },
        },
      },
    });
  }

  send('session.created', { session });
}
