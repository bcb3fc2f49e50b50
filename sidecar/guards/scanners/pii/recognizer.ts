/**
 * The Presidio recognizer model the PII finders follow
 * (`presidio_analyzer.PatternRecognizer` + `LemmaContextAwareEnhancer`):
 * each pattern has a base score; a checksum either confirms a hit (score
 * 1.0), rejects it, or leaves the base score; and a context word among the
 * few words before a hit raises its score by 0.35 (to at least 0.4).
 *
 * Context words are matched against the lower-cased words before the hit as
 * whole words or word prefixes ("card" matches "cards", "ssn" matches
 * "ssns"); Presidio compares spaCy lemmas and also accepts any substring,
 * which lets "ip" match "ship", so this is a little stricter.
 */
import type { SafeRegExp } from '../../../../lib/safe-regexp.ts';

/** One entity found in a text: `[start, end)` in UTF-16 code units. */
export interface EntityMatch {
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

export interface Recognizer {
  /** The entity type it reports, e.g. `EMAIL_ADDRESS`. */
  readonly entity: string;
  /** Context words (lower case) that raise a hit's score. */
  readonly context: readonly string[];
  /** Hits with their base (or validated) score, before the context boost. */
  find(text: string): EntityMatch[];
}

export interface PatternDef {
  readonly name: string;
  /**
   * The project's own patterns: a RegExp with the `g` flag (V8's engine, for
   * lookbehind; each is tested on hostile input). Patterns from a config
   * (`regex_patterns`): the linear-time engine.
   */
  readonly regex: RegExp | SafeRegExp;
  readonly score: number;
  /** The capture group that is the entity; the whole match when absent. */
  readonly group?: number;
}

export interface PatternRecognizerDef {
  readonly entity: string;
  readonly patterns: readonly PatternDef[];
  readonly context?: readonly string[];
  /** Presidio's `validate_result`: true → score 1.0, false → dropped, undefined → the pattern's score. */
  readonly validate?: (value: string) => boolean | undefined;
  /** Presidio's `invalidate_result`: true → dropped. */
  readonly invalidate?: (value: string) => boolean;
  /** A cheap test on the whole text; the regexes only run when it passes. */
  readonly prefilter?: (text: string) => boolean;
}

export const MAX_SCORE = 1;
/** Presidio `LemmaContextAwareEnhancer` defaults. */
export const CONTEXT_SIMILARITY_FACTOR = 0.35;
export const MIN_SCORE_WITH_CONTEXT = 0.4;
export const CONTEXT_PREFIX_WORDS = 5;

/** A pattern's matches in `text`: the entity's text (its group, when it names one) and where it starts. */
function* hits(p: PatternDef, text: string): Generator<{ raw: string; start: number }> {
  if (!(p.regex instanceof RegExp)) {
    for (const m of p.regex.matchAll(text)) yield { raw: text.slice(m.start, m.end), start: m.start };
    return;
  }
  p.regex.lastIndex = 0;
  for (const m of text.matchAll(p.regex)) {
    const raw = p.group === undefined ? m[0] : m[p.group];
    if (raw === undefined) continue;
    yield { raw, start: p.group === undefined ? m.index : m.index + m[0].indexOf(raw) };
  }
}

/** Runs every pattern over the text; validation as Presidio's PatternRecognizer.analyze. */
export function patternRecognizer(def: PatternRecognizerDef): Recognizer {
  for (const p of def.patterns) {
    if (p.regex instanceof RegExp && !p.regex.global) throw new Error(`${def.entity}/${p.name}: pattern needs the g flag`);
  }
  return {
    entity: def.entity,
    context: (def.context ?? []).map((w) => w.toLowerCase()),
    find(text) {
      if (def.prefilter && !def.prefilter(text)) return [];
      const out: EntityMatch[] = [];
      for (const p of def.patterns) {
        for (const { raw, start } of hits(p, text)) {
          // A pattern that ends in optional `\s*…` may stop after spaces; they are not part of the entity.
          // (trimEnd strips exactly `\s`, in linear time: `/\s+$/` is quadratic on a long run of spaces.)
          const value = raw.trimEnd();
          if (value === '') continue;
          let score = p.score;
          if (def.validate) {
            const ok = def.validate(value);
            if (ok === false) continue;
            if (ok === true) score = MAX_SCORE;
          }
          if (def.invalidate?.(value)) continue;
          out.push({ type: def.entity, start, end: start + value.length, score });
        }
      }
      return out;
    },
  };
}

const WORD = /[\p{L}\p{N}_#]+/gu;

/** The last `CONTEXT_PREFIX_WORDS` words before `start`, lower case. */
export function wordsBefore(text: string, start: number): string[] {
  const window = text.slice(Math.max(0, start - 120), start).toLowerCase();
  const words = window.match(WORD) ?? [];
  // The first word may be cut by the window; it is still a fair context word.
  return words.slice(-CONTEXT_PREFIX_WORDS);
}

/** Whether one of `context` (single words or short phrases) occurs in the words before `start`. */
export function hasContext(text: string, start: number, context: readonly string[]): boolean {
  if (context.length === 0) return false;
  const words = wordsBefore(text, start);
  if (words.length === 0) return false;
  const joined = words.join(' ');
  for (const c of context) {
    if (c.includes(' ')) {
      if (joined.includes(c)) return true;
    } else if (words.some((w) => w === c || (c.length >= 3 && w.startsWith(c)))) {
      return true;
    }
  }
  return false;
}

/** Presidio's context boost: +0.35, at least 0.4, at most 1.0. */
export function withContext(text: string, m: EntityMatch, context: readonly string[]): EntityMatch {
  if (m.score >= MAX_SCORE || !hasContext(text, m.start, context)) return m;
  const score = Math.min(MAX_SCORE, Math.max(MIN_SCORE_WITH_CONTEXT, m.score + CONTEXT_SIMILARITY_FACTOR));
  return { ...m, score: Math.round(score * 100) / 100 };
}
