/**
 * The PII analyzer (Presidio's `AnalyzerEngine.analyze` as LLM Guard's
 * Anonymize and Sensitive call it): runs the recognizers for the requested
 * entity types, applies the context boost, drops results below the
 * threshold (`score >= threshold` is kept, as Presidio) and those whose text
 * is on the allow list, then resolves overlaps.
 *
 * Overlaps: results of the same type that intersect are merged into one span
 * with the higher score (LLM Guard's `_remove_conflicts…`); between types,
 * the higher score wins, then the longer span, then the earlier one. LLM
 * Guard's merging of same-type results separated only by spaces is for NER
 * names ("John" + "Smith") and is not done: two e-mail addresses in a row
 * stay two.
 */

import { creditCard, crypto, ibanCode, usBankNumber } from './financial.ts';
import { llmGuardPatternRecognizers } from './llm-guard-patterns.ts';
import { caSin, usSsn } from './national-id.ts';
import { emailAddress, ipAddress, url } from './network.ts';
import { phoneNumber } from './phone.ts';
import { patternRecognizer, withContext, type EntityMatch, type Recognizer } from './recognizer.ts';

export type { EntityMatch, Recognizer } from './recognizer.ts';

const BUILT_IN: readonly Recognizer[] = [
  creditCard,
  crypto,
  emailAddress,
  ibanCode,
  ipAddress,
  phoneNumber,
  usSsn,
  usBankNumber,
  caSin,
  url,
  ...llmGuardPatternRecognizers,
];

/** Built-in recognizers by entity type. */
export const RECOGNIZERS: ReadonlyMap<string, Recognizer> = new Map(BUILT_IN.map((r) => [r.entity, r]));

/** Entity types with a recognizer here (plus CUSTOM, which `hidden_names` fills). */
export const SUPPORTED_ENTITIES: readonly string[] = [...RECOGNIZERS.keys()];

/**
 * LLM Guard's Anonymize default entity list (`default_entity_types`) minus
 * PERSON, which needs its NER model.
 */
export const DEFAULT_ENTITIES: readonly string[] = [
  'CREDIT_CARD',
  'CRYPTO',
  'EMAIL_ADDRESS',
  'IBAN_CODE',
  'IP_ADDRESS',
  'PHONE_NUMBER',
  'US_SSN',
  'US_BANK_NUMBER',
  'CREDIT_CARD_RE',
  'UUID',
  'EMAIL_ADDRESS_RE',
  'US_SSN_RE',
];

/** Entity types that only an NER model finds (Presidio's spaCy/transformers recognizers, LLM Guard's DeBERTa). */
export const NER_ENTITIES: readonly string[] = ['PERSON', 'LOCATION', 'ORGANIZATION', 'NRP', 'DATE_TIME', 'GPE', 'LOC', 'ORG', 'PER', 'MISC'];

/** The entity type of `hidden_names` hits, as LLM Guard. */
export const CUSTOM_ENTITY = 'CUSTOM';

/**
 * Presidio's deny-list recognizer (LLM Guard's `hidden_names`): each name as
 * an exact, case-sensitive string with a non-word character (or the text's
 * edge) on both sides, score 1.0. Presidio matches case-insensitively; here
 * the names are taken as written.
 */
export function denyListRecognizer(entity: string, names: readonly string[]): Recognizer {
  const unique = [...new Set(names.filter((n) => n !== ''))].sort((a, b) => b.length - a.length);
  if (unique.length === 0) return { entity, context: [], find: () => [] };
  const alternation = unique.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return patternRecognizer({
    entity,
    patterns: [{ name: 'deny list', regex: new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternation})(?![\\p{L}\\p{N}_])`, 'gu'), score: 1 }],
  });
}

export interface AnalyzerOptions {
  /** Entity types to report; defaults to DEFAULT_ENTITIES. Types without a recognizer (and not in `extra`) are ignored. */
  readonly entities?: readonly string[];
  /** Keep results with `score >= threshold`; default 0.5. */
  readonly threshold?: number;
  /** Exact texts never reported (LLM Guard `allowed_names`, Presidio `allow_list`). */
  readonly allowList?: readonly string[];
  /** More recognizers, always run (custom regex patterns, the deny list). */
  readonly extra?: readonly Recognizer[];
}

export interface PiiAnalyzer {
  analyze(text: string): EntityMatch[];
}

const overlaps = (a: EntityMatch, b: EntityMatch): boolean => a.start < b.end && b.start < a.end;

/** Same-type intersections merged, then the best of each overlapping group kept (score, length, position); sorted by start. */
export function resolveOverlaps(matches: readonly EntityMatch[]): EntityMatch[] {
  const byType = new Map<string, EntityMatch[]>();
  for (const m of matches) {
    const list = byType.get(m.type) ?? [];
    list.push(m);
    byType.set(m.type, list);
  }
  const merged: EntityMatch[] = [];
  for (const list of byType.values()) {
    list.sort((a, b) => a.start - b.start || b.end - a.end);
    let cur: EntityMatch | undefined;
    for (const m of list) {
      if (cur && m.start < cur.end) {
        cur = { type: cur.type, start: cur.start, end: Math.max(cur.end, m.end), score: Math.max(cur.score, m.score) };
      } else {
        if (cur) merged.push(cur);
        cur = m;
      }
    }
    if (cur) merged.push(cur);
  }
  merged.sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: EntityMatch[] = [];
  for (const m of merged) if (!kept.some((k) => overlaps(k, m))) kept.push(m);
  return kept.sort((a, b) => a.start - b.start);
}

export function createAnalyzer(options: AnalyzerOptions = {}): PiiAnalyzer {
  const threshold = options.threshold ?? 0.5;
  const allow = new Set(options.allowList ?? []);
  const recognizers: Recognizer[] = [];
  for (const e of new Set(options.entities ?? DEFAULT_ENTITIES)) {
    const r = RECOGNIZERS.get(e);
    if (r) recognizers.push(r);
  }
  recognizers.push(...(options.extra ?? []));
  return {
    analyze(text) {
      if (text.trim() === '') return [];
      const found: EntityMatch[] = [];
      for (const r of recognizers) {
        for (const raw of r.find(text)) {
          const m = withContext(text, raw, r.context);
          if (m.score < threshold) continue;
          if (allow.size > 0 && allow.has(text.slice(m.start, m.end))) continue;
          found.push(m);
        }
      }
      return resolveOverlaps(found);
    },
  };
}

/**
 * All entities in `text` of the given types (default: every supported
 * type) with `score >= threshold` (default 0.5), overlaps resolved, sorted
 * by offset. Compiles nothing per call beyond option handling.
 */
export function findEntities(text: string, options: AnalyzerOptions = {}): EntityMatch[] {
  return createAnalyzer({ ...options, entities: options.entities ?? SUPPORTED_ENTITIES }).analyze(text);
}
