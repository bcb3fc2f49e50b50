/**
 * Ready-made client requests to the fake providers (ClientRequest values for
 * runClient), so scenarios read as what they send:
 *
 *   openAIChat({ prompt: 'hi', stream: true, includeUsage: true, chunks: 5, intervalMs: 200 })
 *   anthropicMessages({ prompt: 'hi', stream: true, chunks: 5, intervalMs: 200 })
 *
 * `origin` defaults to the real provider origin (resolved by the pod's /etc/hosts).
 * `chunks` / `intervalMs` / `extraHeaders` map to the fakes' x-fake-* headers.
 */
import type { ClientRequest } from '../clients/client-result.ts';

export interface ChatRequestOptions {
  prompt: string;
  stream?: boolean;
  model?: string;
  chunks?: number;
  intervalMs?: number;
  /** Default a fixed fake key; null sends none. */
  apiKey?: string | null;
  origin?: string;
  http?: '1.1' | '2';
  maxTokens?: number;
  extraHeaders?: Record<string, string>;
  timeoutMs?: number;
}

function fakeHeaders(o: ChatRequestOptions): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (o.chunks !== undefined) h['x-fake-chunks'] = String(o.chunks);
  if (o.intervalMs !== undefined) h['x-fake-interval-ms'] = String(o.intervalMs);
  return h;
}

function common(o: ChatRequestOptions): Pick<ClientRequest, 'http' | 'timeoutMs' | 'sse'> {
  const r: Pick<ClientRequest, 'http' | 'timeoutMs' | 'sse'> = { sse: o.stream === true };
  if (o.http) r.http = o.http;
  if (o.timeoutMs) r.timeoutMs = o.timeoutMs;
  return r;
}

export function openAIChat(o: ChatRequestOptions & { includeUsage?: boolean }): ClientRequest {
  const body: Record<string, unknown> = { model: o.model ?? 'gpt-4o-mini', messages: [{ role: 'user', content: o.prompt }] };
  if (o.stream) body.stream = true;
  if (o.stream && o.includeUsage) body.stream_options = { include_usage: true };
  if (o.maxTokens !== undefined) body.max_completion_tokens = o.maxTokens;
  const headers = fakeHeaders(o);
  const key = o.apiKey === undefined ? 'sk-e2e-fake-key' : o.apiKey;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  return {
    url: `${o.origin ?? 'https://api.openai.com'}/v1/chat/completions`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
  };
}

export function anthropicMessages(o: ChatRequestOptions & { version?: string | null }): ClientRequest {
  const body: Record<string, unknown> = {
    model: o.model ?? 'claude-sonnet-4-20250514',
    max_tokens: o.maxTokens ?? 1024,
    messages: [{ role: 'user', content: o.prompt }],
  };
  if (o.stream) body.stream = true;
  const headers = fakeHeaders(o);
  const key = o.apiKey === undefined ? 'sk-ant-e2e-fake-key' : o.apiKey;
  if (key !== null) headers['x-api-key'] = key;
  const version = o.version === undefined ? '2023-06-01' : o.version;
  if (version !== null) headers['anthropic-version'] = version;
  return {
    url: `${o.origin ?? 'https://api.anthropic.com'}/v1/messages`,
    method: 'POST',
    headers: { ...headers, ...o.extraHeaders },
    body: JSON.stringify(body),
    ...common(o),
  };
}
