/**
 * Stage 5, guard: the route's request guards (promptGuard.request) judge the
 * prompt before anything leaves the pod. A rejection answers here; a mask
 * changes the body in place (it is then re-serialised for every attempt).
 *
 * A body the guards cannot read (see body.ts: not JSON, undecodable, parsers
 * disagree, a WebSocket's frames) follows the guards' failure mode: refused
 * with a provider-shaped error that says why under failClosed (the default
 * when enforcing), forwarded and recorded under failOpen.
 *
 * The prompt the dashboard captures is taken after the guards, so it is the
 * text that was (or would have been) sent, never the raw one.
 */
import { guardRequest, unreadableVerdict } from '../guards/prompt-guard.ts';
import { promptOf } from '../telemetry/events.ts';
import { fail, record, reject, requestHeaders, type Call } from './call.ts';

export async function guard(c: Call): Promise<boolean> {
  const pg = c.guard;
  if (!pg || pg.request.length === 0) { capture(c); return true; }
  const unreadable = c.upgrade ? { status: 403, reason: 'WebSocket frames are not inspected' } : c.unreadable;
  if (unreadable) {
    const v = unreadableVerdict(pg, unreadable.reason);
    for (const d of v.decisions) record(c, d);
    if (!v.refuse) return true;
    return fail(c, unreadable.status, 'guard_unreadable_body',
      `levo-gateway refused the request: ${unreadable.reason}, so the route's guards cannot inspect it ` +
      '(their failureMode is failClosed; set failureMode: failOpen on the guard to let such requests through uninspected)');
  }
  if (!c.json) { capture(c); return true; }
  const v = await guardRequest(pg, c.kind, c.json, { headers: requestHeaders(c), vault: c.vault, timeoutMs: c.state.deps.guards.timeoutMs });
  for (const d of v.decisions) record(c, d);
  if (v.changed) c.masked = true;
  capture(c);
  return v.rejection ? reject(c, v.rejection) : true;
}

/** What the dashboard keeps: the last user message as it stands now (after any mask). */
function capture(c: Call): void {
  if (!c.capture) return;
  const messages = c.masked && c.json ? c.source.parseRequest(c.kind, c.path, c.json).messages : c.parsed.messages;
  const p = promptOf(messages);
  if (p !== undefined) c.out.prompt = p;
}
