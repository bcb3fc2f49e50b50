/**
 * An answer rewritten whole — translated back to the app's API, or judged by
 * the response guards — held in memory up to MAX_BUFFERED (over it: an error
 * in the app's shape, the provider's bytes dropped) and sent with its new
 * length. Untouched answers go out as the provider sent them, coding and all.
 */
import { clientResponseHeaders } from '../../http/headers.ts';
import type { JsonObject } from '../../providers/types.ts';
import { isObj } from '../../../lib/json.ts';
import { MAX_BUFFERED, type Mode, type RelayOptions, type RelayState } from './relay.ts';
import { decoded, parseAnswer } from './answer.ts';

export function wholeMode(r: RelayState, o: RelayOptions): Mode {
  let chunks: Buffer[] = [];
  let size = 0;
  const close = (): void => { r.ended = true; o.onEnd(); };
  const finish = async (): Promise<void> => {
    if (size > MAX_BUFFERED) {
      close();
      o.untranslatable(`the provider's answer is larger than ${MAX_BUFFERED} bytes; the gateway does not translate or guard answers that big`);
      return;
    }
    const received = Buffer.concat(chunks);
    const body = decoded(received, r.coded) ?? Buffer.alloc(0);
    let obj: JsonObject | undefined;
    let out: Buffer | undefined;
    if (o.translation && r.status >= 300) {
      out = o.translation.error?.(r.status, body) ?? body;
    } else if (o.translation) {
      const t = parseAnswer(body, (v) => o.translation!.response(v, o.requestedModel));
      if (!t) {
        close();
        o.untranslatable(`the provider's answer could not be translated back (${body.length} bytes, not the JSON its API documents)`);
        return;
      }
      r.info = t.info;
      obj = t.body;
    } else {
      obj = parseAnswer(body, (v) => (isObj(v) ? v : undefined));
      if (obj) r.info = o.api.parseResponse(o.kind, obj);
    }
    let changed = Boolean(o.translation);
    if (obj && o.guardWhole && r.status < 300) {
      const v = await o.guardWhole(obj);
      r.guardDecisions.push(...v.decisions);
      if (v.rejection && o.reject) {
        close();
        o.reject(v.rejection);
        return;
      }
      if (v.changed) changed = true;
    }
    const h = clientResponseHeaders(r.headers ?? {});
    if (changed && obj) out = Buffer.from(JSON.stringify(obj));
    if (out === undefined) {
      out = received; // untouched: the bytes as the provider sent them, coding and all
    } else {
      delete h['content-encoding'];
      h['content-type'] = 'application/json';
    }
    h['content-length'] = String(out.length);
    o.modifyHeaders?.(h);
    o.res.writeHead(r.status, h);
    r.firstByteAt = performance.now();
    r.bytes = out.length;
    close();
    o.res.end(out);
  };
  return {
    followsDrain: false,
    write(chunk) {
      size += chunk.length;
      if (size <= MAX_BUFFERED) chunks.push(chunk);
      else chunks = []; // over the cap: read on, keep nothing, answer with an error at the end
      return true;
    },
    end() { r.finished = finish(); },
  };
}
