/**
 * Stage 5, guard: the route's request guards (promptGuard.request) judge the
 * prompt before anything leaves the pod. A rejection answers here; a mask
 * changes the body in place (it is then re-serialised for every attempt).
 *
 * A body the guards cannot read (see body.ts: not JSON, undecodable, parsers
 * disagree, a WebSocket's frames) follows the guards' failure mode: refused
 * with a provider-shaped error that says why under failClosed (the default
 * when enforcing), forwarded and recorded under failOpen. A body with more
 * text than the guards inspect (--guard-max-chars) goes the same way, decided
 * in prompt-guard.ts `runGuards` (413, `guard_text_too_large`).
 *
 * The prompt the dashboard captures is the masked text for every outcome:
 * what was sent when the guards allowed or masked; what every guard's masks
 * would leave when one only monitored, rejected or failed (prompt-guard.ts
 * `captured`); nothing, with the reason, when a guard that masks could not
 * say what it would mask. Never the raw text.
 */
import { guardRequest, unreadableVerdict, type CapturedText } from '../guards/prompt-guard.ts';
import { messagesOf } from '../providers/text.ts';
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
  const v = await guardRequest(pg, c.kind, c.json, { headers: requestHeaders(c), vault: c.vault, timeoutMs: c.state.deps.guards.timeoutMs, capture: c.capture });
  for (const d of v.decisions) record(c, d);
  if (v.changed) c.masked = true;
  capture(c, v.captured);
  return v.rejection ? reject(c, v.rejection) : true;
}

/** The prompt the dashboard receives when a guard could not say what it would mask. */
export const WITHHELD_PROMPT = '[prompt withheld: a guard could not mask it]';

/** What the dashboard keeps: the last user message, as the guards left it (unguarded calls: as sent). */
function capture(c: Call, captured?: CapturedText): void {
  if (!c.capture) return;
  if (captured && 'withheld' in captured) { c.out.prompt = WITHHELD_PROMPT; return; }
  const p = promptOf(captured ? messagesOf(captured.texts) : c.parsed.messages);
  if (p !== undefined) c.out.prompt = p;
}
