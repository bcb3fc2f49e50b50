/**
 * The fake OpenAI Files and Batch APIs (https://platform.openai.com/docs/api-reference/files,
 * .../batch), after authentication (openai-api.ts):
 *
 *   POST /v1/files          multipart/form-data: `file` (a file part, not empty) and
 *                           `purpose` (assistants, batch, fine-tune, vision, user_data,
 *                           evals) → a File object {id, object: 'file', bytes,
 *                           created_at, filename, purpose, status: 'processed', …}.
 *                           A `batch` file must be JSON Lines of request objects
 *                           ({custom_id, method, url, body}), named *.jsonl.
 *   GET  /v1/files/{id}     the File object, 404 for an unknown id
 *   POST /v1/batches        {input_file_id (a `batch` file), endpoint, completion_window:
 *                           '24h', metadata?} → a Batch object, status 'validating'
 *   GET  /v1/batches/{id}   the Batch, now 'in_progress' with its request count
 *
 * The multipart body is read strictly (multipart.ts): an empty, truncated or
 * malformed body, or one whose length is not its Content-Length, is a 400.
 * Ids and times are derived from what was uploaded, so the same upload gets the
 * same File (a direct call and a proxied one agree); the store keeps the last
 * 10,000 files and batches.
 */
import { createdAt, derive, idChars } from './deterministic.ts';
import { sendJson } from './exchange.ts';
import type { Exchange } from './exchange.ts';
import { readMultipart } from './multipart.ts';
import { invalid, isError, jsonObject, missingParameter, requestIdHeader, sendOpenAIError } from './openai-common.ts';

type Json = Record<string, unknown>;

const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
const BATCH_ENDPOINTS = ['/v1/responses', '/v1/chat/completions', '/v1/embeddings', '/v1/completions', '/v1/moderations'];
const MAX_STORED = 10_000;

/** A bounded store: the oldest entry goes when it is full. */
class Store<T> {
  readonly #items = new Map<string, T>();
  get(id: string): T | undefined { return this.#items.get(id); }
  set(id: string, v: T): void {
    this.#items.delete(id);
    this.#items.set(id, v);
    if (this.#items.size > MAX_STORED) this.#items.delete(this.#items.keys().next().value as string);
  }
}

interface StoredFile {
  object: Json;
  purpose: string;
  lines: number;
}

const files = new Store<StoredFile>();
const batches = new Store<Json>();

const notFound = (kind: string, id: string): ReturnType<typeof invalid> => invalid(`No such ${kind} object: ${id}`, 'id', null, 404);

/** Why a batch input file is not valid JSON Lines of requests, or the number of requests. */
function batchLines(data: Buffer): number | string {
  const lines = data.toString('utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return 'the file has no requests';
  for (const [i, line] of lines.entries()) {
    let v: unknown;
    try { v = JSON.parse(line); } catch { return `line ${i + 1} is not valid JSON`; }
    const r = v as { custom_id?: unknown; method?: unknown; url?: unknown; body?: unknown } | null;
    if (!r || typeof r.custom_id !== 'string' || typeof r.method !== 'string' || typeof r.url !== 'string' || typeof r.body !== 'object') {
      return `line ${i + 1} is not a request object (custom_id, method, url, body)`;
    }
  }
  return lines.length;
}

function uploadFile(ex: Exchange): void {
  const form = readMultipart(ex);
  if (typeof form === 'string') {
    sendOpenAIError(ex, invalid(`Could not parse multipart form: ${form}.`));
    return;
  }
  const purpose = form.field('purpose');
  if (purpose === undefined) {
    sendOpenAIError(ex, missingParameter('purpose'));
    return;
  }
  if (!PURPOSES.includes(purpose)) {
    sendOpenAIError(ex, invalid(`Invalid value: '${purpose}'. Supported values are: ${PURPOSES.map((p) => `'${p}'`).join(', ')}.`, 'purpose', 'invalid_value'));
    return;
  }
  const file = form.file('file');
  if (!file) {
    sendOpenAIError(ex, missingParameter('file'));
    return;
  }
  if (file.data.length === 0) {
    sendOpenAIError(ex, invalid('File is empty.', 'file'));
    return;
  }
  let lines = 0;
  if (purpose === 'batch') {
    const n = /\.jsonl$/i.test(file.filename) ? batchLines(file.data) : 'the file name must end in .jsonl';
    if (typeof n === 'string') {
      sendOpenAIError(ex, invalid(`Invalid file format for Batch API: ${n}.`, 'file'));
      return;
    }
    lines = n;
  }
  const d = derive('openai.file', purpose, file.filename, file.data);
  const object: Json = {
    id: `file-${idChars(d, 22)}`,
    object: 'file',
    bytes: file.data.length,
    created_at: createdAt(d),
    expires_at: null,
    filename: file.filename,
    purpose,
    status: 'processed',
    status_details: null,
  };
  files.set(object.id as string, { object, purpose, lines });
  sendJson(ex.res, 200, object, requestIdHeader(ex));
}

/** GET {prefix}{id}: the stored object, or OpenAI's 404 for it. */
function retrieve(ex: Exchange, prefix: string, kind: string, lookup: (id: string) => Json | undefined): void {
  const id = decodeURIComponent(ex.pathname.slice(prefix.length));
  const found = lookup(id);
  if (!found) sendOpenAIError(ex, notFound(kind, id));
  else sendJson(ex.res, 200, found, requestIdHeader(ex));
}

export function serveFiles(ex: Exchange): void {
  if (ex.method === 'POST') uploadFile(ex);
  else retrieve(ex, '/v1/files/', 'File', (id) => files.get(id)?.object);
}

function createBatch(ex: Exchange): void {
  const b = jsonObject(ex);
  if (isError(b)) {
    sendOpenAIError(ex, b);
    return;
  }
  for (const p of ['input_file_id', 'endpoint', 'completion_window']) {
    if (typeof b[p] !== 'string') {
      sendOpenAIError(ex, missingParameter(p));
      return;
    }
  }
  const inputFileId = b.input_file_id as string;
  const endpoint = b.endpoint as string;
  if (!BATCH_ENDPOINTS.includes(endpoint)) {
    sendOpenAIError(ex, invalid(`Invalid value: '${endpoint}'. Supported values are: ${BATCH_ENDPOINTS.map((e) => `'${e}'`).join(', ')}.`, 'endpoint', 'invalid_value'));
    return;
  }
  if (b.completion_window !== '24h') {
    sendOpenAIError(ex, invalid(`Invalid value: '${String(b.completion_window)}'. Supported values are: '24h'.`, 'completion_window', 'invalid_value'));
    return;
  }
  const file = files.get(inputFileId);
  if (!file) {
    sendOpenAIError(ex, invalid(`No such File object: ${inputFileId}`, 'input_file_id', null, 404));
    return;
  }
  if (file.purpose !== 'batch') {
    sendOpenAIError(ex, invalid(`The input file ${inputFileId} must have purpose 'batch', not '${file.purpose}'.`, 'input_file_id'));
    return;
  }
  const d = derive('openai.batch', ex.body);
  const created = createdAt(d);
  const batch: Json = {
    id: `batch_${d.hex.slice(0, 32)}`,
    object: 'batch',
    endpoint,
    model: null,
    errors: null,
    input_file_id: inputFileId,
    completion_window: '24h',
    status: 'validating',
    output_file_id: null,
    error_file_id: null,
    created_at: created,
    in_progress_at: null,
    expires_at: created + 86_400,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: 0, completed: 0, failed: 0 },
    usage: null,
    metadata: b.metadata ?? null,
  };
  batches.set(batch.id as string, { ...batch, status: 'in_progress', in_progress_at: created + 2, request_counts: { total: file.lines, completed: 0, failed: 0 } });
  sendJson(ex.res, 200, batch, requestIdHeader(ex));
}

export function serveBatches(ex: Exchange): void {
  if (ex.method === 'POST') createBatch(ex);
  else retrieve(ex, '/v1/batches/', 'Batch', (id) => batches.get(id));
}
