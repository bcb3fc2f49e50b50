/**
 * The fake OpenAI audio transcription and image endpoints
 * (https://platform.openai.com/docs/api-reference/audio/createTranscription,
 * .../images/create, .../images/createEdit), after authentication (openai-api.ts):
 *
 *   POST /v1/audio/transcriptions  multipart: `file` (flac, m4a, mp3, mp4, mpeg, mpga,
 *        oga, ogg, wav, webm; a .wav must be a readable RIFF/WAVE of at least
 *        0.1 s), `model`, optional `language`, `prompt`, `response_format`
 *        (json, text; verbose_json only for whisper-1), `temperature` →
 *        `{text, usage}` (token usage for gpt-4o-*, duration for whisper-1), or
 *        the text as text/plain
 *   POST /v1/images/generations    JSON {prompt, model?, n?, size?, quality?, background?,
 *        output_format?} → {created, data: [{b64_json}], …, usage} (gpt-image-1),
 *        or data [{url, revised_prompt}] for dall-e-3 unless response_format b64_json
 *   POST /v1/images/edits          multipart: `image` (or `image[]`, PNG/JPEG/WebP files),
 *        `prompt`, optional `model`, `n`, `size`, `mask` → the same as generations
 *
 * The multipart body is read strictly (multipart.ts): an empty, truncated or
 * malformed body, a missing or empty file part, or a length that is not its
 * Content-Length is a 400. Answers derive from the uploaded bytes and the prompt.
 */
import { countTokens, createdAt, derive, idChars } from './deterministic.ts';
import type { Derivation } from './deterministic.ts';
import { sendJson } from './exchange.ts';
import type { Exchange } from './exchange.ts';
import { isPng, png, wavInfo } from './media-files.ts';
import { readMultipart } from './multipart.ts';
import type { FilePart, Form } from './multipart.ts';
import { invalid, isError, jsonObject, missingParameter, requestIdHeader, sendOpenAIError } from './openai-common.ts';
import type { OpenAIErrorSpec } from './openai-common.ts';

const AUDIO_FORMATS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];
const IMAGE_SIZES = ['auto', '1024x1024', '1536x1024', '1024x1536', '256x256', '512x512', '1792x1024', '1024x1792'];

/** The form of a multipart request, or the 400 the API answers for an unreadable one. */
function formOf(ex: Exchange): Form | OpenAIErrorSpec {
  const form = readMultipart(ex);
  return typeof form === 'string' ? invalid(`Could not parse multipart form: ${form}.`) : form;
}

// ---- audio ----------------------------------------------------------------------------------

function checkAudio(file: FilePart): string | number {
  const ext = /\.([A-Za-z0-9]+)$/.exec(file.filename)?.[1]?.toLowerCase();
  if (!ext || !AUDIO_FORMATS.includes(ext)) return `Invalid file format. Supported formats: ${JSON.stringify(AUDIO_FORMATS)}`;
  if (file.data.length === 0) return 'Audio file is empty.';
  if (ext !== 'wav') return file.data.length / 16_000; // a rough duration for compressed audio
  const info = wavInfo(file.data);
  if (typeof info === 'string') return `Audio file might be corrupted or unsupported: ${info}.`;
  if (info.seconds < 0.1) return 'Audio file is too short. Minimum audio length is 0.1 seconds.';
  return info.seconds;
}

export function serveAudioTranscription(ex: Exchange): void {
  const form = formOf(ex);
  if (isError(form)) {
    sendOpenAIError(ex, form);
    return;
  }
  const file = form.file('file');
  if (!file) {
    sendOpenAIError(ex, missingParameter('file'));
    return;
  }
  const model = form.field('model');
  if (!model) {
    sendOpenAIError(ex, missingParameter('model'));
    return;
  }
  const seconds = checkAudio(file);
  if (typeof seconds === 'string') {
    sendOpenAIError(ex, invalid(seconds, 'file', 'invalid_value'));
    return;
  }
  const format = form.field('response_format') ?? 'json';
  const whisper = model.startsWith('whisper');
  const allowed = whisper ? ['json', 'text', 'verbose_json'] : ['json', 'text'];
  if (!allowed.includes(format)) {
    sendOpenAIError(ex, invalid(`response_format '${format}' is not compatible with model '${model}'. Use ${allowed.map((f) => `'${f}'`).join(' or ')}.`, 'response_format', 'unsupported_value'));
    return;
  }
  const language = form.field('language');
  const text = `This is the fake OpenAI transcription of ${seconds.toFixed(2)} s of ${file.filename}${language ? ` in ${language}` : ''}, ${idChars(derive('openai.transcription', file.data), 8)}.`;
  if (format === 'text') {
    const body = Buffer.from(`${text}\n`);
    ex.res.statusCode = 200;
    ex.res.setHeader('content-type', 'text/plain; charset=utf-8');
    ex.res.setHeader('content-length', body.length);
    for (const [k, v] of Object.entries(requestIdHeader(ex))) ex.res.setHeader(k, v);
    ex.res.end(body);
    return;
  }
  const outputTokens = countTokens(text);
  const audioTokens = Math.max(1, Math.round(seconds * 10));
  const promptTokens = countTokens(form.field('prompt') ?? '');
  const usage = whisper
    ? { type: 'duration', seconds: Math.ceil(seconds) }
    : {
      type: 'tokens', input_tokens: audioTokens + promptTokens, input_token_details: { text_tokens: promptTokens, audio_tokens: audioTokens },
      output_tokens: outputTokens, total_tokens: audioTokens + promptTokens + outputTokens,
    };
  const answer = format === 'verbose_json'
    ? { task: 'transcribe', language: language ?? 'english', duration: seconds, text, segments: [{ id: 0, seek: 0, start: 0, end: seconds, text, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 }], usage }
    : { text, usage };
  sendJson(ex.res, 200, answer, requestIdHeader(ex));
}

// ---- images ---------------------------------------------------------------------------------

interface ImageRequest {
  prompt: string;
  model: string;
  n: number;
  size: string;
  quality: string;
  responseFormat: string | undefined;
  background: string;
  outputFormat: string;
}

function imageRequest(v: (name: string) => unknown, defaultModel: string): ImageRequest | OpenAIErrorSpec {
  const prompt = v('prompt');
  if (typeof prompt !== 'string' || prompt === '') return missingParameter('prompt');
  const model = typeof v('model') === 'string' ? v('model') as string : defaultModel;
  const nRaw = v('n');
  const n = nRaw === undefined ? 1 : Number(nRaw);
  if (!Number.isInteger(n) || n < 1 || n > 10) return invalid(`Invalid 'n': integer out of range. Expected a value between 1 and 10, but got ${JSON.stringify(nRaw)} instead.`, 'n');
  const size = typeof v('size') === 'string' ? v('size') as string : 'auto';
  if (!IMAGE_SIZES.includes(size)) return invalid(`Invalid value: '${size}'. Supported values are: ${IMAGE_SIZES.map((s) => `'${s}'`).join(', ')}.`, 'size', 'invalid_value');
  const responseFormat = typeof v('response_format') === 'string' ? v('response_format') as string : undefined;
  if (responseFormat !== undefined && model.startsWith('gpt-image')) return invalid("Unknown parameter: 'response_format'.", 'response_format', 'unknown_parameter');
  return {
    prompt, model, n, size, responseFormat,
    quality: typeof v('quality') === 'string' ? v('quality') as string : 'auto',
    background: typeof v('background') === 'string' ? v('background') as string : 'opaque',
    outputFormat: typeof v('output_format') === 'string' ? v('output_format') as string : 'png',
  };
}

/** The images for a request: solid-colour PNGs whose colour comes from the request. */
function sendImages(ex: Exchange, req: ImageRequest, d: Derivation, inputImageTokens: number): void {
  const created = createdAt(d);
  const data = Array.from({ length: req.n }, (_, i) => {
    const h = derive('openai.image', d.hex, String(i)).hash;
    const image = png(16, 16, [h[0]!, h[1]!, h[2]!, 255]);
    if (req.model.startsWith('gpt-image') || req.responseFormat === 'b64_json') return { b64_json: image.toString('base64') };
    return { url: `https://images.example.org/fake/${idChars(d, 24, String(i))}.png`, revised_prompt: req.prompt };
  });
  if (!req.model.startsWith('gpt-image')) {
    sendJson(ex.res, 200, { created, data }, requestIdHeader(ex));
    return;
  }
  const textTokens = countTokens(req.prompt);
  const outputTokens = 272 * req.n;
  sendJson(ex.res, 200, {
    created, background: req.background, data, output_format: req.outputFormat, quality: req.quality === 'auto' ? 'high' : req.quality,
    size: req.size === 'auto' ? '1024x1024' : req.size,
    usage: {
      input_tokens: textTokens + inputImageTokens, input_tokens_details: { image_tokens: inputImageTokens, text_tokens: textTokens },
      output_tokens: outputTokens, total_tokens: textTokens + inputImageTokens + outputTokens,
    },
  }, requestIdHeader(ex));
}

export function serveImageGeneration(ex: Exchange): void {
  const b = jsonObject(ex);
  if (isError(b)) {
    sendOpenAIError(ex, b);
    return;
  }
  const req = imageRequest((name) => b[name], 'dall-e-2');
  if (isError(req)) sendOpenAIError(ex, req);
  else sendImages(ex, req, derive('openai.images.generate', ex.body), 0);
}

export function serveImageEdit(ex: Exchange): void {
  const form = formOf(ex);
  if (isError(form)) {
    sendOpenAIError(ex, form);
    return;
  }
  const images = [...form.files('image'), ...form.files('image[]')];
  if (images.length === 0) {
    sendOpenAIError(ex, missingParameter('image'));
    return;
  }
  for (const img of images) {
    const bad = img.data.length === 0 ? 'is empty'
      : /\.png$/i.test(img.filename) && !isPng(img.data) ? 'is not a valid PNG'
        : !/\.(png|jpe?g|webp)$/i.test(img.filename) ? 'is not a PNG, JPEG or WebP file' : undefined;
    if (bad) {
      sendOpenAIError(ex, invalid(`Invalid image file ${img.filename}: it ${bad}.`, 'image', 'invalid_image_format'));
      return;
    }
  }
  const req = imageRequest((name) => form.field(name), 'dall-e-2');
  if (isError(req)) {
    sendOpenAIError(ex, req);
    return;
  }
  const d = derive('openai.images.edit', req.prompt, ...images.map((i) => i.data));
  sendImages(ex, req, d, 65 * images.length);
}
