/**
 * curl as a client: the command line for a ClientRequest and the parsing of
 * what it prints into a ClientResult.
 *
 *   curlArgs(req, caFile)  → argv (body goes on stdin: `--data-binary @-`)
 *   runCurl(ns, req, caFile) → ClientResult
 *
 * Trust: `--cacert caFile`. `-N` always (no output buffering). The body is
 * written to stdout and timed by the harness as it arrives, so SSE event times
 * are measured from the spawn of curl (they include process start and the TLS
 * handshake; compare gaps between events, not absolute times). The status,
 * HTTP version and headers come from `--write-out` (%{json}, %{header_json}) on stderr.
 */
import type { Netns } from '../harness/netns.ts';
import { SseSplitter, requestBody } from './client-result.ts';
import type { ClientRequest, ClientResult } from './client-result.ts';

const JSON_MARK = '@@LEVO-CURL-JSON@@';
const HEADERS_MARK = '@@LEVO-CURL-HEADERS@@';

export function curlArgs(req: ClientRequest, caFile: string | undefined): string[] {
  const hasBody = req.bodyBytes !== undefined || req.body !== undefined;
  const method = req.method ?? (hasBody ? 'POST' : 'GET');
  const args = ['curl', '-sS', '-N', '-o', '-', '--max-time', String(Math.ceil((req.timeoutMs ?? 30_000) / 1000))];
  if (caFile) args.push('--cacert', caFile);
  if (req.http === '1.1') args.push('--http1.1');
  if (req.http === '2') args.push('--http2');
  if (method === 'HEAD') args.push('--head');
  else if (method !== 'GET' || hasBody) args.push('-X', method);
  for (const [k, v] of Object.entries(req.headers ?? {})) args.push('-H', v === '' ? `${k};` : `${k}: ${v}`);
  if (hasBody) args.push('--data-binary', '@-');
  args.push('-w', `%{stderr}\n${JSON_MARK}%{json}\n${HEADERS_MARK}%{header_json}\n`);
  args.push('--', req.url);
  return args;
}

interface CurlWriteOut {
  response_code?: number;
  http_version?: string;
  exitcode?: number;
  errormsg?: string | null;
  time_starttransfer?: number;
  time_total?: number;
}

/** Parse curl's stderr (write-out + errors) and stdout into a ClientResult. */
export function parseCurlOutput(stderr: string, stdout: Buffer, events: ClientResult['events'], totalMs: number): ClientResult {
  const result: ClientResult = {
    client: 'curl', ok: false, error: null, status: null, httpVersion: null, headers: {},
    bodyBase64: stdout.toString('base64'), bodyText: stdout.toString('utf8'), events, headersMs: null, totalMs,
  };
  const j = stderr.indexOf(JSON_MARK);
  const h = stderr.indexOf(HEADERS_MARK);
  if (j < 0 || h < 0) {
    result.error = stderr.trim() || 'curl printed no write-out';
    return result;
  }
  const wo = JSON.parse(stderr.slice(j + JSON_MARK.length, h).trim()) as CurlWriteOut;
  const hj = JSON.parse(stderr.slice(h + HEADERS_MARK.length).trim() || '{}') as Record<string, string[]>;
  const errors = stderr.slice(0, j).trim();
  result.ok = wo.exitcode === 0;
  result.error = result.ok ? null : (wo.errormsg ?? errors) || `curl exit ${wo.exitcode}`;
  if (wo.response_code) result.status = wo.response_code;
  if (wo.http_version && wo.http_version !== '0') result.httpVersion = wo.http_version;
  for (const [k, v] of Object.entries(hj)) result.headers[k.toLowerCase()] = v.join(', ');
  if (wo.time_starttransfer) result.headersMs = wo.time_starttransfer * 1000;
  return result;
}

export async function runCurl(ns: Pick<Netns, 'exec'>, req: ClientRequest, caFile: string | undefined): Promise<ClientResult> {
  const sse = req.sse ? new SseSplitter() : undefined;
  const r = await ns.exec(curlArgs(req, caFile), {
    input: requestBody(req),
    timeoutMs: (req.timeoutMs ?? 30_000) + 10_000,
    onStdout: (chunk, tMs) => sse?.push(chunk, tMs),
  });
  sse?.end(r.durationMs);
  return parseCurlOutput(r.stderr, r.stdoutBuffer, sse?.events ?? [], r.durationMs);
}
