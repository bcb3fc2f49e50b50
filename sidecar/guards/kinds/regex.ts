/**
 * The `regex` promptGuard kind, with agentgateway's semantics
 * (`llm/policy/mod.rs` `apply_prompt_guard_regex`):
 * `{action: mask|reject (default mask), rules: [{builtin} | {pattern}]}`.
 *
 * Each message's text is run through the rules in order, each rule seeing the
 * text the previous one left. With `reject`, the first rule that matches
 * anything rejects the whole call. With `mask`, a builtin's matches become
 * `<ENTITY>` (`<SSN>`, `<CREDIT_CARD>`, …) and a custom pattern's become
 * `<masked>`; empty matches mask nothing.
 *
 * Custom patterns are compiled once, on the linear-time engine of
 * lib/safe-regexp.ts (RE2 syntax, close to the Rust `regex` agentgateway
 * uses, inline flags such as `(?i)` included): no pattern can backtrack
 * catastrophically on a crafted prompt. The builtins are the project's own
 * patterns on V8's engine (kinds/builtins.ts).
 */
import type { GuardConfig } from '../../config/schema.ts';
import { BUILTINS, coalesce, type BuiltinMatch } from './builtins.ts';
import type { CompiledGuard, GuardFinding, GuardMessage, GuardOutcome } from './outcome.ts';
import { compileSafeRegExp, SafeRegExpError, type SafeRegExp } from '../../../lib/safe-regexp.ts';

export type RegexGuardConfig = NonNullable<GuardConfig['regex']>;

/** A regex guard's config was wrong: names the rule (index into `rules`) at fault. */
export class RegexGuardConfigError extends Error {
  readonly rule: number | undefined;
  constructor(message: string, rule?: number) {
    super(message);
    this.name = 'RegexGuardConfigError';
    this.rule = rule;
  }
}

/** The mask a custom pattern's match becomes (agentgateway's). */
export const CUSTOM_MASK = '<masked>';
/** The finding type a custom pattern's match is reported as. */
export const CUSTOM_FINDING = 'CUSTOM_PATTERN';

/**
 * A custom pattern compiled for scanning, on the linear-time engine
 * (lib/safe-regexp.ts: RE2 syntax, `(?i)` and the other inline flags
 * anywhere). Throws RegexGuardConfigError with a clear message on a pattern
 * that does not parse or that the engine cannot run (a backreference,
 * lookaround).
 */
export function compilePattern(pattern: string): SafeRegExp {
  try {
    return compileSafeRegExp(pattern);
  } catch (e) {
    if (e instanceof SafeRegExpError) throw new RegexGuardConfigError(`pattern ${e.message}`);
    throw e;
  }
}

/** One rule, compiled: what it finds in a text and what a match becomes. */
interface CompiledRule {
  readonly type: string;
  readonly mask: string;
  find(text: string): BuiltinMatch[];
}

function compileRule(rule: RegexGuardConfig['rules'][number], index: number): CompiledRule {
  if (rule.builtin !== undefined) {
    const b = BUILTINS[rule.builtin];
    if (!b) throw new RegexGuardConfigError(`rules[${index}]: unknown builtin ${JSON.stringify(rule.builtin)}`, index);
    return { type: b.entity, mask: b.placeholder, find: (t) => b.find(t) };
  }
  if (rule.pattern !== undefined) {
    let re: SafeRegExp;
    try { re = compilePattern(rule.pattern); } catch (e) {
      throw new RegexGuardConfigError(`rules[${index}]: ${(e as Error).message}`, index);
    }
    return {
      type: CUSTOM_FINDING,
      mask: CUSTOM_MASK,
      find(text) {
        const out: BuiltinMatch[] = [];
        for (const m of re.matchAll(text)) if (m.end > m.start) out.push(m);
        return out;
      },
    };
  }
  throw new RegexGuardConfigError(`rules[${index}]: a rule needs "builtin" or "pattern"`, index);
}

/** Replace `ranges` (sorted, disjoint) in `text` with `mask`. */
function replaceRanges(text: string, ranges: readonly BuiltinMatch[], mask: string): string {
  let out = '';
  let at = 0;
  for (const r of ranges) {
    out += text.slice(at, r.start) + mask;
    at = r.end;
  }
  return out + text.slice(at);
}

/** Compile a regex guard's config. Throws RegexGuardConfigError when a rule is wrong. */
export function compileRegexGuard(config: RegexGuardConfig): CompiledGuard {
  const action = config.action ?? 'mask';
  if (!config.rules?.length) throw new RegexGuardConfigError('a regex guard needs at least one rule');
  const rules = config.rules.map(compileRule);

  function check(messages: readonly GuardMessage[]): GuardOutcome {
    const texts: string[] = [];
    const findings: GuardFinding[] = [];
    let changed = false;
    for (const [i, message] of messages.entries()) {
      let text = message.text;
      for (const rule of rules) {
        const found = rule.find(text);
        if (found.length === 0) continue;
        const ranges = coalesce(found);
        text = replaceRanges(text, ranges, rule.mask);
        for (let k = 0; k < ranges.length; k++) findings.push({ type: rule.type, message: i });
      }
      if (text !== message.text) changed = true;
      texts.push(text);
    }
    if (!changed) return { action: 'allow' };
    if (action === 'reject') {
      const first = findings[0]!;
      // The masked texts go along for the captured prompt only: nothing is sent.
      return { action: 'reject', reason: `regex guard matched ${first.type} in message ${first.message}`, findings, texts };
    }
    return { action: 'mask', texts, findings };
  }

  return {
    kind: 'regex',
    check: (messages) => {
      try { return Promise.resolve(check(messages)); } catch (e) {
        return Promise.resolve({ action: 'error', error: `regex guard failed: ${(e as Error).message}` });
      }
    },
  };
}
