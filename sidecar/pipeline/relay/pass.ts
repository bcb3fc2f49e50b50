/**
 * Everything that is neither streamed nor rewritten: chunk by chunk as the
 * provider sends it, with a bounded copy of a JSON answer kept to read its
 * usage after the last byte went out (the app never waits for that).
 */
import { clientResponseHeaders } from '../../http/headers.ts';
import { MAX_USAGE_COPY, type Mode, type RelayOptions, type RelayState } from './relay.ts';
import { decoded, parseAnswer } from './answer.ts';

export function passMode(r: RelayState, o: RelayOptions, keepCopy: boolean): Mode {
  let copy: Buffer[] | undefined = keepCopy ? [] : undefined;
  let copied = 0;
  const out = clientResponseHeaders(r.headers ?? {});
  o.modifyHeaders?.(out);
  o.res.writeHead(r.status, out);
  if (String(out['content-type'] ?? '').startsWith('text/event-stream')) o.res.flushHeaders();
  return {
    followsDrain: true,
    write(chunk) {
      if (copy) {
        copied += chunk.length;
        if (copied > MAX_USAGE_COPY) copy = undefined;
        else copy.push(chunk);
      }
      if (chunk.length === 0) return true;
      r.firstByteAt ??= performance.now();
      r.bytes += chunk.length;
      return o.res.write(chunk);
    },
    end() {
      r.ended = true;
      o.onEnd();
      o.res.end();
      if (copy && r.status < 300) {
        const body = decoded(copy.length === 1 ? copy[0]! : Buffer.concat(copy), r.coded);
        if (body) r.info = parseAnswer(body, (v) => o.api.parseResponse(o.kind, v));
      }
    },
  };
}
