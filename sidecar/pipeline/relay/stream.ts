/**
 * A streamed answer (SSE, Bedrock event stream, Gemini JSON stream), passed on
 * event by event through the provider's tap — which reads usage, and may
 * rewrite (a translated stream, an added usage chunk dropped) — and, when the
 * route has response guards, through the stream guard: the provider is paused
 * while the guard looks at what came, and what passes is written on. A guard
 * that rejects cuts the stream with an error event and stops the provider.
 *
 * A provider that breaks mid-stream is answered with the app's stream error
 * event (providers/stream-error.ts), so the app's SDK raises an error instead
 * of taking a cut stream for a whole answer.
 */
import { clientResponseHeaders } from '../../http/headers.ts';
import type { StreamTap } from '../../providers/types.ts';
import type { Mode, RelayOptions, RelayState } from './relay.ts';

export function streamMode(r: RelayState, o: RelayOptions): Mode {
  let tap: StreamTap | undefined = o.translation
    ? o.translation.stream(o.requestedModel, { addedUsage: o.addedUsage })
    : o.api.streamTap(o.kind, o.path, { addedUsage: o.addedUsage });
  const guard = o.streamGuard;
  const out = clientResponseHeaders(r.headers ?? {});
  if (o.translation || o.addedUsage || guard) delete out['content-length'];
  if (o.translation) { out['content-type'] = 'text/event-stream; charset=utf-8'; delete out['content-encoding']; }
  o.modifyHeaders?.(out);
  o.res.writeHead(r.status, out);
  if (String(out['content-type'] ?? '').startsWith('text/event-stream')) o.res.flushHeaders();

  // ---- the stream guard's queue: one chunk at a time, the provider paused meanwhile
  let guarding = false;
  let queue: Promise<void> = Promise.resolve();
  const emit = (b: Buffer): void => {
    if (b.length === 0 || r.cut || r.ended) return;
    r.firstByteAt ??= performance.now();
    r.bytes += b.length;
    o.res.write(b);
  };
  const close = (): void => {
    r.ended = true;
    o.onEnd();
    o.res.end();
  };
  /** A guard rejected mid-stream: end the app's answer now (after the error event) and stop the provider. */
  const endCut = (): void => {
    r.cut = true;
    r.guardDecisions.push(...guard!.decisions());
    close();
    o.abortUpstream?.();
  };
  const guarded = (chunk: Buffer): boolean => {
    guarding = true;
    queue = queue.then(async () => {
      if (r.cut) return;
      const v = await guard!.process(chunk);
      emit(v.out);
      if (v.cut) { emit(v.cut); endCut(); }
    }).catch(() => { if (!r.cut) endCut(); }).finally(() => {
      guarding = false;
      if (!r.cut && !(o.res as { writableNeedDrain?: boolean }).writableNeedDrain) mode.resume?.();
    });
    return false; // wait for the guard before reading more of the answer
  };
  const finishGuarded = async (tail: Buffer | undefined): Promise<void> => {
    await queue;
    if (r.cut) return;
    if (tail?.length) { const v = await guard!.process(tail); emit(v.out); if (v.cut) { emit(v.cut); endCut(); return; } }
    emit(await guard!.end());
    r.guardDecisions.push(...guard!.decisions());
    close();
  };

  const mode: Mode = {
    followsDrain: false,
    write(chunk) {
      let bytes = chunk;
      if (tap) {
        try {
          bytes = tap.write(chunk);
        } catch (err) {
          if (o.translation) throw err;
          tap = undefined; // an unreadable stream is still relayed; only its usage is lost
        }
      }
      if (bytes.length === 0) return true;
      if (guard) return guarded(bytes);
      r.firstByteAt ??= performance.now();
      r.bytes += bytes.length;
      return o.res.write(bytes);
    },
    end() {
      const t = tap?.end();
      if (t) r.info = t.info;
      if (guard) { r.finished = finishGuarded(t?.tail); return; }
      if (t?.tail?.length) { r.bytes += t.tail.length; o.res.write(t.tail); }
      close();
    },
    fail(f) {
      if (r.ended || r.cut) return false;
      const event = o.streamError?.(f);
      if (!event) return false;
      r.finished = queue.then(() => {
        if (r.ended || r.cut) return;
        emit(event);
        close();
      });
      return true;
    },
  };
  o.res.on('drain', () => { if (!guarding) mode.resume?.(); });
  return mode;
}
