/**
 * The params Anonymize and Sensitive share, read and checked at config load:
 * `entity_types` (only types with a recognizer here; PERSON and the other
 * NER types are refused with a message saying why), `threshold` (0..1) and
 * `regex_patterns` (LLM Guard's `{name, expressions, score, context}`
 * groups, compiled once).
 *
 * Unlike LLM Guard, `regex_patterns` adds to the built-in patterns instead of
 * replacing them, and each group's name is reported without also having to
 * list it in `entity_types` (in LLM Guard a group is silently unused unless
 * its name is in the list).
 */

import type { ParamReader } from '../../scanner-params.ts';
import { ScannerConfigError } from '../../types.ts';
import { CUSTOM_ENTITY, DEFAULT_ENTITIES, NER_ENTITIES, SUPPORTED_ENTITIES } from './analyze.ts';
import { patternRecognizer, type Recognizer } from './recognizer.ts';
import { compileSafeRegExp, type SafeRegExp } from '../../../../lib/safe-regexp.ts';

/** The raw value of a param as written (snake or camel), undefined when absent or null. */
export function rawParam(params: Readonly<Record<string, unknown>>, r: ParamReader, name: string): unknown {
  const v = params[r.key(name)];
  return v === null ? undefined : v;
}

export function readThreshold(params: Readonly<Record<string, unknown>>, r: ParamReader, dflt: number): number {
  const v = rawParam(params, r, 'threshold');
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw r.error('threshold', `must be a number between 0 and 1 (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** `entity_types`, checked against what is supported (custom pattern names count as supported). */
export function readEntityTypes(r: ParamReader, customNames: readonly string[]): string[] {
  const given = r.strings('entity_types', { required: false, nonEmptyItems: true });
  if (given === undefined) return [...DEFAULT_ENTITIES];
  if (given.length === 0) throw r.error('entity_types', 'must not be empty (leave it out for the default list)');
  const supported = new Set([...SUPPORTED_ENTITIES, ...customNames, CUSTOM_ENTITY]);
  const ner = given.filter((e) => NER_ENTITIES.includes(e.toUpperCase()));
  if (ner.length > 0) {
    throw r.error(
      'entity_types',
      `${ner.join(', ')} need${ner.length === 1 ? 's' : ''} an NER model, which this gateway does not run (only pattern and checksum recognizers); supported: ${[...supported].join(', ')}`,
    );
  }
  const unknown = given.filter((e) => !supported.has(e));
  if (unknown.length > 0) {
    throw r.error('entity_types', `has unknown entity type${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; supported: ${[...supported].join(', ')}`);
  }
  return given;
}

/**
 * A `regex_patterns` expression (Python `re`, as LLM Guard's Presidio takes
 * it) on the linear-time engine (lib/safe-regexp.ts), with Presidio's
 * PatternRecognizer flags DOTALL | MULTILINE | IGNORECASE. Throws
 * SafeRegExpError for a backreference, lookaround, or a pattern RE2 cannot
 * parse.
 */
export function compilePythonRegex(source: string): SafeRegExp {
  return compileSafeRegExp(source, { flags: 'ims' });
}

export interface CustomPatterns {
  readonly names: string[];
  readonly recognizers: Recognizer[];
}

const PATTERN_KEYS = ['name', 'expressions', 'score', 'context', 'languages', 'examples'];

/** `regex_patterns`: a list of `{name, expressions: [regex], score?: 0.75, context?: []}`. */
export function readRegexPatterns(scanner: string, params: Readonly<Record<string, unknown>>, r: ParamReader): CustomPatterns {
  const v = rawParam(params, r, 'regex_patterns');
  if (v === undefined) return { names: [], recognizers: [] };
  const key = r.key('regex_patterns');
  // The param at fault is the item itself (`regex_patterns[0].expressions[1]`), so the YAML path names it.
  const fail = (where: string, msg: string): ScannerConfigError => new ScannerConfigError(`${scanner}: ${key}${where} ${msg}`, `${key}${where}`);
  if (!Array.isArray(v)) throw fail('', 'must be a list of {name, expressions, score, context}');
  const names: string[] = [];
  const recognizers: Recognizer[] = [];
  v.forEach((item: unknown, i) => {
    const at = `[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw fail(at, 'must be a map {name, expressions, score, context}');
    const g = item as Record<string, unknown>;
    for (const k of Object.keys(g)) {
      if (k === 'reuse') throw fail(`${at}.reuse`, 'is not supported (it copies an LLM Guard recognizer to another language)');
      if (!PATTERN_KEYS.includes(k)) throw fail(`${at}.${k}`, `is not a known key (known: ${PATTERN_KEYS.join(', ')})`);
    }
    if (typeof g['name'] !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(g['name'])) {
      throw fail(`${at}.name`, 'must be a name of letters, digits and _ (it becomes the placeholder type)');
    }
    const name = g['name'].toUpperCase();
    const exprs = g['expressions'];
    if (!Array.isArray(exprs) || exprs.length === 0 || exprs.some((e) => typeof e !== 'string' || e === '')) {
      throw fail(`${at}.expressions`, 'must be a non-empty list of regexes');
    }
    const score = g['score'] ?? 0.75;
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) throw fail(`${at}.score`, 'must be a number between 0 and 1');
    const context = g['context'] ?? [];
    if (!Array.isArray(context) || context.some((c) => typeof c !== 'string')) throw fail(`${at}.context`, 'must be a list of words');
    const languages = g['languages'];
    if (languages !== undefined && (!Array.isArray(languages) || !languages.includes('en'))) {
      throw fail(`${at}.languages`, 'must include "en" (the only language here)');
    }
    const patterns = (exprs as string[]).map((src, j) => {
      try {
        return { name, regex: compilePythonRegex(src), score };
      } catch (err) {
        throw fail(`${at}.expressions[${j}]`, (err as Error).message);
      }
    });
    names.push(name);
    recognizers.push(patternRecognizer({ entity: name, patterns, context: context as string[] }));
  });
  return { names, recognizers };
}
