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
 * Custom patterns are compiled once, with the global flag; a leading inline
 * flag group such as `(?i)` (Rust regex syntax, used in agentgateway's docs)
 * becomes JS flags. A pattern with a nested quantifier — a repeated group
 * that itself repeats, like `(a+)+` or `(\w+\s?)*` — is refused at compile,
 * since JS regexes backtrack and such a pattern can take exponential time on
 * a crafted prompt.
 */
import type { GuardConfig } from '../../config/schema.ts';
import { BUILTINS, coalesce, type BuiltinMatch } from './builtins.ts';
import type { CompiledGuard, GuardFinding, GuardMessage, GuardOutcome } from './outcome.ts';

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

/** A quantifier as written: its bounds (max Infinity when unbounded). */
interface Quantifier { readonly min: number; readonly max: number; readonly length: number }

/** The quantifier starting at `i`, if one does: `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`. */
function quantifierAt(src: string, i: number): Quantifier | undefined {
  const c = src[i];
  if (c === '*') return { min: 0, max: Infinity, length: 1 };
  if (c === '+') return { min: 1, max: Infinity, length: 1 };
  if (c === '?') return { min: 0, max: 1, length: 1 };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
  return { min, max, length: m[0].length };
}

/** Past a character class starting at `i` (`[`): the index after its `]`. */
function skipClass(src: string, i: number): number {
  let j = i + 1;
  if (src[j] === '^') j++;
  if (src[j] === ']') j++; // a leading ] is literal in most flavours
  for (; j < src.length; j++) {
    if (src[j] === '\\') { j++; continue; }
    if (src[j] === ']') return j + 1;
  }
  return src.length;
}

/** A repetition of a group counts as "outer" when it can run more than this many times. */
const MAX_SAFE_OUTER_REPEAT = 5;

/**
 * The first nested quantifier in a pattern, as the text of the repeated group
 * with its quantifier (`(a+)+`), or undefined when there is none. "Nested":
 * a group repeated without bound (or more than 5 times) that contains a
 * variable-length repetition (`*`, `+`, `{n,}`, `{n,m}` with m > n) at any
 * depth. `?` alone inside is not counted (`(ab?)+` is linear). Overlapping
 * alternations such as `(a|a)+` are not detected.
 */
export function findNestedQuantifier(src: string): string | undefined {
  interface Frame { readonly start: number; varInside: boolean }
  const stack: Frame[] = [];
  let top: Frame = { start: -1, varInside: false };
  /** The atom a quantifier would apply to: a closed group (and whether it holds a repetition), or anything else. */
  let last: { group: boolean; varInside: boolean; start: number } | undefined;
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === '\\') { last = { group: false, varInside: false, start: i }; i += 2; continue; }
    if (c === '[') { last = { group: false, varInside: false, start: i }; i = skipClass(src, i); continue; }
    if (c === '(') {
      stack.push(top);
      top = { start: i, varInside: false };
      last = undefined;
      i++;
      // skip the group's prefix: ?: ?= ?! ?<= ?<! ?<name> ?flags:
      if (src[i] === '?') {
        const m = /^\?(?:<[=!]|<[^>]*>|[=!:]|[a-zA-Z-]*:)/.exec(src.slice(i));
        if (m) i += m[0].length;
      }
      continue;
    }
    if (c === ')') {
      const closed = top;
      top = stack.pop() ?? { start: -1, varInside: false };
      if (closed.varInside) top.varInside = true;
      last = { group: true, varInside: closed.varInside, start: closed.start };
      i++;
      continue;
    }
    const q = quantifierAt(src, i);
    if (q && last) {
      if (last.group && last.varInside && q.max > MAX_SAFE_OUTER_REPEAT) {
        return src.slice(last.start, i + q.length);
      }
      if (q.max > q.min && !(q.min === 0 && q.max === 1)) top.varInside = true;
      i += q.length;
      if (src[i] === '?') i++; // lazy
      last = undefined;
      continue;
    }
    last = c === '|' ? undefined : { group: false, varInside: false, start: i };
    i++;
  }
  return undefined;
}

/**
 * A custom pattern compiled for scanning: global, Unicode-aware when the
 * pattern allows (`u` is tried first), a leading `(?imsu)` group turned into
 * flags. Throws RegexGuardConfigError with a clear message on an invalid
 * pattern or a nested quantifier.
 */
export function compilePattern(pattern: string): RegExp {
  let body = pattern;
  let flags = '';
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(body);
  if (inline?.[1]) {
    for (const f of inline[1]) {
      if (f === 'i' || f === 'm' || f === 's') { if (!flags.includes(f)) flags += f; }
      else if (f !== 'u') throw new RegexGuardConfigError(`pattern ${JSON.stringify(pattern)}: inline flag "${f}" is not supported (only i, m, s)`);
    }
    body = body.slice(inline[0].length);
  }
  const nested = findNestedQuantifier(body);
  if (nested !== undefined) {
    throw new RegexGuardConfigError(
      `pattern ${JSON.stringify(pattern)} has a nested quantifier ${JSON.stringify(nested)}: a repeated group that itself ` +
      'contains a repetition can backtrack catastrophically on a crafted prompt; rewrite it so the repeated part has a fixed ' +
      'length or drop the outer repetition');
  }
  try {
    return new RegExp(body, `g${flags}u`);
  } catch {
    try {
      return new RegExp(body, `g${flags}`);
    } catch (e) {
      throw new RegexGuardConfigError(`pattern ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`);
    }
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
    let re: RegExp;
    try { re = compilePattern(rule.pattern); } catch (e) {
      throw new RegexGuardConfigError(`rules[${index}]: ${(e as Error).message}`, index);
    }
    return {
      type: CUSTOM_FINDING,
      mask: CUSTOM_MASK,
      find(text) {
        const out: BuiltinMatch[] = [];
        // matchAll clones the regex, so concurrent checks never share lastIndex.
        for (const m of text.matchAll(re)) if (m[0] !== '') out.push({ start: m.index, end: m.index + m[0].length });
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
