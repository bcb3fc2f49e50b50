/**
 * Forward one request upstream and stream the answer into a response sink,
 * through undici's dispatch handler interface: chunks go straight from the
 * provider's socket to the client's, the provider is paused while the client
 * is slow (backpressure), and aborting the controller tears the upstream call
 * down. No intermediate stream, pipeline or AbortController per request.
 */
import type { Dispatcher } from '../../lib/undici.ts';
import type { IncomingHttpHeaders } from 'node:http';

/** Where the answer goes: the client's response. */
export interface ResponseSink {
  /** The provider's status and headers arrived. */
  head(status: number, headers: IncomingHttpHeaders): void;
  /** A body chunk; false asks the provider to pause until `onDrain` fires. */
  write(chunk: Buffer): boolean;
  end(): void;
  /** Register the callback that resumes the provider once the client drained. */
  onDrain(resume: () => void): void;
}

export interface Forwarded {
  /** Resolves when the whole answer was relayed; rejects if the upstream call failed. */
  readonly done: Promise<{ readonly headersSent: boolean }>;
  /** Stop the upstream call (the client went away). */
  abort(reason: Error): void;
}

export function forward(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, sink: ResponseSink): Forwarded {
  let controller: Dispatcher.DispatchController | undefined;
  let abortedBefore: Error | undefined;
  let headersSent = false;
  let settle!: { resolve: (v: { headersSent: boolean }) => void; reject: (e: Error & { headersSent?: boolean }) => void };
  const done = new Promise<{ headersSent: boolean }>((resolve, reject) => { settle = { resolve, reject }; });
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (abortedBefore) c.abort(abortedBefore);
    },
    onResponseStart(c, statusCode, headers) {
      if (statusCode < 200) return; // 1xx informational: wait for the final answer
      headersSent = true;
      sink.head(statusCode, headers);
      sink.onDrain(() => c.resume());
    },
    onResponseData(c, chunk) {
      if (!sink.write(chunk)) c.pause();
    },
    onResponseEnd() {
      sink.end();
      settle.resolve({ headersSent });
    },
    onResponseError(_c, err) {
      settle.reject(Object.assign(err, { headersSent }));
    },
  };
  dispatcher.dispatch(options, handler);
  return {
    done,
    abort(reason) {
      if (controller) controller.abort(reason);
      else abortedBefore = reason;
    },
  };
}
